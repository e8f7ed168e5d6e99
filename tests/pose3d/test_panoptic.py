"""CMU Panoptic (hdPose3d_stage1_coco19 + calibration) seen from one HD
camera, on a tiny sequence written from real motion: camera-frame joints
against each camera's centre and axes, pixels against OpenCV's
projectPoints (with the lens distortion)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmpose.registry import DATASETS
from panoptic_fixture import FRAMES, MISSING, SEQ, write_panoptic_sequence
from scene_fixtures import mmpose_scope  # noqa: F401  (autouse fixture)

from selecsls_mm.pose3d.datasets import PANOPTIC_JOINT_NAMES
from selecsls_mm.pose3d.datasets.panoptic import panoptic_to_coco3d
from selecsls_mm.pose3d.joint_sets import (COCO_KEYPOINTS, canonical_name,
                                           get_joint_set)

JS = get_joint_set('coco21')
OURS = [canonical_name(n) for n in PANOPTIC_JOINT_NAMES]


@pytest.fixture(scope='module')
def sequence(tmp_path_factory):
    return write_panoptic_sequence(str(tmp_path_factory.mktemp('panoptic')))


def reference(body, camera):
    """Camera-frame mm from the camera's centre and axes; pixels from
    OpenCV."""
    entry = camera['entry']
    cam_mm = (body['points'] - camera['centre']) @ camera['axes'].T * 10.
    rvec, _ = cv2.Rodrigues(np.asarray(entry['R']))
    pixels, _ = cv2.projectPoints(body['points'], rvec,
                                  np.asarray(entry['t'], np.float64),
                                  np.asarray(entry['K']),
                                  np.asarray(entry['distCoef']))
    return cam_mm, pixels.reshape(-1, 2)


def build(sequence, camera, **kwargs):
    return DATASETS.build(
        dict(
            type='PanopticDataset',
            data_root=sequence['seq_dir'],
            camera=camera,
            data_mode='bottomup',
            **kwargs))


@pytest.mark.parametrize('camera', ['00_16', '00_03'])
def test_bodies_in_camera_frame_and_pixels(sequence, camera):
    ds = build(sequence, camera)
    cam = sequence['cameras'][camera]
    w, h = cam['entry']['resolution']
    assert len(ds) == len(FRAMES)
    for i, frame in enumerate(FRAMES):
        info = ds[i]
        assert info['img_path'].endswith(
            f'{SEQ}/hdImgs/{camera}/{camera}_{frame:08d}.jpg')
        bodies = sequence['frames'][frame]
        # the third body stands behind both cameras: not in the image
        assert len(info['keypoints_3d']) == 2
        for p, body in enumerate(bodies[:2]):
            cam_mm, pixels = reference(body, cam)
            valid = body['confidence'] > 0.1
            assert (cam_mm[:, 2] > 1000).all()
            for j, name in enumerate(JS.names):
                if name not in OURS:  # spine, head_top: not in coco19
                    assert info['keypoints_3d_visible'][p, j] == 0
                    continue
                k = OURS.index(name)
                assert info['keypoints_3d_visible'][p, j] == valid[k]
                if valid[k]:
                    np.testing.assert_allclose(
                        info['keypoints_3d'][p, j], cam_mm[k], atol=2e-3)
            for c, name in enumerate(COCO_KEYPOINTS):
                k = OURS.index(name)
                inside = (0 <= pixels[k, 0] < w) and (0 <= pixels[k, 1] < h)
                assert info['keypoints_visible'][p, c] == (valid[k] and inside)
                np.testing.assert_allclose(
                    info['keypoints'][p, c], pixels[k], atol=2e-3)
        K = np.asarray(cam['entry']['K'])
        assert info['camera_param'] == dict(
            f=[K[0, 0], K[1, 1]], c=[K[0, 2], K[1, 2]])


def test_missing_joint_has_no_label(sequence):
    frame, body, joint = MISSING
    ds = build(sequence, '00_16')
    info = ds[FRAMES.index(frame)]
    j = JS.names.index(canonical_name(joint))
    assert info['keypoints_3d_visible'][body, j] == 0
    wrist = COCO_KEYPOINTS.index('left_wrist')
    assert info['keypoints_visible'][body, wrist] == 0


def test_written_json_reads_the_same(sequence, tmp_path):
    """panoptic_to_coco3d's dict, written as JSON, is a 3DMPPE-style file
    the MuCo reader serves identically."""
    data = panoptic_to_coco3d(sequence['seq_dir'], '00_03')
    with open(tmp_path / 'panoptic.json', 'w') as f:
        json.dump(data, f)
    served = build(sequence, '00_03')
    read = DATASETS.build(
        dict(
            type='MuCo3DHPDataset',
            data_root=sequence['seq_dir'],
            ann_file=str(tmp_path / 'panoptic.json'),
            data_mode='bottomup'))
    assert len(served) == len(read)
    for i in range(len(read)):
        a, b = served[i], read[i]
        for key in ('keypoints', 'keypoints_visible', 'keypoints_3d',
                    'keypoints_3d_visible'):
            np.testing.assert_array_equal(a[key], b[key])
        assert a['img_path'] == b['img_path']


def test_bad_input(sequence, tmp_path):
    with pytest.raises(ValueError, match='needs data_root'):
        DATASETS.build(dict(type='PanopticDataset', camera='00_16'))
    with pytest.raises(
            ValueError,
            match=r"camera '00_99' is not in .*"
            r"HD cameras are \['00_03', '00_16'\]"):
        build(sequence, '00_99')
    with pytest.raises(FileNotFoundError, match='calibration file'):
        panoptic_to_coco3d(str(tmp_path), '00_16')
    # a body with the old 15-joint layout
    seq = tmp_path / SEQ
    os.makedirs(seq / 'hdPose3d_stage1_coco19')
    calib = osp.join(sequence['seq_dir'], f'calibration_{SEQ}.json')
    (seq / f'calibration_{SEQ}.json').write_text(open(calib).read())
    with pytest.raises(FileNotFoundError, match='no hdPose3d_stage1_coco19'):
        panoptic_to_coco3d(str(seq), '00_16')
    (seq / 'hdPose3d_stage1_coco19' / 'body3DScene_00000000.json').write_text(
        json.dumps(
            dict(bodies=[dict(id=0, joints15=[0] * 60, joints19=[0] * 60)])))
    with pytest.raises(ValueError, match='60 joints19 values, expected 76'):
        panoptic_to_coco3d(str(seq), '00_16')

"""3D-aware bottom-up transforms: the 3D labels follow the image's rotation
and mirror, samples without 3D labels get empty ones, and packing keeps
the 3D targets."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose

from selecsls_mm.pose3d.camera import Camera
from selecsls_mm.pose3d.joint_sets import COCO_KEYPOINTS, get_joint_set
from selecsls_mm.pose3d.scenes import SceneGenerator

JS = get_joint_set('coco21')
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


@pytest.fixture(scope='module')
def scene():
    """Real-motion people seen by a camera whose principal point is the
    image centre (so rotating the image about its centre is a rotation of
    the camera about its axis)."""
    gen = SceneGenerator('held_out', image_size=(320, 320), num_people=(3, 3))
    camera = Camera(300., 300., 159.5, 159.5, 320, 320, 'centred')
    gen.cameras = [camera]
    return gen(np.random.default_rng(3))


def results_of(scene) -> dict:
    kpts, vis = scene.keypoints_2d()
    return dict(
        img=scene.image.copy(),
        img_shape=scene.image.shape[:2],
        ori_shape=scene.image.shape[:2],
        keypoints=kpts.copy(),
        keypoints_visible=vis.copy(),
        keypoints_3d=scene.keypoints_3d().copy(),
        keypoints_3d_visible=np.ones((len(kpts), 21), np.float32),
        flip_indices=COCO_FLIP,
        bbox=np.zeros((len(kpts), 4), np.float32),
        bbox_score=np.ones(len(kpts), np.float32))


def limb_angles_2d(kpts_2d):
    """Image direction of each person's neck-to-pelvis line."""
    top = kpts_2d[:, [5, 6]].mean(1)
    bottom = kpts_2d[:, [11, 12]].mean(1)
    d = bottom - top
    return np.arctan2(d[:, 1], d[:, 0])


def test_affine_turns_3d_with_the_image(scene):
    camera = scene.camera
    for seed in range(5):
        np.random.seed(seed)
        t = Compose([
            dict(
                type='BottomupRandomAffine3D',
                input_size=(320, 320),
                shift_prob=0.,
                scale_prob=0.,
                rotate_prob=1.,
                rotate_factor=40.)
        ])
        out = t(results_of(scene))
        # the 3D people, projected, lean as the warped 2D people do
        seen = limb_angles_2d(camera.project(out['keypoints_3d'][:, :17]))
        warped = limb_angles_2d(out['keypoints'])
        turn = np.angle(np.exp(1j * (seen - warped)))
        assert np.abs(turn).max() < np.deg2rad(3), np.rad2deg(turn)
        # the pose itself is unchanged: same bone lengths
        before = np.linalg.norm(
            scene.keypoints_3d()[:, 9] - scene.keypoints_3d()[:, 7], axis=-1)
        after = np.linalg.norm(
            out['keypoints_3d'][:, 9] - out['keypoints_3d'][:, 7], axis=-1)
        assert np.allclose(before, after, atol=1e-3)


def test_flip_mirrors_3d_with_the_image(scene):
    t = Compose([dict(type='BottomupRandomFlip3D', prob=1.)])
    out = t(results_of(scene))
    camera = scene.camera
    # mirrored 3D projects where the flipped 2D keypoints are
    projected = camera.project(out['keypoints_3d'][:, :17])
    vis = out['keypoints_visible'] > 0
    assert np.abs(projected - out['keypoints'])[vis].max() < 1.
    left = JS.names.index('left_wrist')
    right = JS.names.index('right_wrist')
    assert np.allclose(out['keypoints_3d'][:, left, 1:],
                       scene.keypoints_3d()[:, right, 1:])
    twice = t(out)
    assert np.allclose(twice['keypoints_3d'], scene.keypoints_3d())


def test_flip_3d_refuses_vertical():
    with pytest.raises(ValueError, match='horizontally only'):
        Compose([dict(type='BottomupRandomFlip3D', direction='vertical')])


def test_wrong_joint_count_is_one_line(scene):
    t = Compose([dict(type='BottomupRandomFlip3D', prob=1.)])
    results = results_of(scene)
    results['keypoints_3d'] = results['keypoints_3d'][:, :17]
    with pytest.raises(ValueError, match="joint set 'coco21' has 21"):
        t(results)


def test_pack_keeps_3d_targets(scene):
    codec = dict(
        type='PartAffinityField3D',
        input_size=(320, 320),
        heatmap_size=(40, 40),
        skeleton=dict(
            from_file='configs/_base_/datasets/coco.py',
            limbs='coco_redundant'))
    t = Compose([
        dict(type='GenerateTarget', encoder=codec),
        dict(type='PackXNect3DInputs')
    ])
    results = results_of(scene)
    results['img'] = results['img'].astype(np.float32)
    packed = t(results)['data_samples']
    assert packed.gt_fields.maps_3d.shape == (63, 40, 40)
    assert packed.gt_fields.maps_3d_weights.sum() > 0
    assert packed.gt_fields.pafs.shape == (56, 40, 40)
    assert torch.is_tensor(packed.gt_fields.heatmaps)
    assert packed.gt_instances.keypoints_3d.shape == (3, 21, 3)
    assert packed.gt_instance_labels.keypoints_3d_weights.shape == (3, 21)
    assert len(COCO_KEYPOINTS) == packed.gt_instances.keypoints.shape[1]

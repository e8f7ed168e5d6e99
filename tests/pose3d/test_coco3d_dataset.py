"""MuCo-3DHP / MuPoTS-3D datasets (3DMPPE-style JSON) on files written in
their exact layouts from real-motion scenes, checked against the scenes."""
import numpy as np
import pytest
from mmpose.registry import DATASETS
from scene_fixtures import mmpose_scope  # noqa: F401  (autouse fixture)
from scene_fixtures import (edit_json, regenerate, write_default, write_muco,
                            write_mupots)

from selecsls_mm.pose3d.joint_sets import COCO_KEYPOINTS, get_joint_set

FACE = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear')
# joints of coco21 that MuCo/MuPoTS do not label
NOT_IN_MUCO = FACE


def build(root, ann_file, type='MuCo3DHPDataset', **kwargs):
    return DATASETS.build(
        dict(
            type=type,
            data_root=str(root),
            ann_file=ann_file,
            data_mode=kwargs.pop('data_mode', 'bottomup'),
            **kwargs))


def expected(scene, joint_set, unlabelled=()):
    """What a data info must hold for a scene (from the generator)."""
    js = get_joint_set(joint_set)
    kpts, vis = scene.keypoints_2d()
    w, h = scene.camera.width, scene.camera.height
    inside = ((kpts[..., 0] >= 0) & (kpts[..., 0] < w) & (kpts[..., 1] >= 0)
              & (kpts[..., 1] < h))
    body = np.array([n not in unlabelled for n in COCO_KEYPOINTS])
    return dict(
        keypoints=kpts,
        keypoints_visible=(vis > 0) & inside & body,
        keypoints_3d=scene.keypoints_3d(js),
        keypoints_3d_visible=np.array([[n not in unlabelled
                                        for n in js.names]] * len(kpts)),
        camera_param=scene.camera.to_dict())


def assert_matches(info, want):
    n = len(want['keypoints'])
    assert info['keypoints'].shape == (n, 17, 2)
    np.testing.assert_array_equal(info['keypoints_visible'] > 0,
                                  want['keypoints_visible'])
    labelled2d = info['keypoints_visible'] > 0
    np.testing.assert_allclose(
        info['keypoints'][labelled2d],
        want['keypoints'][labelled2d],
        atol=2e-3)
    np.testing.assert_array_equal(info['keypoints_3d_visible'] > 0,
                                  want['keypoints_3d_visible'])
    labelled = want['keypoints_3d_visible']
    np.testing.assert_allclose(
        info['keypoints_3d'][labelled],
        want['keypoints_3d'][labelled],
        atol=2e-3)
    assert not info['keypoints_3d'][~labelled].any()
    np.testing.assert_allclose(info['camera_param']['f'],
                               want['camera_param']['f'])
    np.testing.assert_allclose(info['camera_param']['c'],
                               want['camera_param']['c'])


def test_muco_layout_bottomup(tmp_path):
    data = write_muco(tmp_path / 'muco', num=3, seed=0)
    scenes = regenerate(3, seed=0, split='train')
    ds = build(tmp_path / 'muco', 'MuCo-3DHP.json')
    assert len(ds) == sum(len(s.points_cam) > 0 for s in scenes)
    assert data['num_people'] == sum(len(s.points_cam) for s in scenes)
    for i in range(len(ds)):
        info = ds[i]
        want = expected(scenes[info['img_id'] - 1], 'coco21', NOT_IN_MUCO)
        assert_matches(info, want)
        n = len(want['keypoints'])
        assert info['bbox'].shape == (n, 4) and info['area'].shape == (n, )
        assert len(info['id']) == len(info['raw_ann_info']) == n
        assert info['flip_indices_3d'] == get_joint_set('coco21').flip_indices
        # COCO keys for CocoMetric without an ann_file
        raw = info['raw_ann_info'][0]
        assert len(raw['keypoints']) == 51 and raw['category_id'] == 1
        v = np.asarray(raw['keypoints'][2::3])
        np.testing.assert_array_equal(v > 0, info['keypoints_visible'][0] > 0)


def test_without_keypoints_vis_joints_inside_the_image_are_seen(tmp_path):
    # the first 3DMPPE releases have no keypoints_vis: every joint is
    # labelled, and only those inside the image are visible in 2D
    data = write_muco(tmp_path / 'muco', num=3, seed=0)
    edit_json(data['ann_file'],
              lambda d: [a.pop('keypoints_vis') for a in d['annotations']])
    scenes = regenerate(3, seed=0, split='train')
    ds = build(tmp_path / 'muco', 'MuCo-3DHP.json')
    outside = 0
    for i in range(len(ds)):
        info = ds[i]
        scene = scenes[info['img_id'] - 1]
        want = expected(scene, 'coco21', NOT_IN_MUCO)
        kpts = want['keypoints']
        size = (scene.camera.width, scene.camera.height)
        inside = ((kpts >= 0) & (kpts < size)).all(-1)
        body = np.array([n not in FACE for n in COCO_KEYPOINTS])
        want['keypoints_visible'] = inside & body
        outside += (~inside & body).sum()
        assert_matches(info, want)
    assert outside > 0  # the scenes cut people at the border


def test_muco_all_21_joints_in_muco21(tmp_path):
    write_muco(tmp_path / 'muco', num=2, seed=3)
    scenes = regenerate(2, seed=3, split='train')
    ds = build(tmp_path / 'muco', 'MuCo-3DHP.json', joint_set='muco21')
    for i in range(len(ds)):
        info = ds[i]
        assert_matches(info,
                       expected(scenes[info['img_id'] - 1], 'muco21', FACE))
        assert (info['keypoints_3d_visible'] > 0).all()


def test_joint_names_from_categories(tmp_path):
    # coco21 order, listed in categories[0]['joint_names']: as many joints
    # as MuCo's default order, so only the listed names make this right
    write_default(tmp_path / 'scenes', num=2, seed=2)
    scenes = regenerate(2, seed=2, split='train')
    ds = build(tmp_path / 'scenes', 'scenes.json')
    for i in range(len(ds)):
        info = ds[i]
        assert_matches(info, expected(scenes[info['img_id'] - 1], 'coco21'))


def test_mupots_layout_and_is_valid(tmp_path):
    data = write_mupots(tmp_path / 'mupots', num=3, seed=1)
    scenes = regenerate(3, seed=1, split='held_out')
    # MuPoTS marks people it cannot use with is_valid 0: they are skipped
    edit_json(data['ann_file'],
              lambda d: d['annotations'][0].update(is_valid=0))
    ds = build(
        tmp_path / 'mupots',
        'MuPoTS-3D.json',
        type='MuPoTS3DDataset',
        joint_set='muco21')
    unlabelled = FACE + ('right_hand', 'left_hand', 'right_toe', 'left_toe')
    total = 0
    for i in range(len(ds)):
        info = ds[i]
        want = expected(scenes[info['img_id'] - 1], 'muco21', unlabelled)
        if info['img_id'] == 1:
            want = {
                k: v[1:] if k != 'camera_param' else v
                for k, v in want.items()
            }
            assert 1 not in info['id']
        assert_matches(info, want)
        total += len(info['id'])
    assert total == data['num_people'] - 1


def test_topdown_mode(tmp_path):
    data = write_muco(tmp_path / 'muco', num=2, seed=4)
    scenes = regenerate(2, seed=4, split='train')
    ds = build(tmp_path / 'muco', 'MuCo-3DHP.json', data_mode='topdown')
    people = [(i, p) for i, s in enumerate(scenes)
              for p in range(len(s.points_cam))]
    assert len(ds) <= data['num_people']
    for k in range(len(ds)):
        info = ds[k]
        i, p = people[info['id'] - 1]
        want = expected(scenes[i], 'coco21', NOT_IN_MUCO)
        want = {
            key: (v if key == 'camera_param' else v[p:p + 1])
            for key, v in want.items()
        }
        assert_matches(info, want)


def test_test_mode_keeps_images_without_people(tmp_path):
    data = write_muco(tmp_path / 'muco', num=2, seed=5)
    edit_json(
        data['ann_file'], lambda d: d.update(
            annotations=[a for a in d['annotations'] if a['image_id'] != 2]))
    ds = build(tmp_path / 'muco', 'MuCo-3DHP.json', test_mode=True)
    info = next(ds[i] for i in range(len(ds)) if ds[i]['img_id'] == 2)
    assert info['keypoints_3d'].shape == (0, 21, 3)
    assert info['keypoints_3d_visible'].shape == (0, 21)
    assert info['keypoints'].shape == (0, 17, 2)
    assert set(info['camera_param']) == {'f', 'c'}


@pytest.mark.parametrize('change, kwargs, message', [
    (lambda d: d['images'][1].pop('f'), {},
     "image 2 ('images/000001.jpg') lacks valid camera fields 'f'"),
    (lambda d: d['images'][0].update(c=[1.0]), {}, 'lacks valid camera'),
    (None, dict(type='MuPoTS3DDataset'), "camera_layout='f_c'"),
    (None, dict(joint_names=['R_Shouldr'] + ['Pelvis'] * 20),
     "unknown joint name 'R_Shouldr' in joint_names"),
    (None, dict(joint_names=[f'Joint{i}' for i in range(21)]),
     "unknown joint name 'Joint0'"),
    (None, dict(joint_names=list(get_joint_set('muco21').names[:17])),
     'the joint list has 17 joints'),
    (lambda d: d['annotations'][0].update(keypoints_vis=[1] * 20), {},
     "'keypoints_vis' with 20 values"),
    (lambda d: d['annotations'][0].pop('keypoints_cam'), {},
     "has no 'keypoints_cam'")
])
def test_bad_files_say_what_is_wrong(tmp_path, change, kwargs, message):
    data = write_muco(tmp_path / 'muco', num=2, seed=6)
    if change:
        edit_json(data['ann_file'], change)
    with pytest.raises(ValueError) as err:
        build(tmp_path / 'muco', 'MuCo-3DHP.json', **kwargs)
    text = str(err.value)
    assert message in text and '\n' not in text
    assert 'MuCo-3DHP.json' in text or 'joint' in text


def test_missing_file_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        build(tmp_path, 'MuCo-3DHP.json')

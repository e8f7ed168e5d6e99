"""The real-motion scene writer and tools/dataset_converters/
make_motion_scenes.py: what they write, that COCO tools read it, and that
nothing half-written or overwritten is left behind."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from scene_fixtures import SIZE, regenerate, write_default
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from selecsls_mm.pose3d.datasets import scene_writer, write_motion_scenes
from selecsls_mm.pose3d.joint_sets import get_joint_set
from selecsls_mm.utils import run_main

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'make_motion_scenes.py')


def load(path):
    with open(path) as f:
        return json.load(f)


def test_writes_images_and_3dmppe_json(tmp_path):
    out = write_default(tmp_path / 'scenes', num=3, seed=2)
    data = load(out['ann_file'])
    scenes = regenerate(3, seed=2, split='train')
    names = list(get_joint_set('coco21').names)
    assert data['categories'][0]['joint_names'] == names
    assert len(data['images']) == 3
    assert len(data['annotations']) == out['num_people'] == sum(
        len(s.points_cam) for s in scenes)
    for img, scene in zip(data['images'], scenes):
        image = cv2.imread(osp.join(out['img_dir'], img['file_name']))
        assert image.shape == (SIZE[1], SIZE[0], 3)
        # JPEG of the drawn scene, not some other picture
        assert np.abs(image.astype(int) - scene.image).mean() < 4
        assert (img['width'], img['height']) == SIZE
        assert img['f'] == [scene.camera.fx, scene.camera.fy]
        assert img['c'] == [scene.camera.cx, scene.camera.cy]
    for ann in data['annotations']:
        img = data['images'][ann['image_id'] - 1]
        cam = np.asarray(ann['keypoints_cam'])
        pix = np.asarray(ann['keypoints_img'])
        # the pixels are the pinhole projection of the 3D joints
        fx, fy = img['f']
        cx, cy = img['c']
        proj = cam[:, :2] / cam[:, 2:] * [fx, fy] + [cx, cy]
        np.testing.assert_allclose(pix, proj, atol=2e-3)
        # COCO v: 2 seen (= keypoints_vis of the same joint), 1 hidden in
        # the image, 0 outside it
        v = np.asarray(ann['keypoints'][2::3])
        vis = np.asarray(ann['keypoints_vis'])[:17]  # coco21: COCO first
        np.testing.assert_array_equal(v == 2, vis == 1)
        xy = np.asarray(ann['keypoints']).reshape(17, 3)[:, :2]
        inside = ((pix[:17] >= 0) & (pix[:17] < SIZE)).all(1)
        np.testing.assert_array_equal(v > 0, inside)
        np.testing.assert_allclose(xy[v > 0], pix[:17][v > 0], atol=2e-3)
        assert ann['num_keypoints'] == int((v > 0).sum())
        x, y, w, h = ann['bbox']
        assert 0 <= x and x + w <= SIZE[0] + 1e-6 and w * h == ann['area']


def test_coco_tools_read_it(tmp_path):
    out = write_default(tmp_path / 'scenes', num=3, seed=7)
    coco = COCO(out['ann_file'])
    data = load(out['ann_file'])
    # the ground truth as detections scores AP 1 in COCO's own evaluation
    dets = [
        dict(
            image_id=a['image_id'],
            category_id=1,
            keypoints=a['keypoints'],
            score=1.0) for a in data['annotations'] if a['num_keypoints']
    ]
    result = COCOeval(coco, coco.loadRes(dets), 'keypoints')
    result.evaluate()
    result.accumulate()
    result.summarize()
    assert result.stats[0] == pytest.approx(1.0)


def test_same_seed_same_files_other_seed_other(tmp_path):
    a = write_default(tmp_path / 'a', num=2, seed=5)
    b = write_default(tmp_path / 'b', num=2, seed=5)
    c = write_default(tmp_path / 'c', num=2, seed=6)
    assert load(a['ann_file']) == load(b['ann_file'])
    assert load(a['ann_file'])['annotations'] != \
        load(c['ann_file'])['annotations']


def test_held_out_split_uses_held_out_motion(tmp_path):
    from selecsls_mm.pose3d.motion import HELD_OUT_CLIPS
    out = write_default(tmp_path / 'held', num=3, seed=0, split='held_out')
    data = load(out['ann_file'])
    clips = {a['motion_source'][0] for a in data['annotations']}
    assert clips and clips <= set(HELD_OUT_CLIPS)
    assert data['info']['split'] == 'held_out'


def test_refuses_non_empty_output_and_force_replaces(tmp_path):
    out_dir = tmp_path / 'scenes'
    out_dir.mkdir()
    (out_dir / 'mine.txt').write_text('keep me')
    with pytest.raises(ValueError, match='not empty.*force'):
        write_default(out_dir, num=1)
    assert os.listdir(out_dir) == ['mine.txt']
    write_motion_scenes(out_dir, 1, image_size=SIZE, force=True)
    assert sorted(os.listdir(out_dir)) == ['images', 'scenes.json']
    assert os.listdir(tmp_path) == ['scenes']  # no temporary leftovers


def test_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    out_dir = tmp_path / 'scenes'
    out_dir.mkdir()
    (out_dir / 'mine.txt').write_text('keep me')
    calls = []

    def failing_imwrite(path, image, params=None):
        calls.append(path)
        return len(calls) < 2  # the second image cannot be written

    monkeypatch.setattr(scene_writer.cv2, 'imwrite', failing_imwrite)
    with pytest.raises(OSError, match='cannot write images/000001.jpg'):
        write_motion_scenes(out_dir, 3, image_size=SIZE, force=True)
    assert os.listdir(tmp_path) == ['scenes']
    assert os.listdir(out_dir) == ['mine.txt']


@pytest.mark.parametrize('kwargs, message', [
    (dict(layout='h36m'), "unknown layout 'h36m'"),
    (dict(joint_names=['pelvis', 'R_Shouldr']), "unknown joint name"),
    (dict(split='test'), "unknown scene split 'test'"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_motion_scenes(tmp_path / 'x', 1, image_size=SIZE, **kwargs)
    assert not os.listdir(tmp_path)


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)],
                          capture_output=True,
                          text=True,
                          timeout=600,
                          cwd=REPO)


def tool_main():
    spec = importlib.util.spec_from_file_location('make_motion_scenes', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.slow
def test_tool(tmp_path):
    out = tmp_path / 'scenes'
    proc = run_tool(out, '--num', 2, '--size', 160, 128, '--people', 2, 3,
                    '--split', 'held_out', '--seed', 3, '--layout', 'mupots')
    assert proc.returncode == 0, proc.stderr
    assert 'wrote 2 images' in proc.stdout
    data = load(out / 'scenes.json')
    assert all('intrinsic' in img for img in data['images'])
    assert all(
        2 <= n <= 3
        for n in np.bincount([a['image_id'] for a in data['annotations']])[1:])


def test_tool_depth_range(tmp_path):
    out = tmp_path / 'near'
    proc = run_tool(out, '--num', 4, '--size', 160, 128, '--depth', 3000, 3500,
                    '--truncation', 0)
    assert proc.returncode == 0, proc.stderr
    data = load(out / 'scenes.json')
    names = data['categories'][0]['joint_names']
    pelvis = names.index('pelvis')
    depths = [a['keypoints_cam'][pelvis][2] for a in data['annotations']]
    # roots on the ground at 3-3.5 m, seen from a camera pitched <= 8 deg
    assert 2800 < min(depths) and max(depths) < 3700


@pytest.mark.parametrize('args, message', [
    (('--num', 1), 'is not empty'),
    (('--people', 3, 1), 'needs 1 <= MIN <= MAX'),
    (('--num', 0), '--num must be at least 1'),
    (('--photos', 'no_such_folder'), 'photo folder no_such_folder'),
    (('--depth', 5000, 3000), '--depth MIN MAX needs 0 < MIN <= MAX'),
    (('--truncation', 1.5), '--truncation is a share in [0, 1]'),
])
def test_tool_bad_input(tmp_path, capsys, args, message):
    out = tmp_path / 'scenes'
    out.mkdir()
    (out / 'mine.txt').write_text('keep me')
    target = out if message == 'is not empty' else tmp_path / 'new'
    code = run_main(tool_main(), [str(target), *map(str, args)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith('error:') and message in err
    assert err.count('\n') == 1
    assert sorted(os.listdir(tmp_path)) == ['scenes']
    assert os.listdir(out) == ['mine.txt']

"""Geometry of the bottom-up training pipelines on a real photo: marks
drawn at the labelled keypoints must sit on the target heatmap peaks after
the configs' own random affine + flip, for square and non-square inputs.

mmpose's RandomFlip mirrors keypoints by ``input_size`` read as (h, w),
which BottomupRandomAffine stores as (w, h): on the 512x320 config every
flipped sample's targets were 192 px away from the person.
"""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmpose.datasets import CocoDataset
from sklearn.datasets import load_sample_image

from selecsls_mm.pose.codecs.paf_grouping import find_peaks
from selecsls_mm.pose.synthetic import (COCO_FLIP_INDICES, scenes_to_coco,
                                        synthetic_scene)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = [
    'configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-512x512.py',
    'configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-512x320.py',
]
# mark colour (BGR) by the side of the keypoint in the photo
SIDE_COLOURS = {0: (0, 255, 0), 1: (0, 0, 255), 2: (255, 0, 0)}


def side(k: int) -> int:
    """0 centre (nose), 1 left, 2 right (COCO: odd left, even right)."""
    return 0 if k == 0 else 1 + (k + 1) % 2


@pytest.fixture(scope='module')
def photo(tmp_path_factory):
    """china.jpg (640x427) with two labelled people; a marked copy has a
    dot at every labelled keypoint that lies apart from the others."""
    root = tmp_path_factory.mktemp('photo')
    plain = cv2.cvtColor(load_sample_image('china.jpg'), cv2.COLOR_RGB2BGR)
    h, w = plain.shape[:2]
    rng = np.random.default_rng(0)
    kpts, vis = synthetic_scene(
        rng, (w, h), 2, (300, 380), max_rotation=20, min_separation=60)
    marked = plain.copy()
    flat = kpts.reshape(-1, 2)
    for n, k in zip(*np.nonzero(vis)):
        dist = np.linalg.norm(flat - kpts[n, k], axis=1)
        if np.sort(dist)[1] < 30:  # too close to another keypoint
            continue
        centre = tuple(int(round(v * 16)) for v in kpts[n, k])
        cv2.circle(
            marked,
            centre,
            4 * 16,
            SIDE_COLOURS[side(k)],
            -1,
            cv2.LINE_AA,
            shift=4)
    for name, img in (('plain', plain), ('marked', marked)):
        cv2.imwrite(str(root / f'{name}.png'), img)
    files = {}
    for name in ('plain', 'marked'):
        coco = scenes_to_coco([(kpts, vis)], [(w, h)],
                              file_names=[f'{name}.png'])
        files[name] = str(root / f'{name}.json')
        with open(files[name], 'w') as f:
            json.dump(coco, f)
    return dict(root=str(root), ann=files)


def marks(marked: np.ndarray, plain: np.ndarray):
    """Centroids (x, y) and sides of the marks, from the difference of the
    two transformed images; marks cut by the border or merged are skipped."""
    diff = np.abs(marked.astype(np.float32) - plain.astype(np.float32))
    weight = diff.sum(-1)
    num, labels, stats, _ = cv2.connectedComponentsWithStats(
        (weight > 60).astype(np.uint8))
    found = []
    h, w = weight.shape
    for i in range(1, num):
        x, y, bw, bh, area = stats[i]
        if x == 0 or y == 0 or x + bw >= w or y + bh >= h or \
                area < 12 or bw > 2.2 * bh or bh > 2.2 * bw:
            continue
        ys, xs = np.nonzero(labels == i)
        wt = weight[ys, xs]
        centre = np.array([(xs * wt).sum(), (ys * wt).sum()]) / wt.sum()
        colour = marked[ys, xs].astype(np.float32).mean(0)
        dists = [np.abs(colour - c).sum() for c in SIDE_COLOURS.values()]
        found.append((centre, int(np.argmin(dists))))
    return found


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_target_peaks_sit_on_the_marks(photo, config):
    cfg = Config.fromfile(osp.join(REPO, config))
    pipeline = cfg.train_pipeline
    datasets = {
        name:
        CocoDataset(
            data_root='',
            ann_file=photo['ann'][name],
            data_prefix=dict(img=photo['root'] + '/'),
            data_mode='bottomup',
            pipeline=pipeline)
        for name in ('plain', 'marked')
    }
    input_w, input_h = cfg.codec['input_size']
    stride = np.array(cfg.codec['input_size']) / cfg.codec['heatmap_size']
    checked = {False: 0, True: 0}
    for seed in range(8):
        out = {}
        for name, ds in datasets.items():
            np.random.seed(seed)  # same random affine and flip for both
            out[name] = ds[0]
        sample = out['marked']['data_samples']
        flipped = bool(sample.metainfo['flip'])
        assert flipped == bool(out['plain']['data_samples'].metainfo['flip'])
        images = {
            n: o['inputs'].numpy().transpose(1, 2, 0)
            for n, o in out.items()
        }
        assert images['marked'].shape[:2] == (input_h, input_w)
        heatmaps = sample.gt_fields.heatmaps.numpy()
        coords, _, types = find_peaks(heatmaps, 0.5, 3, 30)
        coords = coords * stride
        for centre, mark_side in marks(images['marked'], images['plain']):
            # the channel whose peak must sit on this mark: left/right
            # labels swap with the flip
            near = np.linalg.norm(coords - centre, axis=1)
            best = int(np.argmin(near))
            k = int(types[best])
            expected_side = side(COCO_FLIP_INDICES[k] if flipped else k)
            assert near[best] <= 1.0, (seed, flipped, k, near[best])
            assert mark_side == expected_side, (seed, flipped, k)
            checked[flipped] += 1
    # both kinds of samples were seen, each with many marks
    assert checked[False] >= 20 and checked[True] >= 20, checked


def test_flip_uses_the_size_of_the_flipped_image():
    from mmpose.registry import TRANSFORMS
    flip = TRANSFORMS.build(dict(type='BottomupRandomFlip', prob=1.0))
    img = np.zeros((20, 50, 3), np.uint8)
    img[5, 3] = 255
    mask = np.zeros((20, 50), np.uint8)
    mask[5, 3] = 1
    results = dict(
        img=img,
        img_shape=(20, 50),
        img_mask=mask,
        input_size=(50, 20),  # (w, h), as BottomupRandomAffine stores it
        keypoints=np.array([[[3., 5.], [10., 2.]]], np.float32),
        keypoints_visible=np.ones((1, 2), np.float32),
        bbox=np.array([[1., 2., 11., 6.]], np.float32),
        flip_indices=[1, 0])
    out = flip(results)
    assert out['flip'] and out['input_size'] == (50, 20)
    assert out['img'][5, 46].max() == 255 and out['img_mask'][5, 46] == 1
    # mirrored by the width (50) and left/right swapped
    np.testing.assert_allclose(out['keypoints'], [[[39., 2.], [46., 5.]]])
    # (mmpose's flip_bbox keeps x1 and x2 in place: compare the x range)
    np.testing.assert_allclose(np.sort(out['bbox'][0, ::2]), [38., 48.])


def test_flip_of_an_image_list_leaves_the_sizes_it_found():
    """Without input_size and with a list of images (multi-scale), the
    first image's width mirrors the keypoints; img_shape comes back as it
    was and no input_size is added."""
    from mmpose.registry import TRANSFORMS
    flip = TRANSFORMS.build(dict(type='BottomupRandomFlip', prob=1.0))
    results = dict(
        img=[np.zeros((20, 50, 3), np.uint8),
             np.zeros((10, 25, 3), np.uint8)],
        img_shape=(40, 100),
        keypoints=np.array([[[3., 5.]]], np.float32),
        keypoints_visible=np.ones((1, 1), np.float32),
        flip_indices=[0])
    out = flip(results)
    np.testing.assert_allclose(out['keypoints'], [[[46., 5.]]])
    assert out['img_shape'] == (40, 100) and 'input_size' not in out

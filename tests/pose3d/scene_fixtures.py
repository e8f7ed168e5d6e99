"""Tiny multi-person 3D datasets for the tests, written by the project's
scene writer from real motion (DeepMimic clips, real cameras): in the exact
layouts of the 3DMPPE project's MuCo-3DHP.json and MuPoTS-3D.json (their
joint order and spellings, no COCO keys, no joint-name list) and in this
project's default layout (coco21 joints listed, COCO keys).

:func:`regenerate` draws the same scenes again, straight from the
generator: the reference the datasets are checked against.
"""
import json

import numpy as np
import pytest
from mmengine.registry import DefaultScope

import selecsls_mm.pose3d  # noqa: F401  (registers the 3D modules; opt-in)
from selecsls_mm.pose3d.datasets import (MUCO_JOINT_NAMES, MUPOTS_JOINT_NAMES,
                                         write_motion_scenes)
from selecsls_mm.pose3d.scenes import SceneGenerator

SIZE = (320, 224)


@pytest.fixture(autouse=True)
def mmpose_scope():
    """Datasets, transforms and metrics come from mmpose's registries."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


def write_muco(root, num=3, seed=0, split='train'):
    """MuCo-3DHP.json layout: f, c; 21 MuCo joints; keypoints_vis."""
    return write_motion_scenes(
        root,
        num,
        split=split,
        seed=seed,
        image_size=SIZE,
        joint_names=MUCO_JOINT_NAMES,
        layout='muco',
        write_joint_names=False,
        coco_keys=False,
        ann_name='MuCo-3DHP.json')


def write_mupots(root, num=3, seed=1, split='held_out'):
    """MuPoTS-3D.json layout: intrinsic; 17 joints; is_valid."""
    return write_motion_scenes(
        root,
        num,
        split=split,
        seed=seed,
        image_size=SIZE,
        joint_names=MUPOTS_JOINT_NAMES,
        layout='mupots',
        write_joint_names=False,
        coco_keys=False,
        ann_name='MuPoTS-3D.json')


def write_default(root, num=3, seed=2, split='train'):
    """The tool's layout: coco21 joints listed in categories, COCO keys."""
    return write_motion_scenes(
        root, num, split=split, seed=seed, image_size=SIZE)


def regenerate(num, seed, split):
    """The scenes the writer drew for (num, seed, split)."""
    generator = SceneGenerator(split=split, image_size=SIZE)
    rng = np.random.default_rng(seed)
    return [generator(rng) for _ in range(num)]


def edit_json(path, change):
    """Apply ``change(dict)`` to a JSON file in place."""
    with open(path) as f:
        data = json.load(f)
    change(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def match_people(pred_kpts, pred_scores, gt_kpts, gt_vis):
    """Decoded people -> ground-truth people by the mean 2D distance of
    the keypoints both have (Hungarian; pairs farther than 20 px apart on
    average stay unmatched)."""
    from scipy.optimize import linear_sum_assignment
    cost = np.full((len(pred_kpts), len(gt_kpts)), 1e6)
    for m in range(len(pred_kpts)):
        for n in range(len(gt_kpts)):
            both = (pred_scores[m] > 0) & (gt_vis[n] > 0)
            if both.any():
                cost[m, n] = np.linalg.norm(
                    pred_kpts[m, both] - gt_kpts[n, both], axis=-1).mean()
    rows, cols = linear_sum_assignment(cost)
    keep = cost[rows, cols] < 20
    return list(zip(rows[keep], cols[keep]))

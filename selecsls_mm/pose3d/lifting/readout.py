# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage I's own 3D pose, straight from its read-out: the baseline that
Stage II has to beat.

Each joint is taken where Stage I encodes it (XNect's limb-local read-out):
the mean of its reads at its own 2D keypoint(s) (the anchors for joints
without one, e.g. the hips for the pelvis) when one of them was found; else
the mean of its reads at the other found keypoints that supervise it (its
parent's and children's); with none of them found, the joint is missing and
counted as the mean root-relative pose of the training data. The root is 0.
"""
from functools import lru_cache
from typing import Tuple

import numpy as np

from ..codecs.utils.maps_3d import combine_readouts
from ..joint_sets import COCO_KEYPOINTS, get_joint_set


@lru_cache(maxsize=8)
def read_places(joint_set='coco21') -> Tuple[np.ndarray, np.ndarray]:
    """(J, 17) 0/1 matrices: per joint its own keypoints, and the other
    keypoints that read it (cached: ``JointSet.readers`` is recomputed on
    every access)."""
    js = get_joint_set(joint_set)
    own = np.zeros((js.num_joints, len(COCO_KEYPOINTS)))
    near = np.zeros_like(own)
    for j, readers in enumerate(js.readers):
        near[j, list(readers)] = 1.
        own[j, list(js.keypoints_2d(j))] = 1.
    near[own > 0] = 0.
    own.flags.writeable = near.flags.writeable = False
    return own, near


def read_out_pose(found: np.ndarray,
                  samples_3d: np.ndarray,
                  joint_set='coco21',
                  fill_pose=None) -> np.ndarray:
    """Stage I's root-relative pose from its reads.

    Args:
        found (np.ndarray): (M, 17) keypoints Stage I found (> 0).
        samples_3d (np.ndarray): (M, 17, 3J) mm read at each keypoint.
        joint_set (str | JointSet): The maps' joint set.
            Defaults to ``'coco21'``.
        fill_pose (np.ndarray, optional): (J, 3) mm for joints read nowhere.
            Defaults to zeros (the root).

    Returns:
        np.ndarray: (M, J, 3) mm.
    """
    js = get_joint_set(joint_set)
    found = np.asarray(found) > 0
    m, n = found.shape
    samples = np.asarray(samples_3d, np.float64).reshape(m, n, -1)
    fill = np.zeros((js.num_joints, 3)) if fill_pose is None else \
        np.asarray(fill_pose, np.float64)
    pose = np.broadcast_to(fill, (m, js.num_joints, 3)).copy()
    own, near = (
        [tuple(np.flatnonzero(row)) for row in places]  # keypoints per joint
        for places in read_places(js.name))
    unweighted = np.ones(found.shape)
    for readers in (near, own):  # own keypoints win
        joints, read = combine_readouts(samples, unweighted, found, readers)
        pose = np.where(read[..., None], joints, pose)
    pose[:, js.root] = 0.
    return pose

"""Real human poses for the decoder tests: the DeepMimic motion-capture
clips vendored in ``selecsls_mm/pose3d/data/deepmimic`` (forward kinematics
in :mod:`selecsls_mm.pose3d.motion`), COCO's 17 keypoints seen by cameras
at random angles."""
from typing import Sequence

import numpy as np

from selecsls_mm.pose3d.joint_sets import COCO_KEYPOINTS
from selecsls_mm.pose3d.motion import CLIP_NAMES, POINT_NAMES, load_clip

_COCO_POINTS = [POINT_NAMES.index(n) for n in COCO_KEYPOINTS]


def clip_names() -> tuple:
    """All 15 clips (the decoder is not trained on them)."""
    return tuple(CLIP_NAMES)


def load_clips(names: Sequence[str]) -> np.ndarray:
    """COCO keypoints (F, 17, 3) in metres (world frame, y up) of every
    frame of the named clips."""
    return np.concatenate(
        [load_clip(n).points[:, _COCO_POINTS] / 1000. for n in names])


class MotionPoseSampler:
    """Random 2D people from real motion: a random frame seen from a random
    direction (any azimuth, elevation up to ``max_elevation`` degrees),
    orthographic projection.

    Called with a random generator, returns (17, 2) keypoints centred on
    their box, scaled so that the longer side of the box is 1 (a person
    standing is 1 tall, as :func:`selecsls_mm.pose.synthetic.random_pose`
    returns them; one lying down is 1 long).
    """

    def __init__(self, joints: np.ndarray, max_elevation: float = 30.):
        self.joints = np.asarray(joints, dtype=np.float64)
        if not len(self.joints):
            raise ValueError('no motion frames to sample poses from')
        self.max_elevation = np.deg2rad(max_elevation)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        pose = self.joints[rng.integers(len(self.joints))]
        pose = pose - pose.mean(0)
        azimuth = rng.uniform(0, 2 * np.pi)
        elevation = rng.uniform(-self.max_elevation, self.max_elevation)
        # camera axes: right and up on the image, in world coordinates
        right = np.array([np.cos(azimuth), 0., np.sin(azimuth)])
        back = np.array([-np.sin(azimuth), 0., np.cos(azimuth)])
        up = np.cos(elevation) * np.array([0., 1., 0.]) + \
            np.sin(elevation) * back
        k = np.stack([pose @ right, -(pose @ up)], -1)  # image y down
        lo, hi = k.min(0), k.max(0)
        return (k - (lo + hi) / 2) / max((hi - lo).max(), 1e-6)

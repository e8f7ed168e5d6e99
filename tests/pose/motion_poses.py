"""Real human poses for the decoder tests: DeepMimic motion-capture clips
(shipped in pybullet's ``pybullet_data``) through forward kinematics to COCO
keypoints, seen by cameras at random angles.

Test-only stand-in until the package's own real-motion module
(``selecsls_mm.pose3d.motion``) lands; then this loader should call it.

A clip file holds frames of 44 numbers: duration, root position (x, y, z;
y up, metres), root rotation (quaternion w, x, y, z), then the local
rotations of chest, neck, right hip (quaternions), right knee (angle), right
ankle, right shoulder (quaternions), right elbow (angle), and the same for
the left side. Bone offsets are those of pybullet's ``humanoid.urdf``
(scaled by 0.25 to metres); x points forward, z to the person's right.
"""
import glob
import json
import os.path as osp
from typing import Sequence

import numpy as np

SCALE = 0.25
# joint offsets from the parent joint, urdf units
CHEST = (0., 0.944604, 0.)
NECK = (0., 0.895576, 0.)
HIP = (0., 0., 0.339548)  # right; the left mirrors z
KNEE = (0., -1.686184, 0.)
ANKLE = (0., -1.63948, 0.)
SHOULDER = (-0.0962, 0.974, 0.73244)  # right
ELBOW = (0., -1.099152, 0.)
WRIST = (0., -1.035788, 0.)
# face points in the head's frame (the head is a sphere of radius 0.41
# centred 0.7 above the neck joint); right side, the left mirrors z
HEAD_CENTRE = np.array([0., 0.7, 0.])
NOSE = (0.41, -0.02, 0.)
EYE = (0.34, 0.1, 0.14)
EAR = (0.0, 0.02, 0.4)


def clip_files() -> list:
    """The humanoid clips of the installed ``pybullet_data`` (empty when
    pybullet is not installed)."""
    try:
        import pybullet_data
    except ImportError:
        return []
    pattern = osp.join(pybullet_data.getDataPath(), 'data', 'motions',
                       'humanoid3d_*.txt')
    return sorted(glob.glob(pattern))


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions w, x, y, z -> (..., 3, 3) rotation matrices."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y), 2 *
        (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x), 2 *
        (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)
    ], -1).reshape(q.shape[:-1] + (3, 3))


def _z_rotation(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([c, -s, zero, s, c, zero, zero, zero, one],
                    -1).reshape(angle.shape + (3, 3))


def coco_joints(frames: np.ndarray) -> np.ndarray:
    """Forward kinematics of (F, 44) clip frames to COCO-17 keypoints.

    Returns:
        np.ndarray: (F, 17, 3) keypoints in metres, y up.
    """
    frames = np.asarray(frames, dtype=np.float64)
    F = len(frames)
    out = np.zeros((F, 17, 3))

    def at(parent_pos, parent_rot, offset):
        return parent_pos + np.einsum('fij,j->fi', parent_rot,
                                      np.asarray(offset) * SCALE)

    root_pos = frames[:, 1:4]
    root = _quat_to_matrix(frames[:, 4:8])
    chest = root @ _quat_to_matrix(frames[:, 8:12])
    chest_pos = at(root_pos, root, CHEST)
    head = chest @ _quat_to_matrix(frames[:, 12:16])
    head_pos = at(chest_pos, chest, NECK) + np.einsum('fij,j->fi', head,
                                                      HEAD_CENTRE * SCALE)
    out[:, 0] = at(head_pos, head, NOSE)
    for side, mirror in ((0, 1.), (1, -1.)):  # right, left
        flip = np.array([1., 1., mirror])
        right_or_left = 1 - side  # COCO: left keypoints come first
        out[:, 1 + right_or_left] = at(head_pos, head, EYE * flip)
        out[:, 3 + right_or_left] = at(head_pos, head, EAR * flip)
        hip_q, knee, ankle_q, sho_q, elbow = ((16, 20, 21, 25,
                                               29) if side == 0 else
                                              (30, 34, 35, 39, 43))
        hip = root @ _quat_to_matrix(frames[:, hip_q:hip_q + 4])
        hip_pos = at(root_pos, root, HIP * flip)
        knee_rot = hip @ _z_rotation(frames[:, knee])
        knee_pos = at(hip_pos, hip, KNEE)
        sho = chest @ _quat_to_matrix(frames[:, sho_q:sho_q + 4])
        sho_pos = at(chest_pos, chest, SHOULDER * flip)
        elbow_rot = sho @ _z_rotation(frames[:, elbow])
        elbow_pos = at(sho_pos, sho, ELBOW)
        out[:, 5 + right_or_left] = sho_pos
        out[:, 7 + right_or_left] = elbow_pos
        out[:, 9 + right_or_left] = at(elbow_pos, elbow_rot, WRIST)
        out[:, 11 + right_or_left] = hip_pos
        out[:, 13 + right_or_left] = knee_pos
        out[:, 15 + right_or_left] = at(knee_pos, knee_rot, ANKLE)
    return out


def load_clips(files: Sequence[str]) -> np.ndarray:
    """COCO keypoints (F, 17, 3) of every frame of the given clip files."""
    frames = []
    for name in files:
        with open(name) as f:
            frames.append(np.asarray(json.load(f)['Frames'], np.float64))
    return coco_joints(np.concatenate(frames))


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

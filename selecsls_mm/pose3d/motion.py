# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Real human motion: the DeepMimic motion-capture clips that ship with
pybullet, turned into 3D joint positions by forward kinematics.

The 15 humanoid clips (``humanoid3d_*.txt``, zlib licence, copied unchanged
from pybullet 3.2.7's ``pybullet_data/data/motions/``) are vendored in
``selecsls_mm/pose3d/data/deepmimic/`` (see the SOURCES.md there). Each frame
holds the frame's duration, the root position (metres, y up), the root
rotation and the local rotation of every joint (quaternions w, x, y, z;
knees and elbows as one angle about z). The skeleton's joint offsets are
those of pybullet's ``humanoid/humanoid.urdf`` at DeepMimic's global scale
0.25. Face points, hands, toes and the head top are fixed points of the head,
hand and foot bodies (the drawn spheres and boxes of the URDF).

Clips are split once for the whole project: :data:`TRAIN_CLIPS` train
models and tune parameters; :data:`HELD_OUT_CLIPS` are only evaluated on.
"""
import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np

from .joint_sets import get_joint_set

DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'data', 'deepmimic')

CLIP_NAMES = ('backflip', 'cartwheel', 'crawl', 'dance_a', 'dance_b',
              'getup_facedown', 'getup_faceup', 'jump', 'kick', 'punch',
              'roll', 'run', 'spin', 'spinkick', 'walk')
HELD_OUT_CLIPS = ('dance_b', 'jump', 'kick', 'punch')
TRAIN_CLIPS = tuple(c for c in CLIP_NAMES if c not in HELD_OUT_CLIPS)

_SCALE = 0.25  # DeepMimic loads humanoid.urdf with globalScaling=0.25
# Frame layout: (body, number of values) after duration and root position.
_ROTATIONS = (('root', 4), ('chest', 4), ('neck', 4), ('right_hip', 4),
              ('right_knee', 1), ('right_ankle', 4), ('right_shoulder', 4),
              ('right_elbow', 1), ('left_hip', 4), ('left_knee', 1),
              ('left_ankle', 4), ('left_shoulder', 4), ('left_elbow', 1))
# Body -> (parent body, joint offset in the parent's frame, URDF units).
_BODIES = {
    'chest': ('root', (0., 0.944604, 0.)),
    'neck': ('chest', (0., 0.895576, 0.)),
    'right_hip': ('root', (0., 0., 0.339548)),
    'right_knee': ('right_hip', (0., -1.686184, 0.)),
    'right_ankle': ('right_knee', (0., -1.639480, 0.)),
    'right_shoulder': ('chest', (-0.0962, 0.974, 0.73244)),
    'right_elbow': ('right_shoulder', (0., -1.099152, 0.)),
    'left_hip': ('root', (0., 0., -0.339548)),
    'left_knee': ('left_hip', (0., -1.686184, 0.)),
    'left_ankle': ('left_knee', (0., -1.639480, 0.)),
    'left_shoulder': ('chest', (-0.0962, 0.974, -0.73244)),
    'left_elbow': ('left_shoulder', (0., -1.099152, 0.)),
}
# Named points: (body, position in the body's frame, URDF units). x points
# forward, y up, z to the person's right.
_POINTS = {
    'pelvis': ('root', (0., 0., 0.)),
    'spine': ('chest', (0., 0., 0.)),
    'neck': ('neck', (0., 0., 0.)),
    'head': ('neck', (0., 0.7, 0.)),
    'head_top': ('neck', (0., 1.1, 0.)),
    'nose': ('neck', (0.42, 0.66, 0.)),
    'left_eye': ('neck', (0.34, 0.8, -0.14)),
    'right_eye': ('neck', (0.34, 0.8, 0.14)),
    'left_ear': ('neck', (0., 0.72, -0.30)),
    'right_ear': ('neck', (0., 0.72, 0.30)),
}
for _side in ('left', 'right'):
    _POINTS.update({
        f'{_side}_shoulder': (f'{_side}_shoulder', (0., 0., 0.)),
        f'{_side}_elbow': (f'{_side}_elbow', (0., 0., 0.)),
        f'{_side}_wrist': (f'{_side}_elbow', (0., -1.035788, 0.)),
        f'{_side}_hand': (f'{_side}_elbow', (0., -1.38, 0.)),
        f'{_side}_hip': (f'{_side}_hip', (0., 0., 0.)),
        f'{_side}_knee': (f'{_side}_knee', (0., 0., 0.)),
        f'{_side}_ankle': (f'{_side}_ankle', (0., 0., 0.)),
        f'{_side}_toe': (f'{_side}_ankle', (0.50, -0.15, 0.)),
    })
POINT_NAMES = tuple(_POINTS)


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of quaternions (..., 4) in w, x, y, z
    order (normalised first)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y), 2 *
        (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x), 2 *
        (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)
    ], -1).reshape(q.shape[:-1] + (3, 3))


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(c), np.ones_like(c)
    return np.stack([c, -s, zero, s, c, zero, zero, zero, one],
                    -1).reshape(angle.shape + (3, 3))


def forward_kinematics(frames: np.ndarray) -> np.ndarray:
    """World positions of :data:`POINT_NAMES` for DeepMimic frames.

    Args:
        frames (np.ndarray): Shape (T, 44): duration, root position and the
            rotations in DeepMimic's humanoid layout.

    Returns:
        np.ndarray: Shape (T, P, 3) in millimetres, world frame (y up).
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != 44:
        raise ValueError('DeepMimic humanoid frames have 44 values, got '
                         f'shape {frames.shape}')
    col, rot = 4, {}
    for body, n in _ROTATIONS:
        values = frames[:, col:col + n]
        rot[body] = (
            quaternion_matrix(values) if n == 4 else _rot_z(values[:, 0]))
        col += n
    pos = {'root': frames[:, 1:4]}
    world = {'root': rot['root']}
    for body, (parent, offset) in _BODIES.items():  # parents come first
        pos[body] = pos[parent] + world[parent] @ (np.asarray(offset) * _SCALE)
        world[body] = world[parent] @ rot[body]
    points = [
        pos[body] + world[body] @ (np.asarray(local) * _SCALE)
        for body, local in _POINTS.values()
    ]
    return np.stack(points, axis=1) * 1000.


@dataclass
class MotionClip:
    """One motion clip as 3D points over time.

    Args:
        name (str): Clip name, e.g. ``'walk'``.
        times (np.ndarray): Time of each frame in seconds, shape (T, ).
        points (np.ndarray): World positions (mm, y up) of
            :data:`POINT_NAMES`, shape (T, P, 3).
    """
    name: str
    times: np.ndarray
    points: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    def joints(self, joint_set='coco21') -> np.ndarray:
        """Positions (T, J, 3) in mm of a joint set's joints."""
        js = get_joint_set(joint_set)
        index = [POINT_NAMES.index(n) for n in js.names]
        return self.points[:, index]

    def resample(self, fps: float) -> 'MotionClip':
        """The clip at a constant frame rate (linear interpolation)."""
        times = np.arange(0., self.times[-1] + 1e-9, 1. / fps)
        flat = self.points.reshape(len(self.times), -1)
        points = np.stack([np.interp(times, self.times, c) for c in flat.T],
                          axis=1)
        return MotionClip(
            self.name, times,
            points.reshape((len(times), ) + self.points.shape[1:]))


def clip_path(name: str) -> str:
    """Path of a vendored clip by name (``'walk'``)."""
    if name not in CLIP_NAMES:
        raise ValueError(f'unknown motion clip {name!r}; the clips are '
                         f'{list(CLIP_NAMES)}')
    return osp.join(DATA_DIR, f'humanoid3d_{name}.txt')


def load_clip(name: str) -> MotionClip:
    """Load a vendored DeepMimic clip (``'walk'``) or a clip file path."""
    path = name if osp.isfile(name) else clip_path(name)
    with open(path, encoding='utf-8') as f:
        frames = np.asarray(json.load(f)['Frames'], dtype=np.float64)
    # each row's first value is the time to the next frame
    times = np.concatenate([[0.], np.cumsum(frames[:-1, 0])])
    stem = osp.splitext(osp.basename(path))[0]
    return MotionClip(
        stem.replace('humanoid3d_', ''), times, forward_kinematics(frames))


def load_clips(names: Sequence[str]) -> Dict[str, MotionClip]:
    """Several clips by name, e.g. ``load_clips(TRAIN_CLIPS)``."""
    return {name: load_clip(name) for name in names}


def clip_split(split: str) -> Tuple[str, ...]:
    """Clip names of ``'train'``, ``'held_out'`` or ``'all'``."""
    splits = dict(train=TRAIN_CLIPS, held_out=HELD_OUT_CLIPS, all=CLIP_NAMES)
    if split not in splits:
        raise ValueError(f'unknown clip split {split!r}; choose one of '
                         f'{sorted(splits)}')
    return splits[split]

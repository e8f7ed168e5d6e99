# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""BVH (Biovision hierarchy) files of fitted skeletons, for animation.

Layout: ``HIERARCHY`` with the skeleton's joints (root = pelvis) in its tree
order; each ``OFFSET`` is the person's bone offset in the rest pose (a
T-pose, see :mod:`.skeleton`), in millimetres times ``scale``. Channels:
the root has ``Xposition Yposition Zposition Zrotation Xrotation
Yrotation``, every other joint ``Zrotation Xrotation Yrotation``; a joint's
rotation is ``Rz(z) @ Rx(x) @ Ry(y)`` (degrees, intrinsic Z, X, Y, the
usual BVH reading), local to its parent. Leaves (wrists, ankles, face
points) are joints too (their rotation is always zero), each closed by an
``End Site`` with a zero offset, so that any reader exposes their
positions.

World frame: y up, x right, z towards the viewer: the camera frame turned
half a turn about its x axis (``diag(1, -1, -1)``; OpenGL's camera frame).
The root position is the pelvis's absolute position in that frame. A
person standing upright facing the camera has zero root rotation. Frames a
track missed hold its last pose.
"""
import warnings
from typing import List, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from ...utils.fileio import atomic_output
from .skeleton import Skeleton

# camera frame (y down, z forward) -> BVH world (y up, z to the viewer)
CAMERA_TO_BVH = np.diag([1., -1., -1.])


def euler_zxy(rotations: np.ndarray) -> np.ndarray:
    """Intrinsic Z, X, Y angles (..., 3) in degrees, ordered (z, x, y), of
    rotation matrices (..., 3, 3): ``R = Rz(z) @ Rx(x) @ Ry(y)``."""
    flat = rotations.reshape(-1, 3, 3)
    with warnings.catch_warnings():
        # gimbal lock: the angles still compose the same rotation
        warnings.simplefilter('ignore', UserWarning)
        angles = Rotation.from_matrix(flat).as_euler('ZXY', degrees=True)
    return angles.reshape(rotations.shape[:-2] + (3, ))


def _hierarchy(skeleton: Skeleton, offsets: np.ndarray, scale: float, j: int,
               depth: int, lines: List[str], order: List[int]):
    pad = '  ' * depth
    head = 'ROOT' if j == skeleton.root else 'JOINT'
    lines.append(f'{pad}{head} {skeleton.names[j]}')
    lines.append(f'{pad}{{')
    off = ' '.join(f'{v:.6f}' for v in offsets[j] * scale)
    lines.append(f'{pad}  OFFSET {off}')
    if j == skeleton.root:
        lines.append(f'{pad}  CHANNELS 6 Xposition Yposition Zposition '
                     'Zrotation Xrotation Yrotation')
    else:
        lines.append(f'{pad}  CHANNELS 3 Zrotation Xrotation Yrotation')
    order.append(j)
    for c in skeleton.children[j]:
        _hierarchy(skeleton, offsets, scale, c, depth + 1, lines, order)
    if not skeleton.children[j]:
        lines += [
            f'{pad}  End Site', f'{pad}  {{', f'{pad}    OFFSET 0 0 0',
            f'{pad}  }}'
        ]
    lines.append(f'{pad}}}')


def bvh_text(skeleton: Skeleton,
             offsets: np.ndarray,
             rotations: np.ndarray,
             roots: np.ndarray,
             frame_time: float,
             scale: float = 1.) -> str:
    """The text of a BVH file.

    Args:
        skeleton (Skeleton): The skeleton.
        offsets (np.ndarray): (J, 3) the person's bone offsets, mm.
        rotations (np.ndarray): (T, J, 3, 3) local rotations per frame
            (the root's: rest frame -> camera frame).
        roots (np.ndarray): (T, 3) root positions, camera frame, mm.
        frame_time (float): Seconds per frame.
        scale (float): Length unit per mm (1: mm, 0.1: cm).

    Returns:
        str: The file's content.
    """
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise ValueError(f'BVH needs a positive frame time, got {frame_time}')
    if len(rotations) != len(roots) or not len(roots):
        raise ValueError(f'BVH needs as many rotations ({len(rotations)}) as '
                         f'root positions ({len(roots)}), at least one')
    lines, order = ['HIERARCHY'], []
    _hierarchy(skeleton, offsets, scale, skeleton.root, 0, lines, order)
    rotations = rotations.copy()
    rotations[:, skeleton.root] = CAMERA_TO_BVH @ rotations[:, skeleton.root]
    angles = euler_zxy(rotations[:, order])  # T, J, 3
    position = roots @ CAMERA_TO_BVH.T * scale
    lines += [
        'MOTION', f'Frames: {len(roots)}', f'Frame Time: {frame_time:.8f}'
    ]
    for pos, ang in zip(position, angles):
        values = np.concatenate([pos, ang.ravel()])
        lines.append(' '.join(f'{v:.6f}' for v in values))
    return '\n'.join(lines) + '\n'


def fill_gaps(frames: Sequence[int], values: Sequence[np.ndarray]):
    """Values per consecutive frame from ``frames[0]`` to ``frames[-1]``,
    a missing frame holding the last value before it."""
    frames = np.asarray(frames)
    span = np.arange(frames[0], frames[-1] + 1)
    pick = np.searchsorted(frames, span, side='right') - 1
    return np.stack([values[i] for i in pick])


def track_bvh_text(skeleton: Skeleton,
                   fits: Sequence,
                   frame_time: float,
                   scale: float = 1.) -> str:
    """The BVH text of one tracked person's fits (frames in order; the
    frames it missed hold its last pose)."""
    if not fits:
        raise ValueError('a track without frames has no BVH')
    frames = [f.frame for f in fits]
    return bvh_text(skeleton, fits[0].offsets,
                    fill_gaps(frames, [f.rotations for f in fits]),
                    fill_gaps(frames, [f.root for f in fits]), frame_time,
                    scale)


def write_text(path: str, text: str) -> str:
    """Write a text file atomically (all or nothing); returns ``path``."""
    with atomic_output(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
    return path


def write_bvh(path: str,
              skeleton: Skeleton,
              fits: Sequence,
              frame_time: float,
              scale: float = 1.) -> str:
    """Write one tracked person's fits as a BVH file, atomically.

    Args:
        path (str): Output file.
        skeleton (Skeleton): The skeleton fitted.
        fits (Sequence[PersonFit]): The person's fits, frames in order.
        frame_time (float): Seconds per frame.
        scale (float): Length unit per mm (1: mm, 0.1: cm).

    Returns:
        str: ``path``.
    """
    return write_text(path, track_bvh_text(skeleton, fits, frame_time, scale))

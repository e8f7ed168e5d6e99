# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""New poses from the mocap ones, bone lengths kept: every body of the
DeepMimic skeleton turned by a small random rotation about its joint
(:func:`jitter_joints`), and limbs and head taken from other frames
(:func:`mix_limbs`).

The training clips hold about a thousand distinct frames; a lifter learns
their poses by heart and transfers poorly to other motion. Jittering the
joint angles spreads the training poses around the recorded ones; mixing
limbs makes combinations that no clip holds (a kick's leg under a dance's
arms), each limb still a recorded one.
"""
from functools import lru_cache
from typing import List, Tuple

import numpy as np

from .. import motion
from ..fitting.rotations import kabsch


@lru_cache(maxsize=1)
def _subtrees() -> List[Tuple[int, np.ndarray]]:
    """Per non-root body of :mod:`~..motion`'s skeleton: the index of its
    joint (the point at its origin) and the indices of all points it and
    its descendants carry."""
    bodies = motion._BODIES  # body -> (parent body, offset)
    points = motion._POINTS  # point -> (body, local position)
    names = list(points)

    def descends(body, top):
        while body != 'root':
            if body == top:
                return True
            body = bodies[body][0]
        return False

    out = []
    for body in bodies:
        origin = next(n for n, (b, local) in points.items()
                      if b == body and not any(local))
        carried = [
            i for i, n in enumerate(names) if descends(points[n][0], body)
        ]
        out.append((names.index(origin), np.asarray(carried)))
    return out


def _rotations(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """``n`` rotations (n, 3, 3) about uniform random axes by N(0, sigma)
    angles (Rodrigues' formula)."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = rng.normal(0., sigma, (n, 1, 1))
    x, y, z = axis.T
    zero = np.zeros(n)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], 1).reshape(n, 3, 3)
    return np.eye(3) + np.sin(angle) * k + (1. - np.cos(angle)) * k @ k


def jitter_joints(rng: np.random.Generator, points: np.ndarray,
                  sigma_deg: float) -> np.ndarray:
    """Turn each body (chest, neck, limbs) about its joint by a random
    rotation of N(0, ``sigma_deg``) degrees.

    Args:
        rng (np.random.Generator): Randomness.
        points (np.ndarray): (P, 3) positions of
            :data:`~..motion.POINT_NAMES` (any frame, mm).
        sigma_deg (float): Spread of each joint's rotation angle.

    Returns:
        np.ndarray: The jittered (P, 3) points; bone lengths unchanged.
    """
    points = np.array(points, np.float64)
    if sigma_deg <= 0:
        return points
    subtrees = _subtrees()
    rots = _rotations(rng, len(subtrees), np.deg2rad(sigma_deg))
    for (origin, carried), rot in zip(subtrees, rots):
        pivot = points[origin].copy()
        points[carried] = (points[carried] - pivot) @ rot.T + pivot
    return points


@lru_cache(maxsize=1)
def _limb_index() -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per limb: the indices of the points it moves, and of the points of
    the rigid body it hangs from (which fix that body's frame; the limb's
    pivot first). Shoulders sit on the chest and hips on the pelvis, so
    they stay; what hangs from them moves."""
    sides = (('left', 'right'), ('right', 'left'))
    head = (('head', 'head_top', 'nose', 'left_eye', 'right_eye', 'left_ear',
             'right_ear'), ('neck', 'spine', 'left_shoulder',
                            'right_shoulder'))
    arms = [((f'{s}_elbow', f'{s}_wrist', f'{s}_hand'),
             (f'{s}_shoulder', 'spine', 'neck', f'{o}_shoulder'))
            for s, o in sides]
    legs = [((f'{s}_knee', f'{s}_ankle', f'{s}_toe'),
             (f'{s}_hip', 'pelvis', 'spine', f'{o}_hip')) for s, o in sides]
    names = motion.POINT_NAMES
    return [(np.array([names.index(n) for n in moved]),
             np.array([names.index(n) for n in rigid]))
            for moved, rigid in [head, *arms, *legs]]


def mix_limbs(rng: np.random.Generator, points: np.ndarray, donors: np.ndarray,
              prob: float) -> np.ndarray:
    """Replace each limb (head, arms below the shoulder, legs below the
    hip) with probability ``prob`` by the same limb of a random donor
    frame, posed the same relative to the body it hangs from.

    Args:
        rng (np.random.Generator): Randomness.
        points (np.ndarray): (P, 3) positions of
            :data:`~..motion.POINT_NAMES` (any frame, mm).
        donors (np.ndarray): (F, P, 3) frames to take limbs from (any
            placement: each limb is aligned by its parent body).
        prob (float): Chance of each limb to be replaced.

    Returns:
        np.ndarray: The (P, 3) points; bone lengths unchanged.
    """
    points = np.array(points, np.float64)
    if prob <= 0:
        return points
    limbs = _limb_index()
    chosen = [(k, donors[rng.integers(len(donors))])
              for k in range(len(limbs)) if rng.random() < prob]
    if not chosen:
        return points
    rigid = np.stack([limbs[k][1] for k, _ in chosen])  # (L, 4)
    donor = np.stack([d for _, d in chosen])  # (L, P, 3)
    base = points[rigid[:, :1]]  # (L, 1, 3)
    base_donor = np.take_along_axis(donor, rigid[:, :1, None], 1)
    # each donor's parent body turned onto this one's, all in one batch
    rot = kabsch(
        np.take_along_axis(donor, rigid[..., None], 1) - base_donor,
        points[rigid] - base)
    for (k, d), r, b, bd in zip(chosen, rot, base, base_donor):
        moved = limbs[k][0]
        points[moved] = (d[moved] - bd) @ r.T + b
    return points

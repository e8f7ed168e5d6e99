# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""New poses near the mocap ones: every body of the DeepMimic skeleton
turned by a small random rotation about its joint, bone lengths kept.

The training clips hold about a thousand distinct frames; a lifter learns
their poses by heart and transfers poorly to other motion. Jittering the
joint angles spreads the training poses around the recorded ones.
"""
from functools import lru_cache
from typing import List, Tuple

import numpy as np

from .. import motion


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

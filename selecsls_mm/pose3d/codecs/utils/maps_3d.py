# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write root-relative 3D joints into maps at the 2D keypoints, and read
them back.

Each map pixel near a labelled keypoint belongs to the person of the nearest
such keypoint (ties: the first listed). At the pixels of person ``n`` near
its keypoint ``k``, the channels of the joints ``written_at[k]`` hold that
person's root-relative 3D positions; every other channel there, and every
pixel far from all keypoints, is unsupervised (weight 0).
"""
from typing import List, Sequence, Tuple

import numpy as np


def _window(x: float, y: float, radius: float, W: int, H: int):
    """Pixels (ys, xs) of the map within ``radius`` of (x, y), and their
    distances."""
    r = int(np.ceil(radius))
    x0, x1 = max(int(np.floor(x)) - r, 0), min(int(np.ceil(x)) + r, W - 1)
    y0, y1 = max(int(np.floor(y)) - r, 0), min(int(np.ceil(y)) + r, H - 1)
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    dist = np.hypot(xs - x, ys - y)
    near = dist <= radius
    return ys[near], xs[near], dist[near]


def pixel_owners(map_size: Tuple[int, int], keypoints: np.ndarray,
                 keypoints_visible: np.ndarray, radius: float) -> np.ndarray:
    """Which person each map pixel belongs to: the person of the nearest
    labelled keypoint within ``radius`` (ties: the first listed).

    Args:
        map_size (tuple): Map size [W, H].
        keypoints (np.ndarray): Keypoints in map coordinates, (N, K, 2).
        keypoints_visible (np.ndarray): (N, K); >= 0.5 means labelled.
        radius (float): Pixels farther than this from every labelled
            keypoint belong to nobody.

    Returns:
        np.ndarray: (H, W) int64, the owning person, -1 for none.
    """
    W, H = map_size
    best = np.full((H, W), np.inf)
    owner = np.full((H, W), -1, dtype=np.int64)
    labelled = list(zip(*np.nonzero(np.asarray(keypoints_visible) >= 0.5)))
    for n, k in labelled:
        ys, xs, dist = _window(*keypoints[n, k], radius, W, H)
        take = dist < best[ys, xs]
        best[ys[take], xs[take]] = dist[take]
        owner[ys[take], xs[take]] = n
    # The pixel a keypoint rounds to is where it is read: it goes to the
    # keypoint's person even if another person's keypoint is a little
    # nearer (unless that one rounds to it as well and is nearer).
    nearest = {}
    for n, k in labelled:
        x, y = np.round(keypoints[n, k]).astype(np.int64)
        if 0 <= x < W and 0 <= y < H:
            d = np.hypot(*(keypoints[n, k] - (x, y)))
            if (y, x) not in nearest or d < nearest[(y, x)][0]:
                nearest[(y, x)] = (d, n)
    for (y, x), (_, n) in nearest.items():
        owner[y, x] = n
    return owner


def render_3d_maps(owner: np.ndarray, keypoints: np.ndarray,
                   keypoints_visible: np.ndarray, joints: np.ndarray,
                   joints_visible: np.ndarray,
                   written_at: Sequence[np.ndarray],
                   radius: float) -> Tuple[np.ndarray, np.ndarray]:
    """Fill the 3D maps: around each labelled keypoint ``k`` of person
    ``n``, on the pixels ``n`` owns (:func:`pixel_owners`), the channels of
    the joints ``written_at[k]`` get ``n``'s root-relative positions. A
    pixel near several keypoints of its owner gets all their joints.

    Args:
        owner (np.ndarray): (H, W) from :func:`pixel_owners`.
        keypoints (np.ndarray): Keypoints in map coordinates, (N, K, 2).
        keypoints_visible (np.ndarray): (N, K).
        joints (np.ndarray): Root-relative joints (N, J, 3), in map units.
        joints_visible (np.ndarray): (N, J); joints without a 3D label
            (< 0.5) are left unsupervised.
        written_at (Sequence[np.ndarray]): Per keypoint, the joints whose
            channels are supervised at its pixels.
        radius (float): As in :func:`pixel_owners`.

    Returns:
        tuple: maps (3J, H, W) and weights (3J, H, W), float32.
    """
    H, W = owner.shape
    J = joints.shape[1]
    maps = np.zeros((J, 3, H, W), dtype=np.float32)
    weights = np.zeros((J, 3, H, W), dtype=np.float32)
    for n, k in zip(*np.nonzero(np.asarray(keypoints_visible) >= 0.5)):
        ys, xs, _ = _window(*keypoints[n, k], radius, W, H)
        mine = owner[ys, xs] == n
        ys, xs = ys[mine], xs[mine]
        js = written_at[k][joints_visible[n, written_at[k]] >= 0.5]
        maps[js[:, None], :, ys[None], xs[None]] = joints[n, js][:, None]
        weights[js[:, None], :, ys[None], xs[None]] = 1.
    return maps.reshape(3 * J, H, W), weights.reshape(3 * J, H, W)


def sample_3d_maps(maps: np.ndarray, keypoints: np.ndarray,
                   found: np.ndarray) -> np.ndarray:
    """The 3D-map values at each found keypoint's nearest map pixel.

    Args:
        maps (np.ndarray): (3J, H, W).
        keypoints (np.ndarray): Keypoints in map coordinates, (M, K, 2).
        found (np.ndarray): (M, K) bool.

    Returns:
        np.ndarray: (M, K, 3J) float32; zeros where a keypoint is not found.
    """
    C, H, W = maps.shape
    M, K = found.shape
    xs = np.clip(np.round(keypoints[..., 0]).astype(np.int64), 0, W - 1)
    ys = np.clip(np.round(keypoints[..., 1]).astype(np.int64), 0, H - 1)
    samples = maps[:, ys, xs].transpose(1, 2, 0)  # (M, K, C)
    return np.where(found[..., None], samples, 0.).astype(np.float32)


def shared_joints(written_at: Sequence[np.ndarray], num_joints: int
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (a, b, j) with keypoints a < b whose pixels both supervise joint
    j, sorted by (a, b): what :func:`drop_foreign_readouts` compares.

    Returns:
        tuple: Arrays a, b and j, each (T, ), int64.
    """
    K = len(written_at)
    supervised = np.zeros((K, num_joints), dtype=bool)
    for k, js in enumerate(written_at):
        supervised[k, js] = True
    upper = np.triu(np.ones((K, K), dtype=bool), 1)[..., None]
    return np.nonzero(upper & supervised[:, None] & supervised[None])


def drop_foreign_readouts(samples: np.ndarray, found: np.ndarray,
                          shared: Tuple[np.ndarray, np.ndarray, np.ndarray],
                          threshold: float) -> np.ndarray:
    """Which found keypoints' 3D values belong to their person.

    Two keypoints of one person whose pixels both supervise a joint hold
    the same value for it (up to the network's error). A keypoint whose
    pixel belongs to someone else (two people's keypoints in one map pixel,
    or a keypoint the 2D grouping gave to the wrong person) disagrees with
    the person's other keypoints; the keypoint with the most disagreements
    (then the fewest agreements) is dropped until none is left.

    Args:
        samples (np.ndarray): (M, K, 3J) values at each keypoint, mm.
        found (np.ndarray): (M, K) bool.
        shared (tuple): :func:`shared_joints` of the joint set.
        threshold (float): Largest difference (mm) of a shared joint that
            still counts as agreement.

    Returns:
        np.ndarray: (M, K) bool, ``found`` without the foreign keypoints.
    """
    M, K = found.shape
    a, b, j = shared
    kept = found.copy()
    if not len(a) or not M:
        return kept
    values = samples.reshape(M, K, -1, 3)
    far = np.linalg.norm(values[:, a, j] - values[:, b, j], axis=-1) > \
        threshold  # (M, T)
    starts = np.flatnonzero(np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])])
    pair_clash = np.maximum.reduceat(far, starts, axis=1)  # (M, pairs)
    pa, pb = a[starts], b[starts]
    clash = np.zeros((M, K, K), dtype=bool)
    clash[:, pa, pb] = pair_clash
    clash |= clash.transpose(0, 2, 1)
    agree = np.zeros((M, K, K), dtype=bool)
    agree[:, pa, pb] = ~pair_clash
    agree |= agree.transpose(0, 2, 1)
    rows = np.arange(M)
    while True:
        alive = kept[:, :, None] & kept[:, None]
        clashes = (clash & alive).sum(2)
        worst = clashes.max(1)
        if not worst.any():
            return kept
        score = clashes * (K + 1) - (agree & alive).sum(2)
        drop = np.argmax(score, axis=1)
        kept[rows[worst > 0], drop[worst > 0]] = False


def combine_readouts(samples: np.ndarray, scores: np.ndarray,
                     found: np.ndarray, readers: List[Tuple[int, ...]]
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Each joint's 3D position: the score-weighted mean of its values at
    the found keypoints that read it.

    Args:
        samples (np.ndarray): (M, K, 3J) from :func:`sample_3d_maps`.
        scores (np.ndarray): (M, K) keypoint scores.
        found (np.ndarray): (M, K) bool.
        readers (list): Per joint, the keypoints it is read at.

    Returns:
        tuple: joints (M, J, 3) and read (M, J) bool.
    """
    M, K = found.shape
    J = len(readers)
    reader_mask = np.zeros((K, J), dtype=np.float32)
    for j, keys in enumerate(readers):
        reader_mask[list(keys), j] = 1.
    w = np.where(found, np.maximum(scores, 1e-6), 0.)[..., None] * reader_mask
    values = samples.reshape(M, K, J, 3)
    total = w.sum(1)  # (M, J)
    joints = np.einsum('mkj,mkjc->mjc', w, values) / np.maximum(
        total, 1e-12)[..., None]
    return joints.astype(np.float32), total > 0

"""Bottom-up grouping for the part-affinity-field codec (OpenPose-style):
heatmap peaks, PAF line-integral limb scores, greedy matching per limb and
assembly of limbs into people."""
from typing import List, Sequence, Tuple

import numpy as np


def _max_pool(maps: np.ndarray, kernel: int) -> np.ndarray:
    """Max over a ``kernel x kernel`` window around each pixel (stride 1,
    borders padded with -inf), as two separable running maxima; several
    times faster than ``scipy.ndimage.maximum_filter`` here."""
    _, H, W = maps.shape
    r = kernel // 2
    padded = np.pad(maps, ((0, 0), (r, r), (r, r)), constant_values=-np.inf)
    rows = padded[:, :, :W].copy()
    for i in range(1, kernel):
        np.maximum(rows, padded[:, :, i:i + W], out=rows)
    pooled = rows[:, :H].copy()
    for i in range(1, kernel):
        np.maximum(pooled, rows[:, i:i + H], out=pooled)
    return pooled


def find_peaks(heatmaps: np.ndarray,
               threshold: float,
               nms_kernel: int,
               topk: int,
               subpixel: bool = True) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Find local maxima of every heatmap.

    Args:
        heatmaps (np.ndarray): Shape (K, H, W).
        threshold (float): Minimum peak value.
        nms_kernel (int): Side of the max-pooling window; a pixel is a peak
            when it is the maximum of the window centred on it.
        topk (int): Keep at most this many peaks per keypoint, highest first.
        subpixel (bool): Refine each peak by fitting a parabola to the log
            heatmap along x and y (exact for a Gaussian peak).

    Returns:
        list[tuple]: For each keypoint, ``(coords, scores)`` with coords of
        shape (n, 2) as float (x, y) in heatmap pixels and scores of shape
        (n, ) holding the heatmap value at the peak pixel.
    """
    K, H, W = heatmaps.shape
    hm = heatmaps.astype(np.float32, copy=False)
    pooled = _max_pool(hm, nms_kernel)
    candidates = (hm == pooled) & (hm > threshold)
    # A flat top (e.g. a Gaussian centred between two pixels) gives several
    # equal maxima in one window: keep the first in raster order, i.e. the
    # candidate with the highest rank H * W - index in its window.
    rank = np.arange(H * W, 0, -1, dtype=np.float32).reshape(H, W)
    rank = np.where(candidates, rank, 0)
    ks, ys, xs = np.nonzero(candidates & (rank == _max_pool(rank, nms_kernel)))
    vals = hm[ks, ys, xs]
    hm = hm.astype(np.float64)

    coords = np.stack([xs, ys], axis=1).astype(np.float64)
    if subpixel and len(ks):
        logs = np.log(np.maximum(hm, 1e-10))
        for axis, (dx, dy) in enumerate(((1, 0), (0, 1))):
            size = W if axis == 0 else H
            pos = xs if axis == 0 else ys
            inner = (pos > 0) & (pos < size - 1)
            xm = np.clip(xs - dx, 0, W - 1)
            xp = np.clip(xs + dx, 0, W - 1)
            ym = np.clip(ys - dy, 0, H - 1)
            yp = np.clip(ys + dy, 0, H - 1)
            lm, lc, lp = logs[ks, ym, xm], logs[ks, ys, xs], logs[ks, yp, xp]
            curv = lm - 2 * lc + lp
            ok = inner & (curv < 0)
            offset = np.where(ok, 0.5 * (lm - lp) / np.where(ok, curv, -1),
                              0)
            coords[:, axis] += np.clip(offset, -0.5, 0.5)

    peaks = []
    for k in range(K):
        sel = np.nonzero(ks == k)[0]
        if len(sel) > topk:
            sel = sel[np.argsort(-vals[sel], kind='stable')[:topk]]
        peaks.append((coords[sel], vals[sel]))
    return peaks


def score_limb_candidates(pafs_xy: np.ndarray, starts: np.ndarray,
                          ends: np.ndarray, num_samples: int,
                          sample_thr: float, min_fraction: float,
                          max_length: float) -> Tuple[np.ndarray, np.ndarray]:
    """Score every (start, end) candidate pair of one limb at once.

    The PAF is sampled (nearest pixel) at the centres of ``num_samples``
    equal pieces of each segment and the samples are dotted
    with the segment's unit direction. A pair is valid when at least
    ``min_fraction`` of the samples exceed ``sample_thr`` and the mean, plus a
    penalty ``min(0, max_length / length - 1)`` for long segments, is
    positive.

    Args:
        pafs_xy (np.ndarray): The limb's field, shape (2, H, W).
        starts (np.ndarray): Start candidates, shape (A, 2) as (x, y).
        ends (np.ndarray): End candidates, shape (B, 2) as (x, y).
        num_samples (int): Number of samples per segment.
        sample_thr (float): Minimum agreement of a sample to count.
        min_fraction (float): Minimum fraction of agreeing samples.
        max_length (float): Segment length (heatmap pixels) above which the
            score is penalised.

    Returns:
        tuple:
        - scores (np.ndarray): Shape (A, B), the penalised mean agreement.
        - valid (np.ndarray): Shape (A, B), bool.
    """
    _, H, W = pafs_xy.shape
    delta = ends[None, :, :] - starts[:, None, :]  # (A, B, 2)
    length = np.linalg.norm(delta, axis=-1)
    unit = delta / np.maximum(length, 1e-6)[..., None]

    # samples at the centres of equal pieces: the ends lie where other limbs
    # meet and where the peak may be off by a fraction of a pixel
    t = (np.arange(num_samples) + 0.5) / num_samples
    pts = (starts[:, None, None, :] +
           t[None, None, :, None] * delta[:, :, None, :])  # (A, B, S, 2)
    ix = np.clip(np.rint(pts[..., 0]), 0, W - 1).astype(np.intp)
    iy = np.clip(np.rint(pts[..., 1]), 0, H - 1).astype(np.intp)
    agreement = (pafs_xy[0][iy, ix] * unit[:, :, None, 0] +
                 pafs_xy[1][iy, ix] * unit[:, :, None, 1])  # (A, B, S)

    penalty = np.minimum(max_length / np.maximum(length, 1e-6) - 1, 0)
    scores = agreement.mean(-1) + penalty
    valid = ((agreement > sample_thr).mean(-1) >= min_fraction) & (
        scores > 0) & (length > 1e-6)
    return scores, valid


def match_limb(scores: np.ndarray,
               valid: np.ndarray) -> List[Tuple[int, int, float]]:
    """Greedy bipartite matching: take pairs in order of decreasing score,
    using each start and each end candidate at most once.

    Returns:
        list[tuple]: ``(start_index, end_index, score)`` of accepted pairs.
    """
    ia, ib = np.nonzero(valid)
    order = np.argsort(-scores[ia, ib], kind='stable')
    used_a = np.zeros(scores.shape[0], dtype=bool)
    used_b = np.zeros(scores.shape[1], dtype=bool)
    limit = min(scores.shape)
    matches = []
    for i, j in zip(ia[order], ib[order]):
        if used_a[i] or used_b[j]:
            continue
        used_a[i] = used_b[j] = True
        matches.append((int(i), int(j), float(scores[i, j])))
        if len(matches) == limit:
            break
    return matches


def assemble_people(connections: Sequence[Tuple[int, int, int, int, float]],
                    num_peaks: int, num_keypoints: int) -> np.ndarray:
    """Merge limb connections that share keypoints into people.

    Connections are taken in order of decreasing score (so the most reliable
    limbs decide first, whatever the skeleton's order or cycles). A
    connection either starts a new person, extends the person owning one of
    its ends, or merges the two people owning its ends when they have no
    keypoint type in common; a connection that would give a person two
    different peaks of one keypoint type is dropped.

    Args:
        connections (Sequence[tuple]): ``(type_a, peak_a, type_b, peak_b,
            score)``; peaks are global indices in ``[0, num_peaks)``.
        num_peaks (int): Total number of peaks over all keypoint types.
        num_keypoints (int): Number of keypoint types K.

    Returns:
        np.ndarray: Shape (P, K), int, the global peak index of each
        keypoint of each person, -1 where missing.
    """
    owner = np.full(num_peaks, -1, dtype=np.intp)
    people: List[np.ndarray] = []
    alive: List[bool] = []

    for ka, pa, kb, pb, _ in sorted(connections, key=lambda c: -c[4]):
        ga, gb = owner[pa], owner[pb]
        if ga < 0 and gb < 0:
            slots = np.full(num_keypoints, -1, dtype=np.intp)
            slots[ka], slots[kb] = pa, pb
            owner[pa] = owner[pb] = len(people)
            people.append(slots)
            alive.append(True)
        elif gb < 0:
            if people[ga][kb] < 0:
                people[ga][kb] = pb
                owner[pb] = ga
        elif ga < 0:
            if people[gb][ka] < 0:
                people[gb][ka] = pa
                owner[pa] = gb
        elif ga != gb:
            sa, sb = people[ga], people[gb]
            if not np.any((sa >= 0) & (sb >= 0)):
                sa[sb >= 0] = sb[sb >= 0]
                owner[sb[sb >= 0]] = ga
                alive[gb] = False

    kept = [p for p, a in zip(people, alive) if a]
    if not kept:
        return np.empty((0, num_keypoints), dtype=np.intp)
    return np.stack(kept)

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
               subpixel: bool = True
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        tuple: P peaks over all keypoint types, grouped by type:
        - coords (np.ndarray): Shape (P, 2), float (x, y) in heatmap pixels
        - scores (np.ndarray): Shape (P, ), the heatmap value at the peak
        - types (np.ndarray): Shape (P, ), the keypoint index of each peak
    """
    K, H, W = heatmaps.shape
    hm = heatmaps.astype(np.float32, copy=False)
    candidates = (hm == _max_pool(hm, nms_kernel)) & (hm > threshold)
    # A flat top (e.g. a Gaussian centred between two pixels) gives several
    # equal maxima in one window: keep the first in raster order, i.e. the
    # candidate with the highest rank H * W - index in its window.
    rank = np.arange(H * W, 0, -1, dtype=np.float32).reshape(H, W)
    rank = np.where(candidates, rank, 0)
    ks, ys, xs = np.nonzero(candidates & (rank == _max_pool(rank, nms_kernel)))
    vals = hm[ks, ys, xs]

    # top-k per type: order by type, then by decreasing value
    order = np.lexsort((-vals, ks))
    ks, ys, xs, vals = ks[order], ys[order], xs[order], vals[order]
    first = np.searchsorted(ks, ks)  # index of the first peak of each type
    keep = np.arange(len(ks)) - first < topk
    ks, ys, xs, vals = ks[keep], ys[keep], xs[keep], vals[keep]

    coords = np.stack([xs, ys], axis=1).astype(np.float64)
    if subpixel and len(ks):
        lc = np.log(np.maximum(vals.astype(np.float64), 1e-10))
        for axis, pos, size in ((0, xs, W), (1, ys, H)):
            inner = (pos > 0) & (pos < size - 1)
            lo = np.clip(pos - 1, 0, size - 1)
            hi = np.clip(pos + 1, 0, size - 1)
            if axis == 0:
                vm, vp = hm[ks, ys, lo], hm[ks, ys, hi]
            else:
                vm, vp = hm[ks, lo, xs], hm[ks, hi, xs]
            lm = np.log(np.maximum(vm.astype(np.float64), 1e-10))
            lp = np.log(np.maximum(vp.astype(np.float64), 1e-10))
            curv = lm - 2 * lc + lp
            ok = inner & (curv < 0)
            offset = np.where(ok, 0.5 * (lm - lp) / np.where(ok, curv, -1),
                              0)
            coords[:, axis] += np.clip(offset, -0.5, 0.5)
    return coords, vals.astype(np.float32), ks


def score_limb_candidates(
    pafs: np.ndarray,
    skeleton: Sequence[Tuple[int, int]],
    coords: np.ndarray,
    types: np.ndarray,
    num_samples: int,
    sample_thr: float,
    min_fraction: float,
    max_length: float,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score every (start, end) peak pair of every limb in one pass.

    The limb's PAF is sampled (nearest pixel) at the centres of
    ``num_samples`` equal pieces of the segment and each sample is dotted
    with the segment's unit direction. A pair is kept when at least
    ``min_fraction`` of the samples exceed ``sample_thr`` and the mean
    agreement, plus a penalty ``min(0, max_length / length - 1)`` for long
    segments, is positive.

    Args:
        pafs (np.ndarray): Shape (2L, H, W).
        skeleton (Sequence[tuple]): L limbs as (start, end) keypoint indices.
        coords (np.ndarray): Peak coordinates, shape (P, 2) as (x, y).
        types (np.ndarray): Keypoint index of each peak, shape (P, ).
        num_samples (int): Number of samples per segment.
        sample_thr (float): Minimum agreement of a sample to count.
        min_fraction (float): Minimum fraction of agreeing samples.
        max_length (float): Segment length (heatmap pixels) above which the
            score is penalised.

    Returns:
        tuple: The C kept candidates as arrays of shape (C, ): limb index,
        start peak index, end peak index and score.
    """
    _, H, W = pafs.shape
    limbs, starts, ends = [], [], []
    for l, (a, b) in enumerate(skeleton):
        pa, pb = np.nonzero(types == a)[0], np.nonzero(types == b)[0]
        if len(pa) and len(pb):
            starts.append(np.repeat(pa, len(pb)))
            ends.append(np.tile(pb, len(pa)))
            limbs.append(np.full(len(pa) * len(pb), l))
    if not limbs:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, empty, np.empty(0)
    limbs, starts, ends = (np.concatenate(limbs), np.concatenate(starts),
                           np.concatenate(ends))

    p0, p1 = coords[starts], coords[ends]
    delta = p1 - p0  # (C, 2)
    length = np.hypot(delta[:, 0], delta[:, 1])
    unit = delta / np.maximum(length, 1e-6)[:, None]
    # samples at the centres of equal pieces: the ends lie where other limbs
    # meet and where the peak may be off by a fraction of a pixel
    t = (np.arange(num_samples) + 0.5) / num_samples
    pts = p0[:, None, :] + t[None, :, None] * delta[:, None, :]  # (C, S, 2)
    ix = np.clip(np.rint(pts[..., 0]), 0, W - 1).astype(np.intp)
    iy = np.clip(np.rint(pts[..., 1]), 0, H - 1).astype(np.intp)
    ch = 2 * limbs[:, None]
    agreement = (pafs[ch, iy, ix] * unit[:, None, 0] +
                 pafs[ch + 1, iy, ix] * unit[:, None, 1])  # (C, S)

    penalty = np.minimum(max_length / np.maximum(length, 1e-6) - 1, 0)
    scores = agreement.mean(-1) + penalty
    valid = ((agreement > sample_thr).mean(-1) >= min_fraction) & (
        scores > 0) & (length > 1e-6)
    return limbs[valid], starts[valid], ends[valid], scores[valid]


def match_limbs(limbs: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                scores: np.ndarray, num_limbs: int,
                num_peaks: int) -> np.ndarray:
    """Greedy bipartite matching per limb: take candidates in order of
    decreasing score, using each peak at most once as the start and once as
    the end of a given limb.

    Returns:
        np.ndarray: Indices of the accepted candidates, by decreasing score.
    """
    order = np.argsort(-scores, kind='stable')
    used_start = np.zeros((num_limbs, num_peaks), dtype=bool)
    used_end = np.zeros((num_limbs, num_peaks), dtype=bool)
    accepted = []
    for c, l, i, j in zip(order, limbs[order], starts[order], ends[order]):
        if used_start[l, i] or used_end[l, j]:
            continue
        used_start[l, i] = used_end[l, j] = True
        accepted.append(c)
    return np.asarray(accepted, dtype=np.intp)


def assemble_people(starts: np.ndarray, ends: np.ndarray, types: np.ndarray,
                    num_keypoints: int) -> np.ndarray:
    """Merge limb connections that share peaks into people.

    Connections are taken in the given order, by decreasing score, so the
    most reliable limbs decide first whatever the skeleton's order or
    cycles. A connection either starts a new person, extends the person
    owning one of its ends, or merges the two people owning its ends when
    they have no keypoint type in common; a connection that would give a
    person two different peaks of one keypoint type is dropped.

    Args:
        starts (np.ndarray): Start peak index of each connection, (C, ).
        ends (np.ndarray): End peak index of each connection, (C, ).
        types (np.ndarray): Keypoint index of every peak, (P, ).
        num_keypoints (int): Number of keypoint types K.

    Returns:
        np.ndarray: Shape (M, K), int, the peak index of each keypoint of
        each person, -1 where missing.
    """
    owner = [-1] * len(types)
    people: List[List[int]] = []
    alive: List[bool] = []
    types = types.tolist()

    for pa, pb in zip(starts.tolist(), ends.tolist()):
        ka, kb = types[pa], types[pb]
        ga, gb = owner[pa], owner[pb]
        if ga < 0 and gb < 0:
            slots = [-1] * num_keypoints
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
            if all(x < 0 or y < 0 for x, y in zip(sa, sb)):
                for k, peak in enumerate(sb):
                    if peak >= 0:
                        sa[k] = peak
                        owner[peak] = ga
                alive[gb] = False

    kept = [p for p, a in zip(people, alive) if a]
    return np.array(kept, dtype=np.intp).reshape(-1, num_keypoints)

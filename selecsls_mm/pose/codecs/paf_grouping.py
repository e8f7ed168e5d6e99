"""Bottom-up grouping for the part-affinity-field codec (OpenPose-style):
heatmap peaks, PAF line-integral limb scores, greedy matching per limb and
assembly of limbs into people."""
from typing import List, Optional, Sequence, Tuple

import numpy as np


def _max_pool(maps: np.ndarray, kernel: int) -> np.ndarray:
    """Max over a ``kernel x kernel`` window around each pixel (stride 1,
    the window clipped at the borders), as separable running maxima over
    shifted views; several times faster than
    ``scipy.ndimage.maximum_filter`` here."""
    r = kernel // 2
    rows = maps.copy()
    for i in range(1, r + 1):
        np.maximum(rows[..., i:], maps[..., :-i], out=rows[..., i:])
        np.maximum(rows[..., :-i], maps[..., i:], out=rows[..., :-i])
    pooled = rows.copy()
    for i in range(1, r + 1):
        np.maximum(
            pooled[..., i:, :], rows[..., :-i, :], out=pooled[..., i:, :])
        np.maximum(
            pooled[..., :-i, :], rows[..., i:, :], out=pooled[..., :-i, :])
    return pooled


def _subpixel_offsets(hm: np.ndarray, ks: np.ndarray, ys: np.ndarray,
                      xs: np.ndarray) -> np.ndarray:
    """Sub-pixel offsets (P, 2) of integer peaks from a parabola through the
    log heatmap at three pixels along x and along y.

    Inside the map the three pixels are centred on the peak and the offset
    is limited to half a pixel. On the border the three pixels are the
    peak and its two inward neighbours; the vertex may then lie up to one
    pixel outside the map (a keypoint just outside the image still has its
    Gaussian's top on the border pixel). A log heatmap is exactly a
    parabola for a Gaussian, so the fit is exact on clean targets.
    """
    _, H, W = hm.shape
    offsets = np.zeros((len(ks), 2))
    for axis, pos, size in ((0, xs, W), (1, ys, H)):
        if size < 3:
            continue
        # centre pixel of the three-pixel stencil
        mid = np.clip(pos, 1, size - 2)
        if axis == 0:
            v = [hm[ks, ys, mid - 1], hm[ks, ys, mid], hm[ks, ys, mid + 1]]
        else:
            v = [hm[ks, mid - 1, xs], hm[ks, mid, xs], hm[ks, mid + 1, xs]]
        lm, lc, lp = (
            np.log(np.maximum(x.astype(np.float64), 1e-10)) for x in v)
        curv = lm - 2 * lc + lp
        ok = curv < 0
        vertex = np.where(ok, 0.5 * (lm - lp) / np.where(ok, curv, -1), 0)
        offset = vertex + (mid - pos)  # relative to the peak pixel
        lo = np.where(pos == 0, -1., -0.5)
        hi = np.where(pos == size - 1, 1., 0.5)
        offsets[:, axis] = np.where(ok, np.clip(offset, lo, hi), 0)
    return offsets


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
            heatmap along x and y (exact for a Gaussian peak), on the map
            border too. Defaults to True.

    Returns:
        tuple: P peaks over all keypoint types, grouped by type:
        - coords (np.ndarray): Shape (P, 2), float (x, y) in heatmap pixels
        - scores (np.ndarray): Shape (P, ), the heatmap value at the peak
        - types (np.ndarray): Shape (P, ), the keypoint index of each peak
    """
    K, H, W = heatmaps.shape
    hm = heatmaps.astype(np.float32, copy=False)
    candidates = (hm == _max_pool(hm, nms_kernel)) & (hm > threshold)
    ks, ys, xs = np.nonzero(candidates)
    # A flat top (e.g. a Gaussian centred between two pixels) gives several
    # equal maxima in one window: keep the first in raster order, i.e. drop
    # a candidate with another candidate earlier in its window.
    r = nms_kernel // 2
    later = np.zeros(len(ks), dtype=bool)
    for dy in range(-r, 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx >= 0:
                break
            y, x = ys + dy, xs + dx
            inside = (y >= 0) & (x >= 0) & (x < W)
            later[inside] |= candidates[ks[inside], y[inside], x[inside]]
    ks, ys, xs = ks[~later], ys[~later], xs[~later]
    vals = hm[ks, ys, xs]

    # top-k per type: order by type, then by decreasing value
    order = np.lexsort((-vals, ks))
    ks, ys, xs, vals = ks[order], ys[order], xs[order], vals[order]
    first = np.searchsorted(ks, ks)  # index of the first peak of each type
    keep = np.arange(len(ks)) - first < topk
    ks, ys, xs, vals = ks[keep], ys[keep], xs[keep], vals[keep]

    coords = np.stack([xs, ys], axis=1).astype(np.float64)
    if subpixel and len(ks):
        coords += _subpixel_offsets(hm, ks, ys, xs)
    return coords, vals.astype(np.float32), ks


def _cubic(d: float, a: float = -0.75) -> float:
    """Cubic convolution kernel (Keys; ``a=-0.75`` as OpenCV's bicubic)."""
    d = abs(d)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.


def upsample2_cubic(maps: np.ndarray) -> np.ndarray:
    """Bicubic 2x upsampling of (K, H, W) maps with pixel centres aligned
    (output pixel j sits at input position j / 2 - 1 / 4), edges
    replicated; the same result as ``cv2.resize(..., INTER_CUBIC)`` up to
    the border handling, in numpy (no thread pool to wait for)."""
    even = [np.float32(_cubic(d))
            for d in (1.75, 0.75, 0.25, 1.25)]  # taps i-2..i+1
    odd = even[::-1]  # taps i-1..i+2

    def along(x: np.ndarray, axis: int) -> np.ndarray:
        n = x.shape[axis]
        pad = [(0, 0)] * x.ndim
        pad[axis] = (2, 2)
        p = np.pad(x, pad, mode='edge')

        index = [slice(None)] * x.ndim
        taps = []
        for i in range(5):  # views of the padded maps shifted by i
            index[axis] = slice(i, i + n)
            taps.append(p[tuple(index)])
        lo = sum(w * t for w, t in zip(even, taps[:4]))
        hi = sum(w * t for w, t in zip(odd, taps[1:]))
        out = np.stack([lo, hi], axis=axis + 1)
        shape = list(x.shape)
        shape[axis] = 2 * n
        return out.reshape(shape)

    return along(along(maps.astype(np.float32, copy=False), 2), 1)


def single_gaussian_channels(heatmaps: np.ndarray,
                             coords: np.ndarray,
                             types: np.ndarray,
                             sigma: float,
                             tolerance: float = 0.05,
                             radius: int = 2) -> np.ndarray:
    """Which channels hold only peaks that are single Gaussians of width
    ``sigma``: around each peak (``radius`` pixels), no pixel exceeds the
    Gaussian through the peak by more than ``tolerance`` of its height.

    A second keypoint of the type within about two pixels raises pixels on
    its side above that Gaussian (the maps are the max over people), so a
    channel that passes has nothing for an upsampled search to split.

    Args:
        heatmaps (np.ndarray): Shape (K, H, W).
        coords (np.ndarray): Sub-pixel peaks (P, 2) as (x, y), in pixels.
        types (np.ndarray): Channel of each peak, (P, ).
        sigma (float): Width of the Gaussians the maps are made of.
        tolerance (float): Allowed excess, as a fraction of the peak.
        radius (int): Half-side of the window checked.

    Returns:
        np.ndarray: Shape (K, ), bool.
    """
    K, H, W = heatmaps.shape
    single = np.ones(K, dtype=bool)
    if not len(types):
        return single
    px = np.clip(np.rint(coords).astype(np.intp), 0, [W - 1, H - 1])
    dy, dx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    ys = np.clip(px[:, 1, None, None] + dy, 0, H - 1)
    xs = np.clip(px[:, 0, None, None] + dx, 0, W - 1)
    values = heatmaps[types[:, None, None], ys, xs]

    def gaussian(x, y):
        return np.exp(-((x - coords[:, 0, None, None])**2 +
                        (y - coords[:, 1, None, None])**2) / (2 * sigma**2))

    top = heatmaps[types, px[:, 1], px[:, 0]][:, None, None] / gaussian(
        px[:, 0, None, None], px[:, 1, None, None])
    excess = (values - top * gaussian(xs, ys)).max((1, 2)) > tolerance * \
        top[:, 0, 0]
    single[np.unique(types[excess])] = False
    return single


def find_peaks_upsampled(heatmaps: np.ndarray,
                         threshold: float,
                         nms_kernel: int,
                         topk: int,
                         upsample: int = 2,
                         subpixel: bool = True,
                         sigma: Optional[float] = None
                         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`find_peaks` on heatmaps upsampled (bicubic) by ``upsample``
    (1 or 2),
    so that joints of one type about a map pixel apart (people in a crowd)
    give two peaks, as mmpose's associative-embedding decoder does.

    A peak whose nearest map pixel is, on the original map, the maximum of
    its 3x3 window and the only peak there is refined on the original map
    (the log-parabola fit is exact for a Gaussian there, not on the
    interpolated map); the others keep the refined upsampled position.

    Args:
        heatmaps (np.ndarray): Shape (K, H, W).
        threshold (float): Minimum peak value.
        nms_kernel (int): NMS window side on the upsampled maps.
        topk (int): Keep at most this many peaks per keypoint.
        upsample (int): Upsampling factor; 1 is :func:`find_peaks`.
            Defaults to 2.
        subpixel (bool): Sub-pixel refinement. Defaults to True.
        sigma (float, optional): Width of the maps' Gaussians. When given,
            channels whose peaks are all single Gaussians of this width
            (:func:`single_gaussian_channels`) keep the peaks of the
            original map, which the upsampled search would only find again
            (few people: no upsampling cost). Defaults to None (upsample
            every channel).

    Returns:
        tuple: coords (P, 2) in original map pixels, scores (P, ), types
        (P, ), as :func:`find_peaks`.
    """
    if upsample == 1:
        return find_peaks(heatmaps, threshold, nms_kernel, topk, subpixel)
    if upsample != 2:
        raise ValueError(f'upsample must be 1 or 2, got {upsample}.')
    hm = heatmaps.astype(np.float32, copy=False)
    channels = np.arange(len(hm))
    if sigma is not None:
        coarse = find_peaks(hm, threshold, 3, topk, subpixel)
        single = single_gaussian_channels(hm, coarse[0], coarse[2], sigma)
        if single.all():
            return coarse
        channels = np.nonzero(~single)[0]
    coords, scores, types = _find_peaks_upsampled2(hm[channels], threshold,
                                                   nms_kernel, topk, subpixel)
    types = channels[types]
    if sigma is not None:
        keep = single[coarse[2]]
        coords = np.concatenate([coarse[0][keep], coords])
        scores = np.concatenate([coarse[1][keep], scores])
        types = np.concatenate([coarse[2][keep], types])
        order = np.argsort(types, kind='stable')  # grouped by type
        coords, scores, types = coords[order], scores[order], types[order]
    return coords, scores, types


def _find_peaks_upsampled2(hm: np.ndarray, threshold: float, nms_kernel: int,
                           topk: int, subpixel: bool
                           ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`find_peaks_upsampled` of every channel, factor 2."""
    upsample = 2
    K, H, W = hm.shape
    coords, scores, types = find_peaks(
        upsample2_cubic(hm), threshold, nms_kernel, topk, subpixel)
    coords = (coords + 0.5) / upsample - 0.5  # pixel centres to the map
    if not (subpixel and len(types)):
        return coords, scores, types
    px = np.clip(np.rint(coords).astype(np.intp), 0, [W - 1, H - 1])
    centre = hm[types, px[:, 1], px[:, 0]]
    on_max = np.ones(len(types), dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            y = np.clip(px[:, 1] + dy, 0, H - 1)
            x = np.clip(px[:, 0] + dx, 0, W - 1)
            on_max &= centre >= hm[types, y, x]
    key = (types * H + px[:, 1]) * W + px[:, 0]
    _, inverse, counts = np.unique(
        key, return_inverse=True, return_counts=True)
    use = on_max & (counts[inverse] == 1)
    if use.any():
        t, y, x = types[use], px[use, 1], px[use, 0]
        coords[use] = px[use] + _subpixel_offsets(hm, t, y, x)
        scores = scores.copy()
        scores[use] = hm[t, y, x]
    return coords, scores, types


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
    for limb, (a, b) in enumerate(skeleton):
        pa, pb = np.nonzero(types == a)[0], np.nonzero(types == b)[0]
        if len(pa) and len(pb):
            starts.append(np.repeat(pa, len(pb)))
            ends.append(np.tile(pb, len(pa)))
            limbs.append(np.full(len(pa) * len(pb), limb))
    if not limbs:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, empty, np.empty(0)
    limbs, starts, ends = (np.concatenate(limbs), np.concatenate(starts),
                           np.concatenate(ends))

    # samples at the centres of equal pieces: the ends lie where other limbs
    # meet and where the peak may be off by a fraction of a pixel
    t = (np.arange(num_samples) + 0.5) / num_samples
    need = int(np.ceil(min_fraction * num_samples - 1e-9))
    flat = np.ascontiguousarray(pafs, dtype=np.float32).ravel()
    xy = coords.astype(np.float32)
    x0, y0 = xy[starts, 0], xy[starts, 1]
    dx, dy = xy[ends, 0] - x0, xy[ends, 1] - y0
    length = np.sqrt(dx * dx + dy * dy)
    ux, uy = dx / np.maximum(length, 1e-6), dy / np.maximum(length, 1e-6)
    base = (2 * H * W) * limbs  # flat offset of each limb's x channel

    def agreement(sel, ts: np.ndarray) -> np.ndarray:
        """PAF . segment direction at fractions ``ts`` along the selected
        candidates, shape (C, S)."""
        ts = ts.astype(np.float32)[None]
        ix = np.rint(x0[sel, None] + ts * dx[sel, None]).astype(np.intp)
        iy = np.rint(y0[sel, None] + ts * dy[sel, None]).astype(np.intp)
        np.clip(ix, 0, W - 1, out=ix)
        np.clip(iy, 0, H - 1, out=iy)
        idx = base[sel, None] + iy * W + ix
        return flat.take(idx) * ux[sel, None] + \
            flat.take(idx + H * W) * uy[sel, None]

    # Exact early rejection: a candidate needs `need` agreeing samples, so
    # one whose first num_samples - need + 1 samples (spread along the
    # segment) all disagree cannot pass; most wrong pairs end here.
    probe = np.linspace(0, num_samples - 1, num_samples - need + 1)
    probe = np.unique(np.round(probe).astype(int))
    probed = agreement(slice(None), t[probe]) > sample_thr
    alive = probed[:, 0].copy()
    for col in range(1, probed.shape[1]):
        alive |= probed[:, col]
    alive = np.nonzero(alive)[0]
    values = agreement(alive, t)
    limbs, starts, ends = limbs[alive], starts[alive], ends[alive]
    length = length[alive]
    penalty = np.minimum(max_length / np.maximum(length, 1e-6) - 1, 0)
    scores = values.mean(-1) + penalty
    valid = ((values > sample_thr).sum(-1) >= need) & (scores > 0) & (
        length > 1e-6)
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


def assemble_people(starts: np.ndarray,
                    ends: np.ndarray,
                    types: np.ndarray,
                    num_keypoints: int,
                    min_keypoints: int = 1,
                    spare_starts: Optional[np.ndarray] = None,
                    spare_ends: Optional[np.ndarray] = None,
                    attach_below: int = 3) -> np.ndarray:
    """Merge limb connections that share peaks into people.

    First pass: connections are taken in the given order, by decreasing
    score, so the most reliable limbs decide first whatever the skeleton's
    order or cycles. A connection either starts a new person, extends the
    person owning one of its ends, or merges the two people owning its ends
    when they have no keypoint type in common (so fragments of one person
    joined by any limb become one); a connection that would give a person
    two different peaks of one keypoint type is dropped.

    Second pass: pieces with fewer than ``attach_below`` keypoints (single
    peaks included) are fragments whose limbs lost the per-limb matching;
    the spare connections (every candidate that passed the PAF test, by
    decreasing score) may attach such a fragment to a person with no
    keypoint type in common. Pieces below ``min_keypoints`` are dropped.

    Args:
        starts (np.ndarray): Start peak index of each connection, (C, ).
        ends (np.ndarray): End peak index of each connection, (C, ).
        types (np.ndarray): Keypoint index of every peak, (P, ).
        num_keypoints (int): Number of keypoint types K.
        min_keypoints (int): Smallest piece returned. Defaults to 1.
        spare_starts (np.ndarray, optional): Start peaks of the spare
            connections, (S, ). Defaults to None (no second pass).
        spare_ends (np.ndarray, optional): Their end peaks, (S, ).
        attach_below (int): Pieces smaller than this take part in the
            second pass. Defaults to 3.

    Returns:
        np.ndarray: Shape (M, K), int, the peak index of each keypoint of
        each person, -1 where missing.
    """
    types = types.tolist()
    # every peak starts as its own piece; pieces[g] maps type -> peak
    owner = list(range(len(types)))
    pieces: List[Optional[dict]] = [{t: p} for p, t in enumerate(types)]

    def join(pa: int, pb: int) -> None:
        ga, gb = owner[pa], owner[pb]
        if ga == gb or pieces[ga].keys() & pieces[gb].keys():
            return
        if len(pieces[ga]) < len(pieces[gb]):
            ga, gb = gb, ga
        for t, peak in pieces[gb].items():
            pieces[ga][t] = peak
            owner[peak] = ga
        pieces[gb] = None

    for pa, pb in zip(starts.tolist(), ends.tolist()):
        join(pa, pb)
    if spare_starts is not None:
        for pa, pb in zip(spare_starts.tolist(), spare_ends.tolist()):
            if min(len(pieces[owner[pa]]),
                   len(pieces[owner[pb]])) < attach_below:
                join(pa, pb)

    people = []
    for piece in pieces:
        if piece is not None and len(piece) >= min_keypoints:
            slots = [-1] * num_keypoints
            for t, peak in piece.items():
                slots[t] = peak
            people.append(slots)
    return np.array(people, dtype=np.intp).reshape(-1, num_keypoints)


def merge_nearby_fragments(people: np.ndarray, coords: np.ndarray,
                           max_gap: float, ratio: float) -> np.ndarray:
    """Merge pieces of one person that no limb connects (the limbs between
    them all lack a keypoint: occluded, unlabelled or outside the image).

    Smallest pieces first, a piece B joins the piece A that has no keypoint
    type in common with it when the gap between them (the shortest distance
    between a keypoint of A and one of B) is at most ``max_gap`` times the
    size (box diagonal) of the larger of the two, and every other piece
    that B could join is at least ``ratio`` times farther away, so that in
    a crowd a piece between two people stays on its own.

    Args:
        people (np.ndarray): Shape (M, K), peak index per keypoint, -1 where
            missing.
        coords (np.ndarray): Peak coordinates, shape (P, 2).
        max_gap (float): Largest gap, as a fraction of the piece size.
        ratio (float): How much closer the chosen piece must be than any
            other candidate.

    Returns:
        np.ndarray: The people after merging, shape (M', K).
    """
    M, K = people.shape
    if M < 2:
        return people
    people = people.copy()
    found = people >= 0
    # pieces with a keypoint type in common cannot merge; only pieces with
    # some partner take part (in a crowd of whole people, few do)
    shared = (found.astype(np.float32) @ found.T.astype(np.float32)) > 0
    part = np.nonzero(~shared.all(1))[0]
    if len(part) < 2:
        return people
    rest = np.setdiff1d(np.arange(M), part)
    kept, people, found = people[rest], people[part], found[part]
    shared = shared[np.ix_(part, part)]
    M = len(part)
    # gap[a, b]: shortest distance between a keypoint of a and one of b
    owner, peaks = np.nonzero(found)  # sorted by piece
    peaks = people[owner, peaks]
    pts = coords[peaks]
    dx = pts[:, None, 0] - pts[None, :, 0]
    dy = pts[:, None, 1] - pts[None, :, 1]
    dist = np.sqrt(dx * dx + dy * dy)  # (np.hypot is several times slower)
    first = np.searchsorted(owner, np.arange(M))
    gap = np.minimum.reduceat(
        np.minimum.reduceat(dist, first, axis=0), first, axis=1)
    lo = np.minimum.reduceat(pts, first, axis=0)
    hi = np.maximum.reduceat(pts, first, axis=0)
    size = np.sqrt(((hi - lo)**2).sum(1))
    alive = np.ones(M, dtype=bool)
    for b in np.argsort(found.sum(1), kind='stable'):
        cand = np.nonzero(alive & ~shared[b])[0]
        cand = cand[cand != b]
        if not len(cand):
            continue
        order = np.argsort(gap[b, cand], kind='stable')
        a = cand[order[0]]
        g = gap[b, a]
        if g > max_gap * max(size[a], size[b]) or (
                len(cand) > 1 and gap[b, cand[order[1]]] < ratio * g):
            continue
        # b joins a
        people[a] = np.where(found[a], people[a], people[b])
        found[a] |= found[b]
        gap[a] = gap[:, a] = np.minimum(gap[a], gap[b])
        shared[a] = shared[:, a] = shared[a] | shared[b]
        lo[a], hi[a] = np.minimum(lo[a], lo[b]), np.maximum(hi[a], hi[b])
        size[a] = np.sqrt(((hi[a] - lo[a])**2).sum())
        alive[b] = False
    return np.concatenate([kept, people[alive]])

"""Training targets of the part-affinity-field codec: keypoint Gaussians and
limb direction fields, rendered on the heatmap grid with numpy."""
from typing import Sequence, Tuple

import numpy as np


def _window(lo: float, hi: float, size: int) -> Tuple[int, int]:
    """Integer pixel range ``[start, stop)`` covering ``[lo, hi]`` clipped to
    ``[0, size)``; empty (start >= stop) when it misses the map."""
    start = max(int(np.floor(lo)), 0)
    stop = min(int(np.floor(hi)) + 1, size)
    return start, stop


def render_keypoint_heatmaps(
    heatmap_size: Tuple[int, int],
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    sigma: float,
) -> Tuple[np.ndarray, np.ndarray]:
    """Render one Gaussian per visible keypoint, max over instances.

    The Gaussian is centred on the exact (sub-pixel) keypoint position, so a
    decoder with sub-pixel refinement recovers it without quantisation error.
    Like mmpose's ``generate_gaussian_heatmaps``, only the part within
    3 sigma is drawn, it is clipped at the map border, and a keypoint whose
    3-sigma window misses the map gets weight 0.

    Args:
        heatmap_size (tuple): Heatmap size in [W, H].
        keypoints (np.ndarray): Keypoints in heatmap coordinates, shape
            (N, K, 2).
        keypoints_visible (np.ndarray): Visibility in shape (N, K); values
            below 0.5 are treated as unlabelled.
        sigma (float): Standard deviation of the Gaussian in heatmap pixels.

    Returns:
        tuple:
        - heatmaps (np.ndarray): Shape (K, H, W), float32, peak value 1.
        - keypoint_weights (np.ndarray): Shape (N, K), float32, 1 where the
          keypoint is labelled and its Gaussian touches the map.
    """
    N, K, _ = keypoints.shape
    W, H = heatmap_size
    heatmaps = np.zeros((K, H, W), dtype=np.float32)
    keypoint_weights = np.zeros((N, K), dtype=np.float32)
    radius = 3 * sigma

    for n, k in zip(*np.nonzero(keypoints_visible >= 0.5)):
        cx, cy = keypoints[n, k]
        if not (np.isfinite(cx) and np.isfinite(cy)):
            continue
        x0, x1 = _window(cx - radius, cx + radius, W)
        y0, y1 = _window(cy - radius, cy + radius, H)
        if x0 >= x1 or y0 >= y1:
            continue
        keypoint_weights[n, k] = 1
        # separable Gaussian: outer product of the x and y profiles
        gx = np.exp(-(np.arange(x0, x1) - cx)**2 / (2 * sigma**2))
        gy = np.exp(-(np.arange(y0, y1) - cy)**2 / (2 * sigma**2))
        region = heatmaps[k, y0:y1, x0:x1]
        np.maximum(
            region, (gy[:, None] * gx[None, :]).astype(np.float32), out=region)

    return heatmaps, keypoint_weights


def render_part_affinity_fields(
    heatmap_size: Tuple[int, int],
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    skeleton: Sequence[Tuple[int, int]],
    paf_width: float,
) -> Tuple[np.ndarray, np.ndarray]:
    """Render the part affinity field of every limb.

    For limb ``l = (a, b)`` of an instance whose both end points are
    labelled, each pixel within distance ``paf_width`` of the segment
    ``a -> b`` holds the unit vector from ``a`` to ``b``. Where limbs of
    several instances overlap, their vectors are averaged; elsewhere the
    field is zero. Segments partly outside the map are clipped.

    Args:
        heatmap_size (tuple): Heatmap size in [W, H].
        keypoints (np.ndarray): Keypoints in heatmap coordinates, shape
            (N, K, 2).
        keypoints_visible (np.ndarray): Visibility in shape (N, K).
        skeleton (Sequence[tuple]): L limbs as (start, end) keypoint indices.
        paf_width (float): Half-width of the limb band in heatmap pixels.

    Returns:
        tuple:
        - pafs (np.ndarray): Shape (2L, H, W), float32; channel ``2l`` holds
          the x and ``2l + 1`` the y component of limb ``l``.
        - limb_weights (np.ndarray): Shape (N, L), float32, 1 where the limb
          of the instance was drawn.
    """
    N = keypoints.shape[0]
    W, H = heatmap_size
    L = len(skeleton)
    vec_sum = np.zeros((2 * L, H, W), dtype=np.float32)
    counts = np.zeros((L, H, W), dtype=np.float32)
    limb_weights = np.zeros((N, L), dtype=np.float32)
    labelled = keypoints_visible >= 0.5

    for limb, (a, b) in enumerate(skeleton):
        for n in np.nonzero(labelled[:, a] & labelled[:, b])[0]:
            pa, pb = keypoints[n, a], keypoints[n, b]
            delta = pb - pa
            length = float(np.hypot(*delta))
            # a zero-length limb has no direction to encode
            if not np.isfinite(length) or length < 1e-6:
                continue
            ux, uy = delta / length
            x0, x1 = _window(
                min(pa[0], pb[0]) - paf_width,
                max(pa[0], pb[0]) + paf_width, W)
            y0, y1 = _window(
                min(pa[1], pb[1]) - paf_width,
                max(pa[1], pb[1]) + paf_width, H)
            if x0 >= x1 or y0 >= y1:
                continue
            dx = np.arange(x0, x1, dtype=np.float32)[None, :] - pa[0]
            dy = np.arange(y0, y1, dtype=np.float32)[:, None] - pa[1]
            # distance to the segment (not the infinite line), so the band
            # is a capsule that also covers the pixels nearest to short limbs
            along = np.clip(dx * ux + dy * uy, 0, length)
            dist = np.hypot(dx - along * ux, dy - along * uy)
            band = (dist <= paf_width).astype(np.float32)
            if not band.any():
                continue
            limb_weights[n, limb] = 1
            vec_sum[2 * limb, y0:y1, x0:x1] += band * ux
            vec_sum[2 * limb + 1, y0:y1, x0:x1] += band * uy
            counts[limb, y0:y1, x0:x1] += band

    pafs = vec_sum / np.maximum(np.repeat(counts, 2, axis=0), 1)
    return pafs.astype(np.float32), limb_weights

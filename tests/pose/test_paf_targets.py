"""The PAF codec's training targets (``pose/codecs/paf_targets.py``)
against their definitions, pixel by pixel, on random people: keypoints
on, near and beyond the map's borders, some not finite, visibilities
around the 0.5 threshold (0.5 itself counts as labelled), limbs of zero
length limbs whose band misses the map and one whose box does not."""
import numpy as np

from selecsls_mm.pose.codecs.paf_targets import (render_keypoint_heatmaps,
                                                 render_part_affinity_fields)

W, H = 13, 9


def random_people(seed, n=4, k=5):
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform([-5, -5], [W + 5, H + 5], (n, k, 2))
    keypoints[0, 1] = keypoints[0, 0]  # a zero-length limb
    keypoints[1, 2] = (np.nan, 3.)  # not finite in x only
    keypoints[2, 3] = (4., np.inf)  # ... in y only
    visible = rng.choice([0., 0.4, 0.5, 0.6, 1.], (n, k))
    # limb 3 - 4 of the first person: its box overlaps the map's corner
    # but its band (x + y = -3) reaches no pixel
    keypoints[0, 3:5] = (-4., 1.), (1., -4.)
    visible[0, 3:5] = 1.
    return keypoints, visible


def reference_heatmaps(keypoints, visible, sigma):
    heatmaps = np.zeros((keypoints.shape[1], H, W))
    weights = np.zeros(visible.shape)
    for n, k in np.ndindex(*visible.shape):
        x, y = keypoints[n, k]
        if visible[n, k] < 0.5 or not np.isfinite([x, y]).all():
            continue
        # mmpose's window: the pixels from floor(x - 3 sigma) to
        # floor(x + 3 sigma), on each axis
        r = 3 * sigma
        for v in range(H):
            for u in range(W):
                if (np.floor(x - r) <= u <= np.floor(x + r)
                        and np.floor(y - r) <= v <= np.floor(y + r)):
                    weights[n, k] = 1
                    g = np.exp(-((u - x)**2 + (v - y)**2) / (2 * sigma**2))
                    heatmaps[k, v, u] = max(heatmaps[k, v, u], g)
    return heatmaps, weights


def reference_pafs(keypoints, visible, skeleton, width):
    pafs = np.zeros((2 * len(skeleton), H, W))
    weights = np.zeros((len(keypoints), len(skeleton)))
    for limb, (a, b) in enumerate(skeleton):
        total = np.zeros((2, H, W))
        count = np.zeros((H, W))
        for n in range(len(keypoints)):
            pa, pb = keypoints[n, a], keypoints[n, b]
            if min(visible[n, a], visible[n, b]) < 0.5:
                continue
            length = np.linalg.norm(pb - pa)
            if not np.isfinite(length) or length < 1e-6:
                continue
            unit = (pb - pa) / length
            for v in range(H):
                for u in range(W):
                    p = np.array([u, v]) - pa
                    t = np.clip(p @ unit, 0, length)
                    if np.linalg.norm(p - t * unit) <= width:
                        weights[n, limb] = 1
                        total[:, v, u] += unit
                        count[v, u] += 1
        pafs[2 * limb:2 * limb + 2] = total / np.maximum(count, 1)
    return pafs, weights


def test_keypoint_heatmaps_by_definition():
    for seed in range(6):
        keypoints, visible = random_people(seed)
        heatmaps, weights = render_keypoint_heatmaps((W, H), keypoints,
                                                     visible, 1.2)
        assert heatmaps.dtype == weights.dtype == np.float32
        expected, expected_weights = reference_heatmaps(
            keypoints, visible, 1.2)
        np.testing.assert_allclose(heatmaps, expected, atol=1e-6)
        np.testing.assert_array_equal(weights, expected_weights)


def test_part_affinity_fields_by_definition():
    skeleton = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4), (1, 3)]
    for seed in range(6):
        keypoints, visible = random_people(seed)
        pafs, weights = render_part_affinity_fields((W, H), keypoints, visible,
                                                    skeleton, 1.0)
        assert pafs.dtype == weights.dtype == np.float32
        expected, expected_weights = reference_pafs(keypoints, visible,
                                                    skeleton, 1.0)
        np.testing.assert_allclose(pafs, expected, atol=1e-5)
        np.testing.assert_array_equal(weights, expected_weights)

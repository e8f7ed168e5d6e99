# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Which predicted person is which ground-truth person: COCO's object
keypoint similarity (OKS) of the 2D keypoints and a greedy one-to-one
assignment, as COCO's keypoint evaluation matches people."""
import numpy as np


def keypoint_oks(pred: np.ndarray, found: np.ndarray, gt: np.ndarray,
                 gt_visible: np.ndarray, areas: np.ndarray,
                 sigmas: np.ndarray) -> np.ndarray:
    """OKS of every predicted person with every ground-truth person.

    ``OKS = mean_k exp(-d_k^2 / (2 * area * (2 * sigma_k)^2))`` over the
    keypoints ``k`` the ground truth has visible, ``d_k`` the pixel
    distance; a keypoint the prediction did not find scores 0 (COCO scores
    every predicted keypoint, found or not).

    Args:
        pred (np.ndarray): Predicted keypoints (M, K, 2).
        found (np.ndarray): (M, K) bool, which the prediction found.
        gt (np.ndarray): Ground-truth keypoints (N, K, 2).
        gt_visible (np.ndarray): (N, K), which are labelled and seen.
        areas (np.ndarray): (N, ) each ground-truth person's area, px^2.
        sigmas (np.ndarray): (K, ) COCO's per-keypoint sigmas.

    Returns:
        np.ndarray: (M, N) OKS in [0, 1]; 0 for a person with no visible
        keypoint.
    """
    d2 = ((pred[:, None] - gt[None])**2).sum(-1)  # (M, N, K)
    scale = 2 * np.maximum(areas, 1.)[None, :, None] * (2 * sigmas)**2
    sim = np.exp(-d2 / scale) * found[:, None, :]
    vis = (gt_visible > 0)[None]
    count = vis.sum(-1)
    return np.where(count > 0, (sim * vis).sum(-1) / np.maximum(count, 1), 0.)


def greedy_match(similarity: np.ndarray, threshold: float) -> np.ndarray:
    """Pair predictions (rows) with ground truths (columns), most similar
    pair first, each at most once, only pairs with ``similarity >=
    threshold``.

    Args:
        similarity (np.ndarray): (M, N) similarities.
        threshold (float): The least similarity of a pair.

    Returns:
        np.ndarray: (N, ) the prediction index of each ground truth, -1
        where none.
    """
    m, n = similarity.shape
    match = np.full(n, -1, dtype=np.int64)
    used = np.zeros(m, dtype=bool)
    # stable sort: ties go to the earlier prediction, then ground truth
    for flat in np.argsort(-similarity, axis=None, kind='stable'):
        i, j = divmod(int(flat), n)
        if similarity[i, j] < threshold:
            break
        if not used[i] and match[j] < 0:
            match[j], used[i] = i, True
    return match

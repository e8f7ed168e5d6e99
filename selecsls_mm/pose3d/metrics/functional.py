# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""3D pose errors on root-relative joints: MPJPE, PA-MPJPE, 3DPCK and its
AUC (MuPoTS-3D / MPI-INF-3DHP style), numpy in and out.

Every function takes predictions and ground truth of shape (N, J, 3) in mm
and an optional (N, J) mask of the joints to score, and returns one number
over all scored joints (``nan`` when none is scored).
"""
from typing import Optional

import numpy as np


def _mask(gt: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    if mask is None:
        return np.ones(gt.shape[:2], dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != gt.shape[:2]:
        raise ValueError(f'mask has shape {mask.shape}, expected (N, J) = '
                         f'{gt.shape[:2]}')
    return mask


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance (N, J) between predicted and true joints."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f'pred {pred.shape} and gt {gt.shape} must both be '
                         '(N, J, 3)')
    return np.linalg.norm(pred - gt, axis=-1)


def procrustes_align(pred: np.ndarray,
                     gt: np.ndarray,
                     mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Each predicted pose moved onto its ground truth by the similarity
    transform (rotation, scale, translation) that minimises the squared
    error over the masked joints.

    Returns:
        np.ndarray: The aligned predictions, shape (N, J, 3).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    w = _mask(gt, mask).astype(np.float64)[..., None]
    count = np.maximum(w.sum(1, keepdims=True), 1.)
    mu_p = (pred * w).sum(1, keepdims=True) / count
    mu_g = (gt * w).sum(1, keepdims=True) / count
    p, g = (pred - mu_p) * w, (gt - mu_g) * w
    u, s, vt = np.linalg.svd(np.einsum('nji,njk->nik', p, g))
    d = np.sign(np.linalg.det(np.einsum('nij,njk->nik', u, vt)))
    s[:, -1] *= d  # no reflections
    u[:, :, -1] *= d[:, None]
    rot = np.einsum('nij,njk->nik', u, vt)
    scale = s.sum(1) / np.maximum((p**2).sum((1, 2)), 1e-12)
    return scale[:, None, None] * (pred - mu_p) @ rot + mu_g


def mpjpe(pred, gt, mask=None) -> float:
    """Mean per-joint position error (mm) over the masked joints."""
    err = joint_errors(pred, gt)[_mask(gt, mask)]
    return float(err.mean()) if err.size else float('nan')


def pa_mpjpe(pred, gt, mask=None) -> float:
    """MPJPE after :func:`procrustes_align` (mm)."""
    return mpjpe(procrustes_align(pred, gt, mask), gt, mask)


def pck3d(pred, gt, mask=None, threshold: float = 150.) -> float:
    """Share of masked joints within ``threshold`` mm (3DPCK)."""
    err = joint_errors(pred, gt)[_mask(gt, mask)]
    return float((err <= threshold).mean()) if err.size else float('nan')


def auc3d(pred,
          gt,
          mask=None,
          max_threshold: float = 150.,
          steps: int = 31) -> float:
    """Area under the 3DPCK curve for thresholds 0..``max_threshold`` mm
    in ``steps`` even steps, normalised to [0, 1]."""
    err = joint_errors(pred, gt)[_mask(gt, mask)]
    if not err.size:
        return float('nan')
    thresholds = np.linspace(0., max_threshold, steps)
    return float(np.mean([(err <= t).mean() for t in thresholds]))

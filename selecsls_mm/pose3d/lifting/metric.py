# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Root-relative 3D pose metrics of a lifter, with Stage I's own read-out
scored on the same people for comparison."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpose.registry import METRICS

from ..metrics.functional import auc3d, mpjpe, pa_mpjpe, pck3d


def pose_metrics(pred: np.ndarray,
                 gt: np.ndarray,
                 seen: Optional[np.ndarray] = None) -> Dict[str, float]:
    """MPJPE, PA-MPJPE (mm), 3DPCK@150 and AUC (%) over all joints, and
    MPJPE over the joints whose own keypoint was (not) found.

    Args:
        pred (np.ndarray): (N, J, 3) mm, root-relative.
        gt (np.ndarray): (N, J, 3) mm, root-relative.
        seen (np.ndarray, optional): (N, J) bool, the joint's own keypoint
            was found.

    Returns:
        dict: ``MPJPE``, ``PA-MPJPE``, ``3DPCK``, ``AUC`` and, with
        ``seen``, ``MPJPE_seen`` and ``MPJPE_missing``.
    """
    out = {
        'MPJPE': mpjpe(pred, gt),
        'PA-MPJPE': pa_mpjpe(pred, gt),
        '3DPCK': 100. * pck3d(pred, gt, threshold=150.),
        'AUC': 100. * auc3d(pred, gt),
    }
    if seen is not None:
        seen = np.asarray(seen, bool)
        out['MPJPE_seen'] = mpjpe(pred, gt, seen)
        out['MPJPE_missing'] = mpjpe(pred, gt, ~seen)
    return out


@METRICS.register_module()
class Lifting3DMetric(BaseMetric):
    """Per-person root-relative 3D pose metrics
    (:mod:`selecsls_mm.pose3d.metrics.functional`) of
    ``pred_instances.keypoints_3d`` against ``gt_instances.lifting_target``.

    With ``readout=True`` the same metrics of Stage I's own pose
    (``gt_instances.readout_keypoints_3d``) are added as ``readout/...``,
    so one run compares Stage II with what it started from.

    Args:
        readout (bool): Also score Stage I's read-out. Defaults to True.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 readout: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.readout = readout

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            gt = sample['gt_instances']
            pred = np.asarray(sample['pred_instances']['keypoints_3d'])
            target = np.asarray(gt['lifting_target'])
            if pred.shape != target.shape:
                raise ValueError(f'predicted keypoints_3d {pred.shape} and '
                                 f'lifting_target {target.shape} differ: the '
                                 "model's and the dataset's joint_set differ")
            result = dict(
                pred=pred,
                gt=target,
                seen=gt['joints_seen'],
                found=gt['keypoints_visible'])
            if self.readout:
                result['readout'] = np.asarray(gt['readout_keypoints_3d'])
            self.results.append(result)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        gt = np.concatenate([r['gt'] for r in results])
        seen = np.concatenate([r['seen'] for r in results]).astype(bool)
        out = pose_metrics(
            np.concatenate([r['pred'] for r in results]), gt, seen)
        if self.readout:
            readout = pose_metrics(
                np.concatenate([r['readout'] for r in results]), gt, seen)
            out.update({f'readout/{k}': v for k, v in readout.items()})
        # share (%) of the 17 keypoints Stage I did not find
        found = np.concatenate([r['found'] for r in results])
        out['missing_share'] = 100. * float(1. - (found > 0).mean())
        return out

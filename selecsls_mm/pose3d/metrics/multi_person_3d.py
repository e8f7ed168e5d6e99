# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""MuPoTS-style multi-person 3D pose metric for MMPose's evaluator.

On each image, predicted people are matched to ground-truth people by the
OKS of their COCO 2D keypoints (:mod:`.matching`); each matched pair's 3D
pose is scored root-relative with :mod:`.functional`. Keys (prefix
``pose3d/``):

- ``pck3d_all``, ``auc_all``: 3DPCK at ``pck_threshold`` mm and its AUC over
  0..``auc_max_threshold`` mm, over every ground-truth person; a person no
  prediction matched misses every joint (MuPoTS' "all people").
- ``pck3d_matched``, ``auc_matched``: the same over matched people only.
- ``mpjpe_matched``, ``pa_mpjpe_matched``: MPJPE and Procrustes-aligned
  MPJPE (mm) over matched people's read-out joints; undefined for people
  without a prediction.
- ``mpjpe_mean_pose_matched``: a baseline: the MPJPE the mean root-relative
  pose of all evaluated ground-truth people would have on the same joints
  (an oracle: it knows the test set's poses).
- ``mpjpe_train_mean_pose_matched`` (with ``baseline_dataset``): the MPJPE
  of the mean root-relative pose of the training data, on the same joints:
  what a model that learned nothing of the image would score.
- ``detection_rate``: matched / ground-truth people; ``read_rate_matched``:
  the share of the matched people's scored joints that were read out
  (a joint not read out misses in 3DPCK and AUC, it is not skipped).
- ``num_gt``, ``num_matched``.

All rates are fractions in [0, 1], pooled over every scored joint of every
person of every image. See docs/pose3d.md.
"""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import METRICS

from ..joint_sets import COCO_KEYPOINTS, get_joint_set
from .functional import auc3d, mpjpe, pa_mpjpe, pck3d
from .matching import greedy_match, keypoint_oks


def _array(value, dtype=np.float64) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _field(instances: dict, key: str, where: str) -> np.ndarray:
    if key not in instances:
        raise KeyError(
            f'MultiPerson3DMetric needs {where}.{key}; the ground truth '
            'must come from a 3D dataset (MuCo3DHPDataset, MuPoTS3DDataset, '
            'PanopticDataset) and the prediction from a 3D model '
            '(docs/pose3d.md)')
    return _array(instances[key])


@METRICS.register_module()
class MultiPerson3DMetric(BaseMetric):
    """3DPCK, AUC, MPJPE and PA-MPJPE of people matched in 2D.

    Predictions (``pred_instances``): ``keypoints`` (M, 17, 2) px,
    ``keypoint_scores`` (M, 17) (a keypoint with a score above
    ``score_thr`` was found), ``keypoints_3d`` (M, J, 3) root-relative mm
    and ``keypoints_3d_read`` (M, J) (all read when absent). Ground truth
    (``gt_instances``): ``keypoints``, ``keypoints_visible``,
    ``keypoints_3d`` (camera-frame mm), ``keypoints_3d_visible`` and, when
    present, ``bboxes`` (x1y1x2y2; their area scales OKS, else the box of
    the visible keypoints does). A ground-truth person is evaluated when it
    has a visible 2D keypoint, a 3D label at the root and at one evaluated
    joint.

    Args:
        joint_set (str): The 3D joint set of both. Defaults to ``'coco21'``.
        eval_joints (Sequence[str], optional): The joints to score (any
            spelling, e.g. MuPoTS' 17); default all of the joint set. Only
            those with a 3D label are scored.
        match_oks (float): The least OKS of a matched pair. Defaults to 0.5.
        pck_threshold (float): 3DPCK threshold, mm. Defaults to 150.
        auc_max_threshold (float): AUC range 0..this, mm. Defaults to 150.
        auc_steps (int): Thresholds of the AUC. Defaults to 31 (5 mm).
        score_thr (float): A keypoint scoring above this was found.
            Defaults to 0.
        baseline_dataset (dict, optional): A 3D dataset config (e.g. the
            training set) whose mean root-relative pose is scored as
            ``mpjpe_train_mean_pose_matched``. Defaults to None.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to ``'pose3d'``.
    """
    default_prefix: Optional[str] = 'pose3d'

    def __init__(self,
                 joint_set: str = 'coco21',
                 eval_joints: Optional[Sequence[str]] = None,
                 match_oks: float = 0.5,
                 pck_threshold: float = 150.,
                 auc_max_threshold: float = 150.,
                 auc_steps: int = 31,
                 score_thr: float = 0.,
                 baseline_dataset: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.joint_set = get_joint_set(joint_set)
        self.eval_mask = np.zeros(self.joint_set.num_joints, dtype=bool)
        if eval_joints is None:
            self.eval_mask[:] = True
        else:
            self.eval_mask[self.joint_set.index(eval_joints)] = True
        self.match_oks = match_oks
        self.pck_threshold = pck_threshold
        self.auc_max_threshold = auc_max_threshold
        self.auc_steps = auc_steps
        self.score_thr = score_thr
        self.baseline_dataset = baseline_dataset
        self._baseline = None  # read once, on the first evaluation

    def _sigmas(self) -> np.ndarray:
        meta = self.dataset_meta or {}
        if 'sigmas' not in meta:
            meta = parse_pose_metainfo(
                dict(from_file='configs/_base_/datasets/coco.py'))
        return np.asarray(meta['sigmas'], dtype=np.float64)

    def _evaluated(self, gt: dict) -> np.ndarray:
        """(N, ) which ground-truth people are evaluated."""
        vis3d = gt['keypoints_3d_visible'] > 0
        return ((gt['keypoints_visible'] > 0).any(1)
                & vis3d[:, self.joint_set.root]
                & (vis3d & self.eval_mask).any(1))

    @staticmethod
    def _areas(gt: dict, instances: dict) -> np.ndarray:
        if 'bboxes' in instances:
            box = _array(instances['bboxes']).reshape(-1, 4)
            return (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
        areas = []
        for kpts, vis in zip(gt['keypoints'], gt['keypoints_visible'] > 0):
            span = np.ptp(kpts[vis], axis=0) if vis.any() else np.zeros(2)
            areas.append(span[0] * span[1])
        return np.asarray(areas)

    def _baseline_pose(self) -> np.ndarray:
        """(J, 3) mean root-relative pose of ``baseline_dataset``, mm."""
        if self._baseline is None:
            self._baseline = self._mean_pose_of(self.baseline_dataset)
        return self._baseline

    def _mean_pose_of(self, dataset_cfg: dict) -> np.ndarray:
        """Mean root-relative pose over the labelled joints of a dataset."""
        from mmpose.registry import DATASETS
        cfg = dict(dataset_cfg, pipeline=[], lazy_init=False)
        dataset = DATASETS.build(cfg)
        j, root = self.joint_set.num_joints, self.joint_set.root
        total, count = np.zeros((j, 3)), np.zeros(j)
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            pose = np.asarray(info['keypoints_3d'],
                              np.float64).reshape(-1, j, 3)
            labelled = np.asarray(info['keypoints_3d_visible']).reshape(-1,
                                                                        j) > 0
            labelled &= labelled[:, root:root + 1]
            rel = pose - pose[:, root:root + 1]
            total += (rel * labelled[..., None]).sum(0)
            count += labelled.sum(0)
        if not count.any():
            raise ValueError(
                f'MultiPerson3DMetric.baseline_dataset ({cfg.get("type")}, '
                f'{cfg.get("ann_file")}) has no 3D labels; give it a 3D '
                'training set')
        return total / np.maximum(count, 1.)[:, None]

    def _read_gt(self, instances: dict) -> dict:
        j = self.joint_set.num_joints
        where = 'gt_instances'
        gt = dict(
            keypoints=_field(instances, 'keypoints',
                             where).reshape(-1, len(COCO_KEYPOINTS), 2),
            keypoints_visible=_field(instances, 'keypoints_visible',
                                     where).reshape(-1, len(COCO_KEYPOINTS)),
            keypoints_3d=_field(instances, 'keypoints_3d',
                                where).reshape(-1, j, 3),
            keypoints_3d_visible=_field(instances, 'keypoints_3d_visible',
                                        where).reshape(-1, j))
        gt['areas'] = self._areas(gt, instances)
        keep = self._evaluated(gt)
        return {k: v[keep] for k, v in gt.items()}

    def _read_pred(self, instances: dict) -> dict:
        where = 'pred_instances'
        pred = dict(
            keypoints=_field(instances, 'keypoints', where),
            keypoint_scores=_field(instances, 'keypoint_scores', where),
            keypoints_3d=_field(instances, 'keypoints_3d', where))
        m, k = len(pred['keypoints']), len(COCO_KEYPOINTS)
        pred['keypoints'] = pred['keypoints'].reshape(m, k, 2)
        pred['keypoint_scores'] = pred['keypoint_scores'].reshape(m, k)
        if pred['keypoints_3d'].size and \
                pred['keypoints_3d'].shape[1:] != (self.joint_set.num_joints,
                                                   3):
            raise ValueError(
                f'pred_instances.keypoints_3d has shape '
                f'{pred["keypoints_3d"].shape} but joint set '
                f'{self.joint_set.name!r} has {self.joint_set.num_joints} '
                'joints; set MultiPerson3DMetric(joint_set=...) to the '
                "model's joint set")
        pred['keypoints_3d'] = pred['keypoints_3d'].reshape(
            m, self.joint_set.num_joints, 3)
        read = instances.get('keypoints_3d_read')
        pred['read'] = (
            np.ones(pred['keypoints_3d'].shape[:2], bool) if read is None else
            _array(read, bool).reshape(m, self.joint_set.num_joints))
        return pred

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Match each image's people and keep, per ground-truth person, the
        root-relative poses to score."""
        sigmas = self._sigmas()
        for sample in data_samples:
            gt = self._read_gt(sample['gt_instances'])
            pred = self._read_pred(sample['pred_instances'])
            oks = keypoint_oks(pred['keypoints'], pred['keypoint_scores']
                               > self.score_thr, gt['keypoints'],
                               gt['keypoints_visible'], gt['areas'], sigmas)
            match = greedy_match(oks, self.match_oks)
            root = self.joint_set.root
            gt_rel = gt['keypoints_3d'] - gt['keypoints_3d'][:, root:root + 1]
            matched = match >= 0
            # NaN marks "no estimate": it fails every 3DPCK threshold
            pred_rel = np.full_like(gt_rel, np.nan)
            read = np.zeros(gt_rel.shape[:2], dtype=bool)
            pred_rel[matched] = pred['keypoints_3d'][match[matched]]
            read[matched] = pred['read'][match[matched]]
            pred_rel[~read] = np.nan
            self.results.append(
                dict(
                    gt=gt_rel,
                    pred=pred_rel,
                    scored=(gt['keypoints_3d_visible'] > 0) & self.eval_mask,
                    read=read,
                    matched=matched))

    def compute_metrics(self, results: list) -> dict:
        """The metrics over every evaluated ground-truth person."""
        j = self.joint_set.num_joints
        none = dict(
            gt=np.zeros((0, j, 3)),
            pred=np.zeros((0, j, 3)),
            scored=np.zeros((0, j), bool),
            read=np.zeros((0, j), bool),
            matched=np.zeros(0, bool))
        cat = {
            k: np.concatenate([v] + [r[k] for r in results])
            for k, v in none.items()
        }
        gt, pred, scored = cat['gt'], cat['pred'], cat['scored']
        matched, read = cat['matched'].astype(bool), cat['read']
        pck = dict(threshold=self.pck_threshold)
        auc = dict(max_threshold=self.auc_max_threshold, steps=self.auc_steps)
        m_gt, m_pred, m_scored = gt[matched], pred[matched], scored[matched]
        m_read = m_scored & read[matched]
        filled = np.nan_to_num(m_pred)  # masked out below; keeps SVD finite
        num_scored, nan = m_scored.sum(), float('nan')
        weight = scored[..., None].astype(np.float64)
        mean_pose = (gt * weight).sum(0) / np.maximum(weight.sum(0), 1.)
        metrics = dict(
            pck3d_all=pck3d(pred, gt, scored, **pck),
            auc_all=auc3d(pred, gt, scored, **auc),
            pck3d_matched=pck3d(m_pred, m_gt, m_scored, **pck),
            auc_matched=auc3d(m_pred, m_gt, m_scored, **auc),
            mpjpe_matched=mpjpe(filled, m_gt, m_read),
            pa_mpjpe_matched=pa_mpjpe(filled, m_gt, m_read),
            mpjpe_mean_pose_matched=mpjpe(
                np.broadcast_to(mean_pose, m_gt.shape), m_gt, m_read),
            detection_rate=float(matched.mean()) if matched.size else nan,
            read_rate_matched=float(m_read.sum() /
                                    num_scored) if num_scored else nan,
            num_gt=int(matched.size),
            num_matched=int(matched.sum()))
        if self.baseline_dataset is not None:
            metrics['mpjpe_train_mean_pose_matched'] = mpjpe(
                np.broadcast_to(self._baseline_pose(), m_gt.shape), m_gt,
                m_read)
        return metrics

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""XNect's Stage II for MMPose: per-person lifting of Stage I's read-out to
a full root-relative 3D pose, trained on real motion capture.

Importing this package registers the feature codec
(``XNectLiftingFeatures``), the model (``XNectLifter``), the dataset
(``MotionLiftingDataset``), its packing step (``PackLiftingInputs``) and
the metric (``Lifting3DMetric``). See the "Stage II" section of
docs/pose3d.md.
"""
from .. import joint_sets  # noqa: F401  (checks the pose stack first)
from .dataset import MotionLiftingDataset, training_mean_pose
from .features import XNectLiftingFeatures, neck_and_scale
from .lifter import XNectLifter
from .metric import Lifting3DMetric, pose_metrics
from .readout import read_out_pose
from .simulate import StageIReadoutSimulator
from .transforms import PackLiftingInputs

__all__ = [
    'MotionLiftingDataset', 'training_mean_pose', 'XNectLiftingFeatures',
    'neck_and_scale', 'XNectLifter', 'Lifting3DMetric', 'pose_metrics',
    'read_out_pose', 'StageIReadoutSimulator', 'PackLiftingInputs'
]

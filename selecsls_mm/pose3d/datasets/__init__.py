# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Multi-person 3D datasets: MuCo-3DHP / MuPoTS-3D in the 3DMPPE project's
COCO-style JSON, CMU Panoptic bodies, the writer of real-motion scene
datasets and the 3D placeholders that let COCO train next to them."""
from .coco3d_dataset import Coco3DPoseDataset, MuCo3DHPDataset, MuPoTS3DDataset
from .joint_names import (MUCO_JOINT_NAMES, MUPOTS_JOINT_NAMES,
                          PANOPTIC_JOINT_NAMES, JointMapping)
from .panoptic_dataset import PanopticDataset
from .placeholders import Add3DPlaceholders
from .scene_writer import write_motion_scenes

__all__ = [
    'Coco3DPoseDataset', 'MuCo3DHPDataset', 'MuPoTS3DDataset',
    'PanopticDataset', 'Add3DPlaceholders', 'write_motion_scenes',
    'JointMapping', 'MUCO_JOINT_NAMES', 'MUPOTS_JOINT_NAMES',
    'PANOPTIC_JOINT_NAMES'
]

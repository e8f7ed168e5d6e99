# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Joint orders of the multi-person 3D datasets and how a file's joints map
onto a 3D joint set and onto COCO's 17 keypoints.

A file's joints are matched by name (:func:`~..joint_sets.canonical_name`
turns MuCo's ``'R_Shoulder'`` or Panoptic's ``'rShoulder'`` into
``'right_shoulder'``). A name that is none of the joints this project knows
is refused; a known joint the configured joint set lacks (MuCo's hands in
``coco21``) is dropped, and a joint of the set the file lacks gets no label.
"""
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from ..joint_sets import (COCO_KEYPOINTS, JOINT_SETS, JointSet, canonical_name,
                          get_joint_set)
from ..motion import POINT_NAMES

# MuCo-3DHP's 21 joints as the 3DMPPE project's MuCo-3DHP.json stores them.
MUCO_JOINT_NAMES = ('Head_top', 'Thorax', 'R_Shoulder', 'R_Elbow', 'R_Wrist',
                    'L_Shoulder', 'L_Elbow', 'L_Wrist', 'R_Hip', 'R_Knee',
                    'R_Ankle', 'L_Hip', 'L_Knee', 'L_Ankle', 'Pelvis', 'Spine',
                    'Head', 'R_Hand', 'L_Hand', 'R_Toe', 'L_Toe')
# MuPoTS-3D's 17 joints (MuPoTS-3D.json): MuCo's first 17.
MUPOTS_JOINT_NAMES = MUCO_JOINT_NAMES[:17]
# CMU Panoptic's ``joints19`` ("coco19") order, from the panoptic-toolbox
# README; BodyCenter is the centre of the hips.
PANOPTIC_JOINT_NAMES = ('Neck', 'Nose', 'BodyCenter', 'lShoulder', 'lElbow',
                        'lWrist', 'lHip', 'lKnee', 'lAnkle', 'rShoulder',
                        'rElbow', 'rWrist', 'rHip', 'rKnee', 'rAnkle', 'lEye',
                        'lEar', 'rEye', 'rEar')

# Every joint name some joint set or the motion data knows (our spelling).
KNOWN_JOINTS = frozenset(COCO_KEYPOINTS).union(
    POINT_NAMES, *(js.names for js in JOINT_SETS.values()))


def check_joint_names(names: Sequence[str], where: str) -> Tuple[str, ...]:
    """Our spelling of each of a file's joint names.

    Args:
        names (Sequence[str]): The file's joint names, in its order.
        where (str): Where the names come from, for the error message.

    Returns:
        tuple[str]: The canonical names.

    Raises:
        ValueError: For a name no joint set knows, or a name given twice.
    """
    canonical = tuple(canonical_name(n) for n in names)
    for name, ours in zip(names, canonical):
        if ours not in KNOWN_JOINTS:
            raise ValueError(
                f'unknown joint name {name!r} in {where}; known joints are '
                f'{sorted(KNOWN_JOINTS)} and the MuCo/MuPoTS/Panoptic '
                'spellings of them (joint_sets.NAME_ALIASES): fix the name '
                'or set joint_names to the file\'s joint order')
    repeated = sorted({n for n in canonical if canonical.count(n) > 1})
    if repeated:
        raise ValueError(f'joint names {repeated} appear twice in {where}; '
                         'each joint must be listed once')
    return canonical


@dataclass(frozen=True)
class JointMapping:
    """Where a file's joints go in a 3D joint set and in COCO's keypoints.

    Args:
        joint_set (JointSet): The configured 3D joint set (J joints).
        to_3d (np.ndarray): Per joint set joint, the file's joint index or
            -1 when the file lacks it, shape (J, ).
        to_coco (np.ndarray): Per COCO keypoint, the file's joint index or
            -1, shape (17, ).
        num_file_joints (int): How many joints the file stores per person.
    """
    joint_set: JointSet
    to_3d: np.ndarray
    to_coco: np.ndarray
    num_file_joints: int

    @classmethod
    def build(cls, names: Sequence[str], joint_set,
              where: str) -> 'JointMapping':
        """The mapping of a file whose joints are ``names``."""
        canonical = check_joint_names(names, where)
        joint_set = get_joint_set(joint_set)
        index = {n: i for i, n in enumerate(canonical)}
        to_3d = np.array([index.get(n, -1) for n in joint_set.names])
        to_coco = np.array([index.get(n, -1) for n in COCO_KEYPOINTS])
        return cls(joint_set, to_3d, to_coco, len(canonical))

    def gather(self, values: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``values`` (K, ...) of the file's joints rearranged to the order
        of ``target`` (``to_3d`` or ``to_coco``), zeros where missing."""
        out = np.zeros((len(target), ) + values.shape[1:], values.dtype)
        have = target >= 0
        out[have] = values[target[have]]
        return out

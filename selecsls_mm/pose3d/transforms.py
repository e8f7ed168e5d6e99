# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Data transforms that keep camera-frame 3D labels consistent with the
image augmentations of bottom-up training, and pack the 3D targets."""
from typing import Optional

import numpy as np
from mmpose.datasets.transforms import BottomupRandomAffine
from mmpose.registry import TRANSFORMS

from selecsls_mm.pose.transforms import BottomupRandomFlip, PackPAFInputs
from .joint_sets import get_joint_set


def _check_3d(results: dict, joint_set) -> Optional[np.ndarray]:
    """The sample's ``keypoints_3d`` (N, J, 3), checked against the joint
    set; None when it has none."""
    if results.get('keypoints_3d') is None:
        return None
    kpts = np.asarray(results['keypoints_3d'], dtype=np.float32)
    J = joint_set.num_joints
    if kpts.ndim != 3 or kpts.shape[1:] != (J, 3):
        raise ValueError(
            f'keypoints_3d has shape {kpts.shape} but joint set '
            f'{joint_set.name!r} has {J} joints; give the dataset and the '
            'transforms the same joint_set.')
    return kpts


@TRANSFORMS.register_module()
class BottomupRandomAffine3D(BottomupRandomAffine):
    """mmpose's ``BottomupRandomAffine`` that also turns the camera-frame
    3D joints by the warp's in-plane rotation.

    Rotating the image about the optical axis turns the camera frame about
    its z axis by the same angle; scaling and shifting the image change the
    apparent distance and direction of the people, not their root-relative
    pose, which is what the 3D maps hold. (A rotation about another point
    than the principal point adds a small shift, treated as such.)

    Args:
        joint_set (str): The 3D joint set of ``keypoints_3d``. Defaults to
            ``'coco21'``.
        **kwargs: ``BottomupRandomAffine`` arguments.
    """

    def __init__(self, joint_set: str = 'coco21', **kwargs) -> None:
        super().__init__(**kwargs)
        self.joint_set = get_joint_set(joint_set)

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        kpts = _check_3d(results, self.joint_set)
        if kpts is not None:
            linear = np.asarray(results['warp_mat'], np.float64)[:, :2]
            rot = linear / np.sqrt(abs(np.linalg.det(linear)))
            kpts[..., :2] = kpts[..., :2] @ rot.T.astype(np.float32)
            results['keypoints_3d'] = kpts
        return results


@TRANSFORMS.register_module()
class BottomupRandomFlip3D(BottomupRandomFlip):
    """:class:`~selecsls_mm.pose.transforms.BottomupRandomFlip` that also
    mirrors the camera-frame 3D joints: x negated and left/right joints
    swapped. Only horizontal flips are allowed with 3D labels.

    Args:
        joint_set (str): The 3D joint set of ``keypoints_3d``. Defaults to
            ``'coco21'``.
        **kwargs: ``BottomupRandomFlip`` arguments.
    """

    def __init__(self, joint_set: str = 'coco21', **kwargs) -> None:
        super().__init__(**kwargs)
        self.joint_set = get_joint_set(joint_set)
        directions = self.direction if isinstance(self.direction,
                                                  list) else [self.direction]
        if any(d != 'horizontal' for d in directions):
            raise ValueError('BottomupRandomFlip3D mirrors 3D labels '
                             "horizontally only; use direction='horizontal'.")

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        kpts = _check_3d(results, self.joint_set)
        if kpts is not None and results.get('flip', False):
            flip = self.joint_set.flip_indices
            kpts = kpts[:, flip]
            kpts[..., 0] *= -1
            results['keypoints_3d'] = kpts
            if results.get('keypoints_3d_visible') is not None:
                results['keypoints_3d_visible'] = np.asarray(
                    results['keypoints_3d_visible'])[:, flip]
        return results


@TRANSFORMS.register_module()
class PackXNect3DInputs(PackPAFInputs):
    """:class:`~selecsls_mm.pose.transforms.PackPAFInputs` that also packs
    the 3D maps (``gt_fields.maps_3d``, ``maps_3d_weights``), the 3D labels
    (``gt_instances.keypoints_3d``, ``keypoints_3d_visible``) and their
    weights (``gt_instance_labels.keypoints_3d_weights``).

    Args: as :class:`PackPAFInputs`.
    """
    paf_field_mapping = dict(
        PackPAFInputs.paf_field_mapping,
        maps_3d='maps_3d',
        maps_3d_weights='maps_3d_weights')
    field_mapping_table = {
        **PackPAFInputs.field_mapping_table,
        **paf_field_mapping
    }
    instance_mapping_table = dict(
        PackPAFInputs.instance_mapping_table,
        keypoints_3d='keypoints_3d',
        keypoints_3d_visible='keypoints_3d_visible')
    label_mapping_table = dict(
        PackPAFInputs.label_mapping_table,
        keypoints_3d_weights='keypoints_3d_weights')

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # mmpose versions that build the tables per instance
        self.instance_mapping_table = {
            **self.instance_mapping_table,
            **PackXNect3DInputs.instance_mapping_table
        }
        self.label_mapping_table = {
            **self.label_mapping_table,
            **PackXNect3DInputs.label_mapping_table
        }

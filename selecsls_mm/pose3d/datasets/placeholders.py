# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""3D keys without 3D labels for 2D-only data (COCO) mixed with 3D data."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

from ..joint_sets import get_joint_set


@TRANSFORMS.register_module()
class Add3DPlaceholders(BaseTransform):
    """Give a 2D-only sample the 3D keys of the 3D datasets, all unlabelled,
    so that COCO images train the 2D branch next to MuCo-3DHP in one
    :class:`~mmpose.datasets.CombinedDataset` and batches collate.

    Put it first in the COCO dataset's own ``pipeline`` (the one inside
    ``CombinedDataset.datasets``). It adds ``keypoints_3d`` (N, J, 3) zeros,
    ``keypoints_3d_visible`` (N, J) zeros and ``flip_indices_3d``; there is
    no ``camera_param``. A sample that already has 3D labels is refused:
    the transform is in the wrong pipeline.

    Required keys: ``keypoints`` (N, K, 2).

    Added keys: ``keypoints_3d``, ``keypoints_3d_visible``,
    ``flip_indices_3d``.

    Args:
        joint_set (str): The 3D joint set of the 3D datasets.
            Defaults to ``'coco21'``.
    """

    def __init__(self, joint_set: str = 'coco21') -> None:
        self.joint_set = get_joint_set(joint_set)

    def transform(self, results: dict) -> dict:
        if 'keypoints_3d' in results:
            raise ValueError(
                'Add3DPlaceholders got a sample that has keypoints_3d '
                f'({results.get("img_path")}); use it only in the pipeline '
                'of 2D-only datasets such as COCO')
        num_people = len(results.get('keypoints', ()))
        num_joints = self.joint_set.num_joints
        results['keypoints_3d'] = np.zeros((num_people, num_joints, 3),
                                           np.float32)
        results['keypoints_3d_visible'] = np.zeros((num_people, num_joints),
                                                   np.float32)
        results['flip_indices_3d'] = list(self.joint_set.flip_indices)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(joint_set={self.joint_set.name!r})'

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Pack one person's Stage I read-out as Stage II's input, with its ground
truth. The model encodes the features itself, a batch at a time (its codec
is the only one in a config)."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData
from mmpose.registry import TRANSFORMS
from mmpose.structures import PoseDataSample

# Stage I's read-out of a person: the model's input
READOUT_KEYS = ('keypoints', 'keypoints_visible', 'keypoint_scores',
                'samples_3d')
# ground truth packed per person for the loss and the metric
GT_KEYS = ('lifting_target', 'lifting_target_visible', 'joints_seen',
           'readout_keypoints_3d', 'keypoints_visible')


@TRANSFORMS.register_module()
class PackLiftingInputs(BaseTransform):
    """Pack one person: ``inputs`` a dict of float tensors of its read-out
    (:data:`READOUT_KEYS`, leading person axis dropped) and a
    :class:`PoseDataSample` with ``gt_instances`` (:data:`GT_KEYS`, those
    present) and the meta keys.

    Args:
        meta_keys (Sequence[str]): Keys of the results kept as metainfo.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('sample_idx', 'clip', 'frame',
                                             'camera_param', 'img_shape')):
        super().__init__()
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        missing = [k for k in READOUT_KEYS if k not in results]
        if missing:
            raise KeyError(f'PackLiftingInputs needs the Stage I read-out '
                           f'keys {list(READOUT_KEYS)}; missing {missing}')
        if len(results['keypoints']) != 1:
            raise ValueError('PackLiftingInputs packs one person per item; '
                             f"got {len(results['keypoints'])}")
        inputs = {
            k: torch.as_tensor(np.asarray(results[k][0], np.float32))
            for k in READOUT_KEYS
        }
        gt = InstanceData()
        for key in GT_KEYS:
            if key in results:
                gt.set_field(np.asarray(results[key]), key)
        sample = PoseDataSample(gt_instances=gt)
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

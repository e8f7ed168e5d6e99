# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Pose-model helpers for the benchmark: build the model of an MMPose
config, and synthetic multi-person scenes for timing the PAF decoder."""
import copy
import os.path as osp
from typing import Optional

import numpy as np
import torch.nn as nn

# A standing person in COCO keypoint order (nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles; left before right) as (x, y) offsets
# in units of the person's height, x from the body's axis, y from the top.
_COCO_TEMPLATE = np.array(
    [(0.00, 0.06), (0.03, 0.04), (-0.03, 0.04), (0.06, 0.05), (-0.06, 0.05),
     (0.12, 0.20), (-0.12, 0.20), (0.16, 0.37), (-0.16, 0.37), (0.18, 0.52),
     (-0.18, 0.52), (0.08, 0.53), (-0.08, 0.53), (0.09, 0.75), (-0.09, 0.75),
     (0.10, 0.97), (-0.10, 0.97)],
    dtype=np.float32)


def synthetic_people(num_people: int,
                     map_size=(128, 128),
                     rng: Optional[np.random.Generator] = None,
                     height_range=(0.25, 0.5),
                     jitter: float = 0.03) -> np.ndarray:
    """Random standing people (COCO 17 keypoints) inside a map.

    Args:
        num_people (int): Number of people N.
        map_size (tuple): Map size [W, H].
        rng (np.random.Generator, optional): Random source.
        height_range (tuple): Person height as a fraction of H.
        jitter (float): Keypoint noise, a fraction of the person's height.

    Returns:
        np.ndarray: Keypoints of shape (N, 17, 2) in map pixels.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    W, H = map_size
    heights = rng.uniform(*height_range, size=(num_people, 1, 1)) * H
    poses = _COCO_TEMPLATE[None] + rng.normal(
        0, jitter, size=(num_people, ) + _COCO_TEMPLATE.shape)
    centre_x = rng.uniform(0.1 * W, 0.9 * W, size=(num_people, 1))
    top = rng.uniform(0, 1, size=(num_people, 1)) * (H - heights[:, :, 0])
    keypoints = poses * heights
    keypoints[..., 0] += centre_x
    keypoints[..., 1] += top
    return keypoints.astype(np.float32)


def build_pose_model(config: str, checkpoint: Optional[str] = None,
                     device: str = 'cpu') -> nn.Module:
    """Build the pose estimator of an MMPose config for inference.

    No pretrained backbone weights are loaded (the backbone's ``init_cfg``
    is dropped), so no file but ``checkpoint`` is needed.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'pose config {config!r} not found; pass a '
                                'config file, e.g. one in configs/pose/')
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} not found')
    from mmpose.apis import init_model
    return init_model(config, checkpoint, device=device)


def synthetic_codec(decoder_cfg: dict, heatmap_size=(128, 128)):
    """The codec of a pose head, re-built for maps of ``heatmap_size``
    (input size scaled alike, so the stride stays that of the config)."""
    from mmpose.registry import KEYPOINT_CODECS
    cfg = copy.deepcopy(dict(decoder_cfg))
    stride = np.asarray(cfg['input_size'], np.float32) / np.asarray(
        cfg['heatmap_size'], np.float32)
    cfg['heatmap_size'] = tuple(heatmap_size)
    cfg['input_size'] = tuple(
        int(round(s * r)) for s, r in zip(heatmap_size, stride))
    return KEYPOINT_CODECS.build(cfg)

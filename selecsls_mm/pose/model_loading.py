# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Build a pose estimator for inference with a checkpoint that must fit."""
from typing import Optional

import torch.nn as nn
from mmengine.runner import load_state_dict

from ..utils.builder import load_checkpoint_file
from ..utils.checkpoint_fit import check_checkpoint_fits, checkpoint_state_dict


def init_pose_model(config,
                    checkpoint: Optional[str] = None,
                    device: str = 'cpu',
                    allow_partial: bool = False) -> nn.Module:
    """mmpose's ``init_model``, with the checkpoint checked against the
    model first.

    mmpose's ``init_model`` loads non-strictly: a checkpoint of another
    model only logs its mismatches and the rest keeps random weights. Here a
    mismatch raises :class:`~selecsls_mm.utils.CheckpointMismatchError`
    (one line), unless ``allow_partial``.

    Args:
        config (str | Config): The config file or object.
        checkpoint (str, optional): Weights to load; None keeps the model's
            own initialisation (the backbone's ``init_cfg`` is dropped, as
            ``init_model`` does, so no file but ``checkpoint`` is read).
        device (str): Where to build the model. Defaults to ``'cpu'``.
        allow_partial (bool): Load only the tensors that fit. Defaults to
            False.

    Returns:
        nn.Module: The estimator in eval mode, with ``cfg`` and
        ``dataset_meta`` (the checkpoint's, when it holds one) set as
        mmpose's inference API expects.
    """
    from mmpose.apis import init_model
    model = init_model(config, None, device=device)
    if checkpoint is None:
        return model.eval()
    ckpt = load_checkpoint_file(checkpoint)
    check_checkpoint_fits(model, ckpt, f'checkpoint {checkpoint}',
                          allow_partial)
    load_state_dict(model, checkpoint_state_dict(ckpt), strict=False)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if isinstance(meta, dict) and 'dataset_meta' in meta:
        model.dataset_meta = meta['dataset_meta']
    return model.eval()

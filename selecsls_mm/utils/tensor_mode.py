# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Call an mmengine model as a plain ``images -> tensors`` module."""
import torch
import torch.nn as nn
from mmengine.model import BaseModel


class TensorModeWrapper(nn.Module):
    """Run ``model`` in mmengine's ``'tensor'`` mode: images in, raw network
    outputs out (logits for a classifier, heatmaps/PAFs for a pose model).

    mmengine models take ``(inputs, data_samples, mode)``; pose estimators
    require the ``data_samples`` slot, so None is passed. Any other module
    (a bare backbone) is called as ``model(x)``. Used to export, count and
    compare models without their data preprocessor or post-processing.

    Args:
        model (nn.Module): An mmengine ``BaseModel`` or any module.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        if isinstance(self.model, BaseModel):
            return self.model(x, None, mode='tensor')
        return self.model(x)

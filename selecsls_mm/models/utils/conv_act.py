# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The deploy form of a ``ConvModule``: a biased convolution and an
activation, nothing else."""
from typing import Optional

import torch.nn as nn
from torch import Tensor


class ConvAct(nn.Module):
    """A convolution (with the BN folded into its weight and bias) followed by
    an optional activation.

    ``mmcv.cnn.ConvModule`` decides the layer order, spectral norm and padding
    in Python on every call; after BN folding none of that is needed, so this
    module runs ``act(conv(x))`` directly. It keeps ConvModule's state-dict
    names (``conv.weight``, ``conv.bias``), so a deploy checkpoint loads into
    a model built with ``deploy=True`` and into one switched in place alike.

    Args:
        conv (nn.Module): The convolution, usually an ``nn.Conv2d`` with bias.
        activate (nn.Module, optional): The activation; None for none.
    """

    def __init__(self, conv: nn.Module, activate: Optional[nn.Module] = None):
        super().__init__()
        self.conv = conv
        self.activate = activate

    @property
    def in_channels(self) -> int:
        return self.conv.in_channels

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.activate is not None:
            x = self.activate(x)
        return x

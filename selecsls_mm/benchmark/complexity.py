# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Parameters and FLOPs.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode` (built
into torch): it counts matrix multiplications and convolutions at 2 FLOPs
per multiply-add and ignores element-wise ops (BN, ReLU, additions), so
FLOPs = 2 x the MACs that papers and timm quote.
"""
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters (each shared parameter once)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, inputs: torch.Tensor) -> int:
    """FLOPs of one inference forward of ``model`` on ``inputs``."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(inputs)
    return int(counter.get_total_flops())

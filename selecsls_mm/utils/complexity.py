# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Parameter and multiply-accumulate (MAC) counts: the one counter used by
the deploy tool and the benchmark.

The unit is MACs (multiply-accumulates) per image, the quantity papers, timm
and mmengine's ``get_model_complexity_info`` quote (mmengine and some papers
call it "FLOPs"): 3.58 G for SelecSLS60 at 224x224. It is counted with
:class:`torch.utils.flop_counter.FlopCounterMode` (built into torch), which
counts convolutions (transposed ones included) and matrix multiplications at
2 FLOPs per multiply-add and ignores element-wise ops (BN, activations,
additions, pooling); MACs = those FLOPs / 2.
"""
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters, trainable or not, each shared one once.

    Args:
        model (nn.Module): The model.

    Returns:
        int: The parameter count.
    """
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module,
               inputs: torch.Tensor,
               forward: Optional[Callable] = None) -> int:
    """Multiply-accumulates of one inference forward, per image.

    Args:
        model (nn.Module): The model (its mode is left as it is).
        inputs (Tensor): A batch of inputs (N, C, H, W).
        forward (callable, optional): Runs the model on ``inputs``; defaults
            to ``model(inputs)``. E.g. :class:`TensorModeWrapper` for
            mmengine models.

    Returns:
        int: MACs per image (the batch total divided by N).
    """
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        (forward or model)(inputs)
    return int(counter.get_total_flops()) // 2 // inputs.shape[0]


def complexity(model: nn.Module,
               shape: Tuple[int, int] = (224, 224),
               forward: Optional[Callable] = None) -> Tuple[int, int]:
    """Parameters and MACs per image of a model with 3-channel input.

    The model is evaluated in eval mode on the device of its parameters and
    its training flag is restored afterwards.

    Args:
        model (nn.Module): The model.
        shape (tuple[int, int]): Input (H, W). Defaults to (224, 224).
        forward (callable, optional): As in :func:`count_macs`.

    Returns:
        tuple[int, int]: ``(parameters, MACs per image)``.
    """
    param = next(model.parameters())
    inputs = param.new_zeros(1, 3, *shape)
    was_training = model.training
    model.eval()
    try:
        return count_params(model), count_macs(model, inputs, forward)
    finally:
        model.train(was_training)

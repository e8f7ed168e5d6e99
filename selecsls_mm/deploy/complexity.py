# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Parameter and multiply-accumulate counts of conv networks."""
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn


@torch.no_grad()
def count_macs(model: nn.Module,
               inputs: torch.Tensor,
               forward: Optional[Callable] = None) -> int:
    """Multiply-accumulates of the conv and linear layers of one forward,
    per image.

    This is the quantity mmengine's ``get_model_complexity_info`` and timm
    report as "FLOPs"/"MACs" (3.59 G for SelecSLS60 at 224x224); BN, bias,
    activation and pooling costs are ignored. It is counted with forward
    hooks, so it needs no tracing and works for any input size.

    Args:
        model (nn.Module): The model.
        inputs (Tensor): A batch of inputs.
        forward (callable, optional): Runs the model on ``inputs``; defaults
            to ``model(inputs)``.

    Returns:
        int: MACs per image.
    """
    total = 0

    def hook(module, args, output):
        nonlocal total
        if isinstance(module, nn.modules.conv._ConvNd):
            per_output = module.weight[0].numel()  # (in / groups) * kernel
        else:
            per_output = module.in_features
        total += output.numel() * per_output

    handles = [
        m.register_forward_hook(hook) for m in model.modules()
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
    ]
    try:
        (forward or model)(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total // inputs.shape[0]


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return sum(p.numel() for p in model.parameters())


def complexity(model: nn.Module,
               shape: Tuple[int, int] = (224, 224),
               forward: Optional[Callable] = None) -> Tuple[int, int]:
    """``(parameters, MACs per image)`` of a model with 3-channel input of
    ``shape`` (H, W), evaluated in eval mode on the model's device;
    ``forward`` as in :func:`count_macs`."""
    param = next(model.parameters())
    inputs = param.new_zeros(1, 3, *shape)
    was_training = model.training
    model.eval()
    try:
        return count_params(model), count_macs(model, inputs, forward)
    finally:
        model.train(was_training)

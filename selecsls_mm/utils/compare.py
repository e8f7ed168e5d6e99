# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""How far one model's outputs are from another's."""
from typing import Sequence, Union

import torch

Outputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def _as_list(outputs: Outputs) -> list:
    return [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)


def max_rel_diff(reference: Outputs, output: Outputs) -> float:
    """Largest absolute difference relative to the reference's scale.

    For each pair of tensors ``max|r - o| / max|r|`` (the denominator is
    clamped at 1e-12, so an all-zero reference gives the absolute difference
    scaled up, never a division by zero); the maximum over pairs.

    Args:
        reference (Tensor | Sequence[Tensor]): The expected output(s).
        output (Tensor | Sequence[Tensor]): The output(s) to check, in the
            same order and shapes (a single tensor and a one-element list
            compare alike).

    Returns:
        float: The largest relative difference.
    """
    reference, output = _as_list(reference), _as_list(output)
    if len(reference) != len(output):
        raise ValueError(f'{len(reference)} reference outputs but '
                         f'{len(output)} outputs to compare')
    diffs = []
    for ref, out in zip(reference, output):
        ref, out = torch.as_tensor(ref).float(), torch.as_tensor(out).float()
        if ref.shape != out.shape:
            raise ValueError(f'shapes differ: reference {tuple(ref.shape)}, '
                             f'output {tuple(out.shape)}')
        scale = ref.abs().max().clamp_min(1e-12)
        diffs.append(((ref - out).abs().max() / scale).item())
    return max(diffs)

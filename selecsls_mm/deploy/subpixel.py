# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Transposed convs rewritten as a conv plus a pixel shuffle, for int8.

ONNX Runtime's CPU provider has no integer transposed conv: in a quantized
graph each ``ConvTranspose`` runs in fp32 between a dequantize and a
quantize, and the pose heads' upsampling became the largest fp32 part of
the int8 networks. A transposed conv of kernel 4, stride 2 and padding 1
computes each of its four output phases (even/odd row, even/odd column)
from a 2x2 window of the input, so it equals a 3x3 conv with four times
the output channels (the phases' windows, zero where a phase does not
reach) followed by ``pixel_shuffle(2)``. That conv quantizes like any
other; the price is 9/4 of the arithmetic, in int8.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# The one geometry the rewrite handles: (kernel, stride, padding).
SUBPIXEL_GEOMETRY = ((4, 4), (2, 2), (1, 1))


class SubPixelConvTranspose2d(nn.Module):
    """A 3x3 conv and ``pixel_shuffle(2)`` equal to one transposed conv.

    Args:
        deconv (nn.ConvTranspose2d): Kernel 4, stride 2, padding 1, no
            groups, dilation or output padding. Its weights are copied.
    """

    def __init__(self, deconv: nn.ConvTranspose2d) -> None:
        super().__init__()
        reason = _unsupported(deconv)
        if reason:
            raise ValueError(f'cannot rewrite {deconv} as a sub-pixel conv: '
                             f'{reason}')
        self.conv = nn.Conv2d(
            deconv.in_channels,
            4 * deconv.out_channels,
            3,
            padding=1,
            bias=deconv.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(subpixel_weight(deconv.weight))
            if deconv.bias is not None:
                # channel o * 4 + phase: every phase of o has o's bias
                self.conv.bias.copy_(deconv.bias.repeat_interleave(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


def _unsupported(deconv: nn.ConvTranspose2d) -> str:
    """Why ``deconv`` cannot be rewritten ('' if it can)."""
    geometry = (deconv.kernel_size, deconv.stride, deconv.padding)
    if geometry != SUBPIXEL_GEOMETRY:
        return (f'kernel, stride and padding are {geometry}, the rewrite '
                f'needs {SUBPIXEL_GEOMETRY}')
    if deconv.groups != 1 or deconv.dilation != (1, 1) or any(
            deconv.output_padding):
        return 'groups, dilation and output padding must be the defaults'
    return ''


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """The 3x3 conv weight (4 * Cout, Cin, 3, 3) of a kernel-4, stride-2,
    padding-1 transposed conv's weight (Cin, Cout, 4, 4).

    Output row ``2m + a`` of the transposed conv takes input row ``m + d``
    (d in -1, 0, 1) through kernel row ``a + 1 - 2d`` where that lies in
    0..3; columns alike. Conv channel ``o * 4 + 2a + b`` holds phase (a, b)
    of output channel o, the order ``pixel_shuffle`` reads.
    """
    cin, cout = weight.shape[:2]
    out = weight.new_zeros(cout, 2, 2, cin, 3, 3)
    for a in range(2):
        for b in range(2):
            for d, kr in _taps(a):
                for e, kc in _taps(b):
                    out[:, a, b, :, d + 1, e + 1] = weight[:, :, kr, kc].t()
    return out.reshape(4 * cout, cin, 3, 3)


def _taps(phase: int) -> Tuple[Tuple[int, int], ...]:
    """(input offset, kernel index) pairs of one output phase."""
    return tuple((d, phase + 1 - 2 * d) for d in (-1, 0, 1)
                 if 0 <= phase + 1 - 2 * d <= 3)


def deconvs_to_subpixel(module: nn.Module) -> int:
    """Replace, in place, every transposed conv under ``module`` that
    :class:`SubPixelConvTranspose2d` can express; returns how many. Others
    are left as they are."""
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child,
                          nn.ConvTranspose2d) and not _unsupported(child):
                setattr(parent, name, SubPixelConvTranspose2d(child))
                replaced += 1
    return replaced

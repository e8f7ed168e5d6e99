# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Transposed convs rewritten as a conv plus a pixel shuffle, for int8.

ONNX Runtime's CPU provider has no integer transposed conv: in a quantized
graph each ``ConvTranspose`` runs in fp32 between a dequantize and a
quantize, and the pose heads' upsampling became the largest fp32 part of
the int8 networks. A transposed conv of kernel 4, stride 2 and padding 1
computes each of its four output phases (even/odd row, even/odd column)
from a 2x2 window of the input, so it equals (up to float rounding) a 3x3
conv with four times the output channels (the phases' windows, zero where
a phase does not reach) followed by ``pixel_shuffle(2)``. That conv
quantizes like any other; the price is 9/4 of the arithmetic, in int8.
"""
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# The one geometry the rewrite handles: (kernel, stride, padding).
SUBPIXEL_GEOMETRY = ((4, 4), (2, 2), (1, 1))


class SubPixelConvTranspose2d(nn.Module):
    """A 3x3 conv and ``pixel_shuffle(2)`` equal to one transposed conv.

    The conv takes the transposed conv's weights, dtype, device,
    ``requires_grad`` and training mode.

    Args:
        deconv (nn.ConvTranspose2d): Kernel 4, stride 2, padding 1, no
            groups, dilation or output padding; torch's class or mmcv's
            wrapper, not another subclass.
    """

    def __init__(self, deconv: nn.ConvTranspose2d) -> None:
        super().__init__()
        reason = _unsupported(deconv)
        if reason:
            raise ValueError(f'cannot rewrite {deconv} as a sub-pixel conv: '
                             f'{reason}')
        weight = deconv.weight
        self.conv = nn.Conv2d(
            deconv.in_channels,
            4 * deconv.out_channels,
            3,
            padding=1,
            bias=deconv.bias is not None,
            device=weight.device,
            dtype=weight.dtype)
        with torch.no_grad():
            self.conv.weight.copy_(subpixel_weight(weight))
            if deconv.bias is not None:
                # channel o * 4 + phase: every phase of o has o's bias
                self.conv.bias.copy_(deconv.bias.repeat_interleave(4))
        for new, old in zip(self.conv.parameters(), deconv.parameters()):
            new.requires_grad_(old.requires_grad)
        self.train(deconv.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


def _plain_deconv_types() -> tuple:
    """torch's transposed conv and mmcv's wrapper of it (which differs
    only for empty inputs): subclasses that compute the same."""
    try:
        from mmcv.cnn.bricks.wrappers import ConvTranspose2d
    except ImportError:
        return (nn.ConvTranspose2d, )
    return (nn.ConvTranspose2d, ConvTranspose2d)


def _unsupported(deconv: nn.Module) -> str:
    """Why ``deconv`` cannot be rewritten ('' if it can)."""
    if type(deconv) not in _plain_deconv_types():
        return (f'it is a {type(deconv).__name__}, not an '
                'nn.ConvTranspose2d (a subclass may compute otherwise)')
    geometry = (deconv.kernel_size, deconv.stride, deconv.padding)
    if geometry != SUBPIXEL_GEOMETRY:
        return (f'kernel, stride and padding are {geometry}, the rewrite '
                f'needs {SUBPIXEL_GEOMETRY}')
    if deconv.groups != 1 or deconv.dilation != (1, 1) or any(
            deconv.output_padding):
        return (f'groups {deconv.groups}, dilation {deconv.dilation} and '
                f'output padding {deconv.output_padding}; the rewrite needs '
                '1, (1, 1) and (0, 0)')
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
    """Replace, in place, every transposed conv held by ``module`` or its
    submodules that :class:`SubPixelConvTranspose2d` can express; returns
    how many distinct ones. Others are left as they are; a transposed conv
    used in several places is replaced by one shared module.

    Raises:
        ValueError: ``module`` is itself a transposed conv (there is no
            parent to put the replacement in: pass the module holding it).
    """
    if isinstance(module, nn.ConvTranspose2d):
        raise ValueError('deconvs_to_subpixel replaces the transposed convs '
                         'a module holds; pass the module that holds this '
                         'one, or build SubPixelConvTranspose2d(it)')
    replaced: Dict[int, nn.Module] = {}
    for parent in list(module.modules()):
        for name, child in list(parent._modules.items()):
            if child is not None and not _unsupported(child):
                if id(child) not in replaced:
                    replaced[id(child)] = SubPixelConvTranspose2d(child)
                parent._modules[name] = replaced[id(child)]
    return len(replaced)

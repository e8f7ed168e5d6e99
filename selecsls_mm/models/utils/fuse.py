# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Fold BatchNorm layers into the convolutions before them."""
import copy

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from .conv_act import ConvAct


def fuse_conv_bn(conv: nn.Module, bn: _BatchNorm) -> nn.Module:
    """Return a copy of ``conv`` whose weight and bias include ``bn``.

    In eval mode ``bn(conv(x)) == fused(x)``: the weight of output channel
    ``i`` is scaled by ``gamma_i / sqrt(var_i + eps)`` and the bias becomes
    ``(b_i - mean_i) * scale_i + beta_i``. The arithmetic is done in float64
    so the folded layer stays within float32 rounding of the original.

    Args:
        conv (nn.Module): A convolution (``weight`` of shape (out, in, ...),
            optional ``bias``).
        bn (_BatchNorm): The BN layer applied to the conv output, with
            running statistics.

    Returns:
        nn.Module: The fused convolution, same type as ``conv``, with bias.
    """
    # (a block, not @torch.no_grad(): mutmut does not mutate decorated
    # functions)
    with torch.no_grad():
        if bn.running_mean is None or bn.running_var is None:
            raise ValueError(
                f'cannot fold {type(bn).__name__} without running statistics '
                '(track_running_stats=False): it normalises with batch '
                'statistics at inference too')
        weight = conv.weight.double()
        out_channels = weight.shape[0]
        if bn.num_features != out_channels:
            raise ValueError(f'BN has {bn.num_features} channels but the conv '
                             f'before it outputs {out_channels}')
        gamma = bn.weight.double() if bn.weight is not None else \
            weight.new_ones(out_channels)
        beta = bn.bias.double() if bn.bias is not None else \
            weight.new_zeros(out_channels)
        scale = gamma / (bn.running_var.double() + bn.eps).sqrt()
        bias = conv.bias.double() if conv.bias is not None else \
            weight.new_zeros(out_channels)

        fused = copy.deepcopy(conv)
        dtype = conv.weight.dtype
        fused.weight = nn.Parameter(
            (weight * scale.reshape(-1, *[1] * (weight.dim() - 1))).to(dtype))
        fused.bias = nn.Parameter(
            ((bias - bn.running_mean.double()) * scale + beta).to(dtype))
        return fused


def fuse_conv_module(module: ConvModule) -> ConvAct:
    """Convert a ``ConvModule`` into a :class:`ConvAct`, folding its BN.

    A ConvModule without a norm layer is only re-wrapped (its weights are
    shared, not copied).

    Args:
        module (ConvModule): A conv -> norm -> act module in eval semantics.

    Returns:
        ConvAct: The equivalent inference-only module.
    """
    if module.order != ('conv', 'norm', 'act'):
        raise ValueError(f'only ConvModules with order (conv, norm, act) can '
                         f'be folded, got {module.order}')
    if module.with_explicit_padding or module.with_spectral_norm:
        raise ValueError('cannot fold a ConvModule with explicit padding or '
                         'spectral norm; build it with the default options')
    conv = module.conv
    if module.with_norm:
        norm = module.norm
        if not isinstance(norm, _BatchNorm):
            raise TypeError(
                f'only BatchNorm-like layers can be folded into a conv, got '
                f'{type(norm).__name__}; use norm_cfg=dict(type="BN") (or '
                'SyncBN) for a model you want to deploy')
        conv = fuse_conv_bn(conv, norm)
    activate = module.activate if module.with_activation else None
    return ConvAct(conv, activate)


def fuse_conv_modules(model: nn.Module) -> int:
    """Replace, in place, every ``ConvModule`` inside ``model`` by its fused
    :class:`ConvAct`.

    Args:
        model (nn.Module): The model to convert.

    Returns:
        int: The number of modules replaced.
    """
    count = 0
    for name, child in list(model.named_children()):
        if isinstance(child, ConvModule):
            setattr(model, name, fuse_conv_module(child))
            count += 1
        else:
            count += fuse_conv_modules(child)
    return count

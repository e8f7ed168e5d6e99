# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Implicit-sparsity channel pruning of SelecSLS networks.

Training with adaptive optimisers and weight decay drives the BN scale
``gamma`` of many channels to (almost) zero: such a channel outputs the
constant ``act(beta)``. Pruning removes these channels from their conv and
from every consumer of the conv output -- through the concatenations that
feed ``conv6`` and the long-range skip of each stage -- leaving a smaller
dense network. The constant of a removed channel is folded into the
consumers: into the running mean of a consumer's BN (or its bias, or the
classifier's bias), which is exact for 1x1 consumers and the classifier
(global average of a constant is the constant) and exact except on the
one-pixel zero-padded border for 3x3 consumers.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


def _selecsls_graph(
    backbone: nn.Module
) -> Tuple['OrderedDict[str, ConvModule]', Dict[str, List[str]], List[str]]:
    """Describe the data flow between the convs of a built SelecSLS.

    Returns:
        tuple: ``convs`` (name -> ConvModule, in forward order), ``inputs``
        (name of a conv -> names of the convs whose outputs it reads, in
        channel order of its input; the stem reads the image and is absent)
        and ``outputs`` (names of the convs whose outputs leave the backbone,
        one per level in ``out_indices``).
    """
    convs: 'OrderedDict[str, ConvModule]' = OrderedDict()
    inputs: Dict[str, List[str]] = {}
    outputs: List[str] = []
    convs['stem'] = backbone.stem
    src = 'stem'
    for level, layer_name in enumerate(backbone.layer_names):
        layer = getattr(backbone, layer_name)
        if layer_name.startswith('stage'):
            skip = None
            for b, block in enumerate(layer):
                prefix = f'{layer_name}.{b}.'
                for i in range(1, 7):
                    convs[prefix + f'conv{i}'] = getattr(block, f'conv{i}')
                inputs[prefix + 'conv1'] = [src]
                inputs[prefix + 'conv2'] = [prefix + 'conv1']
                inputs[prefix + 'conv3'] = [prefix + 'conv2']
                inputs[prefix + 'conv4'] = [prefix + 'conv3']
                inputs[prefix + 'conv5'] = [prefix + 'conv4']
                cat = [prefix + 'conv1', prefix + 'conv3', prefix + 'conv5']
                inputs[prefix + 'conv6'] = cat if block.is_first else \
                    cat + [skip]
                src = prefix + 'conv6'
                if block.is_first:
                    skip = src
        elif layer_name.startswith('head'):
            for i, conv in enumerate(layer):
                name = f'{layer_name}.{i}'
                convs[name] = conv
                inputs[name] = [src]
                src = name
        if level in backbone.out_indices:
            outputs.append(src)
    return convs, inputs, outputs


def _channel_constants(module: ConvModule) -> Tensor:
    """``act(beta)``: what each channel outputs when its gamma is zero."""
    beta = module.norm.bias.detach().clone()
    if module.with_activation:
        beta = module.activate(beta.reshape(1, -1, 1, 1)).flatten()
    return beta


def _slice_param(module: nn.Module, name: str, index: Tensor, dim: int):
    tensor = getattr(module, name)
    if tensor is None:
        return
    new = tensor.detach().index_select(dim, index).clone()
    if isinstance(tensor, nn.Parameter):
        setattr(module, name,
                nn.Parameter(new, requires_grad=tensor.requires_grad))
    else:
        setattr(module, name, new)  # a registered buffer stays a buffer


@torch.no_grad()
def prune_selecsls(backbone: nn.Module,
                   threshold: float,
                   fc: Optional[nn.Linear] = None) -> List[dict]:
    """Remove, in place, every channel whose BN ``|gamma| < threshold``.

    Must run on the BN form (before :meth:`SelecSLS.switch_to_deploy`),
    since the gammas are what decides. Channels of levels that the backbone
    outputs are kept (whatever consumes them is unknown), except the last
    level when ``fc`` is given: a classifier ``fc`` after global average
    pooling is pruned along with it. A conv keeps at least one channel.
    Afterwards ``backbone.arch`` and ``backbone.out_channels`` describe the
    pruned widths (blocks with five explicit ``mid`` widths; the stem width
    is ``backbone.out_channels[0]``), so the network can be rebuilt with
    ``SelecSLS(arch=backbone.arch, stem_channels=...)``.

    Args:
        backbone (SelecSLS): The backbone in BN form, eval semantics.
        threshold (float): Channels with ``|gamma|`` below this are removed;
            0 removes nothing.
        fc (nn.Linear, optional): The classifier reading the global average
            of the last built level.

    Returns:
        list[dict]: One row per conv: ``name``, ``before``, ``after``.
    """
    if getattr(backbone, 'deploy', False):
        raise ValueError('prune before switch_to_deploy(): the BN gammas '
                         'that decide what to prune are folded away in a '
                         'deploy model')
    if threshold < 0:
        raise ValueError(f'prune threshold must be >= 0, got {threshold}')
    convs, inputs, outputs = _selecsls_graph(backbone)
    last = list(convs)[-1]
    fixed = set(outputs) - ({last} if fc is not None else set())
    if fc is not None and fc.in_features != convs[last].out_channels:
        raise ValueError(f'fc reads {fc.in_features} features but the last '
                         f'level has {convs[last].out_channels} channels')

    keep: Dict[str, Tensor] = {}
    const: Dict[str, Tensor] = {}
    for name, module in convs.items():
        if not module.with_norm or not isinstance(module.norm, _BatchNorm):
            raise TypeError(f'{name} has no BN layer: pruning needs the BN '
                            'form of the model (deploy=False, norm_cfg BN)')
        gamma = module.norm.weight
        mask = torch.ones(module.out_channels, dtype=torch.bool)
        if gamma is not None and name not in fixed:
            mask = gamma.detach().abs().cpu() >= threshold
            if not mask.any():  # a zero-width conv cannot be built
                mask[gamma.detach().abs().argmax().cpu()] = True
            const[name] = _channel_constants(module)
        keep[name] = mask

    # Consumers first: they index their input by the unpruned layout.
    consumers = [(convs[n], srcs) for n, srcs in inputs.items()]
    if fc is not None:
        consumers.append((fc, [last]))
    for module, srcs in consumers:
        in_keep = torch.cat([keep[s] for s in srcs])
        if in_keep.all():
            continue
        layer = module.conv if isinstance(module, ConvModule) else module
        weight = layer.weight
        removed = torch.cat([(const[s] * ~keep[s].to(const[s].device))
                             if s in const else weight.new_zeros(len(keep[s]))
                             for s in srcs]).to(weight)
        # A removed constant channel adds sum(W[:, c]) * const to every
        # output (a border pixel of a padded kxk conv sees fewer taps).
        taps = weight if weight.dim() == 2 else weight.flatten(2).sum(2)
        delta = taps @ removed
        if isinstance(module, ConvModule) and module.with_norm:
            module.norm.running_mean -= delta
        elif layer.bias is not None:
            layer.bias += delta
        else:
            layer.bias = nn.Parameter(delta)
        _slice_param(layer, 'weight',
                     in_keep.nonzero().flatten().to(weight.device), 1)
        if isinstance(layer, nn.Linear):
            layer.in_features = int(in_keep.sum())
        else:
            layer.in_channels = module.in_channels = int(in_keep.sum())

    report = []
    for name, module in convs.items():
        mask = keep[name]
        report.append(dict(name=name, before=len(mask), after=int(mask.sum())))
        if mask.all():
            continue
        index = mask.nonzero().flatten().to(module.conv.weight.device)
        _slice_param(module.conv, 'weight', index, 0)
        _slice_param(module.conv, 'bias', index, 0)
        for attr in ('weight', 'bias', 'running_mean', 'running_var'):
            _slice_param(module.norm, attr, index, 0)
        module.norm.num_features = len(index)
        module.conv.out_channels = module.out_channels = len(index)

    _update_arch(backbone)
    return report


def _update_arch(backbone: nn.Module):
    """Record the (pruned) widths of the built layers in ``backbone.arch``,
    ``backbone.out_channels`` and the block attributes."""
    blocks = [list(b) for b in backbone.arch['blocks']]
    head = [list(h) for h in backbone.arch['head']]
    out_channels = [backbone.stem.out_channels]
    index = 0
    for layer_name in backbone.layer_names[1:]:
        layer = getattr(backbone, layer_name)
        if layer_name.startswith('stage'):
            first = layer[0]
            for block in layer:
                widths = tuple(
                    getattr(block, f'conv{i}').out_channels
                    for i in range(1, 6))
                block.in_channels = block.conv1.in_channels
                block.skip_channels = 0 if block.is_first else \
                    first.conv6.out_channels
                block.out_channels = block.conv6.out_channels
                blocks[index][:4] = [
                    block.in_channels, block.skip_channels, widths,
                    block.out_channels
                ]
                index += 1
            out_channels.append(layer[-1].out_channels)
        else:
            offset = 0 if layer_name == 'head1' else 2
            for i, conv in enumerate(layer):
                head[offset + i][:2] = [conv.in_channels, conv.out_channels]
            out_channels.append(layer[-1].out_channels)
    backbone.out_channels = out_channels
    backbone.arch = dict(
        blocks=[tuple(b) for b in blocks], head=[tuple(h) for h in head])


def prune_classifier(model: nn.Module, threshold: float) -> List[dict]:
    """Prune the SelecSLS backbone of a classifier, and its ``head.fc``.

    The classifier's last backbone level is pruned only when the model reads
    it through global average pooling and a linear ``head.fc`` (mmpretrain's
    ``GlobalAveragePooling`` + ``LinearClsHead``); otherwise its channels are
    kept. See :func:`prune_selecsls`.

    Args:
        model (nn.Module): A model with a ``backbone`` (and usually ``neck``
            and ``head``), e.g. an mmpretrain ``ImageClassifier``.
        threshold (float): Channels with ``|gamma|`` below this are removed.

    Returns:
        list[dict]: One row per conv (and ``head.fc``): ``name``, ``before``,
        ``after``.
    """
    backbone = model.backbone
    head = getattr(model, 'head', None)
    neck = getattr(model, 'neck', None)
    fc = getattr(head, 'fc', None)
    gap = getattr(neck, 'gap', None)
    # (the backbone's last level is the one read: SelecSLS builds no level
    # after its last out_indices)
    if not (isinstance(fc, nn.Linear)
            and isinstance(gap, nn.AdaptiveAvgPool2d)):
        fc = None
    before = fc.in_features if fc is not None else None
    report = prune_selecsls(backbone, threshold, fc)
    if fc is not None:
        head.in_channels = fc.in_features
        report.append(
            dict(name='head.fc (inputs)', before=before, after=fc.in_features))
    return report

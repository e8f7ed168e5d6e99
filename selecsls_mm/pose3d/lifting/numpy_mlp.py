# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage II's network in numpy, for lifting on the CPU.

A frame's people are a batch of a few rows, and torch's per-module and
per-call overheads (about 0.2 ms for the MLP) then cost more than its
arithmetic. :class:`NumpyMLP` computes the same eval-mode network (Linear,
BatchNorm with its running statistics, ReLU, and the linear skip) with numpy
on views of the modules' own tensors: every in-place change (an optimizer
step, ``load_state_dict``) is seen at once, and the views are made again
when a module or tensor is replaced or moved.
"""
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn


def _tensors(module: nn.Module) -> list:
    return [
        t for t in (*module._parameters.values(), *module._buffers.values())
        if t is not None
    ]


def _supported(module: nn.Module) -> bool:
    if isinstance(module, nn.BatchNorm1d):
        return module.track_running_stats and module.affine
    return type(module) in (nn.Linear, nn.ReLU)


def _layer(module: nn.Module) -> tuple:
    """One layer as ``(kind, numpy views...)``."""
    if isinstance(module, nn.Linear):
        return ('linear', module.weight.detach().numpy().T,
                module.bias.detach().numpy())
    if isinstance(module, nn.BatchNorm1d):
        return ('norm', module.running_mean.numpy(),
                module.running_var.numpy(), module.weight.detach().numpy(),
                module.bias.detach().numpy(), module.eps)
    return ('relu', )


class NumpyMLP:
    """An ``nn.Sequential`` MLP (plus an optional linear skip added to its
    output) evaluated with numpy, as in eval mode. It keeps only the numpy
    views, and checks them against the model's tensors at every call.
    """

    def __init__(self) -> None:
        self._key = None
        self._layers: Optional[List[tuple]] = None

    def layers(self, net: nn.Sequential,
               skip: Optional[nn.Linear]) -> Optional[List[tuple]]:
        """The layers' numpy views (the skip last), or None unless every
        layer is a Linear (with bias), an affine BatchNorm1d with running
        statistics or a ReLU, and every tensor is a float32 CPU tensor (then
        the caller runs torch)."""
        modules = list(net) + ([] if skip is None else [skip])
        tensors = [t for m in modules for t in _tensors(m)]
        key = tuple(map(id, modules)) + tuple(
            (id(t), t.data_ptr()) for t in tensors)
        if key != self._key:
            usable = all(map(_supported, modules)) and all(
                t.device.type == 'cpu' and t.dtype == torch.float32
                for t in tensors if t.is_floating_point()) and all(
                    m.bias is not None
                    for m in modules if isinstance(m, nn.Linear))
            self._layers = [_layer(m) for m in modules] if usable else None
            self._key = key
        return self._layers

    def __call__(self, net: nn.Sequential, skip: Optional[nn.Linear],
                 x: np.ndarray) -> Optional[np.ndarray]:
        """``net(x) + skip(x)`` (N, out) from features (N, in) float32;
        None off the CPU."""
        layers = self.layers(net, skip)
        if layers is None:
            return None
        h = x
        for layer in layers[:-1] if skip is not None else layers:
            if layer[0] == 'linear':
                h = h @ layer[1] + layer[2]
            elif layer[0] == 'norm':
                _, mean, var, weight, bias, eps = layer
                h = (h - mean) * (weight / np.sqrt(var + eps)) + bias
            else:
                h = np.maximum(h, 0.)
        if skip is not None:
            h = h + (x @ layers[-1][1] + layers[-1][2])
        return h

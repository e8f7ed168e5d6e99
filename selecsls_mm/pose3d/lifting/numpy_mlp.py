# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage II's network in numpy, for lifting on the CPU.

A frame's people are a batch of a few rows, and torch's per-module and
per-call overheads (about 0.2 ms for the MLP) then cost more than its
arithmetic. :class:`NumpyMLP` computes the same eval-mode network (Linear,
BatchNorm with its running statistics, ReLU, and the linear skip) with numpy
on views of the modules' own tensors: every in-place change (an optimizer
step, ``load_state_dict``) is seen at once, and the views are made again
when a module or tensor is replaced, moved or reshaped. Anything else (a
hook, ``weight_norm``, another layer type, a tensor off the CPU or not
float32) is left to torch.
"""
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn
from torch.nn.modules import module as torch_module

_HOOKS = ('_forward_hooks', '_forward_pre_hooks')
_GLOBAL_HOOKS = ('_global_forward_hooks', '_global_forward_pre_hooks')


def _tensors(module: nn.Module) -> list:
    return [
        t for t in (*module._parameters.values(), *module._buffers.values())
        if t is not None
    ]


def _hooked(modules: list) -> bool:
    """Whether a forward hook would run (``weight_norm`` is one)."""
    return any(getattr(torch_module, h, None) for h in _GLOBAL_HOOKS) or any(
        getattr(m, h, None) for m in modules for h in _HOOKS)


def _supported(module: nn.Module) -> bool:
    """Plain layers only (no subclasses, whose forward may differ)."""
    if type(module) is nn.ReLU:
        return True
    if type(module) is nn.BatchNorm1d:
        return bool(module.track_running_stats and module.affine)
    return type(module) is nn.Linear and module.bias is not None


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

    def __getstate__(self) -> dict:
        return {}  # the views are not saved with a model: made again

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def layers(self, net: nn.Sequential,
               skip: Optional[nn.Linear]) -> Optional[List[tuple]]:
        """The layers' numpy views (the skip last), or None unless every
        layer is a plain Linear (with bias), affine BatchNorm1d with running
        statistics or ReLU without hooks, and every tensor is a float32 CPU
        tensor (then the caller runs torch)."""
        modules = list(net) + ([] if skip is None else [skip])
        if _hooked(modules):
            return None
        tensors = [t for m in modules for t in _tensors(m)]
        key = tuple(map(id, modules)) + tuple(
            (id(t), t.data_ptr(), t.shape, t.stride()) for t in tensors)
        if key != self._key:
            usable = all(map(_supported, modules)) and all(
                t.device.type == 'cpu' and t.dtype == torch.float32
                for t in tensors if t.is_floating_point())
            self._layers = [_layer(m) for m in modules] if usable else None
            self._key = key
        return self._layers

    def __call__(self, net: nn.Sequential, skip: Optional[nn.Linear],
                 x: np.ndarray) -> Optional[np.ndarray]:
        """``net(x) + skip(x)`` (N, out) from features (N, in) float32;
        None where torch must run it."""
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

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The settings every model of one benchmark run shares: device, memory
format, autocast and runtime. One object, applied to all models alike, so
no model is timed in a better form than another."""
import contextlib
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn as nn

from .memory import training_loss


@dataclass
class BenchmarkSettings:
    """Per-run settings, shared by every model of the run.

    Args:
        device (torch.device): Where models and inputs live.
        channels_last (bool): Models and inputs in channels_last memory
            format (every model; a spec's ``:channels_last`` forces it for
            one model in a run without it).
        amp (bool): ``torch.autocast``: float16 on CUDA, bfloat16 on CPU.
        runtime (str): How forwards run, see :mod:`.runtimes`.
        fold_bn (bool): Fold BN into convs for every model (ours by
            ``switch_to_deploy()``, peers by torch.fx conv-BN fusion).
    """
    device: torch.device
    channels_last: bool = True
    amp: bool = False
    runtime: str = 'eager'
    fold_bn: bool = False

    def autocast(self):
        """The autocast context of the run (a no-op without ``amp``)."""
        if not self.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == 'cuda' else \
            torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def place(self,
              model: nn.Module,
              channels_last: bool = False) -> nn.Module:
        """Move ``model`` to the device and memory format of the run."""
        model = model.to(self.device)
        if self.channels_last or channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def inputs(self,
               batch: int,
               size: Tuple[int, int],
               channels_last: bool = False) -> torch.Tensor:
        """Random images of ``size`` (W, H), in the run's layout."""
        x = torch.randn(batch, 3, size[1], size[0], device=self.device)
        return self.layout(x, channels_last)

    def layout(self,
               x: torch.Tensor,
               channels_last: bool = False) -> torch.Tensor:
        """``x`` in the memory format of the run (or of one model)."""
        if self.channels_last or channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()

    def describe(self, runtimes=None) -> str:
        """One line for the report header (``runtimes``: all the run's
        runtimes, when several are timed side by side)."""
        parts = [
            'fp32' + (' + autocast ' +
                      ('fp16' if self.device.type == 'cuda' else 'bf16')
                      if self.amp else ''),
            'channels_last' if self.channels_last else 'NCHW',
            'runtime ' + ' + '.join(runtimes or [self.runtime])
        ]
        if self.fold_bn:
            parts.append('BN folded into convs')
        return ', '.join(parts) + ' (every model alike)'

    def train_step_fn(self, model: nn.Module, x: torch.Tensor):
        """A zero-argument training step: forward, backward, grads freed."""
        params = [p for p in model.parameters() if p.requires_grad]

        def step():
            with self.autocast():
                loss = training_loss(model(x))
            loss.backward()
            for p in params:  # no accumulation across steps or models
                p.grad = None

        return step

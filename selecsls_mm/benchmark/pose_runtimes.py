# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""A pose estimator's network (backbone, neck and head forward) under a
benchmark runtime, inside mmpose's own inference path; flip merging and
grouping stay as they are in eager mode."""
import dataclasses
from typing import Dict

import torch
import torch.nn as nn

from .estimator_patches import MethodPatches
from .settings import BenchmarkSettings


class PoseNetwork(nn.Module):
    """Backbone (+ neck) and head forward of a pose estimator: images to
    raw outputs, without preprocessing, flip test or decoding."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        # The classes' methods: the instance-level wrappers installed by
        # the timers and by RuntimeNetwork must not run (or recurse) here.
        model, head = self.model, self.model.head
        return type(head).forward(head, type(model).extract_feat(model, x))


def deploy_neck_and_head(model: nn.Module, device: torch.device):
    """Switch a pose estimator's neck and head to mmpose's own deploy form,
    the form its exporters use (RTMO's encoder, for one, stores its
    positional encodings for the configured input size only then).

    The same function in eager mode, so it is applied under every runtime
    alike and kept. The backbone is left to ``--deploy``.

    Args:
        model (nn.Module): The estimator; its ``test_cfg`` is passed on.
        device (torch.device): Where buffers created by the switch go.
    """
    for part in (getattr(model, 'neck', None), model.head):
        if part is None:
            continue
        for module in part.modules():
            if callable(getattr(module, 'switch_to_deploy', None)):
                module.switch_to_deploy(model.test_cfg)
        part.to(device)


class RuntimeNetwork:
    """Runs a pose estimator's network (backbone, neck and head forward)
    with a benchmark runtime, inside mmpose's own inference path.

    ``extract_feat`` runs the whole network as one prepared forward (export,
    trace or compile once per input shape) and returns the head's outputs;
    ``head.forward`` hands those outputs on. Everything else (flip merging,
    decoding, grouping) runs as it does in eager mode.

    Args:
        model (nn.Module): The bottom-up estimator, placed.
        settings (BenchmarkSettings): The run's settings.
        runtime (str): A runtime of :data:`.runtimes.RUNTIMES`.
        nchw (bool): Feed this network NCHW input whatever the run's layout
            (the peers marked ``nchw_only``).
    """

    def __init__(self,
                 model: nn.Module,
                 settings: BenchmarkSettings,
                 runtime: str,
                 nchw: bool = False):
        from .runtimes import check_runtime
        check_runtime(runtime, settings)
        if nchw:
            settings = dataclasses.replace(settings, channels_last=False)
        self.settings, self.runtime = settings, runtime
        deploy_neck_and_head(model, settings.device)
        self.network = PoseNetwork(model).eval()
        self.max_rel_diff = 0.0
        self._prepared: Dict[tuple, tuple] = {}
        self._pending: Dict[int, tuple] = {}
        self._patches = MethodPatches()
        self._patches.set(model, 'extract_feat', self.extract_feat)
        self._patches.set(model.head, 'forward', self.head_forward)

    def extract_feat(self, inputs: torch.Tensor) -> tuple:
        from torch.utils._pytree import tree_flatten, tree_unflatten

        from .runtimes import prepare_forward
        x = self.settings.layout(inputs)
        key = (tuple(x.shape), x.stride())
        if key not in self._prepared:
            with torch.inference_mode():
                spec = tree_flatten(self.network(x))[1]
            prepared = prepare_forward(self.network, x, self.settings,
                                       self.runtime)
            self.max_rel_diff = max(self.max_rel_diff, prepared.max_rel_diff)
            self._prepared[key] = (prepared, spec)
        prepared, spec = self._prepared[key]
        # ONNX Runtime returns a flat list of arrays: back to the head's
        # structure, as tensors. Grouping gets them in NCHW and fp32,
        # whatever the network's layout and autocast: mmpose's AE flip
        # merging and grouping took 1.8x as long on channels_last maps (860
        # vs 470 ms, run 5), and its decoders refuse bf16.
        leaves = [
            torch.as_tensor(o).float().contiguous()
            for o in tree_flatten(prepared.call(x))[0]
        ]
        outputs = tuple(tree_unflatten(leaves, spec))
        self._pending[id(outputs[0])] = outputs
        return outputs

    def head_forward(self, feats) -> tuple:
        # The head receives what extract_feat returned (AE's flip-off path
        # turns it into a list first), so its first tensor identifies it.
        return self._pending.pop(id(feats[0]))

    def remove(self):
        self._patches.restore()

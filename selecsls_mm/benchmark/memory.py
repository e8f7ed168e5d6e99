# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Training memory: activations saved for backward, and CUDA peak memory."""
from typing import Callable, Dict, Iterable, Tuple

import torch
import torch.nn as nn
from torch import Tensor


class SavedTensorCounter:
    """Count the bytes autograd saves for backward inside a ``with`` block.

    Uses :func:`torch.autograd.graph.saved_tensors_hooks`, so the count is
    what the graph keeps alive, independent of the hardware and allocator.
    Each storage is counted once, in full: tensors that share storage (an
    in-place ReLU's output and the BN output it overwrote, views, a tensor
    saved by two ops) cost memory once. Storages of ``exclude`` (the
    parameters and buffers: they are not activations) are not counted.
    Tensors saved inside a gradient-checkpointed region are handled by the
    checkpoint's own hooks (innermost hooks win) and are not seen here,
    which is exactly the memory checkpointing saves.

    Args:
        exclude (Iterable[Tensor]): Tensors whose storage is not counted.
    """

    def __init__(self, exclude: Iterable[Tensor] = ()):
        self._exclude = {self._key(t) for t in exclude}
        self.storages: Dict[Tuple[str, int], int] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(
            self._pack, lambda t: t)

    @staticmethod
    def _key(t: Tensor) -> Tuple[str, int]:
        return str(t.device), t.untyped_storage().data_ptr()

    def _pack(self, t: Tensor) -> Tensor:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return t  # no plain storage (e.g. sparse): nothing to count
        key = self._key(t)
        if key[1] and key not in self._exclude:
            self.storages[key] = max(
                self.storages.get(key, 0), storage.nbytes())
        return t

    @property
    def total_bytes(self) -> int:
        return sum(self.storages.values())

    def __enter__(self) -> 'SavedTensorCounter':
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        return self._hooks.__exit__(*exc)


def training_loss(outputs) -> Tensor:
    """A scalar touching every output, to backpropagate through all."""
    if isinstance(outputs, Tensor):
        outputs = (outputs, )
    return sum(o.float().mean() for o in outputs)


def saved_activation_bytes(model: nn.Module, inputs: Tensor) -> int:
    """Bytes saved for backward by one training-mode forward of ``model``.

    Args:
        model (nn.Module): Put in train mode for the forward, then back in
            the mode it had.
        inputs (Tensor): The batch.

    Returns:
        int: Bytes of distinct storages saved, parameters and buffers
        excluded.
    """
    was_training = model.training
    model.train()
    exclude = list(model.parameters()) + list(model.buffers())
    try:
        with torch.enable_grad(), SavedTensorCounter(exclude) as counter:
            outputs = model(inputs)
        del outputs  # frees the graph and what it saved
    finally:
        model.train(was_training)
    return counter.total_bytes


def cuda_peak_training_bytes(step: Callable[[], object],
                             device: torch.device) -> Dict[str, int]:
    """Peak CUDA memory allocated while ``step`` runs once.

    Returns:
        dict: ``peak`` (bytes allocated at the peak, parameters, gradients
        and inputs included) and ``peak_over_start`` (the peak minus what was
        allocated before the step).
    """
    if device.type != 'cuda':
        raise ValueError('peak allocated memory is measured on CUDA only; '
                         f'got device {device}')
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    step()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    return dict(peak=int(peak), peak_over_start=int(peak - start))

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Refuse a checkpoint whose tensors do not fit the model it is loaded into.

mmengine loads checkpoints non-strictly: missing keys, unexpected keys and
size mismatches are log lines, and the run goes on with whatever fitted, so a
checkpoint of another arch still gives a (meaningless) accuracy.
:func:`check_checkpoint_fits` compares the tensors first and raises
:class:`CheckpointMismatchError`, one line naming the arch the checkpoint
says it holds and the first mismatching keys, unless partial loading is
asked for on purpose (e.g. fine-tuning with a new head).
"""
import logging
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch.nn as nn
from mmengine.logging import print_log

# How many keys of each kind the error names.
NUM_SHOWN = 3


class CheckpointMismatchError(ValueError):
    """A checkpoint whose keys or tensor shapes do not fit the model."""


class Mismatch(NamedTuple):
    """What differs between a checkpoint and a model.

    - missing (list[str]): model tensors the checkpoint lacks;
    - unexpected (list[str]): checkpoint tensors the model lacks;
    - shapes (list[tuple]): ``(key, checkpoint shape, model shape)``.
    """
    missing: List[str]
    unexpected: List[str]
    shapes: List[Tuple[str, tuple, tuple]]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shapes)


def checkpoint_state_dict(checkpoint: dict) -> Dict[str, object]:
    """The state dict of a checkpoint (its ``state_dict``, or the dict
    itself), with the ``module.`` prefix of wrapped models dropped, as
    mmengine's loader does."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    return {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}


def _apply_load_pre_hooks(model: nn.Module, state_dict: dict) -> dict:
    """``state_dict`` as the model's load hooks rewrite it before loading
    (e.g. mmpose renaming keys of old checkpoints, dropping stored
    data-preprocessor statistics), on a copy."""
    state_dict = dict(state_dict)
    for prefix, module in model.named_modules():
        prefix = f'{prefix}.' if prefix else ''
        for hook in module._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, {}, True, [], [], [])
    return state_dict


def find_mismatch(model: nn.Module, state_dict: dict) -> Mismatch:
    """Compare a state dict with the tensors ``model`` loads.

    A missing ``num_batches_tracked`` is not counted: batch norm fills it in
    for checkpoints that lack it.

    Args:
        model (nn.Module): The model.
        state_dict (dict): Tensor name -> tensor, as from
            :func:`checkpoint_state_dict`.

    Returns:
        Mismatch: The missing, unexpected and differently shaped keys.
    """
    state_dict = _apply_load_pre_hooks(model, state_dict)
    expected = model.state_dict()
    missing = [
        k for k in expected
        if k not in state_dict and not k.endswith('num_batches_tracked')
    ]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [(k, tuple(v.shape), tuple(expected[k].shape))
              for k, v in state_dict.items()
              if k in expected and hasattr(v, 'shape')
              and tuple(v.shape) != tuple(expected[k].shape)]
    return Mismatch(missing, unexpected, shapes)


def model_arch(model: nn.Module) -> Optional[str]:
    """The arch name of the model's backbone (``backbone.arch_name``, e.g.
    ``'60'`` for SelecSLS), or None."""
    arch = getattr(getattr(model, 'backbone', None), 'arch_name', None)
    return arch if isinstance(arch, str) else None


def _first(keys: list) -> str:
    shown = ', '.join(keys[:NUM_SHOWN])
    return shown + (', ...' if len(keys) > NUM_SHOWN else '')


def describe_mismatch(mismatch: Mismatch) -> str:
    """The mismatch in one clause, naming the first keys of each kind."""
    parts = []
    if mismatch.shapes:
        shown = [
            f'{k} {tuple(a)} in the checkpoint vs {tuple(b)}'
            for k, a, b in mismatch.shapes
        ]
        parts.append(f'{len(mismatch.shapes)} tensors differ in shape '
                     f'({_first(shown)})')
    if mismatch.missing:
        parts.append(f'{len(mismatch.missing)} model tensors are missing '
                     f'({_first(mismatch.missing)})')
    if mismatch.unexpected:
        parts.append(f'{len(mismatch.unexpected)} checkpoint tensors are '
                     f'not in the model ({_first(mismatch.unexpected)})')
    return '; '.join(parts)


def check_checkpoint_fits(model: nn.Module,
                          checkpoint: dict,
                          name: str = 'the checkpoint',
                          allow_partial: bool = False,
                          partial_flag: str = '--allow-partial') -> Mismatch:
    """Refuse a checkpoint whose tensors do not all fit ``model``.

    Args:
        model (nn.Module): The model the checkpoint is for (unwrapped).
        checkpoint (dict): The loaded checkpoint (``meta`` and
            ``state_dict``, or a bare state dict).
        name (str): How to call the checkpoint (its path).
        allow_partial (bool): Load what fits on purpose: a mismatch is then
            logged as a warning instead of raised. Defaults to False.
        partial_flag (str): The option that sets ``allow_partial``, named in
            the error. Defaults to ``'--allow-partial'``.

    Returns:
        Mismatch: What differs (empty when everything fits).

    Raises:
        CheckpointMismatchError: One line with the arch the checkpoint says
            it holds (``meta.arch``), the model's arch and the first
            mismatching keys, unless ``allow_partial``.
    """
    mismatch = find_mismatch(model, checkpoint_state_dict(checkpoint))
    if not mismatch:
        return mismatch
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    held = meta.get('arch')
    wanted = model_arch(model)
    says = (f'it says it holds arch {held!r} (meta.arch)'
            if held is not None else 'it does not say which arch it holds '
            '(no meta.arch)')
    builds = f' and the config builds arch {wanted!r}' \
        if wanted is not None else ''
    message = (f'{name} does not fit the model: {says}{builds}; '
               f'{describe_mismatch(mismatch)}')
    if allow_partial:
        print_log(
            f'{message}; loading only the tensors that fit '
            f'({partial_flag})',
            logger='current',
            level=logging.WARNING)
        return mismatch
    raise CheckpointMismatchError(
        f'{message}. Use the config of the checkpoint\'s model, or pass '
        f'{partial_flag} to load only the tensors that fit (e.g. '
        'fine-tuning a new head).')

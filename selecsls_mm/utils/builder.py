# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Build a model from a config and load a checkpoint into it, strictly."""
import copy

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import CheckpointLoader, load_state_dict
from mmengine.utils import import_modules_from_strings

from .checkpoint_fit import check_checkpoint_fits, checkpoint_state_dict


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` as mmengine's Runner does, outside a Runner.

    ``custom_imports`` are imported; a top-level ``data_preprocessor`` (the
    mmpretrain config layout) is merged into ``model`` unless the model has
    its own, as the Runner does; then the model is built in the config's
    ``default_scope`` (mmpretrain when unset); mmengine imports that scope's
    registry and modules itself, and a scope that is not installed ends in
    the registry's error naming the missing type. The default scope is only
    switched for the build, not left behind.

    Args:
        cfg (Config): A config with ``model``.

    Returns:
        nn.Module: The model, with the weights of its ``init_cfg`` not yet
        loaded (call ``init_weights()`` or load a checkpoint).
    """
    if 'model' not in cfg:
        raise ValueError('the config has no `model` to build')
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope', None) or 'mmpretrain'
    model = copy.deepcopy(cfg.model)
    if isinstance(model, dict) and cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model)


def load_weights(model: nn.Module, checkpoint: dict, name: str = 'checkpoint'):
    """Load ``checkpoint`` into ``model`` strictly.

    Args:
        model (nn.Module): The model.
        checkpoint (dict): A dict with ``state_dict`` (and ``meta``) or a
            bare state dict; a ``module.`` prefix (DDP) is dropped.
        name (str): How to call the checkpoint in errors (its path).

    Raises:
        ValueError: A deploy checkpoint (BN folded) for a BN model.
        CheckpointMismatchError: Keys or shapes that do not fit the model
            (one line naming the checkpoint's arch and the first keys).
    """
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
    backbone_deploy = getattr(getattr(model, 'backbone', None), 'deploy', None)
    if isinstance(meta, dict) and 'deploy' in meta and \
            backbone_deploy is False:
        raise ValueError(
            f'{name} is a deploy checkpoint (BN folded, maybe pruned) but the '
            'config builds the BN model; use the config the deploy tool wrote '
            'next to it (same name, .py)')
    check_checkpoint_fits(model, checkpoint, f'checkpoint {name}')
    load_state_dict(model, checkpoint_state_dict(checkpoint), strict=True)


def load_checkpoint_file(path: str) -> dict:
    """Read a checkpoint file onto the CPU (through the safe loader that
    ``import selecsls_mm`` installs).

    Args:
        path (str): The checkpoint file.

    Returns:
        dict: The checkpoint.
    """
    return CheckpointLoader.load_checkpoint(path, map_location='cpu')

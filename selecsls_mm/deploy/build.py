# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Build a model from a config and load a checkpoint into it, strictly."""
import importlib

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import CheckpointLoader, load_state_dict
from mmengine.utils import import_modules_from_strings


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` in the config's default scope (mmpretrain when
    unset), honouring ``custom_imports``."""
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope', 'mmpretrain')
    try:
        importlib.import_module(f'{scope}.utils').register_all_modules(False)
    except (ImportError, AttributeError):
        pass  # a scope without register_all_modules registers on import
    init_default_scope(scope)
    return MODELS.build(cfg.model)


def load_weights(model: nn.Module, checkpoint: dict, name: str = 'checkpoint'):
    """Load ``checkpoint`` (a dict with ``state_dict`` or a bare state dict)
    into ``model`` strictly, explaining a deploy/BN form mismatch."""
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
    backbone_deploy = getattr(getattr(model, 'backbone', None), 'deploy',
                              None)
    if isinstance(meta, dict) and 'deploy' in meta and \
            backbone_deploy is False:
        raise ValueError(
            f'{name} is a deploy checkpoint (BN folded, maybe pruned) but the '
            'config builds the BN model; use the config tools/deploy.py wrote '
            'next to it (same name, .py)')
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = {k[7:] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    load_state_dict(model, state_dict, strict=True)


def load_checkpoint_file(path: str) -> dict:
    """Read a checkpoint file onto the CPU."""
    return CheckpointLoader.load_checkpoint(path, map_location='cpu')

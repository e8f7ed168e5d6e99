# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The config of a deploy checkpoint: where the source config comes from and
what the written one changes."""
import os.path as osp
import pprint
from typing import Optional

import torch.nn as nn
from mmengine.config import Config

from ..stack import load_config
from ..utils import merge_cfg_options
from ..utils.package_configs import package_config_name


def load_source_config(checkpoint: dict,
                       checkpoint_path: str,
                       config: Optional[str] = None,
                       cfg_options: Optional[dict] = None) -> Config:
    """The config of the model a checkpoint holds.

    Args:
        checkpoint (dict): The loaded checkpoint.
        checkpoint_path (str): Its path, for error messages.
        config (str, optional): A config file; without it, the config that
            mmengine runners store in ``meta['cfg']``.
        cfg_options (dict, optional): Settings merged into the config.

    Returns:
        Config: The config.
    """
    if config:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config {config} does not exist')
        cfg = load_config(config)  # also checks the installed stack
    else:
        meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) \
            else {}
        text = meta.get('cfg') if isinstance(meta, dict) else None
        if not isinstance(text, str):
            raise ValueError(
                f'{checkpoint_path} stores no config in its meta (meta["cfg"]'
                '); pass the config it was trained with: --config CONFIG')
        cfg = Config.fromstring(text, file_format='.py')
    merge_cfg_options(cfg, cfg_options)
    return cfg


def deploy_overrides(model: nn.Module, pruned: bool) -> dict:
    """The ``model`` settings that build the deploy form of ``model``.

    Args:
        model (nn.Module): The model after pruning (widths are read from it).
        pruned (bool): Whether any channel was removed; then the explicit
            widths (``backbone.arch``, ``stem_channels``, the classifier's
            ``head.in_channels``) are written.

    Returns:
        dict: Settings to merge into the config's ``model``.
    """
    backbone = model.backbone
    overrides = dict(backbone=dict(deploy=True))
    if pruned:
        arch = backbone.arch
        overrides['backbone'].update(
            stem_channels=backbone.out_channels[0],
            arch=dict(
                _delete_=True,
                blocks=[list(b) for b in arch['blocks']],
                head=[list(h) for h in arch['head']]))
        head = getattr(model, 'head', None)
        fc = getattr(head, 'fc', None)
        # as prune_classifier: only a linear fc was pruned along (the fc of
        # StackedLinearClsHead is a block)
        if hasattr(head, 'in_channels') and isinstance(fc, nn.Linear):
            overrides['head'] = dict(in_channels=fc.in_features)
    return overrides


def deploy_config_text(base: Optional[str], cfg: Config,
                       overrides: dict) -> str:
    """The text of the deploy config.

    Args:
        base (str, optional): The source config file; the result inherits
            it by a name that survives moving the written files: the
            package-relative ``selecsls_mm::...`` for a config of this
            package (:func:`package_config_name`), else its absolute path.
            None when the config came from a checkpoint's meta or was
            changed by ``cfg_options``: then the whole merged config is
            written.
        cfg (Config): The source config (used when ``base`` is None).
        overrides (dict): From :func:`deploy_overrides`.

    Returns:
        str: The config file's text.
    """
    if base is None:
        merged = Config(cfg.to_dict())
        merged.merge_from_dict(dict(model=overrides))
        return merged.pretty_text
    inherited = package_config_name(base) or osp.abspath(base)
    return ('# Deploy form written by tools/deployment/deploy.py; use it with '
            'the checkpoint of the same name.\n'
            f'_base_ = [{inherited!r}]\n'
            f'model = {pprint.pformat(overrides, width=79, compact=True)}\n')

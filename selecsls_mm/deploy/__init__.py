# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Inference-only forms of SelecSLS: channel pruning, the deploy checkpoint
and config, ONNX export. BN folding lives with the model
(:mod:`selecsls_mm.models.utils`); the names below stay importable here."""
from ..models.utils import (ConvAct, fuse_conv_bn, fuse_conv_module,
                            fuse_conv_modules)
from ..utils import (build_model, complexity, count_macs, count_params,
                     load_checkpoint_file, load_weights)
from .prune import prune_classifier, prune_selecsls

__all__ = [
    'build_model', 'load_checkpoint_file', 'load_weights',
    'complexity', 'count_macs', 'count_params', 'ConvAct', 'fuse_conv_bn',
    'fuse_conv_module', 'fuse_conv_modules', 'prune_classifier',
    'prune_selecsls'
]

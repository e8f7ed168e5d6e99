# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Inference-only forms of SelecSLS: BN folding and channel pruning."""
from .build import build_model, load_checkpoint_file, load_weights
from .complexity import complexity, count_macs, count_params
from .conv_act import ConvAct
from .fuse import fuse_conv_bn, fuse_conv_module, fuse_conv_modules
from .prune import prune_classifier, prune_selecsls

__all__ = [
    'build_model', 'load_checkpoint_file', 'load_weights',
    'complexity', 'count_macs', 'count_params', 'ConvAct', 'fuse_conv_bn',
    'fuse_conv_module', 'fuse_conv_modules', 'prune_classifier',
    'prune_selecsls'
]

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Layers shared by the models: the conv + activation of the deploy form and
the BN folding that produces it."""
from .conv_act import ConvAct
from .fuse import fuse_conv_bn, fuse_conv_module, fuse_conv_modules

__all__ = ['ConvAct', 'fuse_conv_bn', 'fuse_conv_module', 'fuse_conv_modules']

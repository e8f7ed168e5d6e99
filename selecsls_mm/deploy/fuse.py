# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Deprecated location: use ``selecsls_mm.models.utils.fuse``."""
import warnings

from selecsls_mm.models.utils.fuse import (fuse_conv_bn, fuse_conv_module,
                                           fuse_conv_modules)

__all__ = ['fuse_conv_bn', 'fuse_conv_module', 'fuse_conv_modules']

warnings.warn(
    'selecsls_mm.deploy.fuse moved to '
    'selecsls_mm.models.utils.fuse; this alias will be removed',
    DeprecationWarning,
    stacklevel=2)

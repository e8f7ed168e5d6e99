# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Deprecated location: use ``selecsls_mm.utils.builder``."""
import warnings

from selecsls_mm.utils.builder import (build_model, load_checkpoint_file,
                                       load_weights)

__all__ = ['build_model', 'load_checkpoint_file', 'load_weights']

warnings.warn(
    'selecsls_mm.deploy.build moved to '
    'selecsls_mm.utils.builder; this alias will be removed',
    DeprecationWarning,
    stacklevel=2)

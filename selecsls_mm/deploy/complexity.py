# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Deprecated location: use ``selecsls_mm.utils.complexity``."""
import warnings

from selecsls_mm.utils.complexity import complexity, count_macs, count_params

__all__ = ['complexity', 'count_macs', 'count_params']

warnings.warn(
    'selecsls_mm.deploy.complexity moved to '
    'selecsls_mm.utils.complexity; this alias will be removed',
    DeprecationWarning,
    stacklevel=2)

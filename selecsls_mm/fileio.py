# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Deprecated location: use ``selecsls_mm.utils.fileio``."""
import warnings

from selecsls_mm.utils.fileio import atomic_output  # noqa: F401

warnings.warn(
    'selecsls_mm.fileio moved to '
    'selecsls_mm.utils.fileio; this alias will be removed',
    DeprecationWarning,
    stacklevel=2)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Deprecated location: use ``selecsls_mm.models.utils.conv_act``."""
import warnings

from selecsls_mm.models.utils.conv_act import ConvAct  # noqa: F401

warnings.warn(
    'selecsls_mm.deploy.conv_act moved to '
    'selecsls_mm.models.utils.conv_act; this alias will be removed',
    DeprecationWarning,
    stacklevel=2)

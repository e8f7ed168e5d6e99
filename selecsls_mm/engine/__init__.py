# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Runner hooks."""
from .checkpoint_fit_hook import CheckpointFitHook

__all__ = ['CheckpointFitHook']

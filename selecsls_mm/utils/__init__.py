# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Helpers shared by the package, its tools and its tests: one of each."""
from .builder import build_model, load_checkpoint_file, load_weights
from .checkpoint_fit import CheckpointMismatchError, check_checkpoint_fits
from .cli import (cfg_options_dict, error_line, error_message,
                  merge_cfg_options, run_main)
from .compare import max_rel_diff
from .complexity import complexity, count_macs, count_params
from .fileio import atomic_directory, atomic_output
from .tensor_mode import TensorModeWrapper

__all__ = [
    'build_model', 'load_checkpoint_file', 'load_weights',
    'CheckpointMismatchError', 'check_checkpoint_fits', 'cfg_options_dict',
    'error_line', 'error_message', 'merge_cfg_options', 'run_main',
    'max_rel_diff', 'complexity', 'count_macs', 'count_params',
    'atomic_directory', 'atomic_output', 'TensorModeWrapper'
]

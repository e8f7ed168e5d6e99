# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Helpers shared by the package, its tools and its tests: one of each."""
from .builder import build_model, load_checkpoint_file, load_weights
from .cli import (add_cfg_options_argument, error_line, error_message,
                  run_main, run_moved_tool)
from .compare import max_rel_diff
from .complexity import complexity, count_macs, count_params
from .fileio import atomic_directory, atomic_output
from .tensor_mode import TensorModeWrapper

__all__ = [
    'build_model', 'load_checkpoint_file', 'load_weights',
    'add_cfg_options_argument', 'error_line', 'error_message', 'run_main',
    'run_moved_tool', 'max_rel_diff', 'complexity', 'count_macs',
    'count_params', 'atomic_directory', 'atomic_output', 'TensorModeWrapper'
]

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""What the command-line tools share once their arguments are parsed:
``--cfg-options`` merged into the config (``data_root=PATH`` moves every
dataset path), and how a tool ends: an exit code, and a user's mistake as one
line on stderr instead of a traceback."""
import os
import pickle
import sys
from typing import Callable, List, Optional

from mmengine.config import Config, DictAction

from ..stack import MissingDependencyError
from .data_paths import rebase_data_root

# Exceptions that describe bad input (a missing file, a wrong option, a
# checkpoint that does not fit, a package the config needs): the message is
# the whole story. Anything else is a bug and keeps its traceback; so do
# these when the environment variable SELECSLS_MM_TRACEBACK is set.
USER_ERRORS = (OSError, ValueError, TypeError, KeyError,
               pickle.UnpicklingError, MissingDependencyError)


def cfg_options_dict(items: Optional[List[str]]) -> dict:
    """``--cfg-options KEY=VALUE ...`` as a dict for ``cfg.merge_from_dict``,
    values parsed as mmengine's ``DictAction`` does (numbers, booleans,
    ``None``, lists and tuples).

    The tools declare the option with ``nargs='+'`` and convert here, after
    parsing, so that ``--help`` does not wait for mmengine's import.

    Args:
        items (list[str], optional): The ``KEY=VALUE`` strings.

    Returns:
        dict: Key -> parsed value (empty for None).

    Raises:
        ValueError: For an item without ``=``.
    """
    options = {}
    for item in items or []:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ValueError(
                f'--cfg-options {item!r}: give KEY=VALUE pairs, e.g. '
                'train_dataloader.batch_size=8 or key="[a,b]"')
        options[key] = DictAction._parse_iterable(value)
    return options


def merge_cfg_options(cfg: Config, options: Optional[dict]):
    """Merge ``--cfg-options`` (as from :func:`cfg_options_dict`) into
    ``cfg``, in place.

    ``data_root=PATH`` moves every path under the config's dataset root
    (:func:`~selecsls_mm.utils.data_paths.rebase_data_root`); the other
    options are merged after it, so they win over what it moved.

    Args:
        cfg (Config): The loaded config.
        options (dict, optional): Key -> value.
    """
    options = dict(options or {})
    if 'data_root' in options:
        rebase_data_root(cfg, str(options.pop('data_root')))
    if options:
        cfg.merge_from_dict(options)


def error_message(err: BaseException) -> str:
    """The message of ``err`` on one line (its type name when empty).

    Args:
        err (BaseException): The exception.

    Returns:
        str: The message, white space collapsed.
    """
    # KeyError's str() is the repr of its key; show the message itself.
    message = err.args[0] if isinstance(err, KeyError) and err.args else err
    return ' '.join(str(message).split()) or type(err).__name__


def error_line(err: BaseException) -> str:
    """The one line a tool prints for ``err``: ``error: <message>``.

    Args:
        err (BaseException): The exception.

    Returns:
        str: The line, without a newline.
    """
    return f'error: {error_message(err)}'


def run_main(func: Callable[..., Optional[int]], *args) -> int:
    """Run a tool's work and turn its outcome into an exit code.

    A tool parses its arguments first (with the standard library only, so
    ``--help`` is fast), then calls ``run_main(run, args)``. ``func(*args)``
    returns the exit code (None counts as 0). A user error
    (:data:`USER_ERRORS`) prints :func:`error_line` to stderr and gives 1
    (with ``SELECSLS_MM_TRACEBACK=1`` in the environment it propagates);
    other exceptions propagate with their traceback.

    Args:
        func (callable): The tool's work, e.g. ``run(args)``.
        *args: What ``func`` is called with.

    Returns:
        int: The exit code.
    """
    try:
        code = func(*args)
    except USER_ERRORS as err:
        if os.environ.get('SELECSLS_MM_TRACEBACK'):
            raise
        print(error_line(err), file=sys.stderr)
        return 1
    return 0 if code is None else int(code)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""How the command-line tools end: an exit code, and a user's mistake as one
line on stderr instead of a traceback."""
import argparse
import os
import os.path as osp
import pickle
import runpy
import sys
import warnings
from typing import Callable, List, Optional

from mmengine.config import DictAction

from ..stack import MissingDependencyError

# Exceptions that describe bad input (a missing file, a wrong option, a
# checkpoint that does not fit, a package the config needs): the message is
# the whole story. Anything else is a bug and keeps its traceback; so do
# these when the environment variable SELECSLS_MM_TRACEBACK is set.
USER_ERRORS = (OSError, ValueError, TypeError, KeyError,
               pickle.UnpicklingError, MissingDependencyError)


def add_cfg_options_argument(parser: argparse.ArgumentParser,
                             example: str = 'model.backbone.frozen_stages=1'):
    """Add mmengine's ``--cfg-options key=value ...`` (merged into the
    config with ``cfg.merge_from_dict``), the same in every tool.

    Args:
        parser (ArgumentParser): The tool's parser.
        example (str): An example setting for the help text.
    """
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, xxx=yyy pairs merged into the '
        f'config, e.g. {example} or key="[a,b]"; no white space is allowed')


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


def run_main(main: Callable[[Optional[List[str]]], Optional[int]],
             argv: Optional[List[str]] = None) -> int:
    """Run a tool's ``main(argv)`` and turn its outcome into an exit code.

    Use it as ``sys.exit(run_main(main))`` under ``if __name__ ==
    '__main__'``. ``main`` returns its exit code (None counts as 0). A user
    error (:data:`USER_ERRORS`) prints :func:`error_line` to stderr and gives
    1 (with ``SELECSLS_MM_TRACEBACK=1`` in the environment it propagates);
    other exceptions propagate with their traceback.

    Args:
        main (callable): The tool's ``main(argv)``.
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        int: The exit code.
    """
    try:
        code = main(argv)
    except USER_ERRORS as err:
        if os.environ.get('SELECSLS_MM_TRACEBACK'):
            raise
        print(error_line(err), file=sys.stderr)
        return 1
    return 0 if code is None else int(code)


def run_moved_tool(old: str, new: str):
    """Run the tool that moved from ``old`` to ``new`` as ``__main__``, after
    a DeprecationWarning; what ``old`` now holds.

    Args:
        old (str): The old script's ``__file__``.
        new (str): The new script's path relative to the old one's folder,
            e.g. ``'deployment/deploy.py'``.
    """
    folder = osp.dirname(osp.abspath(old))
    target = osp.normpath(osp.join(folder, new))
    shown = osp.join(osp.basename(folder), osp.relpath(target, folder))
    warnings.warn(
        f'{osp.join(osp.basename(folder), osp.basename(old))} moved to '
        f'{shown}; the old path still works but will be removed',
        DeprecationWarning,
        stacklevel=2)
    runpy.run_path(target, run_name='__main__')

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write files atomically: a crash or an error never leaves half a file."""
import contextlib
import os
import os.path as osp
import tempfile
from typing import Iterator


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it is renamed to
    ``path``, on error it is removed and ``path`` is left untouched.

    Args:
        path (str): The final file path. Its folder is created if needed.
    """
    path = osp.abspath(osp.expanduser(path))
    os.makedirs(osp.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=osp.dirname(path))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)

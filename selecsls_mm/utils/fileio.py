# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write files and folders atomically: a crash or an error never leaves half
a file (or a half-filled folder) behind."""
import contextlib
import os
import os.path as osp
import shutil
import tempfile
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) entries; the renamed result gets
# the permissions a plain open()/makedirs() would have given it.
_UMASK = _umask()


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it is renamed to
    ``path``, on error it is removed and ``path`` is left untouched.
    The result has the permissions of the file it replaces, or those the
    umask gives a new file.

    The temporary file keeps the extension of ``path`` (``.onnx``, ``.pth``)
    for writers that look at it, and lives in the same folder, so the final
    rename is atomic.

    Args:
        path (str): The final file path. Its folder is created if needed.

    Yields:
        str: The temporary path to write to.
    """
    path = osp.abspath(osp.expanduser(path))
    folder, name = osp.split(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{name}.', suffix=f'.tmp{osp.splitext(name)[1]}', dir=folder)
    os.close(fd)
    try:
        yield tmp
        mode = os.stat(path).st_mode & 0o7777 if osp.exists(path) else \
            0o666 & ~_UMASK
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yield a temporary folder next to ``path``; on success it is renamed to
    ``path``, on error it is removed with everything in it.

    Args:
        path (str): The final folder; it must not exist when the block ends
            (remove an outdated one first). Its parent is created if needed.

    Yields:
        str: The temporary folder to fill.
    """
    path = osp.abspath(osp.expanduser(path))
    parent, name = osp.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{name}.', suffix='.tmp', dir=parent)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Safe checkpoint loading under torch's ``weights_only=True`` default.

torch >= 2.6 refuses to unpickle anything but tensors and plain containers
unless it is allowlisted. Checkpoints written by mmengine's Runner also hold
the message hub (``HistoryBuffer`` objects, numpy arrays and scalars) and
references to ``HistoryBuffer``'s statistics methods, which pickle protocol 2
stores as ``getattr(HistoryBuffer, 'mean')``. Allowing ``builtins.getattr``
wholesale would let a crafted file reach arbitrary attributes (and from there
run code), so ``getattr`` is replaced, for unpickling only, by a function that
resolves nothing but those statistics methods.

:func:`register_safe_globals` runs on ``import selecsls_mm``; it also routes
mmengine's local-file checkpoint loader through :func:`load_checkpoint_file`
so that a refused file fails with a message that says why.
"""
import io
import os.path as osp
import pickle
import pickletools
import zipfile
from typing import Any, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised for a checkpoint that holds more than tensors and data."""


class UnreadableCheckpointError(ValueError):
    """Raised for a file torch cannot read as a checkpoint (truncated by an
    interrupted download or copy, or another kind of file)."""


def _unreadable(filename: str,
                err: BaseException) -> UnreadableCheckpointError:
    """A one-line error for a checkpoint torch failed to read."""
    reason = str(err).strip().splitlines()[0] if str(err).strip() else \
        type(err).__name__
    size = osp.getsize(filename)
    if zipfile.is_zipfile(filename):
        return UnreadableCheckpointError(
            f'cannot read checkpoint {filename} ({size} bytes): {reason}')
    return UnreadableCheckpointError(
        f'{filename} ({size} bytes) is not a complete torch checkpoint: it is '
        'truncated (e.g. an interrupted download or copy) or not a checkpoint '
        f'at all (torch: {reason}); fetch or save it again')


# bytes read to tell a pickle from another kind of file
_HEAD_BYTES = 1 << 16


def _may_be_checkpoint(filename: str) -> bool:
    """Whether a file torch refused could be a checkpoint at all: a zip
    archive (whole or cut short), an empty file (cut short) or a pickle
    (torch's legacy format starts with one). Other files (text, images)
    are not; nothing in them is run, the first pickle is only parsed."""
    with open(filename, 'rb') as f:
        head = f.read(_HEAD_BYTES)
    if not head or head.startswith(b'PK') or zipfile.is_zipfile(filename):
        return True
    stream = io.BytesIO(head)
    try:
        pickletools.dis(stream, out=io.StringIO())
    except Exception:  # noqa: BLE001  (any parse failure: not a pickle)
        # a pickle longer than the bytes read runs out of them
        return len(head) == _HEAD_BYTES and stream.tell() >= len(head)
    return True


def _not_a_checkpoint(filename: str) -> UnreadableCheckpointError:
    return UnreadableCheckpointError(
        f'{filename} ({osp.getsize(filename)} bytes) is not a PyTorch '
        'checkpoint: it is neither a torch zip archive nor a pickle (e.g. a '
        'text file or an image); give the .pth file that torch.save or '
        'training wrote')


def _refusal_reason(err: BaseException) -> str:
    """torch's reason for refusing a file, without the advice around it
    (which suggests ``weights_only=False`` or allowlisting the object)."""
    advice = ('Weights only load failed', '(1) ', '(2) ',
              'Please file an issue', 'Check the documentation')
    lines = [
        line.strip().replace('WeightsUnpickler error:', '').strip()
        for line in str(err).splitlines()
    ]
    reason = ' '.join(x for x in lines if x and not x.startswith(advice))
    return reason.split(' Please use ', 1)[0] or type(err).__name__


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` while unpickling a checkpoint."""
    if obj is HistoryBuffer and name in _statistics_method_names():
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'the checkpoint asks for getattr({obj!r}, {name!r}); only '
        'HistoryBuffer statistics methods may be resolved while loading')


def _statistics_method_names() -> set:
    # The registry fills in lazily (on the first HistoryBuffer()), so the
    # built-in methods are named here as well.
    return {'min', 'max', 'current', 'mean'} | set(
        HistoryBuffer._statistics_methods)


def _numpy_globals() -> list:
    """numpy types that message-hub scalars and arrays pickle to, under
    both numpy 2 (``numpy._core``) and numpy 1 (``numpy.core``) names."""
    from numpy._core import multiarray
    items: list = [np.ndarray, np.dtype]
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        items.append((multiarray._reconstruct, f'{module}._reconstruct'))
        items.append((multiarray.scalar, f'{module}.scalar'))
    # np.dtype(...) builds instances of per-type subclasses (Float64DType,
    # ...) whose state is then set; those classes must be allowed too.
    for code in '?bBhHiIlLqQefdgFDGUSV':
        items.append(type(np.dtype(code)))
    return items


_registered = False


def register_safe_globals() -> None:
    """Allowlist what mmengine checkpoints need and route mmengine's local
    checkpoint loading through :func:`load_checkpoint_file`. Idempotent."""
    global _registered
    if _registered:
        return
    torch.serialization.add_safe_globals([
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        *_numpy_globals(),
    ])
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_from_local, force=True)
    _registered = True


def load_checkpoint_file(filename: str,
                         map_location: Optional[str] = 'cpu') -> Any:
    """Load a checkpoint with ``weights_only=True`` and the allowlist.

    Args:
        filename (str): Path of a ``.pth`` / ``.pt`` / ``.bin`` file.
        map_location (str, optional): As in :func:`torch.load`.
            Defaults to ``'cpu'``.

    Returns:
        Any: The unpickled checkpoint (usually a dict).

    Raises:
        FileNotFoundError: If the file does not exist.
        UnsafeCheckpointError: If the file holds anything besides tensors,
            containers and the allowlisted types (e.g. code).
        UnreadableCheckpointError: If torch cannot read the file (truncated,
            or not a checkpoint at all: neither a zip archive nor a pickle).
    """
    register_safe_globals()
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if not _may_be_checkpoint(filename):
            raise _not_a_checkpoint(filename) from None
        reason = _refusal_reason(err)
        raise UnsafeCheckpointError(
            f'refusing to load {filename}: it holds objects outside the '
            'allowlist of safe types (tensors, containers, numpy data, '
            f'mmengine HistoryBuffer), so loading it could run code. '
            f'Reason: {reason}. If the file comes from a source you trust, '
            're-save just its state dict (torch.save(model.state_dict(), '
            'path)) and load that.') from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as err:
        if isinstance(err, PermissionError):
            raise
        if not _may_be_checkpoint(filename):
            raise _not_a_checkpoint(filename) from None
        raise _unreadable(filename, err) from None
    except Exception:
        # torch's unpickler fails in other ways on some other files (e.g.
        # IndexError on text)
        if not _may_be_checkpoint(filename):
            raise _not_a_checkpoint(filename) from None
        raise


def _load_from_local(filename: str, map_location=None) -> Any:
    return load_checkpoint_file(filename, map_location)

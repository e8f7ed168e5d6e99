"""Checkpoints load under torch's weights_only=True default through a
narrow allowlist; anything that could run code is refused."""
import datetime
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader, Runner

from selecsls_mm.checkpoint import (UnreadableCheckpointError,
                                    UnsafeCheckpointError,
                                    load_checkpoint_file)
from selecsls_mm.utils import run_main
from helpers import REPO_ROOT, load_tool


class _TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        out = self.linear(inputs)
        return dict(loss=(out**2).mean()) if mode == 'loss' else out


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """A checkpoint written by mmengine's Runner (message hub included)."""
    work_dir = tmp_path_factory.mktemp('runner')
    scopes = set(DefaultScope._instance_dict)
    runner = Runner(
        model=_TinyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=[dict(inputs=torch.randn(2)) for _ in range(4)],
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        log_level='WARNING')
    runner.train()
    # the Runner made 'mmengine' the current default scope: drop it
    for name in set(DefaultScope._instance_dict) - scopes:
        del DefaultScope._instance_dict[name]
    return str(work_dir / 'epoch_1.pth')


def test_runner_checkpoint_loads_with_weights_only(runner_checkpoint):
    ckpt = CheckpointLoader.load_checkpoint(runner_checkpoint)
    buffers = ckpt['message_hub']['log_scalars']
    assert isinstance(buffers['train/loss'], HistoryBuffer)
    assert buffers['train/loss'].mean() > 0
    # plain torch.load (weights_only=True by default) works as well
    assert 'state_dict' in torch.load(runner_checkpoint)


class _RunsCode:

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode(marker)}, path)
    for load in (load_checkpoint_file, CheckpointLoader.load_checkpoint):
        with pytest.raises(
                UnsafeCheckpointError, match='refusing to load.*posix.system'):
            load(str(path))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    assert not marker.exists()


class _Getattr:
    """Pickles as ``getattr(obj, name)``."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


# Public attributes of allowlisted classes that are not HistoryBuffer's
# statistics methods: the allowlisted getattr must not resolve them.
@pytest.mark.parametrize('obj, name', [
    (HistoryBuffer, '__init__'),
    (HistoryBuffer, 'update'),
    (HistoryBuffer, 'register_statistics'),
    (HistoryBuffer, 'statistics'),
    (np.ndarray, 'mean'),
    (np.ndarray, 'tofile'),
])
def test_getattr_is_limited_to_statistics_methods(tmp_path, obj, name):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _Getattr(obj, name)}, path)
    with pytest.raises(
            UnsafeCheckpointError,
            match=rf"getattr\(.*{obj.__name__}.*'{name}'\)"):
        load_checkpoint_file(str(path))


@pytest.mark.parametrize('name', ['mean', 'min', 'max', 'current'])
def test_statistics_methods_resolve(tmp_path, name):
    path = tmp_path / 'stat.pth'
    torch.save({'x': _Getattr(HistoryBuffer, name)}, path)
    assert load_checkpoint_file(str(path))['x'] is getattr(HistoryBuffer, name)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth does not exist'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))


# Runs in a fresh interpreter, where no HistoryBuffer was created yet (its
# registry of statistics methods fills on the first HistoryBuffer()).
_FRESH_LOAD = """
import sys
from mmengine.logging import HistoryBuffer
import selecsls_mm
from selecsls_mm.checkpoint import load_checkpoint_file
assert not HistoryBuffer._statistics_methods, 'a HistoryBuffer exists'
ckpt = load_checkpoint_file(sys.argv[1])
buffer = ckpt['message_hub']['log_scalars']['train/loss']
for path in sys.argv[2:]:
    print(sorted((k, str(v)) for k, v in load_checkpoint_file(path).items()))
print('loaded', type(buffer).__name__, buffer.mean() > 0)
"""

# numpy data as message hubs hold it: arrays and scalars of several dtypes.
_NUMPY_DATA = dict(
    f32=np.arange(3, dtype=np.float32),
    u8=np.arange(2, dtype=np.uint8),
    f64=np.float64(1.5),
    i64=np.int64(7),
    ok=np.bool_(True),
    # an array of every dtype kind numpy pickles (each has its own class);
    # V4, not V0, whose empty data pickles as a call of bytes()
    **{
        f'dtype {code}': np.zeros(1, code.replace('V', 'V4'))
        for code in '?bBhHiIlLqQefdgFDGUSV'
    })


def _numpy_checkpoints(folder):
    """The same numpy data saved as numpy 2 pickles it
    (``numpy._core.multiarray``) and as numpy 1 did (``numpy.core``)."""
    np2, np1 = folder / 'numpy2.pth', folder / 'numpy1.pth'
    # the legacy format is one plain pickle: its global names are text
    torch.save(_NUMPY_DATA, np2, _use_new_zipfile_serialization=False)
    data = np2.read_bytes()
    assert data.count(b'numpy._core.multiarray') == 2
    np1.write_bytes(
        data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))
    return [str(np2), str(np1)]


def test_runner_checkpoint_loads_in_a_fresh_process(runner_checkpoint,
                                                    tmp_path):
    """The allowlist works in a process that never made a HistoryBuffer
    (e.g. tools/test.py on a training checkpoint), not only after one, and
    takes numpy data pickled by numpy 1 and 2. (``-P``: the package is
    imported as installed, or from PYTHONPATH, not from the current folder,
    so make mutate's mutated copy is what runs. Loading the files here as
    well lets mutmut see which loading code this test reaches.)"""
    numpy_files = _numpy_checkpoints(tmp_path)
    here = [load_checkpoint_file(path) for path in numpy_files]
    assert load_checkpoint_file(runner_checkpoint)['message_hub']
    command = [
        sys.executable, '-P', '-c', _FRESH_LOAD, runner_checkpoint,
        *numpy_files
    ]
    proc = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = str(sorted((k, str(v)) for k, v in _NUMPY_DATA.items()))
    assert [str(sorted((k, str(v)) for k, v in d.items()))
            for d in here] == [expected, expected]
    assert proc.stdout.splitlines() == [
        expected, expected, 'loaded HistoryBuffer True'
    ]


@pytest.fixture
def unregistered():
    """A process as before ``import selecsls_mm``: torch's allowlist empty,
    mmengine's local loader its own; both restored afterwards."""
    from selecsls_mm import checkpoint
    allowed = torch.serialization.get_safe_globals()
    local_loader = CheckpointLoader._schemes['']
    torch.serialization.clear_safe_globals()
    CheckpointLoader.register_scheme('', loader=torch.load, force=True)
    checkpoint._registered = False
    yield checkpoint.register_safe_globals
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(allowed)
    CheckpointLoader.register_scheme('', loader=local_loader, force=True)
    checkpoint._registered = True


def test_registration_alone_makes_checkpoints_load(unregistered, tmp_path,
                                                   runner_checkpoint):
    """What ``import selecsls_mm`` registers is all a Runner checkpoint and
    numpy 1 / 2 data need, loaded through mmengine's own loader (which then
    refuses code in our one line)."""
    unregistered()
    expected = sorted((k, str(v)) for k, v in _NUMPY_DATA.items())
    for path in _numpy_checkpoints(tmp_path):
        loaded = CheckpointLoader.load_checkpoint(path)
        assert sorted((k, str(v)) for k, v in loaded.items()) == expected
    ckpt = CheckpointLoader.load_checkpoint(runner_checkpoint)
    assert ckpt['message_hub']['log_scalars']['train/loss'].mean() > 0
    torch.save({'x': _RunsCode(tmp_path / 'pwned')}, tmp_path / 'evil.pth')
    with pytest.raises(UnsafeCheckpointError, match='^refusing to load'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'evil.pth'))


def test_unreadable_file_is_not_called_truncated(tmp_path, monkeypatch,
                                                 capsys):
    """A file the user may not read says so; "truncated, fetch it again"
    would send them to download a good file again. (The test runs as root
    here, where chmod 000 does not stop reading: torch.load fails the way
    open() does.)"""
    path = tmp_path / 'model.pth'
    torch.save({'state_dict': {}}, path)

    def denied(*args, **kwargs):
        raise PermissionError(13, 'Permission denied', str(path))

    monkeypatch.setattr(torch, 'load', denied)
    with pytest.raises(PermissionError):
        load_checkpoint_file(str(path))
    assert run_main(lambda: load_checkpoint_file(str(path))) == 1
    err = capsys.readouterr().err
    assert err == f"error: [Errno 13] Permission denied: '{path}'\n"


def test_tool_refuses_code_in_one_line(tmp_path, capsys):
    """A tool given a checkpoint that carries code ends with exit code 1,
    one line naming the refusal, no traceback, nothing run or written."""
    marker, src = tmp_path / 'pwned', tmp_path / 'evil.pth'
    torch.save({'stem.0.weight': torch.zeros(1), 'x': _RunsCode(marker)}, src)
    convert = load_tool('model_converters/convert_weights')
    assert run_main(convert.main, [str(src), str(tmp_path / 'out.pth')]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'error: refusing to load {src}: it holds objects '
                          'outside the allowlist')
    assert err.count('\n') == 1 and 'posix.system' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['evil.pth']


def test_tensors_load_on_the_cpu_and_as_mmengine_asks(tmp_path):
    """A plain load gives the saved tensors on the CPU; mmengine's loader
    passes its map_location on (here 'meta': shapes without data)."""
    path = tmp_path / 'weights.pth'
    torch.save({'w': torch.arange(4.)}, path)
    loaded = load_checkpoint_file(str(path))
    assert loaded['w'].device.type == 'cpu'
    assert torch.equal(loaded['w'], torch.arange(4.))
    meta = CheckpointLoader.load_checkpoint(str(path), map_location='meta')
    assert meta['w'].device.type == 'meta' and meta['w'].shape == (4, )


def test_code_is_refused_even_when_torch_is_told_to_allow_it(
        tmp_path, monkeypatch):
    """TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 turns torch.load's default
    weights_only check off; checkpoints loaded here stay checked."""
    marker, path = tmp_path / 'pwned', tmp_path / 'evil.pth'
    torch.save({'x': _RunsCode(marker)}, path)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint_file(str(path))
    assert not marker.exists()


def test_refusal_is_one_line_without_torchs_advice(tmp_path):
    """The refusal names the blocked object and the safe way out, on one
    line, and none of torch's advice (which suggests weights_only=False)."""
    path = tmp_path / 'evil.pth'
    torch.save({'x': _RunsCode(tmp_path / 'pwned')}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(str(path))
    msg = str(info.value)
    assert '\n' not in msg
    assert msg.startswith(f'refusing to load {path}: it holds objects ')
    assert msg.endswith(
        'so loading it could run code. Reason: Trying to load unsupported '
        'GLOBAL posix.system whose module posix is blocked.. If the file '
        'comes from a source you trust, re-save just its state dict '
        '(torch.save(model.state_dict(), path)) and load that.')
    # a class torch does not block but does not allow either: torch wraps
    # this reason in advice to set weights_only=False
    path = tmp_path / 'date.pth'
    torch.save({'x': datetime.date(2026, 1, 1)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(str(path))
    assert '\n' not in str(info.value) and 'weights_only' not in str(
        info.value)
    assert 'Reason: Unsupported global: GLOBAL datetime.date was not an ' \
        'allowed global by default.. If the file' in str(info.value)
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _Getattr(HistoryBuffer, 'update')}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(str(path))
    assert str(info.value).count('\n') == 0 and str(info.value).endswith(
        "Reason: the checkpoint asks for getattr(<class "
        "'mmengine.logging.history_buffer.HistoryBuffer'>, 'update'); only "
        'HistoryBuffer statistics methods may be resolved while loading. If '
        'the file comes from a source you trust, re-save just its state dict '
        '(torch.save(model.state_dict(), path)) and load that.')


# torch's first line of reason for an empty, a half-copied and a foreign
# zip file (a text file is not a checkpoint at all: see below)
_UNREADABLE = {
    'empty': (b'', '(torch: EOFError)'),
    'half': (None, '(torch: PytorchStreamReader failed reading zip archive: '
             'failed finding central directory. '),
    'zip': (None, ': [enforce fail at inline_container.cc:180] . file in '
            'archive is not in a subdirectory: a.txt'),
}
_NOT_COMPLETE = ('is not a complete torch checkpoint: it is truncated (e.g. '
                 'an interrupted download or copy) or not a checkpoint at all')


@pytest.mark.parametrize('kind', list(_UNREADABLE))
def test_unreadable_file_is_one_line_with_its_size(tmp_path, kind):
    """One line naming the file, its size and torch's first line of
    reason, and the fix for a file that is not a torch zip archive."""
    content, reason = _UNREADABLE[kind]
    path = tmp_path / 'model.pth'
    if kind == 'half':
        torch.save({'w': torch.ones(3)}, path)
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    elif kind == 'zip':
        with zipfile.ZipFile(path, 'w') as archive:
            archive.writestr('a.txt', 'hi')
    else:
        path.write_bytes(content)
    size = path.stat().st_size
    with pytest.raises(UnreadableCheckpointError) as info:
        load_checkpoint_file(str(path))
    msg = str(info.value)
    assert '\n' not in msg and reason in msg
    if kind == 'zip':
        assert msg.startswith(f'cannot read checkpoint {path} ({size} bytes)')
    else:
        assert msg.startswith(f'{path} ({size} bytes) {_NOT_COMPLETE} ')
        assert msg.endswith('; fetch or save it again')


# Files that are no checkpoint at all. torch's weights-only unpickler reads
# their bytes as pickle opcodes and fails on the first it cannot take: as a
# blocked global for most (which read as a refusal of code), with an
# IndexError for some text.
_NOT_CHECKPOINTS = {
    'text': b'hello\n',
    'sentence': b'these are no weights\n',
    'html': b'<html><body>404 Not Found</body></html>\n',
    'json': b'{"fx": 1145}\n',
    'jpeg': bytes.fromhex('ffd8ffe000104a46494600010100000100010000ffdb'),
    'png': bytes.fromhex('89504e470d0a1a0a0000000d49484452'),
}


@pytest.mark.parametrize('kind', list(_NOT_CHECKPOINTS))
def test_file_that_is_no_checkpoint_is_named_so(tmp_path, kind, capsys):
    """A text file or an image named .pth: one line saying it is not a
    PyTorch checkpoint, not a refusal of code (nor a traceback)."""
    path = tmp_path / 'x.pth'
    path.write_bytes(_NOT_CHECKPOINTS[kind])
    assert run_main(lambda: load_checkpoint_file(str(path))) == 1
    size = path.stat().st_size
    assert capsys.readouterr().err == (
        f'error: {path} ({size} bytes) is not a PyTorch checkpoint: it is '
        'neither a torch zip archive nor a pickle (e.g. a text file or an '
        'image); give the .pth file that torch.save or training wrote\n')


@pytest.mark.parametrize('kind', ['legacy', 'pickle0', 'pickle2', 'large'])
def test_code_in_any_pickle_is_still_refused_as_code(tmp_path, kind):
    """Pickles that are not zip archives (torch's legacy format, plain
    pickles of protocol 0 and 2, one longer than the bytes read to tell a
    pickle) are refused as code, not called "not a checkpoint"."""
    path, marker = tmp_path / 'evil.pth', tmp_path / 'pwned'
    data = {'x': _RunsCode(marker)}
    if kind == 'legacy':
        torch.save(data, path, _use_new_zipfile_serialization=False)
    elif kind == 'large':
        data = {'w': 'x' * 200000, **data}
        path.write_bytes(pickle.dumps(data, protocol=0))
    else:
        path.write_bytes(pickle.dumps(data, protocol=int(kind[-1])))
    with pytest.raises(UnsafeCheckpointError, match='^refusing to load'):
        load_checkpoint_file(str(path))
    assert not marker.exists()

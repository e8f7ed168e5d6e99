"""Checkpoints load under torch's weights_only=True default through a
narrow allowlist; anything that could run code is refused."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader, Runner

from selecsls_mm.checkpoint import UnsafeCheckpointError, load_checkpoint_file
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
print('loaded', type(buffer).__name__, buffer.mean() > 0)
"""


def test_runner_checkpoint_loads_in_a_fresh_process(runner_checkpoint):
    """The allowlist works in a process that never made a HistoryBuffer
    (e.g. tools/test.py on a training checkpoint), not only after one."""
    proc = subprocess.run(
        [sys.executable, '-c', _FRESH_LOAD, runner_checkpoint],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1] == 'loaded HistoryBuffer True'


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

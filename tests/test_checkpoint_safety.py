"""Checkpoints load under torch's weights_only=True default through a
narrow allowlist; anything that could run code is refused."""
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader, Runner

from selecsls_mm.checkpoint import UnsafeCheckpointError, load_checkpoint_file


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
        model=_TinyModel(), work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=[dict(inputs=torch.randn(2)) for _ in range(4)],
            batch_size=2, num_workers=0,
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


class _ReachesThroughGetattr:
    """Pickles as getattr(HistoryBuffer, '__init__'): the allowlisted
    getattr must resolve only HistoryBuffer's statistics methods."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode(marker)}, path)
    for load in (load_checkpoint_file, CheckpointLoader.load_checkpoint):
        with pytest.raises(UnsafeCheckpointError,
                           match='refusing to load.*posix.system'):
            load(str(path))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    assert not marker.exists()


def test_getattr_is_limited_to_statistics_methods(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _ReachesThroughGetattr()}, path)
    with pytest.raises(UnsafeCheckpointError,
                       match=r"getattr\(.*HistoryBuffer.*'__init__'\)"):
        load_checkpoint_file(str(path))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth does not exist'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))

"""A checkpoint that does not fit the config's model gives one line, never a
number: the check itself, and each tool that loads checkpoints (test, train
with load_from and --resume, ONNX export); ``--allow-partial`` loads what
fits on purpose (a new head)."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from test_train_test_tools import DIGITS_CFG, make_digits

from selecsls_mm.utils import (CheckpointMismatchError, build_model,
                               check_checkpoint_fits)
from helpers import REPO_ROOT


def classifier(config: str, **backbone):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    cfg.model.backbone.update(backbone)
    return build_model(cfg)


def save(model, path, **meta) -> str:
    torch.save(dict(meta=meta, state_dict=model.state_dict()), path)
    return str(path)


def test_mismatch_names_the_arch_and_the_first_keys():
    model = classifier('selecsls42_digits.py')
    other = classifier('selecsls/selecsls42b_8xb32_in1k.py')
    checkpoint = dict(meta=dict(arch='42b'), state_dict=other.state_dict())
    with pytest.raises(CheckpointMismatchError) as err:
        check_checkpoint_fits(model, checkpoint, 'checkpoint x.pth')
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith(
        "checkpoint x.pth does not fit the model: it says it holds arch "
        "'42b' (meta.arch) and the config builds arch '42'")
    assert '2 tensors differ in shape (head.fc.weight (1000, 1024) in the ' \
        'checkpoint vs (10, 480), head.fc.bias' in message
    assert '24 checkpoint tensors are not in the model ' \
        '(backbone.head1.0.conv.weight,' in message
    assert '--allow-partial' in message
    # on purpose: a warning, and what differs is returned
    mismatch = check_checkpoint_fits(
        model, checkpoint, 'x.pth', allow_partial=True)
    assert len(mismatch.shapes) == 2 and len(mismatch.unexpected) == 24


def test_fitting_checkpoints_pass():
    model = classifier('selecsls42_digits.py')
    state = model.state_dict()
    assert not check_checkpoint_fits(model, dict(state_dict=state))
    # DDP's prefix, a bare state dict, and a missing num_batches_tracked
    # (batch norm fills it in) all load
    wrapped = {f'module.{k}': v for k, v in state.items()}
    assert not check_checkpoint_fits(model, wrapped)
    lean = {
        k: v
        for k, v in state.items() if not k.endswith('num_batches_tracked')
    }
    assert not check_checkpoint_fits(model, dict(state_dict=lean))
    # a missing tensor does not
    del lean['backbone.stem.conv.weight']
    with pytest.raises(
            CheckpointMismatchError,
            match=r'no meta\.arch.*1 model tensors are missing '
            r'\(backbone\.stem\.conv\.weight\)'):
        check_checkpoint_fits(model, dict(state_dict=lean))


def test_the_model_s_load_hooks_rename_keys_first():
    """Keys a model's load pre-hooks rewrite (mmpose renames those of old
    checkpoints, drops stored data-preprocessor statistics) are compared
    after the rewrite, as loading sees them."""

    class Renaming(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(2, 3)
            self._register_load_state_dict_pre_hook(self._rename)

        @staticmethod
        def _rename(state_dict, prefix, *args):
            for key in [k for k in state_dict if k.startswith('old_head.')]:
                state_dict['head.' + key[9:]] = state_dict.pop(key)

    model = Renaming()
    old = {f'old_{k}': v for k, v in model.state_dict().items()}
    assert not check_checkpoint_fits(model, dict(state_dict=old))
    model.load_state_dict(old)  # what torch itself accepts
    assert set(old) == {'old_head.weight', 'old_head.bias'}  # not modified


def _run(*args):
    return subprocess.run([sys.executable, *args],
                          cwd=REPO_ROOT,
                          text=True,
                          capture_output=True,
                          timeout=900)


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    """Tiny digits data and three checkpoints: the digits model's own, a
    42b ImageNet classifier's (another arch) and a 42 ImageNet classifier's
    (same backbone, 1000-class head)."""
    root = tmp_path_factory.mktemp('fit')
    return dict(
        root=root,
        data=str(make_digits(root / 'data')),
        arch_42b=save(
            classifier('selecsls/selecsls42b_8xb32_in1k.py'),
            root / '42b.pth',
            arch='42b'),
        head_1000=save(
            classifier('selecsls/selecsls42_8xb32_in1k.py', out_indices=(3, )),
            root / '42_in1k.pth',
            arch='42'))


def one_error_line(proc) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


@pytest.mark.slow
def test_test_tool_refuses_another_arch(digits):
    proc = _run('tools/test.py', DIGITS_CFG, digits['arch_42b'], '--work-dir',
                str(digits['root'] / 'test'), '--cfg-options',
                f'data_root={digits["data"]}')
    line = one_error_line(proc)
    assert line.startswith(f'error: checkpoint {digits["arch_42b"]} does '
                           "not fit the model: it says it holds arch '42b'")
    assert 'accuracy' not in proc.stdout


@pytest.mark.slow
def test_train_tool_checks_load_from_and_resume(digits):
    work = digits['root'] / 'train'
    common = [
        'tools/train.py', DIGITS_CFG, '--work-dir',
        str(work), '--cfg-options', f'data_root={digits["data"]}',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'param_scheduler.1.end=1',
        'param_scheduler.1.T_max=1', f'load_from={digits["head_1000"]}'
    ]
    # the 1000-class head does not fit the 10-class one: refused ...
    line = one_error_line(_run(*common))
    assert "holds arch '42' (meta.arch)" in line and 'head.fc.weight' in line
    assert not (work / 'epoch_1.pth').exists()
    # ... unless a new head is fine-tuned on purpose
    proc = _run(*common, '--allow-partial')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / 'epoch_1.pth').is_file()
    assert 'loading only the tensors that fit (--allow-partial)' in \
        proc.stdout + proc.stderr
    # resuming from another arch's checkpoint is refused too
    line = one_error_line(
        _run('tools/train.py', DIGITS_CFG, '--work-dir', str(work), '--resume',
             digits['arch_42b'], '--cfg-options',
             f'data_root={digits["data"]}'))
    assert f'checkpoint {digits["arch_42b"]} does not fit' in line


@pytest.mark.slow
def test_onnx_export_refuses_another_arch(digits, tmp_path):
    out = tmp_path / 'x.onnx'
    line = one_error_line(
        _run('tools/deployment/export_onnx.py', DIGITS_CFG, digits['arch_42b'],
             str(out)))
    assert "holds arch '42b'" in line and "builds arch '42'" in line
    assert not out.exists()

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The command-line tools behave alike: moved tools still run from their old
paths (with a DeprecationWarning), and bad input ends with exit code 1 and
one line on stderr, writing nothing."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from helpers import REPO_ROOT

MOVED = {
    'tools/convert_weights.py': 'tools/model_converters/convert_weights.py',
    'tools/deploy.py': 'tools/deployment/deploy.py',
    'tools/export_onnx.py': 'tools/deployment/export_onnx.py',
}


def _run(*args):
    return subprocess.run([sys.executable, *args],
                          cwd=REPO_ROOT,
                          text=True,
                          capture_output=True,
                          timeout=300)


def _stderr_lines(proc):
    # Python prints a DeprecationWarning as two lines (message, source line).
    return [
        line for line in proc.stderr.splitlines() if line.strip()
        and 'DeprecationWarning' not in line and 'run_moved_tool(' not in line
    ]


@pytest.mark.slow
@pytest.mark.parametrize('old', sorted(MOVED))
def test_moved_tool_runs_from_old_path(old):
    new = _run(MOVED[old], '--help')
    assert new.returncode == 0 and 'usage:' in new.stdout
    assert 'Deprecat' not in new.stderr
    aliased = _run(old, '--help')
    assert aliased.returncode == 0
    assert aliased.stdout == new.stdout  # the same tool, same flags
    assert f'DeprecationWarning: {old} moved to {MOVED[old]}' in \
        aliased.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    'tool',
    ['tools/model_converters/convert_weights.py', 'tools/convert_weights.py'])
def test_truncated_checkpoint_is_one_line_error(tool, tmp_path):
    src, dst = tmp_path / 'selecsls60.pth', tmp_path / 'out.pth'
    torch.save({'stem.0.weight': torch.randn(32, 3, 3, 3)}, src)
    data = src.read_bytes()
    src.write_bytes(data[:len(data) // 2])  # an interrupted download
    proc = _run(tool, str(src), str(dst))
    assert proc.returncode == 1
    lines = _stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f'error: {src}') and 'truncated' in lines[0]
    assert 'Traceback' not in proc.stderr
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) \
        == ['selecsls60.pth']


@pytest.mark.slow
def test_deploy_and_export_bad_input_is_one_line_error(tmp_path):
    missing = tmp_path / 'missing.pth'
    proc = _run('tools/deployment/deploy.py', str(missing),
                str(tmp_path / 'out.pth'))
    assert proc.returncode == 1
    assert _stderr_lines(proc) == [
        f'error: checkpoint {missing} does not '
        'exist'
    ]
    config = osp.join(REPO_ROOT, 'configs', 'selecsls42_imagenet.py')
    proc = _run('tools/deployment/export_onnx.py', config, str(missing),
                str(tmp_path / 'out.onnx'))
    assert proc.returncode == 1
    assert _stderr_lines(proc) == [f'error: {missing} does not exist']
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_get_flops_counts_the_config_model():
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    config = osp.join('configs', 'selecsls42_digits.py')
    proc = _run('tools/analysis_tools/get_flops.py', config, '--shape', '32',
                '32', '--shape', '64', '48')
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if 'GMACs' in line]
    assert [line.split(':')[0] for line in lines] == \
        [f'{config} at 32x32', f'{config} at 64x48']
    model = MODELS.build(Config.fromfile(osp.join(REPO_ROOT, config)).model)
    params = sum(p.numel() for p in model.parameters())
    assert all(f'{params / 1e6:.2f} M parameters' in line for line in lines)
    macs = [int(line.split('(')[1].split()[0]) for line in lines]
    # 64x48 has three times the pixels of 32x32; only the linear head after
    # global pooling (10 classes x 480 features) does not scale.
    head = 10 * 480
    assert macs[1] - head == 3 * (macs[0] - head)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The command-line tools behave alike: ``--help`` answers before any heavy
import, and bad input ends with exit code 1 and one line on stderr, writing
nothing."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from helpers import REPO_ROOT

TOOLS = [
    'tools/train.py', 'tools/test.py', 'tools/benchmark.py',
    'tools/digits_demo.py', 'tools/pose_demo.py', 'tools/pose3d_demo.py',
    'tools/analysis_tools/get_flops.py',
    'tools/model_converters/convert_weights.py', 'tools/deployment/deploy.py',
    'tools/deployment/export_onnx.py', 'tools/deployment/quantize.py'
]
# What takes seconds to import; --help must not wait for any of it.
HEAVY = ('torch', 'numpy', 'mmengine', 'mmcv', 'mmpretrain', 'mmpose',
         'selecsls_mm')
HELP_IMPORTS = """
import runpy, sys
sys.argv = [sys.argv[1], '--help']
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
print(sorted({m.split('.')[0] for m in sys.modules} & set(%r)))
""" % (HEAVY, )


def _run(*args):
    return subprocess.run([sys.executable, *args],
                          cwd=REPO_ROOT,
                          text=True,
                          capture_output=True,
                          timeout=300)


def _stderr_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize('tool', TOOLS)
def test_help_imports_nothing_heavy(tool):
    """--help is answered from the standard library alone (under 1 s),
    not after seconds of importing torch and the OpenMMLab packages."""
    proc = _run('-c', HELP_IMPORTS, tool)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = proc.stdout.splitlines()[-1]
    assert 'usage:' in proc.stdout and proc.stderr == ''
    assert imported == '[]', f'{tool} --help imported {imported}'


def test_tool_choices_match_the_package():
    """Choices the tools spell out (to parse without importing the
    package) are the package's."""
    from selecsls_mm.benchmark import RUNTIMES
    from selecsls_mm.benchmark.pose3d import FORMS
    from selecsls_mm.deploy.quantize import CALIBRATION_METHODS
    for tool, option, names in (('tools/benchmark.py', '--runtime', RUNTIMES),
                                ('tools/benchmark.py', '--pose3d', FORMS),
                                ('tools/deployment/quantize.py',
                                 '--calib-method', CALIBRATION_METHODS)):
        proc = _run(tool, option, 'no-such-choice')
        assert proc.returncode == 2
        assert 'choose from ' + ', '.join(repr(n) for n in names) in \
            proc.stderr, proc.stderr


@pytest.mark.slow
def test_truncated_checkpoint_is_one_line_error(tmp_path):
    tool = 'tools/model_converters/convert_weights.py'
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
    config = osp.join(REPO_ROOT, 'configs', 'selecsls',
                      'selecsls42_8xb32_in1k.py')
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
    # one size (square) or two, as mmpretrain's get_flops.py
    proc = _run('tools/analysis_tools/get_flops.py', config, '--shape', '32',
                '--shape', '64', '48')
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

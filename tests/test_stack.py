"""A config the installed stack cannot run ends in one sentence saying what
to install (issue 9): a model only newer mmpose has, mmcv ops on mmcv-lite,
an mmdet config without mmdet."""
import subprocess
import sys
import tempfile

import pytest
from mmengine.config import Config

from selecsls_mm import stack
from selecsls_mm.stack import MissingDependencyError, check_config
from helpers import REPO_ROOT

MMPOSE = stack.installed_version('mmpose')
OLD_MMPOSE = MMPOSE is not None and stack._version_tuple(MMPOSE) < (1, 2)

# The parts of mmpose 1.3's RTMO and DEKR configs that matter here.
RTMO = dict(
    default_scope='mmpose',
    model=dict(
        type='BottomupPoseEstimator',
        backbone=dict(type='CSPDarknet', deepen_factor=0.33),
        neck=dict(type='HybridEncoder', in_channels=[256, 512]),
        head=dict(type='RTMOHead', num_keypoints=17)))
DEKR = dict(
    default_scope='mmpose',
    model=dict(
        type='BottomupPoseEstimator',
        backbone=dict(type='HRNet'),
        head=dict(type='DEKRHead', in_channels=480, num_keypoints=17)))


def fake_stack(monkeypatch, mmpose: str, ops: bool):
    versions = {'mmpose': mmpose, 'mmcv': '2.1.0', 'mmcv-lite': '2.1.0'}
    monkeypatch.setattr(stack, 'installed_version', versions.get)
    monkeypatch.setattr(stack, 'mmcv_has_ops', lambda: ops)
    monkeypatch.setattr(stack, 'require_pose', lambda: None)


def test_rtmo_on_mmpose_11_names_the_fix(monkeypatch):
    fake_stack(monkeypatch, mmpose='1.1.0', ops=False)
    with pytest.raises(MissingDependencyError) as err:
        check_config(Config(RTMO))
    message = str(err.value)
    # the first type mmpose 1.1 lacks, the installed version, and the fix
    assert 'is not in mmpose 1.1.0' in message
    assert message.split('`')[1] in {'CSPDarknet', 'HybridEncoder', 'RTMOHead'}
    assert 'make env-full' in message and '\n' not in message


def test_mmengine_names_pass_on_mmpose_11(monkeypatch):
    # mmpose 1.3 re-registers mmengine's ConstantLR; a 1.1 config reaches
    # mmengine's own through the root registry, so it must not be refused.
    fake_stack(monkeypatch, mmpose='1.1.0', ops=False)
    check_config(
        Config(
            dict(
                default_scope='mmpose',
                param_scheduler=[dict(type='ConstantLR', factor=1.0)])))


def test_rtmo_on_mmpose_13_passes(monkeypatch):
    fake_stack(monkeypatch, mmpose='1.3.2', ops=True)
    check_config(Config(RTMO))


def test_dekr_needs_mmcv_ops(monkeypatch):
    fake_stack(monkeypatch, mmpose='1.1.0', ops=False)
    with pytest.raises(MissingDependencyError, match='`DEKRHead` needs mmcv'):
        check_config(Config(DEKR))
    fake_stack(monkeypatch, mmpose='1.1.0', ops=True)
    check_config(Config(DEKR))


def test_scope_prefixed_types_are_checked(monkeypatch):
    """``type='mmpose.DEKRHead'`` (a scope prefix, as configs write to reach
    another package's registry) is the same DEKRHead: it needs mmcv's ops
    and is refused on mmcv-lite like the plain name."""
    fake_stack(monkeypatch, mmpose='1.1.0', ops=False)
    head = dict(type='mmpose.DEKRHead', in_channels=480, num_keypoints=17)
    with pytest.raises(MissingDependencyError, match='`DEKRHead` needs mmcv'):
        check_config(Config(dict(model=dict(DEKR['model'], head=head))))
    rtmo = dict(type='mmpose.RTMOHead', num_keypoints=17)
    with pytest.raises(MissingDependencyError, match='`RTMOHead` is not in'):
        check_config(Config(dict(model=dict(type='X', head=rtmo))))


def test_mmdet_config_needs_mmcv_ops(monkeypatch):
    fake_stack(monkeypatch, mmpose='1.1.0', ops=False)
    monkeypatch.setattr(stack, 'has_module', lambda name: True)
    cfg = Config(dict(default_scope='mmdet', model=dict(type='RetinaNet')))
    with pytest.raises(MissingDependencyError, match='mmcv-lite 2.1.0'):
        check_config(cfg)


def test_our_configs_pass_on_this_stack():
    # nothing in the shipped configs is flagged where they are meant to run
    for path in (
            'configs/selecsls60_imagenet.py',
            'configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-512x320.py',
            'configs/pose/td-hm_selecsls60_8xb64-210e_coco-256x192.py'):
        stack.load_config(f'{REPO_ROOT}/{path}')


def run_train(config: str) -> subprocess.CompletedProcess:
    # the work dir is never made (the check runs first); a temp one anyway,
    # so a regression cannot litter the checkout
    with tempfile.TemporaryDirectory() as work_dir:
        return subprocess.run(
            [sys.executable, 'tools/train.py', config, '--work-dir', work_dir],
            cwd=REPO_ROOT,
            text=True,
            capture_output=True,
            timeout=300)


@pytest.mark.skipif(not OLD_MMPOSE, reason='shows the error of mmpose < 1.2')
def test_train_tool_rtmo_on_old_mmpose_is_one_line(tmp_path):
    config = tmp_path / 'rtmo.py'
    config.write_text(f'{RTMO!r}'.join(['cfg = ', '\n']) +
                      'default_scope = cfg["default_scope"]\n'
                      'model = cfg["model"]\n'
                      'del cfg\n')
    proc = run_train(str(config))
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    line = proc.stderr.strip()
    assert line.startswith('error: `') and 'mmpose 1.1.0' in line, line
    assert '\n' not in line


@pytest.mark.skipif(
    stack.has_module('mmdet'), reason='mmdet is installed here')
def test_train_tool_det_config_without_mmdet_is_one_line():
    proc = run_train('configs/det/retinanet_selecsls60_fpn_1x_coco.py')
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip() == (
        'error: configs/det/retinanet_selecsls60_fpn_1x_coco.py inherits '
        f'from mmdet, which is not installed: use {stack.FULL_STACK}.')

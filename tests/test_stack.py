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


def test_this_stack_is_named_in_messages():
    """mmcv-lite (make env) has no compiled ops, the full stack has them;
    messages name the installed flavour and version."""
    lite = stack.installed_version('mmcv-lite')
    assert stack.mmcv_has_ops() is (lite is None)
    expected = f'mmcv-lite {lite}' if lite else \
        f"mmcv {stack.installed_version('mmcv')} (with ops)"
    assert stack.mmcv_flavour() == expected


def test_flavour_when_the_version_is_unknown(monkeypatch):
    versions = {'mmcv': '2.1.0'}
    monkeypatch.setattr(stack, 'installed_version', versions.get)
    monkeypatch.setattr(stack, 'mmcv_has_ops', lambda: False)
    assert stack.mmcv_flavour() == 'mmcv-lite ?'
    monkeypatch.setattr(stack, 'mmcv_has_ops', lambda: True)
    assert stack.mmcv_flavour() == 'mmcv 2.1.0 (with ops)'


def test_has_module():
    assert stack.has_module('json') and stack.has_module('mmengine.config')
    assert not stack.has_module('no_such_package_h18')
    # a submodule of a missing package, an empty name: missing, no error
    assert not stack.has_module('no_such_package_h18.sub')
    assert not stack.has_module('')


def test_config_types_of_a_plain_dict():
    cfg = dict(
        model=dict(
            type='A',
            heads=[
                dict(type='mmpose.B'),
                dict(type='C', cfg=(dict(type='D'), ))
            ]),
        type=3)  # not a type name
    assert sorted(stack.config_types(cfg)) == ['A', 'B', 'C', 'D']
    assert sorted(stack.config_types(Config(cfg))) == ['A', 'B', 'C', 'D']


def test_mmdet_config_without_mmdet(monkeypatch):
    fake_stack(monkeypatch, mmpose='1.1.0', ops=True)
    monkeypatch.setattr(stack, 'has_module', lambda name: name != 'mmdet')
    cfg = Config(dict(default_scope='mmdet', model=dict(type='RetinaNet')))
    with pytest.raises(MissingDependencyError) as err:
        check_config(cfg)
    assert str(err.value) == ('this is an mmdet config, but mmdet is not '
                              f'installed: use {stack.FULL_STACK}.')
    monkeypatch.setattr(stack, 'has_module', lambda name: True)
    check_config(cfg)  # mmdet and ops: fine
    fake_stack(monkeypatch, mmpose='1.1.0', ops=False)
    with pytest.raises(MissingDependencyError) as err:
        check_config(cfg)
    assert str(err.value) == (
        "mmdet models need mmcv's compiled ops, but this environment has "
        f'mmcv-lite 2.1.0: use {stack.FULL_STACK}.')


def test_only_pose_configs_need_the_pose_packages(monkeypatch):
    fake_stack(monkeypatch, mmpose='1.1.0', ops=False)

    def no_pose():
        raise MissingDependencyError('no pose here')

    monkeypatch.setattr(stack, 'require_pose', no_pose)
    with pytest.raises(MissingDependencyError, match='no pose here'):
        check_config(Config(dict(default_scope='mmpose')))
    check_config(Config(dict(default_scope='mmpretrain')))
    check_config(Config(dict(model=dict(type='ImageClassifier'))))


@pytest.mark.parametrize('missing, message', [
    ({'mmpose'}, 'selecsls_mm.pose needs mmpose, which is not installed'),
    ({'xtcocotools'
      }, 'selecsls_mm.pose needs xtcocotools, which is not installed'),
    ({'mmpose', 'xtcocotools'},
     'selecsls_mm.pose needs mmpose and xtcocotools, which are not installed'),
])
def test_require_pose_names_what_is_missing(monkeypatch, missing, message):
    monkeypatch.setattr(stack, 'has_module', lambda name: name not in missing)
    with pytest.raises(MissingDependencyError) as err:
        stack.require_pose()
    assert str(err.value) == (f'{message}: {stack.POSE_INSTALL}, or use '
                              f'{stack.FULL_STACK}.')


@pytest.mark.parametrize('mmpose, ops, refused', [
    ('1.1.0', False, False),
    ('1.2.0', False, True),
    ('1.3.2', False, True),
    ('1.3.2', True, False),
])
def test_require_pose_newer_mmpose_needs_ops(monkeypatch, mmpose, ops,
                                             refused):
    versions = {'mmpose': mmpose, 'mmcv-lite': '2.1.0'}
    monkeypatch.setattr(stack, 'has_module', lambda name: True)
    monkeypatch.setattr(stack, 'installed_version', versions.get)
    monkeypatch.setattr(stack, 'mmcv_has_ops', lambda: ops)
    if not refused:
        stack.require_pose()
        return
    with pytest.raises(MissingDependencyError) as err:
        stack.require_pose()
    assert str(err.value) == (
        f"mmpose {mmpose} imports mmcv's compiled ops, but this environment "
        f'has mmcv-lite 2.1.0: use {stack.FULL_STACK}, or pip install '
        '--no-deps mmpose==1.1.0 for mmcv-lite.')


@pytest.mark.parametrize('package, how', [
    ('mmdet', f'use {stack.FULL_STACK}'),
    ('mmpose', f'{stack.POSE_INSTALL}, or use {stack.FULL_STACK}'),
    ('mmfoo', 'pip install mmfoo'),
])
def test_base_from_a_missing_package(monkeypatch, tmp_path, package, how):
    config = tmp_path / 'cfg.py'
    # (a comment with non-ASCII text: the file is read as UTF-8)
    config.write_text(
        f"# SelecSLS — {package}\n"
        f"_base_ = ['{package}::configs/x.py']\n",
        encoding='utf-8')
    monkeypatch.setattr(stack, 'has_module', lambda name: name != package)
    with pytest.raises(MissingDependencyError) as err:
        stack.load_config(str(config))
    assert str(err.value) == (f'{config} inherits from {package}, which is '
                              f'not installed: {how}.')


def test_custom_import_error_keeps_its_sentence(monkeypatch, tmp_path):
    """A config whose ``custom_imports`` fail with MissingDependencyError
    (what ``import selecsls_mm.pose`` raises without mmpose) ends in that
    sentence, not in mmengine's wrapped ImportError; other import errors
    stay as they are."""
    (tmp_path / 'h18_needs_pose.py').write_text(
        'from selecsls_mm.stack import MissingDependencyError\n'
        "raise MissingDependencyError('this needs mmpose: install it.')\n")
    (tmp_path / 'h18_broken.py').write_text("raise ImportError('broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ('h18_needs_pose', 'h18_broken'):
        (tmp_path / f'{name}_cfg.py'
         ).write_text(f"custom_imports = dict(imports=['{name}'])\n")
    with pytest.raises(MissingDependencyError) as err:
        stack.load_config(str(tmp_path / 'h18_needs_pose_cfg.py'))
    assert str(err.value) == 'this needs mmpose: install it.'
    assert err.value.__cause__ is None and err.value.__suppress_context__
    with pytest.raises(ImportError, match='broken') as err:
        stack.load_config(str(tmp_path / 'h18_broken_cfg.py'))
    assert not isinstance(err.value, MissingDependencyError)


def test_registered_config_checks_run_once(monkeypatch):
    """A subpackage's config check (e.g. selecsls_mm.pose3d's) runs in
    check_config; registering it again does not run it twice."""
    fake_stack(monkeypatch, mmpose='1.1.0', ops=False)
    monkeypatch.setattr(stack, 'CONFIG_CHECKS', [])
    seen = []

    def check(cfg):
        seen.append(cfg.get('x'))

    assert stack.register_config_check(check) is check
    stack.register_config_check(check)
    check_config(Config(dict(x=1)))
    assert seen == [1]

"""Packaging as OpenMMLab users expect it: license, one version shared with
the changelog, metafiles as the one source of the model zoo tables,
``selecsls_mm::`` config bases, and an installed package (a built wheel)
that openmim's ``mim run / train / test`` drive."""
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml
from test_train_test_tools import make_digits

from selecsls_mm import __version__
from helpers import REPO_ROOT


def _run(*args, cwd=REPO_ROOT, env=None):
    return subprocess.run([*args],
                          cwd=cwd,
                          text=True,
                          capture_output=True,
                          env=env,
                          timeout=900)


def test_version_is_the_changelog_s():
    with open(osp.join(REPO_ROOT, 'CHANGELOG.md'), encoding='utf-8') as f:
        releases = re.findall(r'^## v?(\d+\.\d+\.\d+)', f.read(), re.M)
    assert releases and releases[0] == __version__


def test_license_is_mit_as_the_file_headers_say():
    with open(osp.join(REPO_ROOT, 'LICENSE'), encoding='utf-8') as f:
        assert f.readline().strip() == 'MIT License'
    with open(osp.join(REPO_ROOT, 'tools', 'train.py'), encoding='utf-8') as f:
        assert 'Licensed under the MIT license' in f.read()


def metafiles():
    with open(osp.join(REPO_ROOT, 'model-index.yml'), encoding='utf-8') as f:
        return yaml.safe_load(f)['Import']


@pytest.mark.parametrize('metafile', metafiles())
def test_metafile_lists_every_config_of_its_family(metafile):
    with open(osp.join(REPO_ROOT, metafile), encoding='utf-8') as f:
        meta = yaml.safe_load(f)
    listed = [m['Config'] for m in meta['Models']]
    assert all(osp.isfile(osp.join(REPO_ROOT, c)) for c in listed)
    family = osp.dirname(metafile)
    configs = sorted(
        osp.relpath(p, REPO_ROOT)
        for p in glob.glob(osp.join(REPO_ROOT, family, '*.py')))
    assert sorted(set(listed)) == configs
    collections = {c['Name'] for c in meta['Collections']}
    for model in meta['Models']:
        assert model['In Collection'] in collections
        if 'Results' in model:  # released weights: where from, how good
            metrics = model['Results'][0]['Metrics']
            assert set(metrics) == {'Top 1 Accuracy', 'Top 5 Accuracy'}
            assert model['Weights'] == model['Converted From']['Weights'] \
                or model['Weights'].startswith(
                    model['Converted From']['Weights'])


def test_model_zoo_tables_are_generated_from_the_metafiles(tmp_path):
    pages = ['README.md', 'configs/selecsls/README.md']
    proc = _run(sys.executable, 'tools/misc/model_zoo.py', '--check', *pages)
    assert proc.returncode == 0, proc.stderr
    # a hand edit of a published number is caught
    copy = tmp_path / 'README.md'
    text = open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8').read()
    assert '| 77.98 |' in text
    copy.write_text(text.replace('| 77.98 |', '| 79.98 |'))
    proc = _run(sys.executable, 'tools/misc/model_zoo.py', '--check',
                str(copy))
    assert proc.returncode == 1 and 'differs from model-index.yml' in \
        proc.stderr


CONFIG_OUTSIDE = """
_base_ = ['selecsls_mm::selecsls/selecsls42b_8xb32_in1k.py']
model = dict(head=dict(num_classes=7))
"""
LOAD_OUTSIDE = """
import sys
import selecsls_mm
from mmengine.config import Config
from selecsls_mm.utils import build_model
cfg = Config.fromfile(sys.argv[1])
model = build_model(cfg)
print(cfg.default_scope, cfg.model.backbone.arch, model.head.fc.out_features,
      cfg.model.get('_scope_'))
"""


def test_package_config_bases_from_outside_the_repository(tmp_path):
    config = tmp_path / 'mine.py'
    config.write_text(CONFIG_OUTSIDE)
    proc = _run(sys.executable, '-c', LOAD_OUTSIDE, str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # built in the scope the config was written for (no 'selecsls_mm'
    # scope: the package registers into mmpretrain's registries)
    assert proc.stdout.split() == ['mmpretrain', '42b', '7', 'None']
    config.write_text("_base_ = ['selecsls_mm::selecsls/nothing.py']\n")
    proc = _run(sys.executable, '-c', LOAD_OUTSIDE, str(config), cwd=tmp_path)
    assert 'selecsls_mm::selecsls/nothing.py: there is no config ' \
        'selecsls/nothing.py' in proc.stderr


def build_wheel(tmp_path) -> str:
    """A wheel built the way ``pip install .`` builds it, from a copy of the
    source (building writes into the source tree)."""
    source = tmp_path / 'source'
    source.mkdir()
    for name in ('setup.py', 'README.md', 'LICENSE', 'CHANGELOG.md',
                 'MANIFEST.in', 'model-index.yml'):
        shutil.copy(osp.join(REPO_ROOT, name), source / name)
    ignore = shutil.ignore_patterns('__pycache__', '.mim', '*.pyc')
    for name in ('selecsls_mm', 'configs', 'tools', 'requirements'):
        shutil.copytree(
            osp.join(REPO_ROOT, name), source / name, ignore=ignore)
    proc = _run(
        sys.executable,
        '-m',
        'pip',
        'wheel',
        '-q',
        '--no-deps',
        '--no-build-isolation',
        '-w',
        str(tmp_path / 'dist'),
        str(source),
        cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return glob.glob(str(tmp_path / 'dist' / '*.whl'))[0]


@pytest.mark.slow
def test_installed_package_works_with_mim(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for name in ('selecsls_mm/.mim/model-index.yml',
                 'selecsls_mm/.mim/configs/selecsls/selecsls60_8xb32_in1k.py',
                 'selecsls_mm/.mim/configs/selecsls/metafile.yml',
                 'selecsls_mm/.mim/tools/train.py',
                 'selecsls_mm/.mim/tools/analysis_tools/get_flops.py'):
        assert name in names
    target = tmp_path / 'site'
    proc = _run(sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
                '--target', str(target), wheel)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the installed copy, not the checkout, is what runs
    env = dict(os.environ, PYTHONPATH=str(target))
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'mine.py').write_text(CONFIG_OUTSIDE)

    proc = _run(
        mim,
        'run',
        'selecsls_mm',
        'get_flops',
        'mine.py',
        '--shape',
        '32',
        cwd=work,
        env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert str(target / 'selecsls_mm' / '.mim' / 'tools') in proc.stdout
    assert 'mine.py at 32x32:' in proc.stdout

    data = make_digits(tmp_path / 'digits')
    digits = 'selecsls42_digits.py'  # mim finds it in the installed package
    one_epoch = [
        '--cfg-options', f'data_root={data}', 'train_cfg.max_epochs=1',
        'default_hooks.checkpoint.interval=1', 'param_scheduler.1.end=1',
        'param_scheduler.1.T_max=1'
    ]
    proc = _run(
        mim,
        'train',
        'selecsls_mm',
        digits,
        '--gpus',
        '0',
        '--work-dir',
        str(work / 'train'),
        *one_epoch,
        cwd=work,
        env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (work / 'train' / 'epoch_1.pth').is_file()
    proc = _run(
        mim,
        'test',
        'selecsls_mm',
        digits,
        '--checkpoint',
        str(work / 'train' / 'epoch_1.pth'),
        '--gpus',
        '0',
        '--work-dir',
        str(work / 'test'),
        '--cfg-options',
        f'data_root={data}',
        cwd=work,
        env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert re.search(r'accuracy/top1: [\d.]+', proc.stdout)

import logging
import os.path as osp
import random
import subprocess
import sys

import pytest
import torch
from mmengine.registry import DefaultScope

import selecsls_mm  # noqa: F401  (registers modules, safe checkpoint loading)


def pytest_addoption(parser):
    parser.addoption(
        '--shuffle',
        type=int,
        metavar='SEED',
        help='run the tests in a random order drawn from SEED, to find tests '
        'that pass only because of what ran before them in the process')


def pytest_collection_modifyitems(config, items):
    seed = config.getoption('--shuffle')
    if seed is not None:
        random.Random(seed).shuffle(items)


@pytest.fixture(autouse=True)
def _quiet_and_deterministic():
    # mmengine logs one line per parameter in init_weights(); keep test logs
    # readable.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.manual_seed(0)
    yield


_SESSION_SCOPES = None


@pytest.fixture(autouse=True)
def _isolated_default_scope():
    # A Runner or mmpose's inference API makes its default scope (e.g.
    # 'mmengine', 'mmpose') the current one for the rest of the process, also
    # from a module-scoped fixture (set up before this one) or through
    # DefaultScope.overwrite_default_scope, which restores copies of the
    # instances: after each test the scopes are put back as the session began,
    # so registry look-ups in later tests do not depend on test order.
    global _SESSION_SCOPES
    if _SESSION_SCOPES is None:
        _SESSION_SCOPES = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = _SESSION_SCOPES.copy()


@pytest.fixture(scope='session')
def digits_demo_run(tmp_path_factory):
    """tools/digits_demo.py with two epochs, run once per session: its
    process (``proc``), ``data_root``, ``work_dir`` and the ``checkpoint``
    it trained (real weights for the tests that need them)."""
    root = tmp_path_factory.mktemp('digits_demo')
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    data_root, work_dir = root / 'digits', root / 'work'
    proc = subprocess.run([
        sys.executable, 'tools/digits_demo.py', '--epochs', '2', '--data-root',
        str(data_root), '--work-dir',
        str(work_dir)
    ],
                          cwd=repo,
                          capture_output=True,
                          text=True,
                          timeout=900)
    return dict(
        proc=proc,
        data_root=data_root,
        work_dir=work_dir,
        checkpoint=work_dir / 'epoch_2.pth')

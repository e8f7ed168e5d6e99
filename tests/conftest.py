import logging

import pytest
import torch
from mmengine.registry import DefaultScope

import selecsls_mm  # noqa: F401  (registers modules, safe checkpoint loading)


@pytest.fixture(autouse=True)
def _quiet_and_deterministic():
    # mmengine logs one line per parameter in init_weights(); keep test logs
    # readable.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _isolated_default_scope():
    # A Runner built in one test makes its default scope (e.g. 'mmengine') the
    # current one for the rest of the process; drop scopes a test created so
    # registry look-ups in later tests do not depend on test order.
    before = set(DefaultScope._instance_dict)
    yield
    for name in set(DefaultScope._instance_dict) - before:
        del DefaultScope._instance_dict[name]

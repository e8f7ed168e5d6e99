import logging

import pytest
import torch

import selecsls_mm  # noqa: F401  (registers modules, safe checkpoint loading)


@pytest.fixture(autouse=True)
def _quiet_and_deterministic():
    # mmengine logs one line per parameter in init_weights(); keep test logs readable.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.manual_seed(0)
    yield

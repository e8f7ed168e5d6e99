import pytest
from mmengine.registry import DefaultScope

import selecsls_mm.pose  # noqa: F401  (registers the pose modules; opt-in)


@pytest.fixture(autouse=True)
def _mmpose_scope():
    # pipelines and datasets are built from mmpose's registries
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield

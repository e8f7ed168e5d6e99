import pytest
from mmengine.registry import DefaultScope

import selecsls_mm.pose3d  # noqa: F401  (registers the 3D modules; opt-in)


@pytest.fixture(autouse=True)
def _mmpose_scope():
    # pipelines, datasets and models are built from mmpose's registries
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield

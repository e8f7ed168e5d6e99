import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def _mmpose_scope():
    # pipelines and datasets are built from mmpose's registries
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield

"""selecsls-mm: SelecSLS networks (XNect) for OpenMMLab.

``import selecsls_mm`` (or ``custom_imports=dict(imports=['selecsls_mm'])`` in
a config) registers the ``SelecSLS`` backbone for mmpretrain, mmpose and
mmdet, and makes checkpoint loading work under torch's ``weights_only=True``
default. It needs only torch, mmengine, mmcv (lite or full) and mmpretrain.

Pose is opt-in: ``import selecsls_mm.pose`` (``custom_imports=dict(imports=
['selecsls_mm.pose'])``) also registers the XNect-style pose head, codec and
transforms, and needs mmpose and xtcocotools (see :mod:`selecsls_mm.stack`).
"""
import warnings

# Warnings other packages print on every run, which would bury a tool's one
# error line: mmcv-lite's missing compiled ops (nothing here uses them),
# setuptools' deprecation of pkg_resources (mmengine imports it to look up
# installed packages, e.g. for `mmpose::` config bases) and mmpose's notice
# that it reads COCO's metainfo from its own copy of the dataset config.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated', category=UserWarning)
warnings.filterwarnings(
    'ignore', message='The metainfo config file', category=UserWarning)

from . import datasets, engine, models  # noqa: E402,F401
from .checkpoint import register_safe_globals  # noqa: E402
from .utils.package_configs import register_package_configs  # noqa: E402
from .version import __version__  # noqa: E402

register_safe_globals()
register_package_configs()

__all__ = ['__version__']

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

# mmcv-lite has no compiled ops; mmcv warns about that on every import even
# though nothing here uses them.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from . import datasets, models  # noqa: E402,F401
from .checkpoint import register_safe_globals  # noqa: E402
from .version import __version__  # noqa: E402

register_safe_globals()

__all__ = ['__version__']

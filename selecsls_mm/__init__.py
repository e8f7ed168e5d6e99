"""selecsls-mm: SelecSLS networks (XNect) for OpenMMLab.

``import selecsls_mm`` (or ``custom_imports=dict(imports=['selecsls_mm'])`` in
a config) registers the ``SelecSLS`` backbone for mmpretrain, mmpose and
mmdet, the XNect-style pose head and codec for MMPose, and makes checkpoint
loading work under torch's ``weights_only=True`` default.
"""
import warnings

# mmcv-lite has no compiled ops; mmcv warns about that on every import even
# though nothing here uses them.
warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from .version import __version__  # noqa: E402
from . import datasets, models, pose  # noqa: E402,F401
from .checkpoint import register_safe_globals  # noqa: E402

register_safe_globals()

__all__ = ['__version__']

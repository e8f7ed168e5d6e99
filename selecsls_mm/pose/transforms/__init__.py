from .bottomup_mask import NumpyBottomupGetHeatmapMask
from .flip import BottomupRandomFlip
from .formatting import PackPAFInputs

__all__ = [
    'BottomupRandomFlip', 'NumpyBottomupGetHeatmapMask', 'PackPAFInputs'
]

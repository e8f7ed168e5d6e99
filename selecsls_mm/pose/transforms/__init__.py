from .bottomup_mask import NumpyBottomupGetHeatmapMask
from .formatting import PackPAFInputs

__all__ = ['NumpyBottomupGetHeatmapMask', 'PackPAFInputs']

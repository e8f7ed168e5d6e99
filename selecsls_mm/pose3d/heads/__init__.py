from .xnect_3d_head import XNect3DHead

__all__ = ['XNect3DHead']

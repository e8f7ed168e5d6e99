from .xnect_paf_head import XNectPAFHead

__all__ = ['XNectPAFHead']

from .selecsls import SelecSLS
from .selecsls_block import SelecSLSBlock

__all__ = ['SelecSLS', 'SelecSLSBlock']

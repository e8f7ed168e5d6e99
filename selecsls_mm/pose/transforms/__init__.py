from .formatting import PackPAFInputs

__all__ = ['PackPAFInputs']

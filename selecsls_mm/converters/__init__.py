from .reference_weights import (ConversionError, convert_reference_checkpoint,
                                convert_reference_state_dict,
                                load_reference_state_dict,
                                reference_to_mmpretrain_names)

__all__ = [
    'ConversionError', 'convert_reference_checkpoint',
    'convert_reference_state_dict', 'load_reference_state_dict',
    'reference_to_mmpretrain_names'
]

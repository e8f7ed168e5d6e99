from .checked_imagenet import CheckedImageNet
from .digits import write_digits_dataset

__all__ = ['CheckedImageNet', 'write_digits_dataset']

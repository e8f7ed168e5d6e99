from .checked_imagenet import CheckedImageNet

__all__ = ['CheckedImageNet']

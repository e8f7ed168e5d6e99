# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Small utilities behind the codecs (as ``mmpose.codecs.utils``)."""
from .skeleton import check_limbs, parse_skeleton, resolve_metainfo_file

__all__ = ['check_limbs', 'parse_skeleton', 'resolve_metainfo_file']

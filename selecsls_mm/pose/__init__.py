"""XNect-style bottom-up pose for MMPose: PAF codec, head, transforms.

Importing this package registers them; it needs mmpose and xtcocotools,
and says in one sentence what to install when they are missing.
"""
from ..stack import require_pose

require_pose()

from . import codecs  # noqa: E402,F401
from . import heads, models, transforms  # noqa: E402,F401
from .model_loading import init_pose_model  # noqa: E402

__all__ = ['init_pose_model']

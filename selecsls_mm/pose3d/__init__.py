"""XNect in 3D for MMPose: Stage I 3D maps (codec, head, transforms), the
multi-person 3D datasets and metrics, and the real-motion scenes.

Opt-in like :mod:`selecsls_mm.pose` (``custom_imports=dict(imports=
['selecsls_mm.pose3d'])``); needs mmpose and xtcocotools.
"""
from ..stack import require_pose

require_pose()

from .. import pose  # noqa: E402,F401  (the 2D modules the 3D ones extend)

# registers the modules (after the stack check above)
# isort: off
from . import checks, codecs, datasets, heads  # noqa: E402,F401
from . import losses, metrics, transforms  # noqa: E402,F401
# isort: on

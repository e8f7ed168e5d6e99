from . import codecs  # noqa: F401
from . import heads, transforms  # noqa: F401

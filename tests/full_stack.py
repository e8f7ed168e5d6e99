"""Skip a test that needs the full stack (mmcv with ops, mmdet, mmpose >= 1.2)
on the lite stack, but fail it under ``make test-full``, which sets
``SELECSLS_MM_FULL_STACK=1``, so the full-stack run cannot pass by skipping."""
import os

import pytest

from selecsls_mm import stack


def full_stack_missing() -> str:
    """What the full stack lacks here ('' when complete)."""
    missing = [m for m in ('mmdet', 'mmpose') if not stack.has_module(m)]
    if not stack.mmcv_has_ops():
        missing.append("mmcv's compiled ops")
    return ', '.join(missing)


def require_full_stack():
    """Call at module level in a test file that needs the full stack."""
    missing = full_stack_missing()
    if not missing:
        return
    reason = f'needs the full stack (make env-full); missing here: {missing}'
    if os.environ.get('SELECSLS_MM_FULL_STACK') == '1':
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)

"""mmpose's DEKR-HRNet-w32 (mmcv.ops.DeformConv2d) and RTMO-s/m (mmpose >=
1.2) build from mmpose's own configs and run a forward on the full stack, so
`tools/benchmark.py --pose` can time them (issue 9). Full stack only."""
import pytest
import torch
from full_stack import require_full_stack

require_full_stack()


@pytest.mark.parametrize('name', ['dekr-hrnet-w32', 'rtmo-s', 'rtmo-m'])
def test_peer_builds_and_runs(name):
    from selecsls_mm.benchmark.pose_peers import build_peer
    model = build_peer(name)
    x = torch.rand(1, 3, 256, 320)  # not square
    with torch.no_grad():
        out = model(x, None, mode='tensor')
    tensors = [
        t for t in torch.utils._pytree.tree_leaves(out)
        if isinstance(t, torch.Tensor)
    ]
    assert tensors and all(torch.isfinite(t).all() for t in tensors)


def test_dekr_runs_in_a_channels_last_benchmark():
    # mmcv's DeformConv2d refuses channels_last tensors: the benchmark keeps
    # DEKR in NCHW (its only layout) while the other models go channels_last.
    from selecsls_mm.benchmark.pose_peers import build_pose_models
    from selecsls_mm.benchmark.settings import BenchmarkSettings
    settings = BenchmarkSettings(device=torch.device('cpu'))
    assert settings.channels_last
    models, skipped, _ = build_pose_models([], ['dekr-hrnet-w32'], settings)
    assert not skipped
    x = torch.rand(1, 3, 128, 160)
    with torch.no_grad():
        out = models['dekr-hrnet-w32'](x, None, mode='tensor')
    assert all(
        torch.isfinite(t).all() for t in torch.utils._pytree.tree_leaves(out)
        if isinstance(t, torch.Tensor))

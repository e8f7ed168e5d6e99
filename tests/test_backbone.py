"""SelecSLS backbone: structure, levels, training options and bad input."""
import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from selecsls_mm.models import SelecSLS

ARCHS = ['42', '42b', '60', '60b', '84', '102']
ALL_LEVELS = (0, 1, 2, 3, 4, 5)


def _table_parameters(blocks, head):
    """Parameter count written out from the issue's tables, independently
    of the implementation: conv weights plus BN weight and bias."""
    def conv(cin, cout, k):
        return cin * cout * k * k + 2 * cout

    total = conv(3, 32, 3)
    for cin, skip, k, out, is_first, _ in blocks:
        total += conv(cin, k, 3) + conv(k, k, 1) + conv(k, k // 2, 3)
        total += conv(k // 2, k, 1) + conv(k, k // 2, 3)
        total += conv(2 * k + (0 if is_first else skip), out, 1)
    return total + sum(conv(cin, cout, k) for cin, cout, k, _ in head)


# SelecSLS-102 has no reference implementation to compare with: check it
# against the table in the issue, typed in here independently.
TABLE_102 = dict(
    blocks=[(32, 0, 64, 64, True, 2)] + [(64, 64, 64, 64, False, 1)] * 2 +
    [(64, 64, 64, 128, False, 1), (128, 0, 128, 128, True, 2)] +
    [(128, 128, 128, 128, False, 1)] * 3 +
    [(128, 128, 128, 288, False, 1), (288, 0, 288, 288, True, 2)] +
    [(288, 288, 288, 288, False, 1)] * 5 + [(288, 288, 288, 480, False, 1)],
    head=[(480, 960, 3, 2), (960, 1024, 3, 1), (1024, 1024, 3, 2),
          (1024, 1280, 1, 1)])


def _bn_params(module):
    return sum(m.weight.numel() * 2 for m in module.modules()
               if isinstance(m, _BatchNorm))


def test_selecsls102_matches_table():
    model = SelecSLS('102', out_indices=ALL_LEVELS)
    params = sum(p.numel() for p in model.parameters())
    assert params == _table_parameters(**TABLE_102)
    assert params == pytest.approx(39.18e6, rel=1e-3)
    outs = model.eval()(torch.randn(1, 3, 128, 128))
    expected = [(32, 64), (128, 32), (288, 16), (480, 8), (1024, 4), (1280, 2)]
    assert [(o.shape[1], o.shape[2]) for o in outs] == expected
    assert model.out_channels == [c for c, _ in expected]
    # 7 + 5 + 7 blocks: level 3 ends after the 19th block.
    assert [len(model.stage1), len(model.stage2), len(model.stage3)] == [4, 5, 7]


@pytest.mark.parametrize('arch', ARCHS)
def test_parameter_count_matches_table(arch):
    model = SelecSLS(arch, out_indices=ALL_LEVELS)
    setting = SelecSLS.arch_settings[arch]
    assert sum(p.numel() for p in model.parameters()) == \
        _table_parameters(setting['blocks'], setting['head'])


@pytest.mark.parametrize('arch', ARCHS)
def test_every_level_forward_backward(arch):
    model = SelecSLS(arch, out_indices=ALL_LEVELS)
    x = torch.randn(2, 3, 64, 96)
    outs = model(x)
    assert len(outs) == 6
    for level, (out, channels) in enumerate(zip(outs, model.out_channels)):
        stride = 2 ** (level + 1)
        assert out.shape == (2, channels, -(-64 // stride), -(-96 // stride))
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize('size', [(32, 32), (33, 47), (97, 64)])
def test_sizes_that_are_not_multiples_of_64(size):
    model = SelecSLS('42', out_indices=(3, 5)).eval()
    c3, c5 = model(torch.randn(1, 3, *size))
    assert c3.shape[1] == 480 and c5.shape[1] == 1280
    assert c5.shape[2:] == tuple(-(-s // 64) for s in size)


def test_only_needed_levels_are_built():
    model = SelecSLS('60', out_indices=(3, ))
    assert model.layer_names == ['stem', 'stage1', 'stage2', 'stage3']
    assert not hasattr(model, 'head1')
    (out, ) = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 416, 4, 4)
    # negative indices count from the end of the six levels
    assert SelecSLS('60', out_indices=(-1, -3)).out_indices == (3, 5)


def test_torchscript_trace_matches_eager():
    model = SelecSLS('42b', out_indices=(2, 5)).eval()
    x = torch.randn(1, 3, 64, 64)
    traced = torch.jit.trace(model, x)
    for a, b in zip(traced(x), model(x)):
        torch.testing.assert_close(a, b)


def test_frozen_stages_get_no_gradient_and_keep_bn_statistics():
    model = SelecSLS('42', out_indices=(2, 3), frozen_stages=1)
    model.train()
    frozen = [model.stem, model.stage1]
    before = copy.deepcopy([m.state_dict() for m in frozen])
    for m in frozen:
        assert all(not p.requires_grad for p in m.parameters())
        assert all(not b.training for b in m.modules()
                   if isinstance(b, _BatchNorm))
    assert model.stage2.training and model.stage3[0].conv1.bn.training
    sum(o.mean() for o in model(torch.randn(2, 3, 64, 64))).backward()
    for m, state in zip(frozen, before):
        assert all(p.grad is None for p in m.parameters())
        for k, v in m.state_dict().items():
            assert torch.equal(v, state[k]), k
    assert all(p.grad is not None for p in model.stage2.parameters())


def test_norm_eval_keeps_statistics():
    model = SelecSLS('42', out_indices=(3, ), norm_eval=True)
    assert model.train() is model and model.eval() is model
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)
    stats = [m.running_mean.clone() for m in norms]
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(m.running_mean, s) for m, s in zip(norms, stats))


def test_with_cp_gives_identical_outputs_gradients_and_statistics():
    torch.manual_seed(1)
    plain = SelecSLS('42', out_indices=(1, 3))
    checkpointed = SelecSLS('42', out_indices=(1, 3), with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    outs = []
    for model in (plain, checkpointed):
        model.train()
        xi = x.clone().requires_grad_()
        out = model(xi)
        sum((o**2).mean() for o in out).backward()
        outs.append((out, xi.grad, model))
    (o1, g1, m1), (o2, g2, m2) = outs
    for a, b in zip(o1, o2):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(g1, g2)
    for (n, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, msg=n)
    # the recomputation in backward must not update BN statistics again
    for (n, b1), b2 in zip(m1.named_buffers(), m2.buffers()):
        torch.testing.assert_close(b1, b2, msg=n)


def test_syncbn_builds_and_runs_in_eval():
    model = SelecSLS('42', out_indices=(3, ), norm_cfg=dict(type='SyncBN'))
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(
        isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    assert model.eval()(torch.randn(1, 3, 64, 64))[0].shape == (1, 480, 4, 4)


def test_unknown_arch_lists_valid_ones():
    with pytest.raises(KeyError, match=r"'42', '42b', '60', '60b', '84'"):
        SelecSLS('50')


@pytest.mark.parametrize('indices', [(6, ), (0, -7)])
def test_out_of_range_out_indices(indices):
    with pytest.raises(ValueError, match='out of range.*levels 0..5'):
        SelecSLS('42', out_indices=indices)


def test_wrong_input_channels():
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\).*in_channels'):
        SelecSLS('42', out_indices=(0, ))(torch.randn(1, 1, 64, 64))
    model = SelecSLS('42', in_channels=1, out_indices=(0, ))
    assert model(torch.randn(1, 1, 64, 64))[0].shape == (1, 32, 32, 32)


def test_image_too_small():
    with pytest.raises(ValueError, match='31x64 px is too small.*at least 32'):
        SelecSLS('42', out_indices=(0, ))(torch.randn(1, 3, 31, 64))


def test_frozen_stages_out_of_range():
    with pytest.raises(ValueError, match='frozen_stages'):
        SelecSLS('42', frozen_stages=6)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmpose'])
def test_builds_from_config_with_custom_imports(scope):
    import importlib

    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config(dict(custom_imports=dict(imports=['selecsls_mm']),
                      model=dict(type='SelecSLS', arch='60b')))
    for module in cfg.custom_imports['imports']:
        importlib.import_module(module)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    assert isinstance(model, SelecSLS) and model.out_channels[-1] == 1024


def test_with_cp_per_stage():
    model = SelecSLS('42', out_indices=(3, ), with_cp=(True, True, False))
    assert [b.with_cp for b in model.stage1] == [True, True]
    assert [b.with_cp for b in model.stage3] == [False, False]
    with pytest.raises(ValueError, match='one bool per stage'):
        SelecSLS('42', with_cp=(True, False))

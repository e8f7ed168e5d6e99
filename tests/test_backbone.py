"""SelecSLS backbone: structure, levels, training options and bad input."""
import collections
import copy
import itertools
import math
import operator
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from selecsls_mm.converters import convert_reference_state_dict
from selecsls_mm.models import SelecSLS
from reference_models import ARCHS, reference_levels, reference_model

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ALL_LEVELS = (0, 1, 2, 3, 4, 5)


def _params(modules):
    return sum(p.numel() for m in modules for p in m.parameters())


@pytest.mark.parametrize('arch', ARCHS)
def test_levels_match_reference_structure(arch):
    """Parameters, channels and strides of every level against the
    independent reference (timm; for 102 timm's blocks with the original
    release's table), split where timm's feature_info ends each level."""
    with torch.device('meta'):  # no weights needed: fast
        reference = reference_model(arch, num_classes=0, random_bn=False)
        model = SelecSLS(arch, out_indices=ALL_LEVELS)
    assert len(model.layer_names) == len(reference.feature_info) == 6
    ours = [_params([getattr(model, n)]) for n in model.layer_names]
    assert ours == [_params(m) for m in reference_levels(reference)]
    assert sum(ours) == _params([reference])
    assert model.out_channels == [f['num_chs'] for f in reference.feature_info]
    # stride of each level's output: product of the conv strides up to it
    strides = [
        math.prod(m.stride[0] for m in getattr(model, name).modules()
                  if isinstance(m, nn.Conv2d)) for name in model.layer_names
    ]
    assert list(itertools.accumulate(strides, operator.mul)) == \
        [f['reduction'] for f in reference.feature_info]


@pytest.mark.parametrize('arch', ARCHS)
def test_levels_match_reference_features(arch):
    """Every level computes the reference network's feature map (values, not
    only shapes) once the reference weights are converted."""
    reference = reference_model(arch, num_classes=10)
    state, _ = convert_reference_state_dict(reference.state_dict())
    model = SelecSLS(arch, out_indices=ALL_LEVELS).eval()
    model.load_state_dict({
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    })
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        expected = reference.forward_intermediates(x, intermediates_only=True)
        got = model(x)
    assert len(got) == len(expected) == 6
    for level, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape, level
        assert (a - b).abs().max() <= 1e-4 * b.abs().max(), level


def test_selecsls102_stages():
    # 4 + 5 + 7 blocks, as in the original release (level 3 ends after the
    # 16th block).
    model = SelecSLS('102', out_indices=(3, ))
    assert [len(model.stage1), len(model.stage2), len(model.stage3)] == \
        [4, 5, 7]


@pytest.mark.parametrize('arch', ARCHS)
def test_every_level_forward_backward(arch):
    model = SelecSLS(arch, out_indices=ALL_LEVELS)
    x = torch.randn(2, 3, 64, 96)
    outs = model(x)
    assert len(outs) == 6
    for level, (out, channels) in enumerate(zip(outs, model.out_channels)):
        stride = 2**(level + 1)
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


def test_norm_eval_freezes_syncbn_layers_too():
    """norm_eval is about every BN-like layer: a SyncBN model (the usual
    multi-GPU config) keeps its statistics frozen in train mode as well."""
    model = SelecSLS(
        '42', out_indices=(2, ), norm_cfg=dict(type='SyncBN'), norm_eval=True)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    assert not any(m.training for m in norms)
    # BN-free parts still train (norm_eval is not frozen_stages)
    assert model.training and model.stage1.training
    assert all(p.requires_grad for p in model.parameters())


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
    assert norms and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    assert model.eval()(torch.randn(1, 3, 64, 64))[0].shape == (1, 480, 4, 4)


def _conv_modules(model):
    return [m for m in model.modules() if isinstance(m, ConvModule)]


def test_act_cfg_sets_every_activation():
    leaky = dict(type='LeakyReLU', negative_slope=0.2)
    model = SelecSLS('42', out_indices=(3, ), act_cfg=leaky).eval()
    convs = _conv_modules(model)
    assert len(convs) == 1 + 6 * 6
    assert all(
        isinstance(m.activate, nn.LeakyReLU)
        and m.activate.negative_slope == 0.2 for m in convs)
    # It changes what the network computes: the same weights with ReLU give
    # other features (negative pre-activations pass at slope 0.2).
    relu = SelecSLS('42', out_indices=(3, )).eval()
    relu.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(model(x)[0], relu(x)[0], rtol=1e-2)
        # The deploy form keeps the activation: folding stays exact.
        expected = model(x)[0]
        model.switch_to_deploy()
        got = model(x)[0]
    torch.testing.assert_close(
        got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    deploy = SelecSLS('42', out_indices=(3, ), act_cfg=leaky, deploy=True)
    assert all(
        isinstance(m.activate, nn.LeakyReLU) for m in deploy.modules()
        if hasattr(m, 'activate'))
    # No activation at all
    none = SelecSLS('42', out_indices=(1, ), act_cfg=None)
    assert all(not m.with_activation for m in _conv_modules(none))


def test_conv_cfg_sets_every_conv():
    model = SelecSLS(
        '42', out_indices=(5, ), conv_cfg=dict(type='Conv2dAdaptivePadding'))
    convs = [m.conv for m in _conv_modules(model)]
    assert len(convs) == 1 + 6 * 6 + 4
    assert all(type(c).__name__ == 'Conv2dAdaptivePadding' for c in convs)


def test_default_init_cfg():
    """Kaiming (fan_out, ReLU) convs and unit BN, as mmpretrain's backbones;
    init_weights() applies it, whatever the weights were."""
    model = SelecSLS('60', out_indices=(3, ))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(3.0)
    model.init_weights()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(
        torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in norms)
    for m in (model.stage3[0].conv6.conv, model.stage2[1].conv3.conv):
        w = m.weight
        fan_out = w.shape[0] * w.shape[2] * w.shape[3]
        assert w.mean().abs() < 0.05 * w.std()
        assert w.std().item() == pytest.approx(
            math.sqrt(2 / fan_out), rel=0.05)


def test_pretrained_init_leaves_the_rest_to_conv_module_init(tmp_path):
    """A Pretrained init_cfg whose checkpoint holds only the stem loads it;
    every other conv keeps the ConvModule init (Kaiming, fan_out) it gets
    without an init_cfg, not PyTorch's default (uniform, fan_in)."""
    source = SelecSLS('42', out_indices=(1, ))
    with torch.no_grad():
        for p in source.parameters():
            p.fill_(0.25)
    torch.save(
        {
            k: v
            for k, v in source.state_dict().items() if k.startswith('stem.')
        }, tmp_path / 'stem.pth')
    for init_cfg in (None,
                     dict(
                         type='Pretrained',
                         checkpoint=str(tmp_path / 'stem.pth'))):
        model = SelecSLS('42', out_indices=(1, ), init_cfg=init_cfg)
        model.init_weights()
        w = model.stage1[0].conv3.conv.weight
        fan_out = w.shape[0] * w.shape[2] * w.shape[3]
        assert w.std().item() == pytest.approx(
            math.sqrt(2 / fan_out), rel=0.1), init_cfg
    assert torch.all(model.stem.conv.weight == 0.25)


def test_init_cfg_is_used():
    model = SelecSLS(
        '42',
        out_indices=(1, ),
        init_cfg=dict(type='Constant', val=0.5, layer='Conv2d'))
    model.init_weights()
    convs = [m.conv for m in _conv_modules(model)]
    assert all(torch.all(c.weight == 0.5) for c in convs)


def test_with_cp_recomputes_the_chosen_stages_in_backward():
    model = SelecSLS('42', out_indices=(3, ), with_cp=(True, False, True))
    model.train()
    calls = collections.Counter()
    for name in ('stage1', 'stage2', 'stage3'):
        for block in getattr(model, name):
            block.conv1.register_forward_hook(
                lambda *_, name=name: calls.update([name]))
    out = model(torch.randn(2, 3, 64, 64))[0]
    assert calls == dict(stage1=2, stage2=2, stage3=2)
    out.mean().backward()
    # The checkpointed blocks ran their forward again in backward.
    assert calls == dict(stage1=4, stage2=2, stage3=4)
    # No recomputation (and no checkpointing) without gradients.
    calls.clear()
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    assert calls == dict(stage1=2, stage2=2, stage3=2)


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


# Run in a fresh interpreter: the test process imported selecsls_mm already.
_CUSTOM_IMPORTS_SCRIPT = """
import sys
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS as POSE_MODELS
from mmpretrain.registry import MODELS as CLS_MODELS

def build(path, registry):
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope(registry.scope):
        return registry.build(cfg.model)

try:
    build(sys.argv[1], CLS_MODELS)
except KeyError as err:
    print('without custom_imports:', err)
assert 'selecsls_mm' not in sys.modules
classifier = build(sys.argv[2], CLS_MODELS)
backbone = build(sys.argv[3], POSE_MODELS)
print('classifier', type(classifier.backbone).__module__,
      classifier.backbone.out_channels[-1], classifier.head.fc.in_features)
print('pose backbone', type(backbone).__module__, backbone.out_channels)
"""


@pytest.mark.slow
def test_configs_register_selecsls_through_custom_imports(tmp_path):
    """The repository's ImageNet config and the README's two lines in a pose
    config build SelecSLS in mmpretrain's and mmpose's registries, with
    nothing imported by hand."""
    plain = tmp_path / 'plain.py'
    plain.write_text("model = dict(type='SelecSLS', arch='60b')\n")
    pose = tmp_path / 'pose.py'
    pose.write_text(
        "custom_imports = dict(imports=['selecsls_mm'])\n"
        "model = dict(type='SelecSLS', arch='60', out_indices=(3, 4))\n")
    proc = subprocess.run([
        sys.executable, '-c', _CUSTOM_IMPORTS_SCRIPT,
        str(plain),
        osp.join(REPO_ROOT, 'configs', 'selecsls',
                 'selecsls60b_8xb32_in1k.py'),
        str(pose)
    ],
                          capture_output=True,
                          text=True,
                          cwd=str(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # Without custom_imports the registries do not know SelecSLS...
    assert re.search(
        r'without custom_imports:.*SelecSLS is not in the '
        r'mmpretrain::model registry', out), out[-3000:]
    # ... with it, both build our class.
    module = 'selecsls_mm.models.backbones.selecsls'
    assert f'classifier {module} 1024 1024' in out, out[-3000:]
    assert f'pose backbone {module} [32, 128, 288, 416, 1024]' in out


def test_with_cp_per_stage():
    model = SelecSLS('42', out_indices=(3, ), with_cp=(True, True, False))
    assert [b.with_cp for b in model.stage1] == [True, True]
    assert [b.with_cp for b in model.stage3] == [False, False]
    with pytest.raises(ValueError, match='one bool per stage'):
        SelecSLS('42', with_cp=(True, False))

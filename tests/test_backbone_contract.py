# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""What a config author relies on besides the numbers: the backbone's and
the block's defaults, which levels get built, the whole one-line error of
each bad argument, and BN folding of the layer variants a config can build
(found by ``make mutate``: these survived the rest of the suite)."""
import re

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from selecsls_mm.models import SelecSLS
from selecsls_mm.models.backbones.selecsls_block import SelecSLSBlock
from selecsls_mm.models.utils.fuse import (fuse_conv_bn, fuse_conv_module,
                                           fuse_conv_modules)

ARCHS = "['102', '42', '42b', '60', '60b', '84']"


def _raises(error, message, fn, *args, **kwargs):
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    assert str(info.value) == message


def test_default_arch_and_arch_name():
    model = SelecSLS()
    assert model.arch_name == '60'
    assert model.arch is SelecSLS.arch_settings['60']
    assert SelecSLS('42b').arch_name == '42b'
    assert SelecSLS(dict(SelecSLS.arch_settings['42'])).arch_name is None


def test_bad_arguments_say_what_in_one_line():
    _raises(
        TypeError, f'arch must be one of {ARCHS} or a dict with "blocks" '
        "and \"head\", got {'blocks': []}", SelecSLS, dict(blocks=[]))
    _raises(
        ValueError,
        'frozen_stages must be in [-1, 5], got -2',
        SelecSLS,
        frozen_stages=-2)
    _raises(
        ValueError,
        'frozen_stages must be in [-1, 5], got 6',
        SelecSLS,
        frozen_stages=6)
    _raises(
        ValueError, 'with_cp must be a bool or one bool per stage (three), '
        'got (True, False)',
        SelecSLS,
        with_cp=(True, False))
    arch = dict(SelecSLS.arch_settings['42'])
    _raises(ValueError, 'arch head needs four convs, got 3', SelecSLS,
            dict(arch, head=arch['head'][:3]))
    blocks = [b[:4] + (False, ) + b[5:] for b in arch['blocks']]
    _raises(
        ValueError, 'arch blocks must form 3 stages (3 blocks with '
        'is_first=True), got 1', SelecSLS, dict(arch, blocks=blocks))
    _raises(
        TypeError, 'out_indices must be an int or a non-empty sequence of '
        'ints, got []',
        SelecSLS,
        out_indices=[])
    _raises(
        ValueError, 'out_indices 6 is out of range: SelecSLS has levels 0..5 '
        '(0 stem, 1-3 stages, 4-5 head convs); negative indices count from '
        'the end',
        SelecSLS,
        out_indices=6)


def test_bad_inputs_say_what_in_one_line():
    model = SelecSLS('42', out_indices=1).eval()
    _raises(
        ValueError, 'input of 16x64 px is too small: SelecSLS needs at least '
        '32 px per side; resize the images in the data pipeline', model,
        torch.zeros(1, 3, 16, 64))
    _raises(
        ValueError, 'SelecSLS expects input of shape (N, 3, H, W), got (1, '
        '1, 32, 32); set in_channels in the backbone config to match your '
        'images', model, torch.zeros(1, 1, 32, 32))


def test_out_indices_forms_and_only_the_levels_needed_are_built():
    assert SelecSLS('42', out_indices=4).out_indices == (4, )
    assert SelecSLS('42', out_indices=-6).out_indices == (0, )
    model = SelecSLS('42', out_indices=(1, ))
    assert model.layer_names == ['stem', 'stage1']
    assert not hasattr(model, 'stage2') and not hasattr(model, 'head1')
    model = SelecSLS('42', out_indices=(3, ))
    assert model.layer_names[-1] == 'stage3' and not hasattr(model, 'head1')
    model = SelecSLS('42', out_indices=(4, ))
    assert model.layer_names[-1] == 'head1' and not hasattr(model, 'head2')


def test_deploy_and_frozen_stages_apply_to_a_truncated_model():
    model = SelecSLS('42', out_indices=(1, ), deploy=True)
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    model = SelecSLS('42', out_indices=(2, ), frozen_stages=1)
    assert not any(p.requires_grad for p in model.stage1.parameters())
    assert all(p.requires_grad for p in model.stage2.parameters())


def test_head_padding_keeps_the_size_for_any_odd_kernel():
    arch = dict(SelecSLS.arch_settings['42'])
    head = list(arch['head'])
    cin, cout, _, stride = head[1]
    head[1] = (cin, cout, 5, stride)
    model = SelecSLS(dict(arch, head=head), out_indices=(3, 4)).eval()
    with torch.no_grad():
        stage3, head1 = model(torch.zeros(1, 3, 64, 64))
    assert head1.shape[2:] == (stage3.shape[2] // 2, stage3.shape[3] // 2)


def test_block_defaults_and_attributes():
    block = SelecSLSBlock(
        8,
        0,
        16,
        24,
        is_first=True,
        init_cfg=dict(type='Kaiming', layer='Conv2d'))
    assert block.with_cp is False
    assert (block.in_channels, block.skip_channels, block.out_channels) == \
        (8, 0, 24)
    assert block.init_cfg == dict(type='Kaiming', layer='Conv2d')
    assert block(torch.zeros(1, 8, 10, 10)).shape == (1, 24, 10, 10)
    # a first block takes no skip input, whatever skip_channels says
    block = SelecSLSBlock(8, 16, 16, 24, is_first=True).eval()
    assert block.skip_channels == 0
    assert block(torch.zeros(1, 8, 10, 10)).shape == (1, 24, 10, 10)
    block = SelecSLSBlock(8, 8, 16, 24, is_first=False, norm_cfg=None)
    assert block.conv1.conv.bias is not None


def test_block_bad_arguments_say_what_in_one_line():
    _raises(
        ValueError,
        'stride must be 1 or 2, got 3',
        SelecSLSBlock,
        8,
        0,
        16,
        24,
        True,
        stride=3)
    _raises(ValueError, 'mid_channels must be an int or five ints, got (8, '
            '8)', SelecSLSBlock, 8, 0, (8, 8), 24, True)
    block = SelecSLSBlock(8, 8, 16, 24, is_first=False)
    _raises(ValueError, 'a non-first SelecSLS block needs the skip input',
            block, torch.zeros(1, 8, 8, 8))


def _conv_bn(conv_bias, affine):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=conv_bias)
    bn = nn.BatchNorm2d(4, affine=affine)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    if affine:
        bn.weight.data.uniform_(0.5, 2)
        bn.bias.data.uniform_(-1, 1)
    return conv, bn.eval()


@pytest.mark.parametrize('conv_bias,affine', [(True, True), (False, False),
                                              (True, False)])
def test_fold_conv_bn_variants_and_the_conv_is_left_alone(conv_bias, affine):
    conv, bn = _conv_bn(conv_bias, affine)
    before = {k: v.clone() for k, v in conv.state_dict().items()}
    fused = fuse_conv_bn(conv, bn)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-5, atol=1e-5)
    for k, v in conv.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_fold_errors_say_what_in_one_line():
    conv, _ = _conv_bn(True, True)
    _raises(ValueError, 'BN has 5 channels but the conv before it outputs 4',
            fuse_conv_bn, conv, nn.BatchNorm2d(5))
    padded = ConvModule(
        3, 4, 3, padding=1, padding_mode='reflect', norm_cfg=dict(type='BN'))
    _raises(
        ValueError, 'cannot fold a ConvModule with explicit padding or '
        'spectral norm; build it with the default options', fuse_conv_module,
        padded)
    grouped = ConvModule(3, 4, 3, norm_cfg=dict(type='GN', num_groups=2))
    _raises(
        TypeError, 'only BatchNorm-like layers can be folded into a '
        'conv, got GroupNorm; use norm_cfg=dict(type="BN") (or SyncBN) '
        'for a model you want to deploy', fuse_conv_module, grouped)


def test_fold_conv_modules_without_activation_and_counts():
    model = nn.Sequential(
        ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type='BN'), act_cfg=None),
        ConvModule(4, 4, 1, norm_cfg=dict(type='BN')),
        nn.Sequential(ConvModule(4, 4, 1, norm_cfg=dict(type='BN'))))
    model.eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = model(x)
    assert fuse_conv_modules(model) == 3
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
    assert not re.search('BatchNorm', repr(model))


def test_input_checks_stay_out_of_a_traced_graph():
    """The checks are for eager use: a trace (ONNX export) records no
    Python-side shape test, so it does not refuse what eager would."""
    model = SelecSLS('42', out_indices=1).eval()
    with pytest.raises(ValueError):
        model(torch.zeros(1, 3, 16, 16))
    traced = torch.jit.trace(
        model, torch.zeros(1, 3, 16, 16), check_trace=False)
    assert traced(torch.zeros(1, 3, 16, 16))[0].shape == (1, 128, 4, 4)

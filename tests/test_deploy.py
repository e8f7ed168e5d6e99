# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Deploy mode: BN folding, channel pruning and the deploy checkpoint
(``selecsls_mm.deploy.deploy_checkpoint``, behind
tools/deployment/deploy.py)."""
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from selecsls_mm.deploy import (deploy_checkpoint, format_deploy_report,
                                prune_classifier, prune_selecsls)
from selecsls_mm.deploy.deploy_config import (deploy_overrides,
                                              load_source_config)
from selecsls_mm.models.backbones import SelecSLS
from selecsls_mm.models.utils import ConvAct
from selecsls_mm.utils import (build_model, count_params, load_checkpoint_file,
                               load_weights, max_rel_diff)
from helpers import REPO_ROOT, assert_refusals, randomize_bn

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ARCHS = sorted(SelecSLS.arch_settings)

rel_diff = max_rel_diff


def build_classifier(arch='42', num_classes=10):
    head_in = SelecSLS(arch, out_indices=(5, )).out_channels[-1]
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='SelecSLS', arch=arch, out_indices=(5, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=head_in)))
    randomize_bn(model, signed=True)
    return model.eval()


@pytest.mark.parametrize('arch', ARCHS)
def test_fused_matches_unfused(arch):
    model = SelecSLS(arch, out_indices=(0, 1, 2, 3, 4, 5))
    randomize_bn(model, signed=True)
    # Dead channels (variance 0, as after a ReLU that never fires) make
    # BN's eps matter.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_var[::7] = 0
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        model.switch_to_deploy()
        got = model(x)
    assert rel_diff(expected, got) < 1e-4
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())


def test_fused_classifier_matches_unfused():
    model = build_classifier('60')
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        model.backbone.switch_to_deploy()
        got = model(x)
    assert expected.shape == (2, 10)
    assert rel_diff(expected, got) < 1e-4


def test_switch_to_deploy_twice_is_noop_and_matches_deploy_build():
    model = SelecSLS('42', out_indices=(3, ))
    randomize_bn(model, signed=True)
    model.eval()
    model.switch_to_deploy()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modules = [type(m) for m in model.modules()]
    model.switch_to_deploy()
    assert [type(m) for m in model.modules()] == modules
    after = model.state_dict()
    assert state.keys() == after.keys()
    assert all(torch.equal(state[k], after[k]) for k in state)

    built = SelecSLS('42', out_indices=(3, ), deploy=True)
    assert built.deploy and model.deploy
    assert not any(isinstance(m, _BatchNorm) for m in built.modules())
    assert [type(m) for m in built.modules()] == modules
    built.load_state_dict(state)  # strict: same names and shapes
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(built.eval()(x)[0], model(x)[0])
    # Every conv of the deploy form is a lean ConvAct with a bias.
    convs = [m for m in built.modules() if isinstance(m, ConvAct)]
    assert convs and all(m.conv.bias is not None for m in convs)


def test_deploy_runs_channels_last():
    # channels_last is the fast CPU layout of the deploy form.
    model = SelecSLS('42', out_indices=(2, 5))
    randomize_bn(model, signed=True)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        model.switch_to_deploy()
        model.to(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last))
    assert got[0].is_contiguous(memory_format=torch.channels_last)
    assert rel_diff(expected, got) < 1e-4


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_folding_keeps_a_low_precision_model_in_its_dtype(dtype):
    """A half or bfloat16 model stays half or bfloat16 after folding (a
    float64 or float32 weight would make its next forward fail or double
    its size)."""
    model = SelecSLS('42', out_indices=(1, ))
    randomize_bn(model, signed=True)
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[0]
    model.to(dtype).switch_to_deploy()
    assert {p.dtype for p in model.parameters()} == {dtype}
    with torch.no_grad():
        got = model(x.to(dtype))[0]
    assert got.dtype == dtype
    # (bfloat16 keeps ~3 significant digits per layer)
    assert rel_diff(expected, got.float()) < 0.1


def test_folding_refuses_a_conv_module_in_another_order():
    """Only conv -> norm -> act folds into conv(+bias) -> act; a ConvModule
    that normalises after its activation is refused, not turned into a
    model that computes something else."""
    from mmcv.cnn import ConvModule

    from selecsls_mm.models.utils import fuse_conv_module, fuse_conv_modules
    module = ConvModule(3, 4, 3, padding=1, order=('conv', 'act', 'norm'))
    model = torch.nn.Sequential(module).eval()
    with pytest.raises(
            ValueError,
            match=r"order \(conv, norm, act\).*"
            r"got \('conv', 'act', 'norm'\)"):
        fuse_conv_module(module)
    with pytest.raises(ValueError, match='order'):
        fuse_conv_modules(model)
    assert model[0] is module  # left as it was


def test_fuse_refuses_bn_without_running_statistics():
    model = SelecSLS(
        '42',
        out_indices=(0, ),
        norm_cfg=dict(type='BN', track_running_stats=False))
    with pytest.raises(ValueError) as err:
        model.switch_to_deploy()
    assert str(err.value) == (
        'cannot fold BatchNorm2d without running statistics '
        '(track_running_stats=False): it normalises with batch statistics '
        'at inference too')


def test_fuse_rejects_group_norm():
    model = SelecSLS(
        '42', out_indices=(0, ), norm_cfg=dict(type='GN', num_groups=4))
    with pytest.raises(TypeError, match='BatchNorm'):
        model.switch_to_deploy()


def test_prune_below_every_gamma_changes_nothing():
    model = build_classifier('42')
    gammas = torch.cat(
        [m.weight.abs() for m in model.modules() if isinstance(m, _BatchNorm)])
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    arch = SelecSLS.arch_settings['42']
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        report = prune_classifier(model, float(gammas.min()) * 0.99)
        got = model(x)
    assert all(row['before'] == row['after'] for row in report)
    assert {k: v.shape for k, v in model.state_dict().items()} == shapes
    assert torch.equal(expected, got)
    # The recorded arch rebuilds the same network.
    rebuilt = SelecSLS(arch=model.backbone.arch, out_indices=(5, ))
    assert rebuilt.out_channels == model.backbone.out_channels
    assert [tuple(b[:2]) + tuple(b[3:]) for b in arch['blocks']] == \
        [tuple(b[:2]) + tuple(b[3:]) for b in model.backbone.arch['blocks']]


def _zero_channels(module, channels, positive_beta):
    """gamma = 0 makes the channel the constant act(beta); beta > 0 tests
    the constant folding, beta <= 0 makes it 0 (exact for any consumer)."""
    bn = module.norm
    with torch.no_grad():
        bn.weight[channels] = 0
        bn.bias[channels] = 0.25 if positive_beta else -0.1


def test_prune_zero_gamma_channels_is_exact():
    model = build_classifier('60')
    b = model.backbone
    # (conv, channels, beta > 0): positive constants only where every
    # consumer is 1x1 or the classifier, where folding them is exact.
    zeroed = [
        (b.stem, [0, 5, 31], False),
        (b.stage1[0].conv1, [1, 2], True),  # -> conv2 and conv6, both 1x1
        (b.stage1[0].conv6, [3, 60], False),  # long-range skip + next conv1
        (b.stage1[1].conv6, [0, 127], False),  # stage output
        (b.stage2[0].conv3, [4], True),  # -> conv4 and conv6
        (b.stage2[1].conv2, [7, 8], False),  # -> 3x3 conv3
        (b.stage2[1].conv5, [2], True),  # -> conv6 only
        (b.stage2[0].conv6, [10, 11, 12], False),  # skip of 3 blocks
        (b.stage3[3].conv6, [5], False),  # stage3 output -> head
        (b.head1[0], [9], False),
        (b.head2[1], [0, 1, 1279], True),  # last conv -> GAP -> fc
    ]
    for module, channels, positive in zeroed:
        _zero_channels(module, channels, positive)
    x = torch.randn(2, 3, 64, 64)
    params = count_params(model)
    with torch.no_grad():
        expected = model(x)
        report = prune_classifier(model, 1e-3)
        got = model(x)
        # pruning again (now with odd widths) finds nothing more
        again = prune_classifier(model, 1e-3)
        got_again = model(x)
    assert [(r['before'], r['after']) for r in again] == \
        [(r['after'], r['after']) for r in report]
    assert torch.equal(got_again, got)
    removed = {row['name']: row['before'] - row['after'] for row in report}
    assert removed['stem'] == 3
    assert removed['stage1.0.conv6'] == 2
    assert removed['stage2.1.conv2'] == 2
    assert removed['head2.1'] == 3
    assert removed['head.fc (inputs)'] == 3
    assert sum(removed.values()) == 3 + 2 + 2 + 2 + 1 + 2 + 1 + 3 + 1 + 1 + 3 \
        + 3
    assert count_params(model) < params
    torch.testing.assert_close(
        got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())
    # Folding BN afterwards keeps it exact.
    model.backbone.switch_to_deploy()
    with torch.no_grad():
        fused = model(x)
    torch.testing.assert_close(
        fused, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())

    # The recorded widths rebuild the pruned network, deploy form too.
    arch, stem = model.backbone.arch, model.backbone.out_channels[0]
    assert stem == 29 and model.head.in_channels == 1277
    assert tuple(arch['blocks'][0][2]) == (62, 64, 32, 64, 32)
    rebuilt = SelecSLS(
        arch=arch, stem_channels=stem, out_indices=(5, ), deploy=True)
    rebuilt.load_state_dict(model.backbone.state_dict())


def test_prune_keeps_output_level_channels():
    # A pose model reads stage3: nothing outside the backbone is adapted, so
    # the output level keeps its channels; inner ones are pruned.
    model = SelecSLS('60', out_indices=(3, ))
    randomize_bn(model, signed=True)
    model.eval()
    _zero_channels(model.stage3[-1].conv6, [0, 1], False)
    _zero_channels(model.stage3[0].conv6, [0, 1], False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[0]
        prune_selecsls(model, 1e-3)
        got = model(x)[0]
    assert model.out_channels[3] == 416 and got.shape[1] == 416
    assert model.stage3[0].conv6.out_channels == 286
    torch.testing.assert_close(
        got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_prune_folds_constants_through_3x3_consumers():
    """A removed channel with a non-zero constant read by a 3x3 conv: the
    constant times the sum of all nine taps is folded, exact everywhere but
    the one-pixel zero-padded border."""
    model = SelecSLS('60', out_indices=(3, ))
    randomize_bn(model, signed=True)
    model.eval()
    block = model.stage2[1]
    _zero_channels(block.conv2, [7, 8, 100], True)  # conv2 feeds 3x3 conv3
    seen = []
    block.conv3.register_forward_hook(lambda m, i, out: seen.append(out))
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        model(x)
        report = prune_selecsls(model, 1e-3)
        model(x)
    assert {
        r['name']: r['before'] - r['after']
        for r in report if r['after'] < r['before']
    } == {
        'stage2.1.conv2': 3
    }
    expected, got = seen
    assert got.shape == expected.shape == (1, 64, 16, 12)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    torch.testing.assert_close(
        got[inner],
        expected[inner],
        rtol=1e-5,
        atol=1e-5 * expected.abs().max().item())


def test_prune_keeps_one_channel_of_a_conv_it_would_empty():
    model = build_classifier('42')
    conv5 = model.backbone.stage2[1].conv5  # read by the 1x1 conv6 only
    _zero_channels(conv5, list(range(conv5.out_channels)), True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        report = prune_classifier(model, 1e-3)
        got = model(x)
    assert conv5.out_channels == 1
    assert [r for r in report if r['name'] == 'stage2.1.conv5'] == \
        [dict(name='stage2.1.conv5', before=72, after=1)]
    torch.testing.assert_close(
        got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())
    # The recorded widths rebuild it.
    backbone = model.backbone
    assert backbone.arch['blocks'][3][2] == (144, 144, 72, 144, 1)
    rebuilt = SelecSLS(arch=backbone.arch, out_indices=(5, ), deploy=True)
    backbone.switch_to_deploy()
    rebuilt.load_state_dict(backbone.state_dict())


def test_prune_needs_bn_form():
    model = SelecSLS('42', out_indices=(1, ))
    model.switch_to_deploy()
    with pytest.raises(ValueError, match='before switch_to_deploy'):
        prune_selecsls(model, 1e-3)


def _write_config(path):
    path.write_text(
        "model = dict(type='ImageClassifier',\n"
        "    backbone=dict(type='SelecSLS', arch='42', out_indices=(5, )),\n"
        "    neck=dict(type='GlobalAveragePooling'),\n"
        "    head=dict(type='LinearClsHead', num_classes=10,\n"
        "              in_channels=1280))\n")


def _widths_rebuild(arch, stem_channels):
    """The level widths of the SelecSLS that a written ``arch`` override
    (with its config ``_delete_`` key) and stem width build."""
    arch = {k: v for k, v in arch.items() if k != '_delete_'}
    return SelecSLS(
        arch=arch, stem_channels=stem_channels, out_indices=(5, )).out_channels


@pytest.mark.slow
def test_deploy_tool_prunes_and_round_trips(tmp_path):
    config = tmp_path / 'cfg.py'
    _write_config(config)
    model = build_model(Config.fromfile(str(config)))
    randomize_bn(model, signed=True)
    model.eval()
    b = model.backbone
    _zero_channels(b.stem, [0], False)
    _zero_channels(b.stage2[0].conv6, [1, 2], False)
    _zero_channels(b.stage3[0].conv1, [3], True)
    _zero_channels(b.head2[1], [4, 5], True)
    # as a Runner writes it: the training config in the meta
    training_cfg = Config.fromfile(str(config)).pretty_text
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(cfg=training_cfg)),
        tmp_path / 'in.pth')

    out = tmp_path / 'out' / 'pruned.pth'
    result = deploy_checkpoint(
        str(tmp_path / 'in.pth'),
        str(out),
        config=str(config),
        prune_threshold=1e-3,
        shape=(64, 64))
    printed = format_deploy_report(result)
    assert 'stem' in printed and 'MACs' in printed
    assert result['params'][1] < result['params'][0]
    assert result['macs'][1] < result['macs'][0]
    assert sorted(p.name for p in out.parent.iterdir()) == \
        ['pruned.pth', 'pruned.py']  # no temp files left

    # The written config + checkpoint rebuild the pruned deploy model.
    cfg = Config.fromfile(str(out.with_suffix('.py')))
    assert cfg.model.backbone.deploy and cfg.model.head.in_channels == 1278
    deployed = build_model(cfg)
    checkpoint = load_checkpoint_file(str(out))
    assert checkpoint['meta']['deploy']['prune_threshold'] == 1e-3
    # the meta names the pruned widths: they rebuild the pruned backbone
    widths = checkpoint['meta']['deploy']
    assert _widths_rebuild(widths['arch'], widths['stem_channels']) == \
        deployed.backbone.out_channels
    # The config stored in the checkpoint (what mmengine tools fall back
    # to) is the written deploy config, not the training one.
    stored = Config.fromstring(checkpoint['meta']['cfg'], file_format='.py')
    assert stored.model.backbone.get('deploy') and \
        stored.model.head.in_channels == 1278
    load_weights(build_model(stored), checkpoint)
    load_weights(deployed, checkpoint)
    deployed.eval()
    assert not any(isinstance(m, _BatchNorm) for m in deployed.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = model(x), deployed(x)
    assert rel_diff(expected, got) < 1e-5

    # A deploy checkpoint with the BN config gets a clear error.
    with pytest.raises(ValueError, match='deploy checkpoint'):
        load_weights(build_model(Config.fromfile(str(config))), checkpoint)


@pytest.mark.slow
def test_deploy_tool_config_from_meta_and_errors(tmp_path):
    config = tmp_path / 'cfg.py'
    _write_config(config)
    cfg = Config.fromfile(str(config))
    model = build_model(cfg)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'bare.pth')
    with pytest.raises(ValueError, match='--config'):
        deploy_checkpoint(str(tmp_path / 'bare.pth'), str(tmp_path / 'o.pth'))
    with pytest.raises(ValueError, match='.pth'):
        deploy_checkpoint(
            str(tmp_path / 'bare.pth'),
            str(tmp_path / 'o.onnx'),
            config=str(config))

    # Unpruned, config from meta: the whole config is written.
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(cfg=cfg.pretty_text)),
        tmp_path / 'in.pth')
    out = tmp_path / 'fused.pth'
    result = deploy_checkpoint(
        str(tmp_path / 'in.pth'), str(out), shape=(64, 64))
    assert result['max_rel_diff'] < 1e-4
    written = Config.fromfile(str(out.with_suffix('.py')))
    assert written.model.backbone.deploy and \
        written.model.backbone.arch == '42'
    assert result['params'][1] < result['params'][0]  # BN params are gone


@pytest.mark.slow
def test_deploy_tool_keeps_cfg_options(tmp_path):
    config = tmp_path / 'cfg.py'
    _write_config(config)
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict({'model.head.num_classes': 5})
    model = build_model(cfg)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'in.pth')
    out = tmp_path / 'fused.pth'
    deploy_checkpoint(
        str(tmp_path / 'in.pth'),
        str(out),
        config=str(config),
        shape=(64, 64),
        cfg_options={'model.head.num_classes': 5})
    written = Config.fromfile(str(out.with_suffix('.py')))
    assert written.model.head.num_classes == 5
    assert written.model.backbone.deploy


@pytest.mark.slow
def test_deploy_config_survives_moving_the_files(tmp_path):
    """The written config inherits its source by a path that does not
    depend on where the pair lies: ``selecsls_mm::...`` for a config of
    this package, the absolute path for any other."""
    ours = osp.join(REPO_ROOT, 'configs', 'selecsls',
                    'selecsls42_8xb32_in1k.py')
    theirs = tmp_path / 'cfg.py'
    _write_config(theirs)
    for config, base in ((ours, 'selecsls_mm::selecsls/selecsls42_8xb32_'
                          'in1k.py'), (str(theirs), str(theirs))):
        model = build_model(Config.fromfile(config))
        torch.save(dict(state_dict=model.state_dict()), tmp_path / 'in.pth')
        out = tmp_path / 'out' / 'fused.pth'
        deploy_checkpoint(
            str(tmp_path / 'in.pth'), str(out), config=config, shape=(64, 64))
        text = out.with_suffix('.py').read_text()
        assert f'_base_ = [{base!r}]' in text
        moved = tmp_path / 'elsewhere' / 'deep'
        shutil.move(str(out.parent), str(moved))
        cfg = Config.fromfile(str(moved / 'fused.py'))
        assert cfg.model.backbone.deploy
        load_weights(
            build_model(cfg), load_checkpoint_file(str(moved / 'fused.pth')))
        shutil.rmtree(tmp_path / 'elsewhere')


@pytest.mark.slow
def test_deploy_failed_write_leaves_earlier_files(tmp_path, monkeypatch):
    """A checkpoint write that dies half-way (disk full) leaves neither a
    half checkpoint nor a config without its checkpoint."""
    config = tmp_path / 'cfg.py'
    _write_config(config)
    model = build_model(Config.fromfile(str(config)))
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'in.pth')
    out = tmp_path / 'out' / 'fused.pth'
    out.parent.mkdir()
    out.write_bytes(b'earlier checkpoint')
    out.with_suffix('.py').write_text('# earlier config\n')
    real_save = torch.save

    def save_half_then_fail(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        with open(f, 'r+b') as fh:
            fh.truncate(100)
        raise OSError('No space left on device')

    monkeypatch.setattr(torch, 'save', save_half_then_fail)
    with pytest.raises(OSError, match='No space'):
        deploy_checkpoint(
            str(tmp_path / 'in.pth'),
            str(out),
            config=str(config),
            shape=(64, 64))
    assert sorted(p.name for p in out.parent.iterdir()) == \
        ['fused.pth', 'fused.py']
    assert out.read_bytes() == b'earlier checkpoint'
    assert out.with_suffix('.py').read_text() == '# earlier config\n'


def test_deploy_report_text():
    """What the deploy tool prints, for a hand-made result: only the layers
    that lost channels, with how many, and the sizes in M and G."""
    result = dict(
        report=[
            dict(name='stem.conv', before=32, after=30),
            dict(name='stage1.0.conv1', before=64, after=64),
            dict(name='head2.1', before=1280, after=1278),
        ],
        params=(31_234_567, 30_987_654),
        macs=(2_345_678_901, 2_222_222_222),
        shape=(224, 192),
        max_rel_diff=3.25e-6,
        out='work/pruned.pth',
        config='work/pruned.py')
    assert format_deploy_report(result).split('\n') == [
        'channels removed in 2 of 3 layers:',
        '  stem.conv                 32 ->    30  (-2)',
        '  head2.1                 1280 ->  1278  (-2)',
        'parameters: 31.235 M -> 30.988 M',
        'MACs at 224x192 (multiply-accumulates per image): 2.346 G -> 2.222 G',
        'max relative output difference on a random input: 3.25e-06',
        'wrote work/pruned.pth and work/pruned.py',
    ]
    unpruned = dict(result, report=[])
    assert format_deploy_report(unpruned).split('\n')[0] == \
        'parameters: 31.235 M -> 30.988 M'
    # M is 10^6 and G 10^9 exactly, however large the model
    huge = dict(
        unpruned, params=(5 * 10**9, 4 * 10**9), macs=(10**15, 2 * 10**15))
    assert format_deploy_report(huge).split('\n')[:2] == [
        'parameters: 5000.000 M -> 4000.000 M',
        'MACs at 224x192 (multiply-accumulates per image): 1000000.000 G -> '
        '2000000.000 G'
    ]


def test_prune_classifier_adapts_only_a_gap_and_linear_head():
    """The last level loses channels only where the model reads it through
    global average pooling and a linear head.fc; a model with a backbone
    alone, another pooling or another head keeps them."""
    import torch.nn as nn

    def zeroed(model):
        _zero_channels(model.backbone.head2[1], [0, 1], False)
        return model

    model = zeroed(build_classifier('42'))
    report = prune_classifier(model, 1e-3)
    assert report[-1] == dict(name='head.fc (inputs)', before=1280, after=1278)
    assert model.head.in_channels == model.head.fc.in_features == 1278

    class Bare(nn.Module):

        def __init__(self, **parts):
            super().__init__()
            for name, part in parts.items():
                setattr(self, name, part)

    cases = [
        Bare(backbone=SelecSLS('42')),
        Bare(
            backbone=SelecSLS('42'),
            neck=Bare(gap=nn.AdaptiveMaxPool2d(1)),
            head=Bare(fc=nn.Linear(1280, 10))),
        Bare(
            backbone=SelecSLS('42'),
            neck=Bare(gap=nn.AdaptiveAvgPool2d(1)),
            head=Bare(fc=nn.Identity())),
    ]
    for model in cases:
        _zero_channels(model.backbone.head2[1], [0, 1], False)
        last = model.backbone.layer_names[-1]
        report = prune_classifier(model, 1e-3)
        assert not any(row['name'].startswith(
            ('head.', last + '.')) and row['after'] < row['before']
                       for row in report)
        assert model.backbone.head2[1].conv.out_channels == 1280


def test_pruning_keeps_frozen_parameters_frozen():
    """A pruned parameter keeps requires_grad (frozen stages stay frozen
    when the pruned model is fine-tuned); buffers stay buffers."""
    model = SelecSLS('42')
    model.stem.requires_grad_(False)
    _zero_channels(model.stem, [0, 1], False)
    _zero_channels(model.stage1[0].conv1, [2], False)
    report = prune_selecsls(model, 1e-3)
    assert {r['name']: r['after'] for r in report}['stem'] == 30
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert model.stage1[0].conv1.conv.weight.requires_grad
    assert 'running_mean' in dict(model.stem.bn.named_buffers())


@pytest.mark.slow
def test_deploy_checkpoint_refuses_with_one_line_and_writes_nothing(tmp_path):
    """Each wrong input ends in one line naming it, and no file is
    written."""
    config = tmp_path / 'cfg.py'
    _write_config(config)
    model = build_model(Config.fromfile(str(config)))
    source = str(tmp_path / 'in.pth')
    torch.save(dict(state_dict=model.state_dict()), source)
    resnet = tmp_path / 'resnet.py'
    resnet.write_text("model = dict(type='ImageClassifier',\n"
                      "    backbone=dict(type='ResNet', depth=18))\n")
    deployed = tmp_path / 'deployed.py'
    deployed.write_text(config.read_text().replace("arch='42'",
                                                   "arch='42', deploy=True"))
    other = tmp_path / 'other.pth'  # a checkpoint of another arch
    torch.save(
        dict(state_dict=SelecSLS('60', out_indices=(5, )).state_dict()), other)
    out = tmp_path / 'out' / 'fused.pth'
    out.parent.mkdir()

    def deploy(checkpoint=source, out=str(out), config=str(config)):
        return lambda: deploy_checkpoint(
            checkpoint, out, config, shape=(32, 32))

    missing = str(tmp_path / 'missing.pth')
    assert_refusals([
        (deploy(checkpoint=missing), f'checkpoint {missing} does not exist'),
        (deploy(config=str(tmp_path / 'none.py')),
         f'config {tmp_path / "none.py"} does not exist'),
    ], FileNotFoundError)
    assert_refusals([
        (deploy(out=str(tmp_path / 'o.onnx')),
         f'OUT must end with .pth or .pt, got {tmp_path / "o.onnx"}: the '
         'config is written next to it with the suffix .py'),
        (deploy(out=source), 'OUT must differ from the input checkpoint'),
        (deploy(config=None),
         f'{source} stores no config in its meta (meta["cfg"]); pass the '
         'config it was trained with: --config CONFIG'),
        (deploy(config=str(deployed)),
         'the config builds a deploy model already (backbone.deploy=True); '
         'pass the config of the BN model'),
    ], ValueError)
    pooling = tmp_path / 'pooling.py'  # a model without a backbone
    pooling.write_text("model = dict(type='GlobalAveragePooling')\n")
    assert_refusals([(deploy(config=str(resnet)),
                      'model.backbone (ResNet) has no switch_to_deploy(); '
                      'this tool expects SelecSLS'),
                     (deploy(config=str(pooling)),
                      'model.backbone (NoneType) has no switch_to_deploy(); '
                      'this tool expects SelecSLS')], TypeError)
    with pytest.raises(Exception, match=f'checkpoint {other}'):
        deploy(checkpoint=str(other))()
    assert list(out.parent.iterdir()) == []


@pytest.mark.slow
def test_deploy_checkpoint_meta_and_default_threshold(tmp_path):
    """Without a threshold nothing is pruned, however small a gamma; a
    threshold below every gamma writes no widths; the source meta is kept
    and ``meta['deploy']`` says where the file came from; the reported
    difference is reproducible."""
    config = tmp_path / 'cfg.py'
    _write_config(config)
    model = build_model(Config.fromfile(str(config)))
    randomize_bn(model, signed=True)
    gammas = torch.cat([
        m.weight.detach().abs() for m in model.modules()
        if isinstance(m, _BatchNorm)
    ])
    whole = tmp_path / 'whole.pth'
    torch.save(dict(state_dict=model.state_dict()), whole)
    _zero_channels(model.backbone.stem, [0], False)
    source = tmp_path / 'in.pth'
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(epoch=7, note='kept')),
        source)

    out = tmp_path / 'fused.pth'
    results = [
        deploy_checkpoint(str(source), str(out), str(config), shape=(32, 32))
        for _ in range(2)
    ]
    assert results[0]['report'] == []
    assert (results[0]['out'], results[0]['config']) == \
        (str(out), str(out.with_suffix('.py')))
    assert results[0]['max_rel_diff'] == results[1]['max_rel_diff'] < 1e-4
    meta = load_checkpoint_file(str(out))['meta']
    assert meta['epoch'] == 7 and meta['note'] == 'kept'
    assert meta['deploy'] == dict(
        source='in.pth', prune_threshold=0.0, arch=None, stem_channels=32)
    assert 'stem_channels' not in out.with_suffix('.py').read_text()

    below = gammas.min().item() / 2
    assert below > 0
    pt = tmp_path / 'whole.pt'  # torch's other suffix
    result = deploy_checkpoint(
        str(whole),
        str(pt),
        str(config),
        prune_threshold=below,
        shape=(32, 32))
    assert len(result['report']) > 0
    assert all(r['after'] == r['before'] for r in result['report'])
    text = pt.with_suffix('.py').read_text()
    assert text.split('\n')[0] == (
        '# Deploy form written by tools/deployment/deploy.py; use it with '
        'the checkpoint of the same name.')
    assert 'stem_channels' not in text
    assert load_checkpoint_file(str(pt))['meta']['deploy']['arch'] is None


def test_deploy_overrides_write_the_head_width_of_a_linear_head_only():
    """Pruned widths go into the written config; ``head.in_channels`` only
    for a head that reads them with a linear ``fc``."""
    from mmpretrain.models.heads import StackedLinearClsHead
    model = build_classifier('42')
    assert deploy_overrides(
        model, pruned=False) == dict(backbone=dict(deploy=True))
    overrides = deploy_overrides(model, pruned=True)
    assert overrides['head'] == dict(in_channels=1280)
    assert overrides['backbone']['stem_channels'] == 32
    assert overrides['backbone']['arch']['_delete_'] is True
    assert _widths_rebuild(overrides['backbone']['arch'], 32) == \
        SelecSLS('42').out_channels
    model.head = StackedLinearClsHead(10, 1280, mid_channels=[16])
    assert 'head' not in deploy_overrides(model, pruned=True)
    model.head = None  # mmpretrain's ImageClassifier without a head
    assert 'head' not in deploy_overrides(model, pruned=True)
    model.head = torch.nn.Module()
    model.head.fc = torch.nn.Linear(1280, 10)  # no in_channels to set
    assert 'head' not in deploy_overrides(model, pruned=True)


def test_load_source_config_without_a_config_in_the_meta():
    """Whatever the checkpoint holds instead of a meta with ``cfg``, the
    same line asks for ``--config``."""
    line = ('x.pth stores no config in its meta (meta["cfg"]); pass the '
            'config it was trained with: --config CONFIG')
    assert_refusals([(lambda c=c: load_source_config(c, 'x.pth'), line)
                     for c in ({}, dict(meta=None), dict(meta='cfg'),
                               dict(meta=dict(cfg=None)), [1, 2])], ValueError)

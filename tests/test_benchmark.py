# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""tools/benchmark.py and selecsls_mm.benchmark: the tool runs end to end,
the saved-for-backward counter is exact, specs parse or fail clearly.
No timing assertions: speed is reported by the tool, never unit-tested."""
import json
import os

import numpy as np
import pytest
from helpers import load_tool
import torch
import torch.nn as nn
import torch.nn.functional as F

from selecsls_mm.benchmark import (SavedTensorCounter, build_benchmark_model,
                                   count_flops, paired_ratio,
                                   parse_model_spec, saved_activation_bytes,
                                   summarize, time_interleaved)
from selecsls_mm.models.backbones.selecsls import SelecSLS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nbytes(t):
    return t.numel() * t.element_size()


class ConvReLU(nn.Module):

    def __init__(self, extra=False):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.proj = nn.Parameter(torch.randn(3 * 5 * 5, 4))
        self.extra = extra

    def forward(self, x):
        y = F.relu(self.conv(x))
        if not self.extra:
            return y
        # Both mul operands and the matmul's left operand are y or a view of
        # it: one storage, already saved by relu. exp saves a new result.
        z = y * y
        w = y.flatten(1) @ self.proj
        return z.exp().sum() + w.sum()


def test_saved_bytes_conv_relu_exact():
    x = torch.randn(1, 2, 5, 5)
    model = ConvReLU()
    # conv saves its input (for the weight gradient) and its weight (a
    # parameter: excluded); relu saves its output.
    expected = nbytes(x) + nbytes(torch.empty(1, 3, 5, 5))
    assert saved_activation_bytes(model, x) == expected == 500


def test_saved_bytes_counts_shared_storage_once():
    x = torch.randn(1, 2, 5, 5)
    model = ConvReLU(extra=True)
    y_bytes = nbytes(torch.empty(1, 3, 5, 5))
    # input + relu output (shared by mul, mul, matmul) + exp's result.
    expected = nbytes(x) + y_bytes + y_bytes
    assert saved_activation_bytes(model, x) == expected == 800
    # Counting every saved tensor separately would give far more.
    with SavedTensorCounter() as counter:
        model(x)
    assert counter.total_bytes > expected  # parameters included there


def test_saved_bytes_with_cp_lower_for_selecsls():
    x = torch.randn(2, 3, 64, 64)
    plain = SelecSLS(arch='42b', out_indices=(3, ))
    cp = SelecSLS(arch='42b', out_indices=(3, ), with_cp=True)
    cp.load_state_dict(plain.state_dict())
    plain.eval()
    cp.eval()
    saved_plain = saved_activation_bytes(plain, x)
    saved_cp = saved_activation_bytes(cp, x)
    assert saved_cp < 0.5 * saved_plain
    # The stem's activations are outside any block, so something is saved.
    assert saved_cp > 0
    assert not plain.training and not cp.training  # mode restored


def test_flops_of_a_conv():
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
    # 2 FLOPs per multiply-add, one 2x3x3 dot product per output element.
    assert count_flops(conv, torch.randn(1, 2, 5, 5)) == 2 * 3 * 25 * 18


def test_summarize():
    stats = summarize([4.0, 1.0, 3.0, 2.0, 100.0])
    assert stats.median == 3.0 and stats.min == 1.0 and stats.max == 100.0
    assert stats.q1 == 2.0 and stats.q3 == 4.0 and stats.n == 5
    with pytest.raises(ValueError, match='at least one'):
        summarize([])


def test_paired_ratio_and_min_time():
    # A load spike hits both models of iteration 2: the paired ratio keeps 2.
    assert paired_ratio([2, 2, 200, 2], [1, 1, 100, 1]) == 2.0
    with pytest.raises(ValueError, match='equally long'):
        paired_ratio([1.0], [1.0, 2.0])
    calls = []
    times = time_interleaved(dict(a=lambda: calls.append('a'),
                                  b=lambda: calls.append('b')),
                             iters=2, warmup=1, device=torch.device('cpu'),
                             min_time=0.05, max_iters=7)
    assert len(times['a']) == len(times['b'])
    assert 2 <= len(times['a']) <= 7 and len(calls) == 2 + 2 * len(
        times['a'])
    # Rotating order: iteration 1 starts with b.
    assert calls[2:6] == ['a', 'b', 'b', 'a']


def test_model_specs():
    spec = parse_model_spec('selecsls60:with_cp')
    assert spec.cfg == dict(type='SelecSLS', arch='60', out_indices=(5, ),
                            with_cp=True)
    assert parse_model_spec('mmpretrain:ResNet-50').cfg == dict(
        type='mmpretrain.ResNet', depth=50)
    assert parse_model_spec('mmpretrain:RepVGG-A0').cfg == dict(
        type='mmpretrain.RepVGG', arch='A0')
    spec = parse_model_spec("dict(type='SelecSLS', arch='42b', "
                            'out_indices=(3,))')
    assert spec.source == 'config' and spec.cfg['out_indices'] == (3, )
    assert spec.with_options('deploy').cfg['deploy'] is True
    assert parse_model_spec('timm:vovnet39a').with_options(
        'with_cp').label == 'timm:vovnet39a:with_cp'
    spec = parse_model_spec('selecsls60:channels_last:with_cp')
    assert spec.channels_last and spec.cfg['with_cp']
    assert spec.without('with_cp').label == 'selecsls60:channels_last'
    assert 'with_cp' not in spec.without('with_cp').cfg
    for bad, match in [('resnet50', 'SelecSLS archs'),
                       ('selecsls61', 'selecsls60'),
                       ('timm:', 'names no model'),
                       ('selecsls60:fast', 'valid options'),
                       ("dict(arch='60')", '"type" key'),
                       ('dict(type=', 'cannot parse')]:
        with pytest.raises(ValueError, match=match):
            parse_model_spec(bad)


def test_timm_features_match_selecsls():
    pytest.importorskip('timm')
    ours = build_benchmark_model(parse_model_spec('selecsls42b'))
    timm_model = build_benchmark_model(parse_model_spec('timm:selecsls42b'))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        # Same feature level (no classifier): the last head conv's output.
        assert ours(x)[-1].shape == timm_model(x).shape == (1, 1024, 1, 1)
    with pytest.raises(ValueError, match='gradient checkpointing'):
        build_benchmark_model(parse_model_spec('timm:selecsls42b:with_cp'))


def test_deploy_spec():
    spec = parse_model_spec('selecsls42b:deploy')
    if not hasattr(SelecSLS, 'switch_to_deploy'):
        with pytest.raises(ValueError, match='switch_to_deploy'):
            build_benchmark_model(spec)
        return
    eager = build_benchmark_model(parse_model_spec('selecsls42b'))
    model = build_benchmark_model(spec)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.deploy
    with pytest.raises(ValueError, match='switch_to_deploy'):
        build_benchmark_model(parse_model_spec('mmpretrain:ResNet-18:deploy'))
    # A different random init, so only shapes can be compared here; the
    # deploy tests check the numbers.
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert model(x)[-1].shape == eager(x)[-1].shape


@pytest.mark.slow
def test_tool_end_to_end(tmp_path, capsys):
    tool = load_tool('benchmark')
    out = tmp_path / 'out.json'
    rc = tool.main([
        '--sizes', '64', '--batch-sizes', '1', '--iters', '1', '--warmup',
        '0', '--models', 'selecsls42b', 'mmpretrain:ResNet-18:channels_last',
        '--baselines', 'mmpretrain:ResNet-18:channels_last', '--memory',
        '--train-batch', '2', '--train-size', '64', '--json', str(out)
    ])
    assert rc == 0
    text = capsys.readouterr().out
    assert '| mmpretrain:ResNet-18:channels_last / selecsls42b |' in text
    assert 'threads' in text and torch.__version__ in text
    data = json.loads(out.read_text())
    assert {'environment', 'settings', 'date', 'command', 'forward',
            'complexity', 'memory'} <= set(data)
    assert data['environment']['threads'] == torch.get_num_threads()
    cells = data['forward']['cells']
    resnet = 'mmpretrain:ResNet-18:channels_last'
    assert [c['model'] for c in cells] == ['selecsls42b', resnet]
    for c in cells:
        assert c['size'] == [64, 64] and c['batch'] == 1
        assert len(c['times']) == 1 and c['median'] > 0
    ratio, = data['forward']['ratios']
    assert ratio['numerator'] == resnet
    assert ratio['denominator'] == 'selecsls42b'
    assert ratio['ratio'] == pytest.approx(cells[1]['median'] /
                                           cells[0]['median'])
    params = {c['model']: c['params'] for c in data['complexity']}
    assert params[resnet] == 11176512  # torchvision's too
    rows = {r['model']: r for r in data['memory']['rows']}
    assert set(rows) == {'selecsls42b', 'selecsls42b:with_cp', resnet}
    assert rows['selecsls42b:with_cp']['saved_bytes'] < \
        rows['selecsls42b']['saved_bytes']
    assert {(r['numerator'], r['denominator'])
            for r in data['memory']['ratios']} == {
                ('selecsls42b', resnet), ('selecsls42b:with_cp', resnet),
                ('selecsls42b:with_cp', 'selecsls42b')}


@pytest.mark.slow
def test_tool_jit_amp_channels_last(tmp_path, capsys):
    tool = load_tool('benchmark')
    out = tmp_path / 'out.json'
    assert tool.main([
        '--sizes', '64', '--batch-sizes', '1', '2', '--iters', '1',
        '--warmup', '0', '--models', 'selecsls42b:deploy',
        'mmpretrain:ResNet-18', '--jit', '--amp', '--channels-last',
        '--no-complexity', '--json', str(out)
    ]) == 0
    assert 'autocast; channels_last; traced' in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert set(data) >= {'forward'} and 'complexity' not in data
    assert len(data['forward']['cells']) == 4
    assert data['settings']['jit'] and data['settings']['amp']


def test_tool_bad_input(tmp_path, capsys):
    tool = load_tool('benchmark')
    out = tmp_path / 'never.json'
    assert tool.main(['--models', 'resnet50', '--json', str(out)]) == 2
    assert 'SelecSLS archs' in capsys.readouterr().err
    assert not out.exists()
    if not torch.cuda.is_available():
        assert tool.main(['--device', 'cuda', '--models', 'selecsls42b']) == 2
        assert 'CUDA is not available' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(['--sizes', '64x'])


def test_synthetic_people_inside_map():
    from selecsls_mm.benchmark.pose import synthetic_people
    people = synthetic_people(10, (128, 96), np.random.default_rng(1))
    assert people.shape == (10, 17, 2) and people.dtype == np.float32
    assert people[..., 0].min() > 0 and people[..., 0].max() < 128
    assert people[..., 1].min() > -5 and people[..., 1].max() < 96 + 5
    # ankles below the nose: upright people
    assert (people[:, 15:, 1] > people[:, :1, 1]).all()


POSE_CONFIG = os.path.join(
    ROOT, 'configs', 'pose', 'xnect-paf_selecsls60_8xb32-140e_coco-512x320.py')


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(POSE_CONFIG),
                    reason='the XNect pose config is not in this checkout')
def test_tool_pose(tmp_path, capsys):
    tool = load_tool('benchmark')
    out = tmp_path / 'pose.json'
    rc = tool.main(['--pose', POSE_CONFIG, '--pose-size', '64x64', '--iters',
                    '1', '--warmup', '0', '--json', str(out)])
    assert rc == 0
    assert 'decode only: 10 people, 128x128 maps' in capsys.readouterr().out
    pose = json.loads(out.read_text())['pose']
    assert pose['size'] == [64, 64]
    assert pose['network']['n'] == pose['decode']['n'] == 1
    assert pose['fps'] == pytest.approx(1e3 / pose['network_plus_decode_ms'])
    synth = pose['decode_synthetic']
    assert synth['num_people'] == 10 and synth['n'] == 20
    assert len(synth['people_found']) == 4
    assert tool.main(['--pose', str(tmp_path / 'missing.py')]) == 2
    assert 'not found' in capsys.readouterr().err

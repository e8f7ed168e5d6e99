# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""selecsls_mm.benchmark (the experiments behind tools/benchmark.py) and
the tool's command line: the saved-for-backward counter is exact, specs and
runtimes parse or fail in one line, every runtime and BN folding keeps the
outputs of eager, results have the structure the report reads. No timing
assertions: speed is reported by the tool, never unit-tested."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from selecsls_mm.benchmark import (BenchmarkSettings, SavedTensorCounter,
                                   build_benchmark_model, build_models,
                                   check_runtime, fold_bn, paired_ratio,
                                   parse_model_spec, prepare_forward, report,
                                   run_complexity, run_forward, run_training,
                                   saved_activation_bytes, summarize,
                                   time_interleaved)
from selecsls_mm.models.backbones.selecsls import SelecSLS
from helpers import randomize_bn

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
    times = time_interleaved(
        dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')),
        iters=2,
        warmup=1,
        device=torch.device('cpu'),
        min_time=0.05,
        max_iters=7)
    assert len(times['a']) == len(times['b'])
    assert 2 <= len(times['a']) <= 7 and len(calls) == 2 + 2 * len(times['a'])
    # Rotating order: iteration 1 starts with b.
    assert calls[2:6] == ['a', 'b', 'b', 'a']


@pytest.mark.parametrize('flags,isa', [
    ('fpu sse4_2 avx avx2 fma', 'AVX2'),
    ('avx2 avx_vnni avx512f avx512bw', 'AVX-512'),
    ('avx2 avx512f avx512_vnni', 'AVX-512 VNNI'),
    ('sse4_2 avx avx2 avx_vnni', 'AVX2 VNNI'),
    ('sse4_2 avx', 'AVX'),
    ('sse2', 'older than SSE4.2'),
])
def test_cpu_vector_isa_names_the_widest(flags, isa):
    """Machines of one model name differ in these (int8 speed with VNNI),
    so the report's header names them."""
    from selecsls_mm.benchmark.environment import cpu_vector_isa
    assert cpu_vector_isa(flags) == isa


def test_model_specs():
    spec = parse_model_spec('selecsls60:with_cp')
    assert spec.cfg == dict(
        type='SelecSLS', arch='60', out_indices=(5, ), with_cp=True)
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
    """Ours and timm's feature extractors compute the same features: timm's
    weights converted to ours give the same last head conv output."""
    pytest.importorskip('timm')
    from selecsls_mm.converters.reference_weights import \
        convert_reference_state_dict
    ours = build_benchmark_model(parse_model_spec('selecsls42b'))
    timm_model = build_benchmark_model(parse_model_spec('timm:selecsls42b'))
    randomize_bn(timm_model)
    state = {k[len('model.'):]: v for k, v in timm_model.state_dict().items()}
    state['fc.weight'], state['fc.bias'] = torch.zeros(1, 1024), \
        torch.zeros(1)  # num_classes=0 dropped timm's classifier
    converted, _ = convert_reference_state_dict(state, '42b')
    ours.load_state_dict({
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    })
    x = torch.randn(1, 3, 80, 64)
    with torch.no_grad():
        expected = timm_model(x)
        got = ours(x)[-1]
    assert got.shape == expected.shape == (1, 1024, 2, 1)
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()
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


def test_deploy_spec_same_function():
    # Same seed, same initial weights: the deploy form computes the same
    # features as the BN model it was folded from.
    torch.manual_seed(5)
    eager = build_benchmark_model(parse_model_spec('selecsls42b'))
    torch.manual_seed(5)
    deploy = build_benchmark_model(parse_model_spec('selecsls42b:deploy'))
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        expected, got = eager(x)[-1], deploy(x)[-1]
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_unknown_peer_names_list_close_ones():
    pytest.importorskip('timm')
    with pytest.raises(ValueError, match='close timm names: .*selecsls60'):
        build_benchmark_model(parse_model_spec('timm:selecsls61'))
    with pytest.raises(ValueError, match='close mmpretrain names: ResNet'):
        build_benchmark_model(parse_model_spec('mmpretrain:ResNot-50'))


CPU = torch.device('cpu')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    'spec', ['mmpretrain:ResNet-18', 'timm:selecsls42b', 'selecsls42b'])
def test_fold_bn_every_model_keeps_outputs(spec):
    if spec.startswith('timm'):
        pytest.importorskip('timm')
    model = build_benchmark_model(parse_model_spec(spec))
    randomize_bn(model, seed=1)
    x = torch.randn(2, 3, 72, 56)
    with torch.no_grad():
        expected = model(x)
    folded, how = fold_bn(model)
    assert how in ('torch.fx fuse', 'switch_to_deploy()')
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        got = folded(x)
    for e, g in zip(
            expected if isinstance(expected, tuple) else [expected],
            got if isinstance(got, tuple) else [got]):
        assert (g - e).abs().max() <= 1e-4 * e.abs().max()


@pytest.mark.parametrize('runtime', ['eager', 'jit', 'onnxruntime'])
def test_runtime_matches_eager(runtime):
    if runtime == 'onnxruntime':
        pytest.importorskip('onnxruntime')
    model = SelecSLS(arch='42b', out_indices=(2, 5))
    randomize_bn(model, seed=2)
    model.switch_to_deploy()
    model.eval()
    settings = BenchmarkSettings(CPU, channels_last=True, runtime=runtime)
    model = settings.place(model)
    x = settings.inputs(1, (96, 64))
    with torch.no_grad():
        expected = model(x)
    prepared = prepare_forward(model, x, settings)
    got = [torch.as_tensor(o) for o in prepared.run()]
    assert len(got) == 2
    for e, g in zip(expected, got):
        assert g.shape == e.shape
        assert (g - e).abs().max() <= 1e-4 * e.abs().max()
    assert 0 <= prepared.max_rel_diff <= 1e-4
    assert prepared.runtime == runtime
    if runtime == 'onnxruntime':  # really run by ONNX Runtime
        import onnxruntime
        assert isinstance(prepared.engine, onnxruntime.InferenceSession)
        assert all(isinstance(o, np.ndarray) for o in prepared.run())
    elif runtime == 'jit':
        assert isinstance(prepared.engine, torch.jit.ScriptModule)
    else:
        assert prepared.engine is model


def test_runtime_difference_is_measured():
    # Dropout in train mode: the checked call and the reference differ.
    model = nn.Dropout(0.5).train()
    x = torch.ones(1, 3, 8, 8)
    prepared = prepare_forward(model, x, BenchmarkSettings(CPU))
    assert prepared.max_rel_diff == 1.0  # 0 where the other has 2


@pytest.mark.slow
def test_compile_runtime_matches_eager():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 4, 1))
    randomize_bn(model, seed=3)
    model.eval()
    settings = BenchmarkSettings(CPU, runtime='compile')
    x = settings.inputs(2, (20, 12))
    with torch.no_grad():
        expected = model(x)
    prepared = prepare_forward(model, x, settings)
    got = prepared.run()
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()
    assert prepared.max_rel_diff <= 1e-4
    assert prepared.engine is not model  # the compiled function runs


def test_runtime_errors_are_one_line(monkeypatch):
    with pytest.raises(ValueError, match='choose one of eager, jit'):
        check_runtime('tensorrt')
    with pytest.raises(ValueError, match='--amp cannot be combined'):
        check_runtime('onnxruntime', BenchmarkSettings(CPU, amp=True))
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # not installed
    with pytest.raises(ImportError, match='pip install onnx onnxruntime'):
        check_runtime('onnxruntime')


def test_unexportable_model_says_which_runtimes_work():
    pytest.importorskip('onnxruntime')

    class Eigen(nn.Module):

        def forward(self, x):
            return torch.linalg.eigvals(x[0, 0])

    settings = BenchmarkSettings(
        CPU, channels_last=False, runtime='onnxruntime')
    with pytest.raises(ValueError, match='cannot be exported to ONNX.*eager'):
        prepare_forward(Eigen(), torch.randn(1, 3, 4, 4), settings)


def _tiny_models(settings):
    specs = [
        parse_model_spec("dict(type='SelecSLS', arch='42b', "
                         'out_indices=(1,))'),
        parse_model_spec('mmpretrain:ResNet-18')
    ]
    return build_models(specs, settings, fold=True)


def test_run_forward_results_and_report():
    settings = BenchmarkSettings(CPU, channels_last=True)
    models = _tiny_models(settings)
    assert {v['fold']
            for v in models.values()
            } == {'switch_to_deploy()', 'torch.fx fuse'}
    for entry in models.values():  # every model in channels_last
        assert entry['channels_last']
        convs = [
            m for m in entry['model'].modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
        ]
        assert convs and all(
            c.weight.is_contiguous(memory_format=torch.channels_last)
            for c in convs)
    ours, resnet = list(models)
    result = run_forward(
        models,
        settings, [(64, 48)], [1, 2],
        runtimes=['eager', 'jit'],
        baselines=[resnet],
        iters=2,
        warmup=0)
    assert result['runtimes'] == ['eager', 'jit']
    cells = result['cells']
    assert len(cells) == 2 * 2 * 2  # batches x runtimes x models
    labels = [c['model'] for c in cells[:4]]
    assert labels == [
        f'{ours} [eager]', f'{resnet} [eager]', f'{ours} [jit]',
        f'{resnet} [jit]'
    ]
    for c in cells:
        assert c['size'] == [64, 48] and len(c['times']) == c['n'] == 2
        assert c['max_rel_diff'] <= 1e-4
    times = {(c['model'], c['batch']): c['times'] for c in cells}
    pairs = {(r['numerator'], r['denominator']) for r in result['ratios']}
    assert pairs == {(f'{resnet} [eager]', f'{ours} [eager]'),
                     (f'{resnet} [jit]', f'{ours} [jit]'),
                     (f'{ours} [eager]', f'{ours} [jit]'),
                     (f'{resnet} [eager]', f'{resnet} [jit]')}
    for r in result['ratios']:
        assert r['ratio'] == pytest.approx(
            paired_ratio(times[r['numerator'], r['batch']],
                         times[r['denominator'], r['batch']]))
    text = report.forward_report(result)
    assert f'| {resnet} [jit] / {ours} [jit] |' in text
    assert '64x48 bs2' in text and 'max relative difference' in text


def test_run_complexity_counts_macs():
    settings = BenchmarkSettings(CPU, channels_last=False)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    rows = run_complexity({'conv': dict(model=conv, channels_last=False)},
                          settings, [(5, 7)])
    # one 3x3x3 dot product (27 MACs) per output element, 4 x 7 x 5 of them
    assert rows == [dict(model='conv', params=108, macs={'5x7': 27 * 4 * 35})]


def test_run_training_rows_and_ratios():
    settings = BenchmarkSettings(CPU, channels_last=False)
    specs = [
        parse_model_spec('selecsls42b'),
        parse_model_spec('selecsls42b:deploy'),
        parse_model_spec('mmpretrain:ResNet-18')
    ]
    result = run_training(
        specs,
        settings,
        batch=2,
        size=(64, 64),
        baselines=['mmpretrain:ResNet-18'],
        iters=1,
        warmup=0)
    rows = {r['model']: r for r in result['rows']}
    # deploy forms do not train; a with_cp row is added for ours
    assert set(rows) == {
        'selecsls42b', 'selecsls42b:with_cp', 'mmpretrain:ResNet-18'
    }
    assert rows['selecsls42b:with_cp']['saved_bytes'] < \
        0.5 * rows['selecsls42b']['saved_bytes']
    ratios = {(r['numerator'], r['denominator']): r for r in result['ratios']}
    assert set(ratios) == {('selecsls42b', 'mmpretrain:ResNet-18'),
                           ('selecsls42b:with_cp', 'mmpretrain:ResNet-18'),
                           ('selecsls42b:with_cp', 'selecsls42b')}
    r = ratios['selecsls42b:with_cp', 'selecsls42b']
    assert r['saved'] == rows['selecsls42b:with_cp']['saved_bytes'] / \
        rows['selecsls42b']['saved_bytes']
    assert '| selecsls42b:with_cp / selecsls42b |' in \
        report.training_report(result)


def test_write_json_never_half_written(tmp_path):
    path = tmp_path / 'out.json'
    report.write_json(str(path), dict(a=1))
    with pytest.raises(TypeError):
        report.write_json(str(path), dict(a=object()))  # not serialisable
    assert json.loads(path.read_text()) == dict(a=1)
    assert os.listdir(tmp_path) == ['out.json']


POSE_CONFIG = os.path.join(ROOT, 'configs', 'pose',
                           'xnect-paf_selecsls60_8xb32-140e_coco-512x320.py')


def test_decode_vs_people_finds_everyone():
    pytest.importorskip('mmpose')
    from mmengine.config import Config

    import selecsls_mm.pose  # noqa: F401  (registers the codec)
    from selecsls_mm.benchmark.pose import time_decode_vs_people
    decoder = Config.fromfile(POSE_CONFIG).model.head.decoder
    rows = time_decode_vs_people(
        decoder.to_dict(),
        num_people=(1, 6),
        heatmap_size=(48, 40),
        scenes=2,
        repeats=1)
    assert [r['num_people'] for r in rows] == [1, 6]
    for r in rows:
        # clean maps: (almost) every labelled person is decoded, and no
        # many more people than were placed (a cut person may split)
        assert 0.8 * r['people'] <= r['found'] <= 1.25 * 2 * r['num_people']
        assert r['people'] >= 0.5 * 2 * r['num_people']
        assert r['heatmap_size'] == [48, 40] and r['ms'] > 0
    text = report.decode_report(rows, 'cfg')
    assert '| 6 |' in text and 'found / labelled' in text


def test_decoders_side_by_side_on_the_same_maps(monkeypatch):
    pytest.importorskip('mmpose')
    import selecsls_mm.benchmark.paf_decode as paf_decode
    from selecsls_mm.pose.codecs import PartAffinityField
    fast = PartAffinityField((256, 256), (32, 32))
    slow = PartAffinityField((256, 256), (32, 32))
    slow.decode = lambda *maps: (time.sleep(0.02), fast.decode(*maps))[1]
    calls = []
    timer = paf_decode.time_interleaved
    monkeypatch.setattr(
        paf_decode, 'time_interleaved',
        lambda fns, **kw: calls.append(sorted(fns)) or timer(fns, **kw))
    result = paf_decode.time_paf_decoders(
        dict(fast=fast, slow=slow), num_people=(3, ), scenes=2, repeats=3)
    # the benchmark timer runs both decoders on both scenes, interleaved
    assert calls == [['fast/0', 'fast/1', 'slow/0', 'slow/1']]
    fast_row, slow_row = result['fast'][3], result['slow'][3]
    assert fast_row['ratio'] == 1.0
    assert slow_row['ratio'] > 1.5 and slow_row['ms'] >= 20
    assert fast_row['found'] == slow_row['found'] > 0
    other = PartAffinityField((256, 256), (64, 64))
    with pytest.raises(ValueError, match='same maps'):
        paf_decode.time_paf_decoders(dict(fast=fast, other=other))


def test_pose_peers_unknown_or_not_installed():
    pytest.importorskip('mmpose')
    import mmpose
    from mmengine.utils import digit_version

    from selecsls_mm.benchmark.pose_peers import build_peer, peer_config
    with pytest.raises(ValueError, match='known peers: ae-hrnet-w32'):
        peer_config('openpose')
    assert peer_config('ae-hrnet-w32').endswith(
        'ae_hrnet-w32_8xb24-300e_coco-512x512.py')
    if digit_version(mmpose.__version__) < digit_version('1.2.0'):
        with pytest.raises(ImportError, match='does not ship .*full stack'):
            build_peer('rtmo-s')


@pytest.mark.slow
def test_pose_end_to_end_split(tmp_path):
    pytest.importorskip('mmpose')
    from selecsls_mm.benchmark.pose import (time_pose_end_to_end,
                                            time_pose_network)
    from selecsls_mm.benchmark.pose_peers import build_pose_model, sample_photo
    model = build_pose_model(POSE_CONFIG)
    image = sample_photo('flower.jpg')[::2, ::3]  # 320x214, non-square
    rows = time_pose_end_to_end({'ours': model}, image, iters=1, warmup=0)
    assert [(r['model'], r['flip']) for r in rows] == [('ours', False),
                                                       ('ours', True)]
    for r in rows:
        parts = r['preprocessing'] + r['network'] + r['grouping']
        assert parts == pytest.approx(r['total'], rel=1e-6)
        assert min(r['preprocessing'], r['network'], r['grouping']) > 0
        assert r['n'] == 1 and r['people'] >= 0
    text = report.pose_report(rows, 'ours')
    assert '| ours | on |' in text and 'img/s' in text
    # the network alone (--pose-size), ONNX Runtime checked against eager
    pytest.importorskip('onnxruntime')
    settings = BenchmarkSettings(CPU, runtime='onnxruntime')
    net = time_pose_network(model, (64, 48), settings, iters=1, warmup=0)
    assert net['size'] == [64, 48] and net['runtime'] == 'onnxruntime'
    assert net['n'] == 1 and net['max_rel_diff'] <= 1e-4


def _small_input(model, size=128):
    """Bottom-up configs resize to at least 512 px; 128 keeps tests fast."""
    for step in model.cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'BottomupResize':
            step['input_size'] = (size, size)
    return model


@pytest.mark.slow
def test_pose_end_to_end_under_a_runtime(monkeypatch):
    """The network under ONNX Runtime inside mmpose's inference path: ours
    and AE HRNet decode the same people as in eager mode; int8 runs a
    quantized network; a model that cannot be exported is left out."""
    pytest.importorskip('onnxruntime')
    from mmpose.apis import inference_bottomup

    from selecsls_mm.benchmark import pose, pose_peers, pose_runtimes, runtimes
    settings = BenchmarkSettings(CPU, channels_last=True)
    models = {
        'ours':
        settings.place(_small_input(pose_peers.build_pose_model(POSE_CONFIG))),
        'ae':
        settings.place(_small_input(pose_peers.build_peer('ae-hrnet-w32')))
    }
    image = pose_peers.sample_photo('flower.jpg')[::2, ::3]  # 320x214
    eager = {}
    for label, model in models.items():
        model.test_cfg['flip_test'] = True
        eager[label] = inference_bottomup(model, image)[0].pred_instances
    rows = pose.time_pose_end_to_end(
        models,
        image,
        iters=1,
        warmup=0,
        settings=settings,
        runtime='onnxruntime')
    assert [(r['model'], r['flip'], r['runtime'])
            for r in rows] == [('ours', False, 'onnxruntime'),
                               ('ours', True, 'onnxruntime'),
                               ('ae', False, 'onnxruntime'),
                               ('ae', True, 'onnxruntime')]
    for r in rows:
        assert 0 < r['max_rel_diff'] <= 1e-4  # really run by ONNX Runtime
        parts = r['preprocessing'] + r['network'] + r['grouping']
        assert parts == pytest.approx(r['total'], rel=1e-6)
    for label, model in models.items():
        # the wrappers are gone afterwards
        assert 'extract_feat' not in vars(model)
        assert 'forward' not in vars(model.head)
        # the same people as eager (flip test on), through the runtime
        network = pose_runtimes.RuntimeNetwork(model, settings, 'onnxruntime')
        try:
            got = inference_bottomup(model, image)[0].pred_instances
        finally:
            network.remove()
        assert len(got) == len(eager[label]) > 0
        np.testing.assert_allclose(
            got.keypoints, eager[label].keypoints, atol=0.05)
        np.testing.assert_allclose(
            got.keypoint_scores, eager[label].keypoint_scores, atol=1e-3)
    text = report.pose_report(rows, 'ae')
    assert 'network outputs vs eager: max relative difference onnxruntime' \
        in text
    # eager with the run's settings: channels_last network, NCHW maps for
    # the grouping (AE's took 1.8x as long on channels_last maps)
    head_type = type(models['ours'].head)
    real_predict, layouts = head_type.predict, []

    def spy(self, feats, *args, **kwargs):
        from torch.utils._pytree import tree_flatten
        layouts.extend(t.is_contiguous() for t in tree_flatten(feats)[0])
        return real_predict(self, feats, *args, **kwargs)

    monkeypatch.setattr(head_type, 'predict', spy)
    rows = pose.time_pose_end_to_end({'ours': models['ours']},
                                     image,
                                     flips=(False, ),
                                     iters=1,
                                     warmup=0,
                                     settings=settings)
    assert rows[0]['runtime'] == 'eager' and rows[0]['max_rel_diff'] == 0
    assert layouts and all(layouts)
    monkeypatch.undo()
    # int8: a quantized network (not within fp32 precision of eager)
    rows = pose.time_pose_end_to_end({'ours': models['ours']},
                                     image,
                                     flips=(False, ),
                                     iters=1,
                                     warmup=0,
                                     settings=settings,
                                     runtime='onnxruntime-int8')
    assert 1e-4 < rows[0]['max_rel_diff'] < 0.5
    # ... and the timed calls run it, not the eager network: the people
    # move a little (random weights, int8 maps)
    model = models['ours']
    model.test_cfg['flip_test'] = False
    expected = inference_bottomup(model, image)[0].pred_instances
    network = pose_runtimes.RuntimeNetwork(model, settings, 'onnxruntime-int8')
    try:
        got = inference_bottomup(model, image)[0].pred_instances
    finally:
        network.remove()
    assert len(got) > 0 and (len(got) != len(expected) or not np.allclose(
        got.keypoints, expected.keypoints, atol=1e-3))
    # autocast (bf16 on CPU): grouping still gets fp32 maps
    rows = pose.time_pose_end_to_end({'ours': model},
                                     image,
                                     flips=(False, ),
                                     iters=1,
                                     warmup=0,
                                     settings=BenchmarkSettings(CPU, amp=True))
    assert rows[0]['people'] > 0
    # a peer marked nchw_only gets NCHW input in a channels_last run
    real_forward, inputs = pose_runtimes.PoseNetwork.forward, []

    def record(self, x):
        inputs.append(x.is_contiguous())
        return real_forward(self, x)

    monkeypatch.setattr(pose_runtimes.PoseNetwork, 'forward', record)
    for label, nchw in (('dekr-hrnet-w32', True), ('ours', False)):
        inputs.clear()
        pose.time_pose_end_to_end({label: model},
                                  image,
                                  flips=(False, ),
                                  iters=1,
                                  warmup=0,
                                  settings=settings)
        assert inputs and all(c == nchw for c in inputs)
    monkeypatch.undo()
    # a network the exporter refuses: named in `skipped`, the rest timed
    real = runtimes._onnx_session

    def refuse_ae(model, x, device, int8=False):
        if type(model.model.backbone).__name__ == 'HRNet':
            raise ValueError('HRNet cannot be exported to ONNX (test)')
        return real(model, x, device, int8)

    monkeypatch.setattr(runtimes, '_onnx_session', refuse_ae)
    skipped = {}
    rows = pose.time_pose_end_to_end(
        models,
        image,
        flips=(False, ),
        iters=1,
        warmup=0,
        settings=settings,
        runtime='onnxruntime',
        skipped=skipped)
    assert [r['model'] for r in rows] == ['ours']
    assert pose.time_pose_end_to_end(  # nothing left to time
        {'ae': models['ae']},
        image,
        iters=1,
        warmup=0,
        settings=settings,
        runtime='onnxruntime') == []
    assert skipped == {
        'ae [onnxruntime]': 'HRNet cannot be exported to ONNX (test)'
    }
    assert 'extract_feat' not in vars(models['ae'])


def test_pose_report_ratio_per_runtime():
    rows = []
    for runtime, ours, peer in (('eager', 1.0, 4.0), ('onnxruntime', 1.0,
                                                      2.0)):
        for model, ms in (('ours', ours), ('peer', peer)):
            rows.append(
                dict(
                    model=model,
                    runtime=runtime,
                    flip=True,
                    preprocessing=0.1,
                    network=ms,
                    grouping=0.1,
                    total=ms,
                    img_per_s=1e3 / ms,
                    people=1,
                    times=[ms, ms],
                    n=2,
                    max_rel_diff=0.0))
    text = report.pose_report(rows, 'peer')
    # against the peer under the same runtime
    assert '| ours | eager | on |' in text
    lines = [line for line in text.splitlines() if line.startswith('| ours')]
    assert lines[0].endswith('| 4.00 |') and lines[1].endswith('| 2.00 |')


def test_pose_report_ratio_at_the_same_flip_setting():
    """Flip test doubles the network work: "ours, flip on" is compared with
    the reference with flip on, not with its faster flip-off row."""
    rows = []
    for model, flip, ms in (('peer', False, 4.0), ('peer', True, 8.0),
                            ('ours', False, 1.0), ('ours', True, 2.0)):
        rows.append(
            dict(
                model=model,
                flip=flip,
                preprocessing=0.1,
                network=ms,
                grouping=0.1,
                total=ms,
                img_per_s=1e3 / ms,
                people=1,
                times=[ms, ms],
                n=2))
    text = report.pose_report(rows, 'peer')
    ratios = {
        tuple(cells[:2]): cells[-1]
        for cells in (line.strip('| ').split(' | ')
                      for line in text.splitlines() if line.startswith('|'))
    }
    assert ratios[('peer', 'off')] == ratios[('peer', 'on')] == '1.00'
    assert ratios[('ours', 'off')] == ratios[('ours', 'on')] == '4.00'


def test_pose_models_get_the_same_random_weights():
    pytest.importorskip('mmpose')
    from selecsls_mm.benchmark import pose_peers
    settings = BenchmarkSettings(CPU)
    weights = []
    for _ in range(2):
        models, _, _ = pose_peers.build_pose_models([POSE_CONFIG], [],
                                                    settings)
        head = next(iter(models.values())).head
        weights.append(next(head.parameters()).detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_neck_and_head_deploy_form_on_the_device():
    from selecsls_mm.benchmark.pose_runtimes import deploy_neck_and_head

    class Part(nn.Module):

        def switch_to_deploy(self, test_cfg):
            self.register_buffer('pos_enc', torch.zeros(test_cfg['n']))

    model = nn.Module()
    model.backbone, model.neck = Part(), Part()
    model.head = nn.Sequential(nn.Sequential(Part()))
    model.test_cfg = dict(n=3)
    deploy_neck_and_head(model, torch.device('meta'))
    assert model.neck.pos_enc.shape == (3, )
    assert model.neck.pos_enc.device.type == 'meta'  # moved
    assert model.head[0][0].pos_enc.device.type == 'meta'  # nested too
    assert not hasattr(model.backbone, 'pos_enc')  # left to --deploy


def test_ae_head_gets_a_feature_list_without_flip():
    from types import SimpleNamespace

    from selecsls_mm.benchmark.estimator_patches import ae_feature_list

    class AssociativeEmbeddingHead:
        pass

    feats = (torch.zeros(1), )
    ae = SimpleNamespace(
        head=AssociativeEmbeddingHead(), test_cfg=dict(flip_test=False))
    assert ae_feature_list(ae)(feats) == [feats[0]]
    ae.test_cfg['flip_test'] = True  # flip test wants the tuples
    assert ae_feature_list(ae)(feats) is feats
    other = SimpleNamespace(head=object(), test_cfg=dict(flip_test=False))
    assert ae_feature_list(other)(feats) is feats


def _tool(*args):
    return subprocess.run([sys.executable, 'tools/benchmark.py', *args],
                          cwd=ROOT,
                          text=True,
                          capture_output=True,
                          timeout=600)


def test_tool_flags_and_bad_input():
    proc = _tool('--help')
    assert proc.returncode == 0
    for flag in ('--models', '--baselines', '--sizes', '--deploy',
                 '--channels-last', '--no-channels-last', '--memory',
                 '--no-forward', '--pose', '--json', '--iters', '--warmup',
                 '--amp', '--runtime', '--pose-peers'):
        assert flag in proc.stdout
    proc = _tool('--models', 'resnet50', '--json', 'never.json')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: unknown model spec 'resnet50'")
    assert not os.path.exists(os.path.join(ROOT, 'never.json'))
    proc = _tool('--pose', '--pose-peers', 'openpose')
    assert proc.returncode == 1
    assert 'known peers: ae-hrnet-w32, dekr-hrnet-w32, rtmo-s, rtmo-m' in \
        proc.stderr.strip().splitlines()[-1]
    proc = _tool('--runtime', 'tensorrt')
    assert proc.returncode == 2 and 'invalid choice' in proc.stderr


@pytest.mark.slow
def test_tool_end_to_end(tmp_path):
    out = tmp_path / 'out.json'
    proc = _tool('--sizes', '64', '--batch-sizes', '1', '--iters', '1',
                 '--warmup', '0', '--models', 'selecsls42b',
                 'mmpretrain:ResNet-18', '--baselines', 'mmpretrain:ResNet-18',
                 '--runtime', 'jit', '--deploy', '--json', str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'channels_last, runtime jit, BN folded' in proc.stdout
    assert '| mmpretrain:ResNet-18 / selecsls42b |' in proc.stdout
    data = json.loads(out.read_text())
    assert data['settings']['runtime'] == ['jit']
    assert data['bn_folding'] == {
        'selecsls42b': 'switch_to_deploy()',
        'mmpretrain:ResNet-18': 'torch.fx fuse'
    }
    assert [c['model'] for c in data['forward']['cells']
            ] == ['selecsls42b', 'mmpretrain:ResNet-18']
    # torchvision's ResNet-18 has 11176512 parameters; folding replaces each
    # BN channel's weight and bias by one conv bias
    resnet = build_benchmark_model(parse_model_spec('mmpretrain:ResNet-18'))
    bn_channels = sum(m.num_features for m in resnet.modules()
                      if isinstance(m, nn.BatchNorm2d))
    assert data['complexity'][1]['params'] == 11176512 - bn_channels

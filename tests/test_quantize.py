"""int8 post-training quantization: ``selecsls_mm.deploy.quantize``, the
images of a config (``selecsls_mm.deploy.calibration``),
tools/deployment/quantize.py on the demo's trained weights, and the
benchmark's ``onnxruntime-int8`` runtime."""
import copy
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from selecsls_mm.benchmark import (BenchmarkSettings, check_runtime,
                                   prepare_forward, report)
from selecsls_mm.datasets import write_digits_dataset
from selecsls_mm.deploy import export_module
from selecsls_mm.deploy.calibration import dataset_batches
from selecsls_mm.deploy.quantize import (logit_agreement, onnx_logits,
                                         quantize_onnx)
from selecsls_mm.models.backbones.selecsls import SelecSLS
from selecsls_mm.utils import build_model
from helpers import assert_refusals, randomize_bn

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DIGITS_CONFIG = osp.join(REPO, 'configs', 'selecsls42_digits.py')
CPU = torch.device('cpu')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def test_logit_agreement_counts():
    reference = np.array([[1., 2., 0.], [3., 0., 1.], [0., 0., 5.],
                          [2., 1., 0.]])
    other = reference.copy()
    other[1] = [0., 4., 1.]  # top-1 moves from class 0 to 1
    other[3, 2] = 0.5  # changes, top-1 stays
    result = logit_agreement(reference, other, labels=[1, 0, 2, 1])
    assert result['images'] == 4
    assert result['top1_agreement'] == 0.75
    assert result['max_logit_diff'] == 4.0  # |0 - 4|, not |3 - 0|
    assert result['max_rel_logit_diff'] == pytest.approx(4.0 / 5.0)
    assert result['top1_reference'] == 0.75  # image 3 is wrong
    assert result['top1_other'] == 0.5  # images 1 and 3
    assert 'top1_reference' not in logit_agreement(reference, other)
    with pytest.raises(ValueError, match=r'\(N, classes\)'):
        logit_agreement(reference, other[:3])


def test_build_model_takes_the_top_level_preprocessor():
    # mmpretrain configs put data_preprocessor next to model; the Runner
    # merges it, and so must every tool that builds a model by itself.
    model = build_model(Config.fromfile(DIGITS_CONFIG))
    assert model.data_preprocessor.mean.flatten().tolist() == [64.0] * 3
    assert model.data_preprocessor.std.flatten().tolist() == [96.0] * 3
    own = Config.fromfile(DIGITS_CONFIG)
    own.model.data_preprocessor = dict(
        type='ClsDataPreprocessor', mean=[1.0] * 3, std=[2.0] * 3)
    model = build_model(own)  # the model's own one wins, as in the Runner
    assert model.data_preprocessor.mean.flatten().tolist() == [1.0] * 3
    assert own.model.data_preprocessor.mean == [1.0] * 3  # cfg untouched


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp('digits') / 'digits'
    write_digits_dataset(str(root), 32, 0.2)
    cfg = Config.fromfile(DIGITS_CONFIG)
    cfg.merge_from_dict({f'{k}.dataset.data_root': str(root) for k in LOADERS})
    return root, cfg, build_model(cfg)


def test_dataset_batches_are_test_pipeline_images_with_labels(digits):
    root, cfg, model = digits
    batches = list(dataset_batches(cfg, model, 'train', batch_size=500))
    assert [len(x) for x, _ in batches] == [500, 500, 437]
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    assert images.shape == (1437, 3, 32, 32) and images.dtype == np.float32
    # Dataset order, labels from the annotation file.
    listed = [
        int(line.split()[1])
        for line in (root / 'meta' / 'train.txt').read_text().splitlines()
    ]
    assert labels.tolist() == listed
    # Normalised by the config's preprocessor: black is (0 - 64) / 96.
    assert images.min() == pytest.approx(-64 / 96)
    # The test pipeline, not the training one: RandomCrop with padding
    # would move the digits between two reads.
    again = next(dataset_batches(cfg, model, 'train', batch_size=500))[0]
    np.testing.assert_array_equal(again, images[:500])
    # A random draw: fixed by the seed, in dataset order, of those images.
    drawn = np.concatenate(
        [x for x, _ in dataset_batches(cfg, model, 'train', num=40, seed=3)])
    same = np.concatenate(
        [x for x, _ in dataset_batches(cfg, model, 'train', num=40, seed=3)])
    np.testing.assert_array_equal(drawn, same)
    flat = images.reshape(len(images), -1)
    index = [
        int(np.flatnonzero((flat == d.reshape(1, -1)).all(1))[0])
        for d in drawn
    ]
    assert len(set(index)) == 40 and index == sorted(index)
    assert index != list(range(40))


def test_dataset_batches_missing_images_say_how_to_fix(digits):
    _, cfg, model = digits
    cfg = cfg.copy()
    cfg.merge_from_dict({'test_dataloader.dataset.data_root': '/nonexistent'})
    with pytest.raises(
            FileNotFoundError,
            match='test_dataloader cannot be read.*--cfg-options '
            'test_dataloader.dataset.data_root=DIR'):
        next(dataset_batches(cfg, model, 'test'))


def _unlabelled_copy(root, num, folder):
    """The first ``num`` validation digits as ImageNet's unlabelled test
    split (file names only), in ``folder``."""
    bare = folder / 'unlabelled'
    (bare / 'test').mkdir(parents=True, exist_ok=True)
    (bare / 'meta').mkdir(exist_ok=True)
    names = sorted(p.name for p in (root / 'val').iterdir())[:num]
    for name in names:
        shutil.copy(root / 'val' / name, bare / 'test' / name)
    (bare / 'meta' / 'test.txt').write_text('\n'.join(names) + '\n')
    return bare


def test_dataset_batches_defaults_scope_and_refusals(digits, tmp_path):
    """The defaults (the test split, 32 a batch, seed 0), the config's
    default scope or mmpretrain's, images preprocessed as at inference (no
    batch augments), no labels where the dataset has none, and every
    refusal as its whole line."""
    from mmengine.registry import DefaultScope
    root, cfg, model = digits
    batches = list(dataset_batches(cfg, model))
    assert [len(x) for x, _ in batches] == [32] * 11 + [8]  # 360 test images
    explicit = next(dataset_batches(cfg, model, 'test', None, 32, 0))
    np.testing.assert_array_equal(batches[0][0], explicit[0])
    drawn = next(dataset_batches(cfg, model, 'train', num=40))[0]
    np.testing.assert_array_equal(
        drawn,
        next(dataset_batches(cfg, model, 'train', num=40, seed=0))[0])
    one = list(dataset_batches(cfg, model, 'test', num=1))
    assert len(one) == 1 and one[0][0].shape == (1, 3, 32, 32)
    # no default_scope in the config: mmpretrain's registries, whatever the
    # caller's scope is
    unscoped = copy.deepcopy(cfg)
    unscoped.pop('default_scope')
    unscoped.test_dataloader.dataset.pop('_scope_')
    before = copy.deepcopy(unscoped.to_dict())
    with DefaultScope.overwrite_default_scope('mmengine'):
        np.testing.assert_array_equal(
            next(dataset_batches(unscoped, model))[0], batches[0][0])
    assert unscoped.to_dict() == before  # the config is left as it was
    with pytest.raises(ValueError) as e:
        next(dataset_batches(cfg, model, num=0))
    assert str(e.value) == 'num must be at least 1 (images to draw), got 0'
    # batch augments are for training: not applied to calibration images
    mixup = copy.deepcopy(cfg)
    mixup.data_preprocessor.num_classes = 10
    mixup.data_preprocessor.batch_augments = dict(
        augments=[dict(type='Mixup', alpha=1.)])
    mixed_model = build_model(mixup)
    np.testing.assert_array_equal(
        next(dataset_batches(mixup, mixed_model))[0], batches[0][0])
    # a dataset without labels (ImageNet's test split) gives None
    bare = _unlabelled_copy(root, 5, tmp_path)
    unlabelled = copy.deepcopy(cfg)
    unlabelled.merge_from_dict({
        'test_dataloader.dataset.split': 'test',
        'test_dataloader.dataset.data_root': str(bare)
    })
    x, y = next(dataset_batches(unlabelled, model))
    assert y is None and x.shape == (5, 3, 32, 32)
    for name in ('val_dataloader', 'test_dataloader'):
        partial = copy.deepcopy(cfg)
        partial.pop(name)
        with pytest.raises(ValueError) as e:
            next(dataset_batches(partial, model, 'val'))
        assert str(e.value) == (
            'the config has no val_dataloader (and test_dataloader) to read '
            'images from; pick another split or add it')
    empty_root = tmp_path / 'empty'
    (empty_root / 'meta').mkdir(parents=True, exist_ok=True)
    (empty_root / 'val').mkdir(exist_ok=True)
    (empty_root / 'meta' / 'val.txt').write_text('')
    empty = copy.deepcopy(cfg)
    empty.merge_from_dict(
        {'test_dataloader.dataset.data_root': str(empty_root)})
    with pytest.raises(ValueError) as e:  # the dataset's own one line
        next(dataset_batches(empty, model))
    assert str(e.value) == f"{empty_root / 'meta' / 'val.txt'} lists no images"


def _tiny_classifier(path):
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 5))
    randomize_bn(model, seed=1)
    model.eval()
    export_module(model, torch.randn(1, 3, 16, 16), str(path), ['logits'])
    import onnx
    graph = onnx.load(str(path))
    entry = graph.metadata_props.add()
    entry.key, entry.value = 'mean', '[1.0]'
    onnx.save(graph, str(path))
    return model


def test_quantize_onnx_writes_an_int8_graph(tmp_path):
    fp32 = tmp_path / 'fp32.onnx'
    _tiny_classifier(fp32)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((4, 3, 16, 16)).astype(np.float32)]
    out = tmp_path / 'int8.onnx'
    result = quantize_onnx(str(fp32), str(out), batches)
    assert result['calibration_images'] == 4
    graph = onnx.load(str(out))
    # Really quantized: int8 weights and QDQ nodes, not a copy of fp32.
    int8 = [
        i for i in graph.graph.initializer
        if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4
    ]
    assert len(int8) == 2  # both convs (the Linear may stay float)
    # One weight scale per output channel.
    scales = {
        i.name: list(i.dims)
        for i in graph.graph.initializer if i.name.endswith('_scale')
    }
    assert sorted(scales[w.name.replace('_quantized', '_scale')]
                  for w in int8) == [[16], [32]]
    assert {'QuantizeLinear', 'DequantizeLinear'} <= \
        {n.op_type for n in graph.graph.node}
    props = {p.key: p.value for p in graph.metadata_props}
    assert props['mean'] == '[1.0]'  # the export's metadata is kept
    assert 'minmax calibration on 4 images' in props['quantization']
    reference = onnx_logits(str(fp32), batches)
    quantized = onnx_logits(str(out), batches)
    rel = np.abs(reference - quantized).max() / np.abs(reference).max()
    assert 1e-5 < rel < 0.1  # quantized, yet close on its calibration data
    assert sorted(p.name
                  for p in tmp_path.iterdir()) == ['fp32.onnx', 'int8.onnx']


def _activation_scales(path):
    graph = onnx.load(str(path))
    return {
        i.name: onnx.numpy_helper.to_array(i)
        for i in graph.graph.initializer
        if i.name.endswith('_scale') and not i.dims
    }


def test_calibration_methods_set_different_ranges(tmp_path):
    fp32 = tmp_path / 'fp32.onnx'
    _tiny_classifier(fp32)
    rng = np.random.default_rng(0)
    # heavy tails: a percentile range is narrower than min/max
    batches = [rng.standard_t(2, (8, 3, 16, 16)).astype(np.float32)]
    minmax, percentile = tmp_path / 'minmax.onnx', tmp_path / 'pct.onnx'
    quantize_onnx(str(fp32), str(minmax), batches, method='minmax')
    quantize_onnx(str(fp32), str(percentile), batches, method='percentile')
    a, b = _activation_scales(minmax), _activation_scales(percentile)
    assert a.keys() == b.keys() and len(a) >= 3
    assert sum(not np.allclose(a[k], b[k]) for k in a) >= 1
    props = {p.key: p.value for p in onnx.load(str(percentile)).metadata_props}
    assert 'percentile calibration' in props['quantization']
    # entropy is refused: ONNX Runtime's gave minmax's scales (128 bins)
    with pytest.raises(ValueError, match='unknown calibration method'):
        quantize_onnx(
            str(fp32), str(tmp_path / 'e.onnx'), batches, method='entropy')


def test_quantize_onnx_bad_input_leaves_nothing(tmp_path):
    fp32 = tmp_path / 'fp32.onnx'
    _tiny_classifier(fp32)
    out = tmp_path / 'int8.onnx'
    out.write_bytes(b'old')
    with pytest.raises(ValueError, match='no calibration images'):
        quantize_onnx(str(fp32), str(out), [])
    with pytest.raises(ValueError, match='unknown calibration method'):
        quantize_onnx(
            str(fp32), str(out), [np.zeros((1, 3, 16, 16))], method='mean')
    with pytest.raises(Exception):  # calibration fails half-way
        quantize_onnx(str(fp32), str(out), [np.zeros((1, 4, 16, 16))])
    assert out.read_bytes() == b'old'  # never half-written
    assert sorted(p.name
                  for p in tmp_path.iterdir()) == ['fp32.onnx', 'int8.onnx']


def test_int8_runtime_runs_a_quantized_graph():
    model = SelecSLS(arch='42b', out_indices=(5, ))
    randomize_bn(model, seed=2)
    model.switch_to_deploy()
    model.eval()
    settings = BenchmarkSettings(CPU, runtime='onnxruntime-int8')
    model = settings.place(model)
    x = settings.inputs(2, (64, 64))
    prepared = prepare_forward(model, x, settings)
    import onnxruntime
    assert isinstance(prepared.engine, onnxruntime.InferenceSession)
    # Quantized (an fp32 graph is within 1e-5), yet the same features.
    assert 1e-4 < prepared.max_rel_diff < 0.2
    fp32 = prepare_forward(model, x, settings, runtime='onnxruntime')
    assert fp32.max_rel_diff < 1e-4
    for session in (prepared.engine, fp32.engine):  # no spinning threads
        assert session.get_session_options().get_session_config_entry(
            'session.intra_op.allow_spinning') == '0'
    with pytest.raises(ValueError, match='--amp cannot be combined'):
        check_runtime('onnxruntime-int8', BenchmarkSettings(CPU, amp=True))
    with pytest.raises(ValueError, match='CPU only.*--device cpu'):
        check_runtime('onnxruntime-int8',
                      BenchmarkSettings(torch.device('cuda')))


def test_report_gives_each_runtime_its_difference():
    cell = dict(size=[32, 32], batch=1, median=1.0, iqr=0.1, n=2)
    result = dict(
        cells=[
            dict(
                cell,
                model='a [onnxruntime]',
                runtime='onnxruntime',
                max_rel_diff=3e-6),
            dict(
                cell,
                model='a [onnxruntime-int8]',
                runtime='onnxruntime-int8',
                max_rel_diff=0.05)
        ],
        ratios=[])
    text = report.forward_report(result)
    assert 'onnxruntime 3.0e-06, onnxruntime-int8 5.0e-02 (int8: not ' \
        'expected to match)' in text


def _largest_weight(path):
    """The largest |int8 weight| of a quantized graph (127: 8-bit)."""
    from onnx import numpy_helper
    return max(
        int(np.abs(numpy_helper.to_array(t).astype(int)).max())
        for t in onnx.load(str(path)).graph.initializer
        if t.data_type == onnx.TensorProto.INT8)


def _quantize_tool(*args):
    return subprocess.run(
        [sys.executable, 'tools/deployment/quantize.py', *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300)


@pytest.mark.slow
def test_tool_on_the_demo_weights(digits_demo_run, tmp_path):
    """The demo's trained SelecSLS-42 (two epochs), calibrated on 64
    training digits, against fp32 on the 360 held-out scanned digits.
    Measured on an AVX2 CPU without VNNI: 99.44% agreement (7-bit weights,
    the default; 95.28% with 8-bit ones, which saturate there)."""
    assert digits_demo_run['proc'].returncode == 0
    data_root = digits_demo_run['data_root']
    out, numbers = tmp_path / 'digits_int8.onnx', tmp_path / 'int8.json'
    proc = _quantize_tool(
        DIGITS_CONFIG, str(digits_demo_run['checkpoint']), str(out), '--json',
        str(numbers), '--cfg-options',
        *[f'{k}.dataset.data_root={data_root}' for k in LOADERS])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(
        r'int8 vs fp32 on 360 images of test: top-1 agreement '
        r'[\d.]+%, max logit difference', proc.stdout)
    result = json.loads(numbers.read_text())
    assert result['calibration_images'] == 64 and result['images'] == 360
    assert result['top1_reference'] >= 0.945  # the trained model
    assert result['top1_agreement'] >= 0.98
    assert abs(result['top1_other'] - result['top1_reference']) <= 0.01
    assert 1e-4 < result['max_rel_logit_diff'] < 0.15  # int8, not fp32
    assert onnx.load(str(out)).graph.input[0].name == 'input'
    # The tool's options reach the graph.
    proc = _quantize_tool(
        DIGITS_CONFIG, str(digits_demo_run['checkpoint']),
        str(tmp_path / 'pct.onnx'), '--calib-method', 'percentile',
        '--per-tensor', '--calib-num', '16', '--eval-num', '20',
        '--full-range', '--cfg-options',
        *[f'{k}.dataset.data_root={data_root}' for k in LOADERS])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'on 20 images of test' in proc.stdout
    props = {
        p.key: p.value
        for p in onnx.load(str(tmp_path / 'pct.onnx')).metadata_props
    }
    assert props['quantization'] == ('int8 static QDQ, weights per tensor, '
                                     'percentile calibration on 16 images')
    # 7-bit weights by default (right on CPUs without VNNI), 8 on request
    assert [
        _largest_weight(tmp_path / f) for f in ('digits_int8.onnx', 'pct.onnx')
    ] == [64, 127]
    # No evaluation images: fails before OUT is written.
    proc = _quantize_tool(DIGITS_CONFIG, str(digits_demo_run['checkpoint']),
                          str(tmp_path / 'none.onnx'), '--cfg-options',
                          f'train_dataloader.dataset.data_root={data_root}',
                          'test_dataloader.dataset.data_root=/nonexistent')
    assert proc.returncode != 0
    assert 'images of test_dataloader cannot be read' in proc.stderr
    assert not (tmp_path / 'none.onnx').exists()
    # No data: one line that says where to point the config.
    proc = _quantize_tool(DIGITS_CONFIG, str(digits_demo_run['checkpoint']),
                          str(tmp_path / 'none.onnx'), '--cfg-options',
                          'train_dataloader.dataset.data_root=/nonexistent')
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'error: the images of train_dataloader cannot be read')
    assert not (tmp_path / 'none.onnx').exists()


def test_quantize_classifier_in_process(digits, tmp_path, monkeypatch):
    """The library call behind tools/deployment/quantize.py, in this process
    (so ``make mutate`` sees which tests reach it): what it reports is the
    agreement of the int8 graph it wrote with the fp32 model, on the images
    and splits asked for, and bad arguments leave no file."""
    from selecsls_mm.deploy.quantize import quantize_classifier
    root, cfg, model = digits
    model = copy.deepcopy(model)  # the fixture's model stays as it is
    randomize_bn(model)
    ckpt = tmp_path / 'w.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    options = {f'{k}.dataset.data_root': str(root) for k in LOADERS}
    out = tmp_path / 'int8.onnx'
    (tmp_path / 'cwd').mkdir()
    monkeypatch.chdir(tmp_path /
                      'cwd')  # left empty: temporary files elsewhere
    result = quantize_classifier(
        DIGITS_CONFIG,
        str(ckpt),
        str(out),
        calib_split='train',
        calib_num=1,
        eval_split='val',
        eval_num=40,
        method='percentile',
        per_channel=False,
        reduce_range=False,
        cfg_options=options,
        seed=1)
    assert (result['calibration_images'], result['images']) == (1, 40)
    assert (result['calib_split'], result['eval_split']) == ('train', 'val')
    assert result['method'] == 'percentile' and result['out'] == str(out)
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props['quantization'] == ('int8 static QDQ, weights per tensor, '
                                     'percentile calibration on 1 images')
    # the same numbers from the torch model and the written graph
    model.eval()
    batches = list(dataset_batches(cfg, model, 'val', 40, seed=1))
    with torch.no_grad():
        fp32 = np.concatenate([
            model(torch.from_numpy(x), mode='tensor').numpy()
            for x, _ in batches
        ])
    labels = np.concatenate([y for _, y in batches])
    want = logit_agreement(fp32,
                           onnx_logits(str(out),
                                       [x for x, _ in batches]), labels)
    for key in ('images', 'top1_agreement', 'top1_reference', 'top1_other'):
        assert result[key] == want[key], key
    assert result['max_logit_diff'] == pytest.approx(
        want['max_logit_diff'], rel=1e-3, abs=1e-4)
    assert result['max_rel_logit_diff'] == pytest.approx(
        want['max_rel_logit_diff'], rel=1e-3, abs=1e-5)
    # calibrated on the split and images asked for: the same graph as
    # quantize_onnx gives from them
    from selecsls_mm.deploy import export_onnx
    ref_dir = tmp_path / 'ref'
    ref_dir.mkdir()
    export_onnx(
        DIGITS_CONFIG,
        str(ckpt),
        str(ref_dir / 'fp32.onnx'),
        deploy=True,
        shape=(32, 32),
        verify=False,
        cfg_options=options)
    calibration = [
        x for x, _ in dataset_batches(cfg, model, 'train', 1, seed=1)
    ]
    quantize_onnx(
        str(ref_dir / 'fp32.onnx'),
        str(ref_dir / 'int8.onnx'),
        calibration,
        'percentile',
        per_channel=False,
        reduce_range=False)
    images = [x for x, _ in batches]
    np.testing.assert_array_equal(
        onnx_logits(str(out), images),
        onnx_logits(str(ref_dir / 'int8.onnx'), images))
    for kwargs, line in (
        (dict(out=str(tmp_path / 'x.pth')),
         f"OUT must end with .onnx, got {tmp_path / 'x.pth'}"),
        (dict(out=str(tmp_path / 'x.onnx'),
              calib_num=0), '--calib-num must be at least 1, got 0')):
        with pytest.raises(ValueError) as e:
            quantize_classifier(DIGITS_CONFIG, str(ckpt), **kwargs)
        assert str(e.value) == line
    # missing evaluation images fail before OUT is written
    with pytest.raises(FileNotFoundError, match='test_dataloader cannot be'):
        quantize_classifier(
            DIGITS_CONFIG,
            str(ckpt),
            str(tmp_path / 'none.onnx'),
            cfg_options=dict(options,
                             **{'test_dataloader.dataset.data_root': '/none'}))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'cwd', 'int8.onnx', 'ref', 'w.pth'
    ]
    assert not any((tmp_path / 'cwd').iterdir())
    # an unlabelled evaluation split: agreement only, no accuracies
    bare = _unlabelled_copy(root, 6, tmp_path / 'data')
    result = quantize_classifier(
        DIGITS_CONFIG,
        str(ckpt),
        str(tmp_path / 'bare.onnx'),
        calib_num=1,
        cfg_options=dict(
            options, **{
                'test_dataloader.dataset.split': 'test',
                'test_dataloader.dataset.data_root': str(bare)
            }))
    assert result['images'] == 6 and 'top1_reference' not in result
    # the defaults: 64 training images, per-channel minmax, the whole test
    # split; the options reach the exported graph (its stored mean)
    shifted = dict(options, **{'data_preprocessor.mean': [10., 20., 30.]})
    result = quantize_classifier(
        DIGITS_CONFIG, str(ckpt), str(out), cfg_options=shifted)
    assert (result['calibration_images'], result['images']) == (64, 360)
    assert (result['calib_split'], result['eval_split'],
            result['method']) == ('train', 'test', 'minmax')
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props['quantization'] == ('int8 static QDQ, weights per channel, '
                                     'minmax calibration on 64 images')
    assert json.loads(props['mean']) == [10., 20., 30.]


def test_quantize_refusals_are_whole_lines(tmp_path):
    """Each refusal of quantize_onnx / onnx_logits as the one line a user
    reads, and the agreement figures where the values are small or the
    top-1 classes differ from the labels in other ways."""
    fp32 = tmp_path / 'fp32.onnx'
    _tiny_classifier(fp32)
    batch = [np.zeros((1, 3, 16, 16), np.float32)]
    cases = [
        (lambda: quantize_onnx(
            str(fp32), str(tmp_path / 'q.onnx'), batch, method='mean'),
         "unknown calibration method 'mean'; choose one of minmax, "
         'percentile'),
        (lambda: quantize_onnx(
            str(tmp_path / 'no.onnx'), str(tmp_path / 'q.onnx'), batch),
         f"{tmp_path / 'no.onnx'} does not exist; export the fp32 graph "
         'first (tools/deployment/export_onnx.py)'),
        (lambda: quantize_onnx(str(fp32), str(tmp_path / 'q.pth'), batch),
         f"OUT must end with .onnx, got {tmp_path / 'q.pth'}"),
        (lambda: onnx_logits(str(fp32), []), f'no images to run {fp32} on'),
    ]
    assert_refusals(cases, (ValueError, FileNotFoundError))
    with pytest.raises(ValueError) as e:
        quantize_onnx(str(fp32), str(tmp_path / 'q.onnx'), [])
    assert str(e.value) == ('no calibration images: quantization needs a few '
                            'dozen real images to set activation ranges')
    # 7-bit weights (right on every x86 CPU) unless 8 are asked for
    for reduce, top in ((None, 64), (False, 127)):
        kwargs = {} if reduce is None else dict(reduce_range=reduce)
        result = quantize_onnx(
            str(fp32), str(tmp_path / 'q.onnx'), batch * 4, **kwargs)
        assert _largest_weight(tmp_path / 'q.onnx') == top
    assert result['method'] == 'minmax'
    small = np.array([[0.1, 0.2, 0.], [0.3, 0., 0.1], [0., 0., 0.2]])
    other = np.array([[0.1, 0.1, 0.3], [0.3, 0., 0.1], [0., 0., 0.2]])
    result = logit_agreement(small, other, labels=np.array([[1], [0], [2]]))
    assert result['max_rel_logit_diff'] == pytest.approx(0.3 / 0.3)
    assert result['top1_reference'] == 1.0
    assert result['top1_other'] == pytest.approx(2 / 3)


def test_quantize_onnx_takes_any_float_batches_and_names_missing_packages(
        tmp_path, monkeypatch):
    fp32 = tmp_path / 'fp32.onnx'
    _tiny_classifier(fp32)
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(2, 3, 16, 16)) for _ in range(3)]  # float64
    result = quantize_onnx(str(fp32), str(tmp_path / 'q.onnx'), batches)
    assert result['calibration_images'] == 6  # every batch counted
    import onnxruntime
    monkeypatch.delattr(onnxruntime, 'quantization')
    monkeypatch.setitem(sys.modules, 'onnxruntime.quantization', None)
    with pytest.raises(ImportError) as e:
        quantize_onnx(str(fp32), str(tmp_path / 'q2.onnx'), batches)
    line = str(e.value)
    assert line.startswith('int8 quantization needs onnx and onnxruntime (')
    assert line.endswith('); install them: pip install onnx onnxruntime')
    assert '\n' not in line and not (tmp_path / 'q2.onnx').exists()


def _downstream_datasets():
    """A project's own dataset registry (scope ``selecsls_downstream``, a
    child of mmpretrain's), with two datasets of the digits' val images:
    one without images, one that labels only every other image."""
    from mmengine.dataset import BaseDataset
    from mmengine.registry import Registry
    from mmpretrain.registry import DATASETS
    scope = 'selecsls_downstream'
    if scope in DATASETS.children:  # made once per process
        return
    registry = Registry('dataset', parent=DATASETS, scope=scope)

    @registry.register_module()
    class NoImages(BaseDataset):

        def load_data_list(self):
            return []

    @registry.register_module()
    class HalfLabelled(BaseDataset):

        def load_data_list(self):
            names = sorted(os.listdir(osp.join(self.data_root, 'val')))[:4]
            return [
                dict(
                    img_path=osp.join(self.data_root, 'val', n),
                    **(dict(gt_label=i) if i % 2 else {}))
                for i, n in enumerate(names)
            ]


def test_dataset_batches_use_the_configs_own_scope(digits):
    """A dataset registered by a downstream project (the config's
    ``default_scope``) is found; an empty one is one line naming the
    setting; labels come only when every image has one."""
    root, cfg, model = digits
    _downstream_datasets()
    own = copy.deepcopy(cfg)
    own.default_scope = 'selecsls_downstream'
    own.test_dataloader.dataset.pipeline = [
        dict(type='mmpretrain.LoadImageFromFile'),
        dict(type='mmpretrain.PackInputs')
    ]
    for split, dataset in (('val', 'HalfLabelled'), ('train', 'NoImages')):
        own[f'{split}_dataloader'].dataset = dict(
            type=dataset, data_root=str(root), serialize_data=False)
    x, y = next(dataset_batches(own, model, 'val'))
    assert x.shape == (4, 3, 32, 32) and y is None
    assert_refusals([
        (lambda: next(dataset_batches(own, model, 'train')),
         'the train_dataloader dataset is empty; point it at images with '
         '--cfg-options train_dataloader.dataset.data_root=DIR or pick '
         'another split')
    ], ValueError)

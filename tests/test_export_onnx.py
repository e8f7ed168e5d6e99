# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""ONNX export (``selecsls_mm.deploy.export_onnx``, behind
tools/deployment/export_onnx.py): the graph matches PyTorch at several
sizes."""
import os.path as osp
import warnings

import numpy as np
import onnx  # (requirements/tests.txt: a missing one fails)
import onnxruntime  # noqa: F401
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from selecsls_mm.deploy import (export_module, export_onnx, onnx_runner,
                                run_onnx)
from selecsls_mm.utils import build_model
from helpers import assert_refusals, randomize_bn

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = (
    "model = dict(type='ImageClassifier',\n"
    "    data_preprocessor=dict(mean=[123.675, 116.28, 103.53],\n"
    "                           std=[58.395, 57.12, 57.375], to_rgb=True),\n"
    "    backbone=dict(type='SelecSLS', arch='42', out_indices=(3, 5)),\n"
    "    neck=dict(type='GlobalAveragePooling'),\n"
    "    head=dict(type='LinearClsHead', num_classes=7, in_channels=1280))\n")


@pytest.fixture(scope='module')
def model_files(tmp_path_factory):
    """A config and a checkpoint with random BN statistics."""
    root = tmp_path_factory.mktemp('onnx')
    config = root / 'cfg.py'
    config.write_text(CONFIG)
    model = build_model(Config.fromfile(str(config)))
    randomize_bn(model)
    torch.save(dict(state_dict=model.state_dict()), root / 'model.pth')
    return root, config, root / 'model.pth'


def _graph_io(path):
    """Opset, op types and each input's / output's name and dims (an int,
    or the name of a dynamic dim) of the ONNX file at ``path``."""
    model = onnx.load(str(path))

    def dims(value):
        return tuple(d.dim_param or d.dim_value
                     for d in value.type.tensor_type.shape.dim)

    io = {v.name: dims(v) for v in [*model.graph.input, *model.graph.output]}
    opset = {o.domain: o.version for o in model.opset_import}['']
    return opset, {n.op_type for n in model.graph.node}, io


def _reference(config, checkpoint, deploy):
    model = build_model(Config.fromfile(str(config)))
    model.load_state_dict(torch.load(checkpoint)['state_dict'])
    if deploy:
        model.backbone.switch_to_deploy()
    return model.eval()


@pytest.mark.slow
@pytest.mark.parametrize('backbone_only', [False, True])
def test_onnx_matches_pytorch_at_two_sizes(model_files, backbone_only):
    root, config, checkpoint = model_files
    out = root / f'model_{backbone_only}.onnx'
    result = export_onnx(
        str(config),
        str(checkpoint),
        str(out),
        deploy=True,
        shape=(64, 64),
        verify=False,
        backbone_only=backbone_only)
    assert out.is_file()
    assert not [p for p in root.iterdir() if p.name.startswith('.')]
    names = ['feat3', 'feat5'] if backbone_only else ['logits']
    assert result == dict(out=str(out), output_names=names, max_rel_diff=None)
    # batch and size are dynamic and named; logits have a dynamic batch only
    opset, _, io = _graph_io(out)
    assert opset == 17
    assert io == ({
        'input': ('batch', 3, 'height', 'width'),
        'feat3': ('batch', 480, 'feat3_height', 'feat3_width'),
        'feat5': ('batch', 1280, 'feat5_height', 'feat5_width')
    } if backbone_only else {
        'input': ('batch', 3, 'height', 'width'),
        'logits': ('batch', 7)
    })

    model = _reference(config, checkpoint, deploy=True)
    # The exported deploy model equals the BN model, not only itself.
    bn_model = _reference(config, checkpoint, deploy=False)
    for batch, h, w in [(1, 64, 64), (3, 96, 80)]:
        x = torch.randn(batch, 3, h, w)
        with torch.no_grad():
            if backbone_only:
                expected = list(model.backbone(x))
                bn_expected = list(bn_model.backbone(x))
            else:
                expected = [model(x)]
                bn_expected = [bn_model(x)]
        got = run_onnx(str(out), x)
        # onnx_runner takes any array: float64, not contiguous
        flipped_twice = x.double().numpy()[..., ::-1][..., ::-1]
        as_f64 = onnx_runner(str(out))(flipped_twice)
        for o, o64 in zip(got, as_f64):
            np.testing.assert_array_equal(o.numpy(), o64)
        assert len(got) == len(expected)
        for e, b, o in zip(expected, bn_expected, got):
            assert o.shape == e.shape
            scale = e.abs().max().item()
            torch.testing.assert_close(o, e, rtol=1e-4, atol=1e-4 * scale)
            torch.testing.assert_close(o, b, rtol=1e-4, atol=1e-4 * scale)

    # What an ONNX user needs to feed the graph: the preprocessing (the
    # graph's input is the normalised image) and the output names.
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props == {
        'mean': str([123.675, 116.28, 103.53]),
        'std': str([58.395, 57.12, 57.375]),
        'to_rgb': 'True',
        'outputs': ','.join(result['output_names']),
    }


@pytest.mark.slow
def test_export_bn_model_and_errors(model_files):
    root, config, checkpoint = model_files
    out = root / 'bn.onnx'
    result = export_onnx(
        str(config), str(checkpoint), str(out), shape=(64, 64),
        opset=18)  # BN kept, built-in verification, another opset
    assert result['max_rel_diff'] < 1e-4
    # the exporter folds the eval-mode BN into the convs (constant folding)
    opset, ops, _ = _graph_io(out)
    assert opset == 18 and 'BatchNormalization' not in ops, ops
    assert 'Conv' in ops
    with pytest.raises(ValueError, match='.onnx'):
        export_onnx(str(config), str(checkpoint), str(root / 'x.pth'))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        export_onnx(str(config), str(root / 'missing.pth'), str(out))


@pytest.mark.slow
def test_failed_export_writes_nothing(model_files, monkeypatch):
    """A failure after tracing (here: storing the metadata) leaves no
    .onnx file, not one without its metadata."""
    import selecsls_mm.deploy.onnx_export as onnx_export
    root, config, checkpoint = model_files
    out = root / 'failed.onnx'

    def fail(path, props):
        raise OSError('No space left on device')

    monkeypatch.setattr(onnx_export, 'add_metadata', fail)
    with pytest.raises(OSError, match='No space'):
        export_onnx(
            str(config),
            str(checkpoint),
            str(out),
            shape=(64, 64),
            verify=False)
    assert not out.exists()
    assert not [p for p in root.iterdir() if p.name.startswith('.')]


@pytest.mark.slow
def test_export_reads_the_config_as_mmpretrain_writes_it(tmp_path):
    """The preprocessing at the config's top level (as in mmpretrain's
    configs), a backbone of one input channel, ``cfg_options`` that make
    the config fit the checkpoint, and the refusal of a model without a
    head."""
    config = tmp_path / 'cfg.py'
    config.write_text(
        "data_preprocessor = dict(mean=[127.5], std=[64.0], to_rgb=False)\n" +
        CONFIG.replace("out_indices=(3, 5))",
                       "out_indices=(5, ), in_channels=1)"))
    five = Config.fromfile(str(config))
    five.merge_from_dict({'model.head.num_classes': 5})
    torch.save(
        dict(state_dict=build_model(five).state_dict()), tmp_path / 'in.pth')
    out = tmp_path / 'gray.onnx'
    result = export_onnx(
        str(config),
        str(tmp_path / 'in.pth'),
        str(out),
        shape=(32, 48),
        cfg_options={'model.head.num_classes': 5})
    assert result['max_rel_diff'] < 1e-4
    assert _graph_io(out)[2] == {
        'input': ('batch', 1, 'height', 'width'),
        'logits': ('batch', 5)
    }
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props == {
        'mean': '[127.5]',
        'std': '[64.0]',
        'to_rgb': 'False',
        'outputs': 'logits'
    }

    headless = tmp_path / 'headless.py'
    headless.write_text(
        "model = dict(type='ImageClassifier',\n"
        "    backbone=dict(type='SelecSLS', arch='42', out_indices=(5, )))\n")
    torch.save(
        dict(
            state_dict=build_model(Config.fromfile(str(
                headless))).state_dict()), tmp_path / 'headless.pth')
    assert_refusals([(lambda: export_onnx(
        str(headless), str(tmp_path / 'headless.pth'), str(tmp_path / 'h.onnx')
    ), 'the model has no classification head; '
                      'export it with --backbone-only')], ValueError)
    assert not (tmp_path / 'h.onnx').exists()


def test_export_module_lets_other_warnings_through(tmp_path):
    """Only the exporter's own deprecation notice is silenced: a warning of
    the model reaches the user."""

    class Warns(nn.Module):

        def forward(self, x):
            warnings.warn('the model says so', UserWarning)
            return x * 2

    with pytest.warns(UserWarning, match='the model says so'):
        export_module(Warns().eval(), torch.zeros(1, 1, 2, 2),
                      str(tmp_path / 'w.onnx'), ['out0'])
    opset, _, io = _graph_io(tmp_path / 'w.onnx')
    assert opset == 17  # the default: what TensorRT 8.6 and ONNX Runtime take
    assert io == {
        'input': ('batch', 1, 'height', 'width'),
        'out0': ('batch', 1, 'out0_height', 'out0_width')
    }


@pytest.mark.slow
def test_export_of_another_backbone(model_files, tmp_path):
    """A classifier of mmpretrain's ResNet exports as it is (BN is folded by
    the exporter, no ``--deploy`` needed); ``--deploy`` is refused in one
    line, and a checkpoint of another model names its file."""
    config = tmp_path / 'resnet.py'
    config.write_text("model = dict(type='ImageClassifier',\n"
                      "    backbone=dict(type='ResNet', depth=18),\n"
                      "    neck=dict(type='GlobalAveragePooling'),\n"
                      "    head=dict(type='LinearClsHead', num_classes=3,\n"
                      "              in_channels=512))\n")
    model = build_model(Config.fromfile(str(config)))
    randomize_bn(model)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'r.pth')
    out = tmp_path / 'r.onnx'
    result = export_onnx(
        str(config), str(tmp_path / 'r.pth'), str(out), shape=(32, 32))
    assert result['max_rel_diff'] < 1e-4
    assert _graph_io(out)[2]['input'] == ('batch', 3, 'height', 'width')
    assert_refusals([(lambda: export_onnx(
        str(config),
        str(tmp_path / 'r.pth'),
        str(tmp_path / 'd.onnx'),
        deploy=True), 'ResNet has no switch_to_deploy(); drop --deploy')],
                    TypeError)
    selecsls_checkpoint = str(model_files[2])
    with pytest.raises(Exception, match=f'checkpoint {selecsls_checkpoint}'):
        export_onnx(str(config), selecsls_checkpoint, str(tmp_path / 'w.onnx'))
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ['r.onnx', 'r.pth', 'resnet.py']

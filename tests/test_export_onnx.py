# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""ONNX export (``selecsls_mm.deploy.export_onnx``, behind
tools/deployment/export_onnx.py): the graph matches PyTorch at several
sizes."""
import os.path as osp

import onnx  # noqa: F401  (requirements/tests.txt: a missing one fails)
import onnxruntime  # noqa: F401
import pytest
import torch
from mmengine.config import Config

from selecsls_mm.deploy import export_onnx, run_onnx
from selecsls_mm.utils import build_model
from helpers import randomize_bn

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
    assert result['output_names'] == \
        (['feat3', 'feat5'] if backbone_only else ['logits'])

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
        str(config), str(checkpoint), str(out),
        shape=(64, 64))  # BN kept, built-in verification
    assert result['max_rel_diff'] < 1e-4
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

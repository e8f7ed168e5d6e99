"""Transposed convs as a conv and a pixel shuffle
(``selecsls_mm.deploy.subpixel``): equal to torch's own transposed conv,
applied to the pose heads, and integer end to end in ONNX Runtime's int8
graph (the reason it exists)."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from selecsls_mm.deploy import export_module
from selecsls_mm.deploy.quantize import quantize_onnx
from selecsls_mm.deploy.subpixel import (SubPixelConvTranspose2d,
                                         deconvs_to_subpixel, subpixel_weight)


@pytest.mark.parametrize('bias', [False, True])
@pytest.mark.parametrize('size', [(1, 1), (5, 8), (7, 3)])
def test_equals_torch_transposed_conv(bias, size):
    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(6, 5, 4, stride=2, padding=1, bias=bias)
    x = torch.randn(2, 6, *size)
    with torch.no_grad():
        expected = deconv(x)
        got = SubPixelConvTranspose2d(deconv)(x)
    assert got.shape == expected.shape == (2, 5, 2 * size[0], 2 * size[1])
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)


def test_every_kernel_tap_is_used_once():
    # kernel 4 over 4 phases: each of the 16 taps lands in exactly one
    # (phase, 3x3 position); the other 4 * 9 - 16 = 20 positions are zero
    weight = torch.arange(1., 17.).reshape(1, 1, 4, 4)
    taps = subpixel_weight(weight).flatten()
    assert sorted(taps[taps != 0].tolist()) == list(range(1, 17))
    assert (taps == 0).sum() == 20


@pytest.mark.parametrize('deconv, why', [
    (nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1), 'the rewrite needs'),
    (nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=2), 'groups'),
    (nn.ConvTranspose2d(4, 4, 4, 2, 1, output_padding=1), 'output padding'),
])
def test_other_geometries_are_refused_in_one_line(deconv, why):
    with pytest.raises(ValueError, match=why) as e:
        SubPixelConvTranspose2d(deconv)
    assert '\n' not in str(e.value) and 'cannot rewrite' in str(e.value)


def test_deconvs_to_subpixel_replaces_what_it_can():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.ConvTranspose2d(3, 4, 4, 2, 1), nn.ReLU(),
        nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 2, 1, bias=False)),
        nn.ConvTranspose2d(4, 2, 3, 2, 1))  # another geometry: kept
    x = torch.randn(1, 3, 5, 6)
    with torch.no_grad():
        before = model(x)
        assert deconvs_to_subpixel(model) == 2
        after = model(x)
    assert isinstance(model[0], SubPixelConvTranspose2d)
    assert isinstance(model[2][0], SubPixelConvTranspose2d)
    assert type(model[3]) is nn.ConvTranspose2d
    assert torch.allclose(before, after, atol=1e-5, rtol=0)


def _optimised_op_types(path, tmp_path):
    """Node types of the graph ONNX Runtime's CPU provider actually runs."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / 'optimised.onnx')
    ort.InferenceSession(
        str(path), options, providers=['CPUExecutionProvider'])
    import onnx
    return [
        n.op_type
        for n in onnx.load(options.optimized_model_filepath).graph.node
    ]


@pytest.mark.parametrize('rewrite', [False, True])
def test_int8_graph_runs_upsampling_in_integers(rewrite, tmp_path):
    pytest.importorskip('onnxruntime')
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(8, 4, 3, padding=1)).eval()
    if rewrite:
        assert deconvs_to_subpixel(model) == 1
    fp32, int8 = tmp_path / 'fp32.onnx', tmp_path / 'int8.onnx'
    x = torch.randn(1, 3, 8, 8)
    export_module(model, x, str(fp32), ['maps'])
    rng = np.random.default_rng(0)
    quantize_onnx(
        str(fp32), str(int8),
        [rng.standard_normal((4, 3, 8, 8)).astype(np.float32)])
    ops = _optimised_op_types(int8, tmp_path)
    if not rewrite:
        # the reason for the rewrite: the transposed conv stays in fp32
        if 'ConvTranspose' not in ops:
            pytest.skip('this onnxruntime runs ConvTranspose in int8: the '
                        'sub-pixel rewrite may no longer be needed')
        assert ops.count('QLinearConv') == 2
        return
    assert 'ConvTranspose' not in ops and ops.count('QLinearConv') == 3


def test_a_shared_deconv_stays_shared_and_a_subclass_is_left_alone():

    class Doubled(nn.ConvTranspose2d):

        def forward(self, x):
            return 2 * super().forward(x)

    torch.manual_seed(0)
    shared = nn.ConvTranspose2d(2, 2, 4, 2, 1)
    model = nn.ModuleDict(
        dict(
            a=nn.Sequential(shared, nn.ReLU(), shared),
            b=nn.ModuleList([shared, Doubled(2, 2, 4, 2, 1)])))
    assert deconvs_to_subpixel(model) == 1
    new = model['a'][0]
    assert isinstance(new, SubPixelConvTranspose2d)
    assert model['a'][2] is new and model['b'][0] is new
    assert type(model['b'][1]) is Doubled
    with pytest.raises(ValueError, match='pass the module that holds'):
        deconvs_to_subpixel(shared)
    with pytest.raises(ValueError, match='not an nn.ConvTranspose2d'):
        SubPixelConvTranspose2d(nn.Conv2d(2, 2, 4, 2, 1))


def test_dtype_grad_and_mode_are_kept():
    deconv = nn.ConvTranspose2d(3, 2, 4, 2, 1).double().eval()
    deconv.weight.requires_grad_(False)
    sub = SubPixelConvTranspose2d(deconv)
    assert sub.conv.weight.dtype == torch.float64 and not sub.training
    assert not sub.conv.weight.requires_grad and sub.conv.bias.requires_grad
    x = torch.randn(1, 3, 4, 5, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(sub(x), deconv(x), atol=1e-12, rtol=0)
    # and the device (the meta device stands in for a GPU here)
    on_meta = SubPixelConvTranspose2d(
        nn.ConvTranspose2d(3, 2, 4, 2, 1, device='meta'))
    assert {p.device.type for p in on_meta.parameters()} == {'meta'}


def test_mmcvs_deconv_wrapper_is_rewritten():
    # the pose heads build their upsampling through mmcv's registry
    from mmcv.cnn import build_upsample_layer
    model = nn.Sequential(
        build_upsample_layer(
            dict(type='deconv'), 3, 2, 4, stride=2, padding=1))
    x = torch.randn(1, 3, 5, 4)
    with torch.no_grad():
        before = model(x)
        assert deconvs_to_subpixel(model) == 1
        assert torch.allclose(model(x), before, atol=1e-5, rtol=0)


def test_refusals_are_whole_lines():
    """The refusals as a user reads them: what the module is, its geometry
    and what the rewrite needs."""

    class Deconv(nn.ConvTranspose2d):
        pass

    for deconv, why in (
        (Deconv(4, 4, 4, 2, 1), 'it is a Deconv, not an nn.ConvTranspose2d '
         '(a subclass may compute otherwise)'),
        (nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=2),
         'groups 2, dilation (1, 1) and output padding (0, 0); the rewrite '
         'needs 1, (1, 1) and (0, 0)'),
    ):
        with pytest.raises(ValueError) as e:
            SubPixelConvTranspose2d(deconv)
        assert str(
            e.value) == (f'cannot rewrite {deconv} as a sub-pixel conv: {why}')
    with pytest.raises(ValueError) as e:
        deconvs_to_subpixel(nn.ConvTranspose2d(4, 4, 4, 2, 1))
    assert str(e.value) == (
        'deconvs_to_subpixel replaces the transposed convs a module holds; '
        'pass the module that holds this one, or build '
        'SubPixelConvTranspose2d(it)')

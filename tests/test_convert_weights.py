"""Weight conversion from timm / original-release checkpoints, checked
against timm as the independent reference implementation."""
import io
import os
import re

import pytest
import timm
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from selecsls_mm.checkpoint import UnsafeCheckpointError
from selecsls_mm.converters import (ConversionError,
                                    convert_reference_checkpoint,
                                    convert_reference_state_dict)
from selecsls_mm.utils import TensorModeWrapper
from reference_models import ARCHS, reference_model


@pytest.fixture(autouse=True)
def fresh_shape_tables(monkeypatch):
    """Each test starts with the converter's per-arch shape tables empty,
    as a fresh process does (they are filled on first use)."""
    from selecsls_mm.converters import reference_weights
    monkeypatch.setattr(reference_weights, '_shape_cache', {})


def classifier(arch, num_classes=1000):
    in_channels = 1024 if arch.endswith('b') else 1280
    # Other tests leave a default scope behind; build in mmpretrain's.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return _build_classifier(arch, num_classes, in_channels)


def _build_classifier(arch, num_classes, in_channels):
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='SelecSLS', arch=arch),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=in_channels))).eval()


def _logits(model, x):
    with torch.no_grad():
        return TensorModeWrapper(model)(x)


# 42..84: timm's models; 102: timm's blocks with the original release's table.
@pytest.mark.parametrize('arch', ARCHS)
def test_timm_checkpoint_gives_same_logits(arch, tmp_path):
    reference = reference_model(arch)
    src, dst = tmp_path / 'timm.pth', tmp_path / 'converted.pth'
    torch.save(reference.state_dict(), src)
    convert_reference_checkpoint(str(src), str(dst))
    model = classifier(arch)
    load_checkpoint(model, str(dst), strict=True, logger='silent')
    x = torch.randn(2, 3, 96, 80)
    with torch.no_grad():
        expected = reference(x)
    ours = _logits(model, x)
    assert (ours - expected).abs().max() <= 1e-4


def test_original_release_layout_and_file_formats(tmp_path):
    from safetensors.torch import save_file
    reference = reference_model('60')
    state = reference.state_dict()
    # The original SelecSLS-Pytorch release names the classifier
    # `classifier.0` (a Sequential) and some files come from DataParallel.
    original = {
        ('classifier.0' + k[2:] if k.startswith('fc.') else k): v
        for k, v in state.items()
    }
    files = {
        'SelecSLS60_statedict.pth': original,
        'wrapped.pth': {
            'state_dict': {
                f'module.{k}': v
                for k, v in original.items()
            }
        },
        'model_wrapped.pth': {
            'model': state,
            'epoch': 90
        },
        'pytorch_model.bin': state,
        'model.safetensors': state,
    }
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = reference(x)
    for name, obj in files.items():
        src, dst = tmp_path / name, tmp_path / f'{name}.converted.pth'
        if name.endswith('.safetensors'):
            save_file({k: v.contiguous() for k, v in obj.items()}, str(src))
        else:
            torch.save(obj, src)
        convert_reference_checkpoint(str(src), str(dst), arch='60')
        ckpt = torch.load(dst, weights_only=True)
        assert ckpt['meta']['arch'] == '60'
        model = classifier('60')
        model.load_state_dict(ckpt['state_dict'])
        assert (_logits(model, x) - expected).abs().max() <= 1e-4, name


def test_converted_backbone_loads_through_init_cfg(tmp_path):
    reference = reference_model('60')
    src, dst = tmp_path / 'timm.pth', tmp_path / 'converted.pth'
    torch.save(reference.state_dict(), src)
    convert_reference_checkpoint(str(src), str(dst))
    from mmpose.registry import MODELS as POSE_MODELS
    backbone = POSE_MODELS.build(
        dict(
            type='SelecSLS',
            arch='60',
            out_indices=(3, ),
            init_cfg=dict(
                type='Pretrained', checkpoint=str(dst), prefix='backbone.')))
    backbone.init_weights()
    torch.testing.assert_close(backbone.stage3[3].conv6.bn.running_var,
                               reference.features[8].conv6[1].running_var)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = reference.stem(x)
        expected = reference.features([expected])[0]
        (ours, ) = backbone.eval()(x)
    assert (ours - expected).abs().max() <= 1e-4


def _refusal(tmp_path, state, arch=None):
    """Convert ``state`` saved as src.pth; returns the refusal's line and
    checks that nothing was written."""
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    torch.save(state, src)
    with pytest.raises(ConversionError) as err:
        convert_reference_checkpoint(str(src), str(dst), arch)
    assert not dst.exists() and os.listdir(tmp_path) == ['src.pth']
    return str(err.value)


def _convert_fails(tmp_path, state, match, arch=None):
    message = _refusal(tmp_path, state, arch)
    assert re.search(match, message), message


def test_missing_unexpected_and_misshaped_tensors(tmp_path):
    state = timm.create_model('selecsls42b').state_dict()
    missing = dict(state)
    del missing['features.3.conv4.1.running_var']
    _convert_fails(tmp_path, missing,
                   r'missing tensor features\.3\.conv4\.1\.running_var')
    extra = dict(state, **{'features.3.extra.weight': torch.zeros(1)})
    _convert_fails(tmp_path, extra,
                   r'unexpected tensor features\.3\.extra\.weight', '42b')
    misshaped = dict(state,
                     **{'head.1.0.weight': torch.zeros(1024, 960, 1, 1)})
    _convert_fails(
        tmp_path, misshaped, r'head\.1\.0\.weight has shape '
        r'\(1024, 960, 1, 1\), arch 42b needs \(1024, 960, 3, 3\)')


def test_num_classes_comes_from_the_classifier_rows(tmp_path):
    """A fine-tuned 10-class checkpoint converts to 10 classes (the rows of
    the classifier weight, not its 1024 input features) and loads into a
    10-class model."""
    reference = timm.create_model('selecsls42b', num_classes=10).eval()
    src, dst = tmp_path / 'ten.pth', tmp_path / 'converted.pth'
    torch.save(reference.state_dict(), src)
    meta = convert_reference_checkpoint(str(src), str(dst))
    assert meta['num_classes'] == 10 and meta['arch'] == '42b'
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['num_classes'] == 10
    model = classifier('42b', num_classes=10)
    model.load_state_dict(ckpt['state_dict'])
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = reference(x)
    assert (_logits(model, x) - expected).abs().max() <= 1e-4


def test_classifier_that_does_not_fit_the_arch_is_refused(tmp_path):
    """The classifier must read the arch's features (1024 for 42b): a
    classifier of another width would load into no model of that arch."""
    state = timm.create_model('selecsls42b').state_dict()
    wide = dict(state, **{'fc.weight': torch.zeros(1000, 1280)})
    _convert_fails(
        tmp_path, wide, r'fc\.weight has shape \(1000, 1280\), arch 42b '
        r'needs \(num_classes, 1024\)', '42b')
    _convert_fails(tmp_path, wide,
                   r"fit no SelecSLS arch; closest is '42b'.*fc\.weight")
    flat = dict(state, **{'fc.weight': torch.zeros(1024)})
    _convert_fails(tmp_path, flat, r'fc\.weight has shape \(1024,\)', '42b')


def test_wrong_arch_and_other_networks(tmp_path):
    state = timm.create_model('selecsls60').state_dict()
    _convert_fails(tmp_path, state, "do not fit arch '42'.*fit arch '60'",
                   '42')
    _convert_fails(tmp_path,
                   timm.create_model('resnet18').state_dict(),
                   r'not a SelecSLS checkpoint.*found conv1\.weight')
    _convert_fails(tmp_path,
                   timm.create_model('selecsls84').state_dict(),
                   "timm's selecsls84, whose last head conv is 3x3")


def test_already_converted_source_is_refused():
    converted, _ = convert_reference_state_dict(
        timm.create_model('selecsls42b').state_dict())
    with pytest.raises(ConversionError, match='already uses mmpretrain'):
        convert_reference_state_dict(converted)


def test_checkpoint_that_carries_code_is_refused(tmp_path):

    class Payload:

        def __reduce__(self):
            return (os.system, (f'touch {tmp_path}/pwned', ))

    src = tmp_path / 'evil.pth'
    torch.save({'stem.0.weight': torch.zeros(1), 'x': Payload()}, src)
    with pytest.raises(
            UnsafeCheckpointError, match='refusing to load.*could run code'):
        convert_reference_checkpoint(str(src), str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'pwned').exists()
    assert not (tmp_path / 'out.pth').exists()


def test_failed_write_leaves_the_old_output(tmp_path, monkeypatch):
    """The output is written to a temporary file and renamed: a write that
    fails half-way (disk full, interrupted) leaves the previous output as it
    was and no partial file."""
    src, dst = tmp_path / 'src.pth', tmp_path / 'out.pth'
    torch.save(reference_model('42', random_bn=False).state_dict(), src)
    dst.write_bytes(b'previous checkpoint')
    real_save = torch.save

    def save_half_then_fail(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()[:len(buffer.getvalue()) // 2]
        if hasattr(f, 'write'):
            f.write(data)
        else:
            with open(f, 'wb') as out:
                out.write(data)
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(torch, 'save', save_half_then_fail)
    with pytest.raises(OSError, match='No space left'):
        convert_reference_checkpoint(str(src), str(dst))
    assert dst.read_bytes() == b'previous checkpoint'
    assert sorted(os.listdir(tmp_path)) == ['out.pth', 'src.pth']


def test_truncated_safetensors_names_the_file(tmp_path):
    from safetensors.torch import save_file
    src = tmp_path / 'model.safetensors'
    state = reference_model('42b', random_bn=False).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(src))
    data = src.read_bytes()
    src.write_bytes(data[:len(data) // 3])  # an interrupted download
    with pytest.raises(ConversionError) as err:
        convert_reference_checkpoint(str(src), str(tmp_path / 'out.pth'))
    assert str(
        err.value).startswith(f'{src} is not a complete safetensors file (')
    assert str(err.value).endswith(
        '): it is truncated (e.g. an interrupted download) or another '
        'format; fetch it again')
    assert os.listdir(tmp_path) == ['model.safetensors']


def test_many_problems_are_summed_up(tmp_path):
    """Past five problems the message counts the rest instead of listing
    hundreds of tensors."""
    state = timm.create_model('selecsls60').state_dict()
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    torch.save(state, src)
    with pytest.raises(ConversionError) as err:
        convert_reference_checkpoint(str(src), str(dst), arch='42')
    message = str(err.value)
    assert message.startswith(f"cannot convert {src}: the tensors do not "
                              "fit arch '42': ")
    listed, _, rest = message.partition('; and ')
    assert len(listed.split('; ')) == 5
    assert re.match(
        r'\d+ more\. They fit arch \'60\': pass --arch 60 or '
        r'omit --arch\.$', rest), rest
    assert not dst.exists()


def test_source_layout_must_name_one_classifier(tmp_path):
    state = timm.create_model('selecsls42b').state_dict()
    both = dict(state, **{'classifier.0.weight': state['fc.weight']})
    _convert_fails(tmp_path, both, r"found \['original', 'timm'\]$")
    neither = {k: v for k, v in state.items() if not k.startswith('fc.')}
    _convert_fails(tmp_path, neither, 'exactly one classifier.*found none$')
    few = {'conv.weight': torch.zeros(1), 'bn.bias': torch.zeros(1)}
    _convert_fails(tmp_path, few, r'found conv\.weight, bn\.bias$')


def test_old_checkpoints_without_bn_counters_or_fc_bias(tmp_path):
    """Checkpoints of older torch versions lack ``num_batches_tracked``;
    a classifier without bias is allowed: both convert and load."""
    reference = timm.create_model('selecsls42b', num_classes=4).eval()
    state = {
        k: v
        for k, v in reference.state_dict().items()
        if not k.endswith('num_batches_tracked') and k != 'fc.bias'
    }
    src, dst = tmp_path / 'old.pth', tmp_path / 'out.pth'
    torch.save(state, src)
    info = convert_reference_checkpoint(str(src), str(dst))
    ckpt = torch.load(dst, weights_only=True)
    assert 'head.fc.bias' not in ckpt['state_dict']
    assert info == dict(
        arch='42b',
        source_format='timm',
        num_classes=4,
        source='old.pth',
        num_tensors=len(ckpt['state_dict']))
    assert ckpt['meta'] == {
        k: v
        for k, v in info.items() if k != 'num_tensors'
    }
    model = classifier('42b', num_classes=4)
    missing = model.load_state_dict(ckpt['state_dict'], strict=False)
    assert missing.missing_keys == ['head.fc.bias']
    assert all(v == 0 for k, v in ckpt['state_dict'].items()
               if k.endswith('num_batches_tracked'))


def test_wrappers_and_non_tensor_files(tmp_path):
    state = timm.create_model('selecsls42b').state_dict()
    src, dst = tmp_path / 'ema.pth', tmp_path / 'out.pth'
    torch.save({'state_dict_ema': state, 'epoch': 3}, src)
    assert convert_reference_checkpoint(str(src), str(dst))['arch'] == '42b'
    torch.save({'weights': [1, 2, 3]}, src)
    with pytest.raises(
            ConversionError,
            match=f'{src} does not hold a state dict of tensors'):
        convert_reference_checkpoint(str(src), str(dst))
    missing = tmp_path / 'missing.pth'
    with pytest.raises(
            FileNotFoundError,
            match=f'source checkpoint {missing} does not exist'):
        convert_reference_checkpoint(str(missing), str(dst))


def _conversion_error(tmp_path, state, arch=None):
    """The refusal's line after 'the tensors do not fit arch '."""
    message = _refusal(tmp_path, state, arch)
    prefix = f"cannot convert {tmp_path / 'src.pth'}: the tensors do not " \
        'fit arch '
    assert message.startswith(prefix), message
    return message[len(prefix):]


@pytest.mark.parametrize('dropped', [1, 5, 6, 9])
def test_error_lists_five_problems_then_counts(tmp_path, dropped):
    """The whole line for ``dropped`` missing tensors: up to five named,
    the rest counted, nothing after them when nothing fits better."""
    state = timm.create_model('selecsls42b').state_dict()
    names = [k for k in state if k.endswith('running_var')][:dropped]
    for name in names:
        del state[name]
    listed = '; '.join(f'missing tensor {n}' for n in names[:5])
    more = f'; and {dropped - 5} more' if dropped > 5 else ''
    assert _conversion_error(tmp_path, state,
                             '42b') == f"'42b': {listed}{more}"


def test_timm_selecsls84_hint_only_for_its_3x3_head(tmp_path):
    """timm's selecsls84 (3x3 last head conv) gets its explanation; an
    original-release 84 with one tensor missing gets none."""
    state = timm.create_model('selecsls84').state_dict()
    message = _conversion_error(tmp_path, state, '84')
    assert message == (
        "'84': head.3.0.weight has shape (1280, 1024, 3, 3), arch 84 needs "
        '(1280, 1024, 1, 1)'
        ". This looks like timm's selecsls84, whose last head conv is 3x3; "
        'selecsls-mm follows the original release, which uses a 1x1 conv '
        'there, so these weights do not fit.')
    w = state['head.3.0.weight']
    original = dict(state, **{'head.3.0.weight': w[..., 1:2, 1:2].clone()})
    del original['features.3.conv4.1.running_var']
    assert _conversion_error(
        tmp_path, original,
        '84') == ("'84': missing tensor features.3.conv4.1.running_var")
    del original['head.3.0.weight']
    assert _conversion_error(tmp_path, original, '84') == (
        "'84': missing tensor features.3.conv4.1.running_var; missing tensor "
        'head.3.0.weight')


def _layout_error(state):
    with pytest.raises(ConversionError) as err:
        convert_reference_state_dict(state)
    return str(err.value)


def test_layout_error_lines():
    """The whole line of each refusal before any tensor is compared."""
    state = timm.create_model('selecsls42b').state_dict()
    converted, _ = convert_reference_state_dict(state)
    assert _layout_error(converted) == (
        'the source already uses mmpretrain names (backbone.*): it needs no '
        'conversion; load it directly')
    zeros = {f't{i}': torch.zeros(1) for i in range(6)}
    for names, shown in ((['stem.0.weight'] + list(zeros)[:5],
                          'stem.0.weight, t0, t1, t2, t3, ...'),
                         (['features.0.conv1.0.weight', 't0', 't1',
                           't2'], 'features.0.conv1.0.weight, t0, t1, t2'),
                         (list(zeros)[:5], 't0, t1, t2, t3, t4')):
        assert _layout_error({
            n: torch.zeros(1)
            for n in names
        }) == (
            'the source is not a SelecSLS checkpoint: expected tensors such '
            'as stem.0.weight and features.0.conv1.0.weight, found ' + shown)
    neither = {k: v for k, v in state.items() if not k.startswith('fc.')}
    assert _layout_error(neither) == (
        'cannot tell the source layout: expected exactly one classifier, '
        'classifier.0.weight (original release) or fc.weight (timm), found '
        'none')


def test_unknown_arch_names_the_valid_ones():
    state = timm.create_model('selecsls42b').state_dict()
    with pytest.raises(ConversionError) as err:
        convert_reference_state_dict(state, arch='43')
    assert str(err.value) == (
        "unknown arch '43'; valid archs are ['102', '42', '42b', '60', "
        "'60b', '84']")

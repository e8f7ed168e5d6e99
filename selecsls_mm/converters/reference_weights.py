# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Convert released SelecSLS weights to mmpretrain ``ImageClassifier`` ones.

Two source layouts share one naming scheme, differing only in the
classifier:

* the original SelecSLS-Pytorch release (``SelecSLS60_statedict.pth``):
  ``stem.{0,1}``, ``features.{i}.conv{1..6}.{0,1}``, ``head.{j}.{0,1}``
  (``.0`` the conv, ``.1`` its BN) and ``classifier.0.{weight,bias}``;
* timm (``selecsls42b/60/60b.in1k``): the same with ``fc.{weight,bias}``.

Block ``i`` of the flat ``features`` list becomes ``stage{s}.{b}`` (stages
start at blocks with ``is_first``); head conv ``j`` becomes
``head{j // 2 + 1}.{j % 2}``.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from ..checkpoint import load_checkpoint_file
from ..models.backbones.selecsls import SelecSLS
from ..utils.fileio import atomic_output

_BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var',
              'num_batches_tracked')
_CLASSIFIERS = {'original': 'classifier.0', 'timm': 'fc'}


class ConversionError(ValueError):
    """A source checkpoint that does not fit a SelecSLS arch."""


def reference_to_mmpretrain_names(arch: str) -> Dict[str, str]:
    """Map reference backbone tensor names to ``backbone.*`` names.

    Args:
        arch (str): A key of :attr:`SelecSLS.arch_settings`.

    Returns:
        dict[str, str]: Reference name -> mmpretrain name, classifier
        excluded.
    """
    names: Dict[str, str] = {}

    def conv_bn(ref: str, ours: str):
        names[f'{ref}.0.weight'] = f'backbone.{ours}.conv.weight'
        for p in _BN_PARAMS:
            names[f'{ref}.1.{p}'] = f'backbone.{ours}.bn.{p}'

    conv_bn('stem', 'stem')
    stages = SelecSLS._split_stages(SelecSLS.arch_settings[arch]['blocks'])
    index = 0
    for s, blocks in enumerate(stages):
        for b in range(len(blocks)):
            for c in range(1, 7):
                conv_bn(f'features.{index}.conv{c}',
                        f'stage{s + 1}.{b}.conv{c}')
            index += 1
    for j in range(4):
        conv_bn(f'head.{j}', f'head{j // 2 + 1}.{j % 2}')
    return names


_shape_cache: Dict[str, Dict[str, torch.Size]] = {}


def _expected_shapes(arch: str) -> Dict[str, torch.Size]:
    """Shapes of the mmpretrain backbone tensors of ``arch``."""
    if arch not in _shape_cache:
        with torch.device('meta'):
            backbone = SelecSLS(arch, init_cfg=None)
        _shape_cache[arch] = {
            f'backbone.{k}': v.shape
            for k, v in backbone.state_dict().items()
        }
    return _shape_cache[arch]


def _detect_format(state_dict: Dict[str, torch.Tensor]) -> str:
    if any(k.startswith('backbone.') for k in state_dict):
        raise ConversionError(
            'the source already uses mmpretrain names (backbone.*): it needs '
            'no conversion; load it directly')
    if 'stem.0.weight' not in state_dict or not any(
            k.startswith('features.') for k in state_dict):
        sample = ', '.join(list(state_dict)[:5])
        raise ConversionError(
            'the source is not a SelecSLS checkpoint: expected tensors such '
            f'as stem.0.weight and features.0.conv1.0.weight, found {sample}'
            f'{", ..." if len(state_dict) > 5 else ""}')
    found = [f for f, p in _CLASSIFIERS.items() if f'{p}.weight' in state_dict]
    if len(found) != 1:
        raise ConversionError(
            'cannot tell the source layout: expected exactly one classifier, '
            'classifier.0.weight (original release) or fc.weight (timm), '
            f'found {found or "none"}')
    return found[0]


def _problems(state_dict: Dict[str, torch.Tensor], arch: str,
              classifier: str) -> List[str]:
    names = reference_to_mmpretrain_names(arch)
    shapes = _expected_shapes(arch)
    problems = []
    for ref, ours in names.items():
        if ref not in state_dict:
            if not ref.endswith('num_batches_tracked'):
                problems.append(f'missing tensor {ref}')
        elif state_dict[ref].shape != shapes[ours]:
            problems.append(f'{ref} has shape {tuple(state_dict[ref].shape)}'
                            f', arch {arch} needs {tuple(shapes[ours])}')
    num_features = SelecSLS.arch_settings[arch]['head'][-1][1]
    fc_weight = state_dict.get(f'{classifier}.weight')
    if fc_weight is not None and (fc_weight.dim() != 2
                                  or fc_weight.shape[1] != num_features):
        problems.append(f'{classifier}.weight has shape '
                        f'{tuple(fc_weight.shape)}, arch {arch} needs '
                        f'(num_classes, {num_features})')
    known = set(names) | {f'{classifier}.weight', f'{classifier}.bias'}
    problems += [
        f'unexpected tensor {k}' for k in state_dict if k not in known
    ]
    return problems


def _infer_arch(state_dict: Dict[str, torch.Tensor],
                classifier: str) -> Tuple[Optional[str], Dict[str, list]]:
    report = {
        arch: _problems(state_dict, arch, classifier)
        for arch in SelecSLS.arch_settings
    }
    for arch, problems in report.items():
        if not problems:
            return arch, report
    return None, report


def _summary(problems: List[str]) -> str:
    more = len(problems) - 5
    return '; '.join(problems[:5]) + (f'; and {more} more' if more > 0 else '')


def _timm84_hint(state_dict: Dict[str, torch.Tensor]) -> str:
    last = state_dict.get('head.3.0.weight')
    if last is not None and last.shape[-1] == 3 and \
            state_dict['head.0.0.weight'].shape[1] == 512:
        return (
            '. This looks like timm\'s selecsls84, whose last head conv is '
            '3x3; selecsls-mm follows the original release, which uses a '
            '1x1 conv there, so these weights do not fit.')
    return ''


def _hint(state_dict: Dict[str, torch.Tensor], classifier: str) -> str:
    """For tensors that do not fit the arch asked for: the arch they fit,
    or why they fit none."""
    fits, _ = _infer_arch(state_dict, classifier)
    if fits is not None:
        return f'. They fit arch {fits!r}: pass --arch {fits} or omit --arch.'
    return _timm84_hint(state_dict)


def convert_reference_state_dict(state_dict: Dict[str, torch.Tensor],
                                 arch: Optional[str] = None
                                 ) -> Tuple['OrderedDict', dict]:
    """Convert a reference (original or timm) SelecSLS state dict.

    Args:
        state_dict (dict[str, Tensor]): The source tensors.
        arch (str, optional): The arch; inferred from the tensors if None.

    Returns:
        tuple: ``(state_dict, meta)``: the ``ImageClassifier`` state dict
        (``backbone.*`` and ``head.fc.*``) and a dict with ``arch``,
        ``source_format`` and ``num_classes``.

    Raises:
        ConversionError: On any missing, unexpected or mis-shaped tensor,
            naming it.
    """
    state_dict = {k.removeprefix('module.'): v for k, v in state_dict.items()}
    source_format = _detect_format(state_dict)
    classifier = _CLASSIFIERS[source_format]
    if arch is None:
        arch, report = _infer_arch(state_dict, classifier)
        if arch is None:
            closest = min(report, key=lambda a: len(report[a]))
            raise ConversionError(
                'the tensors fit no SelecSLS arch; closest is '
                f'{closest!r}: ' + _summary(report[closest]) +
                _timm84_hint(state_dict))
    else:
        if arch not in SelecSLS.arch_settings:
            raise ConversionError(f'unknown arch {arch!r}; valid archs are '
                                  f'{sorted(SelecSLS.arch_settings)}')
        problems = _problems(state_dict, arch, classifier)
        if problems:
            raise ConversionError(f'the tensors do not fit arch {arch!r}: ' +
                                  _summary(problems) +
                                  _hint(state_dict, classifier))

    converted = OrderedDict()
    for ref, ours in reference_to_mmpretrain_names(arch).items():
        # Older torch versions did not save num_batches_tracked.
        converted[ours] = state_dict.get(ref, torch.tensor(0))
    converted['head.fc.weight'] = state_dict[f'{classifier}.weight']
    if f'{classifier}.bias' in state_dict:
        converted['head.fc.bias'] = state_dict[f'{classifier}.bias']
    meta = dict(
        arch=arch,
        source_format=source_format,
        num_classes=int(converted['head.fc.weight'].shape[0]))
    return converted, meta


def load_reference_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read the tensors of a released checkpoint.

    Accepts ``.pth``/``.pt``/``.bin`` (loaded with ``weights_only=True``) and
    ``.safetensors`` files holding a state dict, optionally wrapped in
    ``{'state_dict': ...}`` or ``{'model': ...}``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'source checkpoint {path} does not exist')
    if path.endswith('.safetensors'):
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(path)
        except SafetensorError as err:
            raise ConversionError(
                f'{path} is not a complete safetensors file ({err}): it is '
                'truncated (e.g. an interrupted download) or another format; '
                'fetch it again') from None
    obj = load_checkpoint_file(path, map_location='cpu')
    for key in ('state_dict', 'model', 'state_dict_ema'):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConversionError(f'{path} does not hold a state dict of tensors')
    return obj


def convert_reference_checkpoint(src: str,
                                 dst: str,
                                 arch: Optional[str] = None) -> dict:
    """Convert the released weights in ``src`` and write an mmpretrain
    checkpoint ``dst`` (``meta`` and ``state_dict``).

    Nothing is written unless the whole conversion succeeds: the output goes
    to a temporary file that is renamed to ``dst`` at the end.

    Args:
        src (str): The released weights (``.pth``, ``.bin``, ``.safetensors``).
        dst (str): The checkpoint to write.
        arch (str, optional): The arch; inferred from the tensors if None.

    Returns:
        dict: The checkpoint's meta (``arch``, ``source_format``,
        ``num_classes``, ``source``) plus ``num_tensors``.
    """
    source = load_reference_state_dict(src)
    try:
        state_dict, meta = convert_reference_state_dict(source, arch)
    except ConversionError as err:
        raise ConversionError(f'cannot convert {src}: {err}') from None
    meta['source'] = osp.basename(src)
    with atomic_output(dst) as tmp:
        torch.save(dict(meta=meta, state_dict=state_dict), tmp)
    return dict(meta, num_tensors=len(state_dict))

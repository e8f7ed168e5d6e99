# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Model specs for the benchmark: what to build and how to label it.

Every model is built as a feature extractor without global pooling and
classifier (SelecSLS up to its last head conv, mmpretrain backbones as they
are, timm models through ``forward_features`` with ``num_classes=0``), so
that rows of one table compare like with like.
"""
import ast
import copy
import difflib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from torch import Tensor

SPEC_HELP = (
    'a SelecSLS arch ("selecsls60", "selecsls42b", ...), "timm:NAME" '
    '(a timm model, through forward_features), "mmpretrain:TYPE[-ARG]" '
    '(e.g. "mmpretrain:ResNet-50": an all-digit ARG is the depth, else the '
    'arch) or a backbone config dict such as "dict(type=\'SelecSLS\', '
    'arch=\'84\')"; append any of ":with_cp" (gradient checkpointing), '
    '":deploy" (switch_to_deploy()) and ":channels_last" (this model and '
    'its input in channels_last memory format) to a non-dict spec')
OPTIONS = ('with_cp', 'deploy', 'channels_last')


@dataclass
class ModelSpec:
    """A parsed model spec.

    Args:
        text (str): The spec as given; used as the row label.
        source (str): ``'selecsls'``, ``'timm'``, ``'mmpretrain'`` or
            ``'config'``.
        name (str): The arch, timm model name or mmpretrain type.
        options (tuple[str]): Any of ``'with_cp'``, ``'deploy'`` and
            ``'channels_last'``.
        cfg (dict, optional): Registry config for ``selecsls``,
            ``mmpretrain`` and ``config`` sources.
    """
    text: str
    source: str
    name: str
    options: Tuple[str, ...] = ()
    cfg: Optional[dict] = field(default=None)

    @property
    def label(self) -> str:
        return self.text

    @property
    def channels_last(self) -> bool:
        return 'channels_last' in self.options

    def without(self, option: str) -> 'ModelSpec':
        """The spec without ``option`` (unchanged for config dicts)."""
        if self.source == 'config' or option not in self.options:
            return self
        return parse_model_spec(':'.join(
            p for p in self.text.split(':') if p != option))

    def with_options(self, *options: str) -> 'ModelSpec':
        """Return a copy with ``options`` added (spec text updated)."""
        if self.source == 'config':
            cfg = copy.deepcopy(self.cfg)
            for opt in options:
                cfg[opt] = True
            return ModelSpec(_dict_text(cfg), 'config', self.name, (), cfg)
        new = tuple(o for o in options if o not in self.options)
        return parse_model_spec(':'.join((self.text, ) + new))


def _dict_text(cfg: dict) -> str:
    args = ', '.join(f'{k}={v!r}' for k, v in cfg.items())
    return f'dict({args})'


def _literal(node: ast.AST):
    """Evaluate literals and ``dict(...)`` calls of a parsed expression."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == 'dict' and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        return {
            _literal(k): _literal(v)
            for k, v in zip(node.keys, node.values)
        }
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    return ast.literal_eval(node)


def _parse_dict(text: str) -> dict:
    try:
        cfg = _literal(ast.parse(text, mode='eval').body)
    except (SyntaxError, ValueError) as e:
        raise ValueError(f'cannot parse model config {text!r} ({e}); write '
                         'it as a Python dict, e.g. "dict(type=\'SelecSLS\', '
                         'arch=\'60\')"') from None
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'model config {text!r} must be a dict with a '
                         '"type" key')
    return cfg


def _selecsls_archs():
    from selecsls_mm.models.backbones.selecsls import SelecSLS
    return sorted(SelecSLS.arch_settings)


def parse_model_spec(text: str) -> ModelSpec:
    """Parse a model spec; see ``SPEC_HELP`` for the grammar.

    Raises:
        ValueError: If the spec names nothing known, with the valid forms.
    """
    text = text.strip()
    if text.startswith(('{', 'dict(')):
        cfg = _parse_dict(text)
        return ModelSpec(text, 'config', str(cfg['type']), (), cfg)
    parts = text.split(':')
    if parts[0] in ('timm', 'mmpretrain'):
        if len(parts) < 2 or not parts[1]:
            raise ValueError(f'model spec {text!r} names no model; '
                             f'expected {parts[0]}:NAME')
        source, name, options = parts[0], parts[1], parts[2:]
    else:
        source, name, options = 'selecsls', parts[0], parts[1:]
    bad = [o for o in options if o not in OPTIONS]
    if bad or len(set(options)) != len(options):
        raise ValueError(f'model spec {text!r}: unknown or repeated options '
                         f'{bad or options}; valid options are {OPTIONS}')
    options = tuple(options)
    cfg = None
    if source == 'selecsls':
        arch = name[len('selecsls'):] if name.lower().startswith(
            'selecsls') else None
        if arch not in _selecsls_archs():
            raise ValueError(
                f'unknown model spec {text!r}; expected {SPEC_HELP}. '
                'SelecSLS archs: ' + ', '.join('selecsls' + a
                                               for a in _selecsls_archs()))
        cfg = dict(type='SelecSLS', arch=arch, out_indices=(5, ))
    elif source == 'mmpretrain':
        mm_type, _, arg = name.partition('-')
        cfg = dict(type=f'mmpretrain.{mm_type}')
        if arg:
            cfg.update(depth=int(arg)) if arg.isdigit() else cfg.update(
                arch=arg)
    if cfg is not None and 'with_cp' in options:
        cfg['with_cp'] = True
    return ModelSpec(text, source, name, options, cfg)


class _TimmFeatures(nn.Module):
    """Run a timm model's ``forward_features`` (no pooling, classifier)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.forward_features(x)


def is_selecsls_spec(spec: ModelSpec) -> bool:
    """Whether a spec builds a SelecSLS backbone (``--deploy`` targets)."""
    return spec.source == 'selecsls' or (
        spec.source == 'config' and spec.name.split('.')[-1] == 'SelecSLS')


def _is_selecsls(model: nn.Module) -> bool:
    from selecsls_mm.models.backbones.selecsls import SelecSLS
    return isinstance(model, SelecSLS)


def build_benchmark_model(spec: ModelSpec) -> nn.Module:
    """Build the feature extractor a spec names, in eval mode, on CPU.

    Args:
        spec (ModelSpec): The parsed spec.

    Returns:
        nn.Module: Maps images ``(N, 3, H, W)`` to a tensor or a tuple of
        tensors.
    """
    if spec.source == 'timm':
        try:
            import timm
        except ImportError:
            raise ImportError(f'model spec {spec.text!r} needs timm; '
                              '`pip install timm`') from None
        if spec.name not in timm.list_models():
            raise ValueError(f'unknown timm model {spec.name!r} in '
                             f'{spec.text!r}; close timm names: ' +
                             _close(spec.name, timm.list_models()))
        model = timm.create_model(spec.name, pretrained=False, num_classes=0)
        if 'with_cp' in spec.options:
            try:
                model.set_grad_checkpointing(True)
            except (AssertionError, NotImplementedError, AttributeError):
                raise ValueError(
                    f'timm model {spec.name!r} does not support gradient '
                    'checkpointing; drop ":with_cp"') from None
        model = _TimmFeatures(model)
    else:
        import mmpretrain.models  # noqa: F401  (fills the registry)
        from mmpretrain.registry import MODELS

        import selecsls_mm  # noqa: F401  (registers SelecSLS)
        name = str(spec.cfg['type']).split('.')[-1]
        if MODELS.get(spec.cfg['type']) is None:
            raise ValueError(f'unknown model type {name!r} in '
                             f'{spec.text!r}; close mmpretrain names: ' +
                             _close(name, list(MODELS.module_dict)))
        try:
            model = MODELS.build(copy.deepcopy(spec.cfg))
        except (KeyError, TypeError, AssertionError) as e:
            raise ValueError(f'model spec {spec.text!r}: {e}') from None
    if 'deploy' in spec.options:
        if not hasattr(model, 'switch_to_deploy'):
            what = ('this version of SelecSLS has no switch_to_deploy() '
                    '(deploy mode)' if _is_selecsls(model) else
                    f'{type(model).__name__} has no switch_to_deploy()')
            raise ValueError(f'cannot deploy {spec.text!r}: {what}; run '
                             'without --deploy / ":deploy"')
        model.switch_to_deploy()
    model.eval()  # mmpretrain's train() does not return the module
    return model


def _close(name: str, names: Sequence[str]) -> str:
    """Up to five registered names that look like ``name``."""
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(
        name.lower(), list(lowered), n=5, cutoff=0.5)
    return ', '.join(lowered[c] for c in close) or '(none close)'


def fold_bn(model: nn.Module) -> Tuple[nn.Module, str]:
    """Fold every BN into the conv before it, for inference.

    SelecSLS uses its own ``switch_to_deploy()``; any other model is fused
    by ``torch.fx.experimental.optimization.fuse`` (a symbolic trace,
    conv + BN pairs folded), so peers get the same treatment as ours.

    Args:
        model (nn.Module): A model in eval mode.

    Returns:
        tuple: The folded model and how it was folded (for the report);
        a model fx cannot trace is returned unchanged with the reason.
    """
    if hasattr(model, 'switch_to_deploy'):
        model.switch_to_deploy()
        return model, 'switch_to_deploy()'
    if not any(
            isinstance(m, nn.modules.batchnorm._BatchNorm)
            for m in model.modules()):
        return model, 'no BN'
    from torch.fx.experimental.optimization import fuse
    model.eval()  # mmpretrain's train() does not return the module
    try:
        folded = fuse(model, inplace=False)
    except Exception as e:  # symbolic tracing fails in many ways
        return model, f'not folded (torch.fx: {type(e).__name__})'
    folded.eval()
    return folded, 'torch.fx fuse'


def build_models(specs: Sequence[ModelSpec],
                 settings,
                 fold: bool = False) -> Dict[str, dict]:
    """Build every spec's model, placed as the run's settings say.

    Args:
        specs (Sequence[ModelSpec]): The models, labels unique.
        settings (BenchmarkSettings): Device and memory format.
        fold (bool): Fold BN into convs in every model (:func:`fold_bn`).

    Returns:
        dict: Label -> ``dict(model=..., channels_last=bool, fold=str)``
        (``fold``: how BN was folded, '' when not asked).
    """
    models: Dict[str, dict] = {}
    for spec in specs:
        if spec.label in models:
            raise ValueError(f'model {spec.label!r} is listed twice')
        model, how = build_benchmark_model(spec), ''
        if 'deploy' in spec.options:
            how = 'switch_to_deploy()'
        if fold:
            model, how = fold_bn(model)
        models[spec.label] = dict(
            model=settings.place(model, spec.channels_last),
            channels_last=spec.channels_last or settings.channels_last,
            fold=how)
    return models


def ratio_pairs(labels: Sequence[str],
                baselines: Sequence[str]) -> List[Tuple[str, str]]:
    """(baseline, model) for every baseline present and every other model."""
    return [(b, m) for b in baselines if b in labels for m in labels if m != b]

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write the inference-only (deploy) form of a SelecSLS checkpoint.

Folds every BN into its conv and, with ``--prune-threshold T``, first removes
the channels whose BN ``|gamma| < T`` (implicit-sparsity pruning, see
``selecsls_mm/deploy/prune.py``). Writes ``OUT`` (a checkpoint) and, next to
it, ``OUT`` with the suffix ``.py``: a config that builds the matching model
(``backbone.deploy=True`` and, when pruned, the pruned widths). Use the pair
like any mmpretrain config + checkpoint, e.g.::

    python tools/deploy.py work_dirs/selecsls60.pth deploy/selecsls60.pth \\
        --config configs/selecsls60_imagenet.py --prune-threshold 1e-3
    python tools/test.py deploy/selecsls60.py deploy/selecsls60.pth

Reports channels removed per layer, parameters and MACs (multiply-accumulates
of conv and linear layers, the quantity mmengine reports as "flops") before
and after, and the largest output difference on a random input.
"""
import argparse
import os
import os.path as osp
import pprint
import sys
import tempfile
from typing import List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.model import BaseModel

import selecsls_mm  # noqa: F401  (registers SelecSLS)
from selecsls_mm.deploy import (build_model, complexity, load_checkpoint_file,
                                 load_weights, prune_classifier)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fold BN (and optionally prune channels) of a SelecSLS '
        'checkpoint, writing a deploy checkpoint and its config.')
    parser.add_argument('checkpoint', help='input checkpoint (BN form)')
    parser.add_argument('out', help='output deploy checkpoint (.pth)')
    parser.add_argument(
        '--config',
        help='config of the input model; defaults to the config stored in '
        'the checkpoint meta (meta["cfg"], written by mmengine runners)')
    parser.add_argument(
        '--prune-threshold', type=float, default=0.0,
        help='remove channels whose BN |gamma| is below this (the reference '
        'release uses 1e-3); 0 (default) prunes nothing')
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
        help='input size for the MAC count and the output check')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def load_config(args: argparse.Namespace, checkpoint: dict) -> Config:
    """The config from ``--config`` or, failing that, the checkpoint meta."""
    if args.config:
        if not osp.isfile(args.config):
            raise FileNotFoundError(f'config {args.config} does not exist')
        cfg = Config.fromfile(args.config)
    else:
        text = checkpoint.get('meta', {}).get('cfg')
        if not isinstance(text, str):
            raise ValueError(
                f'{args.checkpoint} stores no config in its meta (meta["cfg"]'
                '); pass the config it was trained with: --config CONFIG')
        cfg = Config.fromstring(text, file_format='.py')
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def deploy_overrides(model: torch.nn.Module, pruned: bool) -> dict:
    """The config settings that build the deploy form of ``model``."""
    backbone = model.backbone
    overrides = dict(backbone=dict(deploy=True))
    if pruned:
        arch = backbone.arch
        overrides['backbone'].update(
            stem_channels=backbone.out_channels[0],
            arch=dict(_delete_=True,
                      blocks=[list(b) for b in arch['blocks']],
                      head=[list(h) for h in arch['head']]))
        head = getattr(model, 'head', None)
        if hasattr(head, 'in_channels') and hasattr(head, 'fc'):
            overrides['head'] = dict(in_channels=head.fc.in_features)
    return overrides


def config_text(base: Optional[str], cfg: Config, out_dir: str,
                overrides: dict) -> str:
    """A config inheriting ``base`` (a file) with ``overrides``, or, when
    the config came from the checkpoint meta, the whole merged config."""
    if base is None:
        merged = Config(cfg.to_dict())
        merged.merge_from_dict(dict(model=overrides))
        return merged.pretty_text
    rel = osp.relpath(osp.abspath(base), osp.abspath(out_dir))
    return ('# Deploy form written by tools/deploy.py; use it with the '
            'checkpoint of the same name.\n'
            f'_base_ = [{rel!r}]\n'
            f'model = {pprint.pformat(overrides, width=79, compact=True)}\n')


def atomic_write(path: str, write):
    """Call ``write(tmp_path)`` and rename the result to ``path``."""
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix='.tmp_',
                               suffix=osp.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    if not args.out.endswith(('.pth', '.pt')):
        raise ValueError(f'OUT must end with .pth or .pt, got {args.out}: the '
                         'config is written next to it with the suffix .py')
    if osp.abspath(args.out) == osp.abspath(args.checkpoint):
        raise ValueError('OUT must differ from the input checkpoint')
    checkpoint = load_checkpoint_file(args.checkpoint)
    cfg = load_config(args, checkpoint)
    model = build_model(cfg)
    backbone = getattr(model, 'backbone', None)
    if not hasattr(backbone, 'switch_to_deploy'):
        raise TypeError(f'model.backbone ({type(backbone).__name__}) has no '
                        'switch_to_deploy(); this tool expects SelecSLS')
    if backbone.deploy:
        raise ValueError('the config builds a deploy model already (backbone.'
                         'deploy=True); pass the config of the BN model')
    load_weights(model, checkpoint, args.checkpoint)
    model.eval()

    shape = tuple(args.shape)
    inputs = torch.randn(
        1, 3, *shape, generator=torch.Generator().manual_seed(0))

    def forward(x):
        # mmengine models (classifiers, pose estimators) return raw tensors
        # in 'tensor' mode; pose estimators require the data_samples slot.
        if isinstance(model, BaseModel):
            return model(x, None, mode='tensor')
        return model(x)

    params_before, macs_before = complexity(model, shape, forward)
    with torch.no_grad():
        reference = forward(inputs)

    report = []
    if args.prune_threshold > 0:
        report = prune_classifier(model, args.prune_threshold)
    pruned = any(row['after'] < row['before'] for row in report)
    backbone.switch_to_deploy()
    params_after, macs_after = complexity(model, shape, forward)
    with torch.no_grad():
        output = forward(inputs)
    diff = _max_rel_diff(reference, output)

    overrides = deploy_overrides(model, pruned)
    out_cfg_path = osp.splitext(args.out)[0] + '.py'
    # With --cfg-options the original file alone no longer builds the model:
    # write the whole merged config instead of inheriting the file.
    base = None if args.cfg_options else args.config
    text = config_text(base, cfg, osp.dirname(args.out), overrides)
    atomic_write(out_cfg_path, lambda p: open(p, 'w').write(text))
    meta = dict(checkpoint.get('meta', {}))
    meta['deploy'] = dict(
        source=osp.basename(args.checkpoint),
        prune_threshold=args.prune_threshold, arch=overrides['backbone'].get(
            'arch', None), stem_channels=backbone.out_channels[0])
    new_checkpoint = dict(meta=meta, state_dict=model.state_dict())
    try:
        # The written config must rebuild this exact model.
        out_cfg = Config.fromfile(out_cfg_path)
        load_weights(build_model(out_cfg), new_checkpoint, args.out)
    except Exception:
        os.remove(out_cfg_path)
        raise
    meta['cfg'] = out_cfg.pretty_text
    atomic_write(args.out, lambda p: torch.save(new_checkpoint, p))

    _print_report(report, params_before, params_after, macs_before,
                  macs_after, shape, diff, args.out, out_cfg_path)
    return dict(report=report, params=(params_before, params_after),
                macs=(macs_before, macs_after), max_rel_diff=diff,
                config=out_cfg_path)


def _max_rel_diff(reference, output) -> float:
    if isinstance(reference, torch.Tensor):
        reference, output = [reference], [output]
    return max(((r - o).abs().max() / r.abs().max().clamp_min(1e-12)).item()
               for r, o in zip(reference, output))


def _print_report(report, params_before, params_after, macs_before,
                  macs_after, shape, diff, out, out_cfg_path):
    pruned = [r for r in report if r['after'] < r['before']]
    if report:
        print(f'channels removed in {len(pruned)} of {len(report)} layers:')
        for row in pruned:
            removed = row['before'] - row['after']
            print(f'  {row["name"]:<22} {row["before"]:>5} -> '
                  f'{row["after"]:>5}  (-{removed})')
    print(f'parameters: {params_before / 1e6:.3f} M -> '
          f'{params_after / 1e6:.3f} M')
    print(f'MACs at {shape[0]}x{shape[1]} (conv + linear, per image): '
          f'{macs_before / 1e9:.3f} G -> {macs_after / 1e9:.3f} G')
    print(f'max relative output difference on a random input: {diff:.2e}')
    print(f'wrote {out} and {out_cfg_path}')


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, TypeError, KeyError) as e:
        sys.exit(f'error: {e}')

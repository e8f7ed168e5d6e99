#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write the inference-only (deploy) form of a SelecSLS checkpoint.

Folds every BN into its conv and, with ``--prune-threshold T``, first removes
the channels whose BN ``|gamma| < T`` (implicit-sparsity pruning, see
``selecsls_mm/deploy/prune.py``). Writes ``OUT`` (a checkpoint) and, next to
it, ``OUT`` with the suffix ``.py``: a config that builds the matching model.
Use the pair like any mmpretrain config + checkpoint, e.g.::

    python tools/deployment/deploy.py work_dirs/selecsls60.pth \\
        deploy/selecsls60.pth --config configs/selecsls60_imagenet.py \\
        --prune-threshold 1e-3
    python tools/test.py deploy/selecsls60.py deploy/selecsls60.pth

Prints the channels removed per layer, parameters and MACs before and after,
and the largest output difference on a random input.
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; the package is imported in deploy().
import argparse
import sys
from typing import List, Optional


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
        '--prune-threshold',
        type=float,
        default=0.0,
        help='remove channels whose BN |gamma| is below this (the reference '
        'release uses 1e-3); 0 (default) prunes nothing')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[224, 224],
        metavar=('H', 'W'),
        help='input size for the MAC count and the output check')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override settings of the config, e.g. '
        'model.backbone.out_indices="(3,)" or key="[a,b]"')
    return parser.parse_args(argv)


def deploy(args) -> int:
    import selecsls_mm  # noqa: F401  (registers modules, safe loading)
    from selecsls_mm.deploy import deploy_checkpoint, format_deploy_report
    from selecsls_mm.utils import cfg_options_dict
    result = deploy_checkpoint(
        args.checkpoint,
        args.out,
        config=args.config,
        prune_threshold=args.prune_threshold,
        shape=tuple(args.shape),
        cfg_options=cfg_options_dict(args.cfg_options))
    print(format_deploy_report(result))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(deploy, args)


if __name__ == '__main__':
    sys.exit(main())

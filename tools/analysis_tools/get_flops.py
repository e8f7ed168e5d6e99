#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Parameters and MACs per image of the model a config builds.

MACs are multiply-accumulates (convolutions and matrix multiplications,
counted by ``selecsls_mm.utils.count_macs``), the quantity mmpretrain's
``get_flops.py`` and timm call FLOPs. The model runs in mmengine's tensor
mode (no data preprocessing, no post-processing), so for a classifier the
count includes the head. Example::

    python tools/analysis_tools/get_flops.py configs/selecsls60_imagenet.py \\
        --shape 224 --shape 512 320
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; the package is imported in count().
import argparse
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the parameters and MACs of a config\'s model')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        action='append',
        metavar='SIZE',
        help='input size: S (S x S) or H W, as mmpretrain\'s get_flops.py; '
        'repeat for several (default: 224)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override settings of the config, e.g. '
        'model.backbone.arch=42b or key="[a,b]"')
    args = parser.parse_args(argv)
    shapes = []
    for shape in args.shape or [[224]]:
        if len(shape) not in (1, 2) or min(shape) < 1:
            parser.error(f'--shape {" ".join(map(str, shape))}: give one '
                         'size (square) or two (H W), e.g. --shape 224 or '
                         '--shape 512 320')
        shapes.append((shape[0], shape[-1]))
    args.shape = shapes
    return args


def count(args) -> int:
    import selecsls_mm  # noqa: F401  (registers modules)
    from selecsls_mm.stack import load_config
    from selecsls_mm.utils import (TensorModeWrapper, build_model,
                                   cfg_options_dict, complexity)
    cfg = load_config(args.config)
    cfg.merge_from_dict(cfg_options_dict(args.cfg_options))
    model = build_model(cfg)
    forward = TensorModeWrapper(model)
    for h, w in args.shape:
        params, macs = complexity(model, (h, w), forward)
        print(f'{args.config} at {h}x{w}: {params / 1e6:.2f} M parameters, '
              f'{macs / 1e9:.2f} GMACs per image ({macs} MACs)')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(count, args)


if __name__ == '__main__':
    sys.exit(main())

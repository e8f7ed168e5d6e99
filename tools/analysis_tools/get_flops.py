#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Parameters and MACs per image of the model a config builds.

MACs are multiply-accumulates (convolutions and matrix multiplications,
counted by ``selecsls_mm.utils.count_macs``), the quantity mmpretrain's
``get_flops.py`` and timm call FLOPs. The model runs in mmengine's tensor
mode (no data preprocessing, no post-processing), so for a classifier the
count includes the head. Example::

    python tools/analysis_tools/get_flops.py configs/selecsls60_imagenet.py \\
        --shape 224 224 --shape 512 512
"""
import argparse
import sys
from typing import List, Optional

import selecsls_mm  # noqa: F401  (registers modules)
from selecsls_mm.stack import load_config
from selecsls_mm.utils import (TensorModeWrapper, add_cfg_options_argument,
                               build_model, complexity, run_main)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the parameters and MACs of a config\'s model')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        action='append',
        metavar=('H', 'W'),
        help='input size; repeat for several (default: 224 224)')
    add_cfg_options_argument(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg)
    forward = TensorModeWrapper(model)
    for h, w in args.shape or [(224, 224)]:
        params, macs = complexity(model, (h, w), forward)
        print(f'{args.config} at {h}x{w}: {params / 1e6:.2f} M parameters, '
              f'{macs / 1e9:.2f} GMACs per image ({macs} MACs)')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))

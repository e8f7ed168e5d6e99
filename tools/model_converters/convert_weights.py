#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Convert released SelecSLS weights into an mmpretrain checkpoint.

Examples::

    python tools/model_converters/convert_weights.py \\
        SelecSLS60_statedict.pth \\
        checkpoints/selecsls60_original_in1k.pth
    python tools/model_converters/convert_weights.py model.safetensors \\
        checkpoints/selecsls60b_timm_in1k.pth --arch 60b

The result loads into the ``ImageClassifier`` of
``configs/selecsls/selecsls{arch}_8xb32_in1k.py`` and, through
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``,
into any backbone config.
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; the package is imported in convert().
import argparse
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert original SelecSLS-Pytorch or timm SelecSLS '
        'weights (.pth/.bin/.safetensors) to an mmpretrain checkpoint')
    parser.add_argument('src', help='source weights')
    parser.add_argument('dst', help='output mmpretrain checkpoint (.pth)')
    parser.add_argument(
        '--arch',
        help='SelecSLS arch of the source (42, 42b, 60, 60b, 84 or 102); '
        'inferred from the tensors if omitted')
    return parser.parse_args(argv)


def convert(args) -> int:
    from selecsls_mm.converters import convert_reference_checkpoint
    meta = convert_reference_checkpoint(args.src, args.dst, args.arch)
    print(f'converted {args.src} ({meta["source_format"]} layout, arch '
          f'{meta["arch"]}, {meta["num_classes"]} classes, '
          f'{meta["num_tensors"]} tensors) -> {args.dst}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(convert, args)


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Convert released SelecSLS weights into an mmpretrain checkpoint.

Examples:
    python tools/convert_weights.py SelecSLS60_statedict.pth \
        checkpoints/selecsls60_original_in1k.pth
    python tools/convert_weights.py model.safetensors \
        checkpoints/selecsls60b_timm_in1k.pth --arch 60b

The result loads into the ``ImageClassifier`` of
``configs/selecsls{arch}_imagenet.py`` and, through
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``,
into any backbone config.
"""
import argparse
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from selecsls_mm.checkpoint import UnsafeCheckpointError  # noqa: E402
from selecsls_mm.converters import (ConversionError,  # noqa: E402
                                    convert_reference_state_dict,
                                    load_reference_state_dict)
from selecsls_mm.fileio import atomic_output  # noqa: E402
from selecsls_mm.models import SelecSLS  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert original SelecSLS-Pytorch or timm SelecSLS '
        'weights (.pth/.bin/.safetensors) to an mmpretrain checkpoint')
    parser.add_argument('src', help='source weights')
    parser.add_argument('dst', help='output mmpretrain checkpoint (.pth)')
    parser.add_argument(
        '--arch', choices=sorted(SelecSLS.arch_settings),
        help='arch of the source; inferred from the tensors if omitted')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        source = load_reference_state_dict(args.src)
        state_dict, meta = convert_reference_state_dict(source, args.arch)
    except (ConversionError, FileNotFoundError,
            UnsafeCheckpointError) as err:
        sys.exit(f'error: cannot convert {args.src}: {err}')
    meta['source'] = osp.basename(args.src)
    with atomic_output(args.dst) as tmp:
        torch.save(dict(meta=meta, state_dict=state_dict), tmp)
    print(f'converted {args.src} ({meta["source_format"]} layout, arch '
          f'{meta["arch"]}, {meta["num_classes"]} classes, '
          f'{len(state_dict)} tensors) -> {args.dst}')


if __name__ == '__main__':
    main()

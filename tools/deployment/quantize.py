#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Quantize a classifier to int8 (ONNX Runtime, static QDQ) and measure how
far it is from fp32 on real images.

The model is exported to ONNX (BN folded unless ``--no-deploy``), its
activation ranges are calibrated on ``--calib-num`` images of the config's
``--calib-split`` dataset, and the int8 graph is written to ``OUT``. Then the
fp32 and int8 graphs both classify the images of ``--eval-split``, read with
the config's test pipeline, and the tool prints the top-1 agreement, the
largest logit difference and, where the images have labels, each graph's
top-1 accuracy::

    python tools/deployment/quantize.py configs/selecsls60_imagenet.py \\
        selecsls60.pth selecsls60_int8.onnx --calib-num 256 \\
        --cfg-options train_dataloader.dataset.data_root=data/imagenet

    # the demo's model, on scikit-learn's scanned digits (make demo first)
    python tools/deployment/quantize.py configs/selecsls42_digits.py \\
        work_dirs/selecsls42_digits/epoch_6.pth digits_int8.onnx

Time the int8 graph against other models with
``tools/benchmark.py --runtime onnxruntime-int8``.
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; the package is imported in quantize().
import argparse
import json
import sys
from typing import List, Optional

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='int8 post-training quantization of a classifier with '
        'ONNX Runtime; reports top-1 agreement with fp32 on real images.')
    parser.add_argument('config', help='config of the model and its data')
    parser.add_argument('checkpoint', help='checkpoint to load')
    parser.add_argument('out', help='output int8 .onnx file')
    parser.add_argument(
        '--calib-split',
        choices=SPLITS,
        default='train',
        help='dataloader whose images calibrate the activation ranges '
        '(read with the test pipeline)')
    parser.add_argument(
        '--calib-num',
        type=int,
        default=64,
        help='calibration images, drawn at random from --calib-split')
    parser.add_argument(
        '--eval-split',
        choices=SPLITS,
        default='test',
        help='dataloader whose images measure the agreement')
    parser.add_argument(
        '--eval-num',
        type=int,
        help='evaluation images, drawn at random (default: all)')
    parser.add_argument(
        '--calib-method',
        choices=('minmax', 'percentile'),  # CALIBRATION_METHODS
        default='minmax',
        help='how activation ranges are estimated')
    parser.add_argument(
        '--per-tensor',
        action='store_true',
        help='one weight scale per conv instead of per output channel')
    parser.add_argument(
        '--full-range',
        action='store_true',
        help='8-bit weights, only for graphs run on CPUs with VNNI or on '
        'ARM (default: 7-bit, which x86 CPUs without VNNI need: their u8s8 '
        'convs saturate with 8-bit weights)')
    parser.add_argument(
        '--no-deploy',
        action='store_true',
        help='export with BN layers (ONNX Runtime folds them anyway)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the image draws')
    parser.add_argument(
        '--json', help='also write the measured numbers to this file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override settings of the config, e.g. '
        'data_root=data/imagenet or key="[a,b]"')
    return parser.parse_args(argv)


def quantize(args) -> int:
    import selecsls_mm  # noqa: F401  (registers modules, safe loading)
    from selecsls_mm.deploy.quantize import quantize_classifier
    from selecsls_mm.utils import atomic_output, cfg_options_dict
    result = quantize_classifier(
        args.config,
        args.checkpoint,
        args.out,
        calib_split=args.calib_split,
        calib_num=args.calib_num,
        eval_split=args.eval_split,
        eval_num=args.eval_num,
        method=args.calib_method,
        per_channel=not args.per_tensor,
        reduce_range=not args.full_range,
        deploy=not args.no_deploy,
        cfg_options=cfg_options_dict(args.cfg_options),
        seed=args.seed)
    print(f'wrote {args.out} (int8 static QDQ, {result["method"]} '
          f'calibration on {result["calibration_images"]} images of '
          f'{args.calib_split})')
    print(f'int8 vs fp32 on {result["images"]} images of {args.eval_split}: '
          f'top-1 agreement {100 * result["top1_agreement"]:.2f}%, '
          f'max logit difference {result["max_logit_diff"]:.4f} '
          f'({100 * result["max_rel_logit_diff"]:.2f}% of the largest '
          'fp32 logit)')
    if 'top1_reference' in result:
        print(f'top-1 accuracy: fp32 {100 * result["top1_reference"]:.2f}%, '
              f'int8 {100 * result["top1_other"]:.2f}%')
    if args.json:
        with atomic_output(args.json) as tmp, open(tmp, 'w') as f:
            json.dump(result, f, indent=2)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(quantize, args)


if __name__ == '__main__':
    sys.exit(main())

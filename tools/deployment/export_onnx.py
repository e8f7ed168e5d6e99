#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Export a SelecSLS classifier (logits) or backbone (feature maps) to ONNX.

The graph has a dynamic batch size and input height/width. Its input is the
normalised image batch (N, 3, H, W) float32, i.e. after the config's data
preprocessor (the mean/std are stored in the model's metadata_props). With
``--deploy`` the BN layers are folded first; a checkpoint written by
``tools/deployment/deploy.py`` needs the config written next to it::

    python tools/deployment/export_onnx.py configs/selecsls60_imagenet.py \\
        ckpt.pth selecsls60.onnx --deploy
    python tools/deployment/export_onnx.py deploy/selecsls60.py \\
        deploy/selecsls60.pth selecsls60_pruned.onnx --backbone-only

Unless ``--no-verify``, the exported graph is run with onnxruntime at the
given shape and its largest difference to PyTorch is printed.
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; the package is imported in export().
import argparse
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a SelecSLS model to ONNX with dynamic batch and '
        'input size.')
    parser.add_argument('config', help='config of the model')
    parser.add_argument('checkpoint', help='checkpoint to load')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='export the backbone (feature maps of its '
        'out_indices) instead of the classifier')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='fold BN into the convs before exporting')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[224, 224],
        metavar=('H', 'W'),
        help='example input size used for tracing and the '
        'check (the graph accepts other sizes)')
    parser.add_argument(
        '--opset', type=int, default=17, help='ONNX opset version')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the onnxruntime comparison')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override settings of the config, e.g. '
        'model.backbone.out_indices="(3,)" or key="[a,b]"')
    return parser.parse_args(argv)


def export(args) -> int:
    import selecsls_mm  # noqa: F401  (registers modules, safe loading)
    from selecsls_mm.deploy import export_onnx
    from selecsls_mm.utils import cfg_options_dict
    result = export_onnx(
        args.config,
        args.checkpoint,
        args.out,
        backbone_only=args.backbone_only,
        deploy=args.deploy,
        shape=tuple(args.shape),
        opset=args.opset,
        verify=not args.no_verify,
        cfg_options=cfg_options_dict(args.cfg_options))
    names = result['output_names']
    print(f'wrote {args.out} (outputs: {", ".join(names)}; dynamic batch, '
          'height, width)')
    if result['max_rel_diff'] is not None:
        print(f'onnxruntime vs PyTorch at batch 2, {args.shape[0]}x'
              f'{args.shape[1]}: max relative difference '
              f'{result["max_rel_diff"]:.2e}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(export, args)


if __name__ == '__main__':
    sys.exit(main())

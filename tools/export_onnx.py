# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Export a SelecSLS classifier (logits) or backbone (feature maps) to ONNX.

The graph has a dynamic batch size and input height/width. Its input is the
normalised image batch (N, 3, H, W) float32, i.e. after the config's data
preprocessor (the mean/std are stored in the model's metadata_props). With
``--deploy`` the BN layers are folded first; a checkpoint written by
``tools/deploy.py`` needs the config written next to it::

    python tools/export_onnx.py configs/selecsls60_imagenet.py ckpt.pth \\
        selecsls60.onnx --deploy
    python tools/export_onnx.py deploy/selecsls60.py deploy/selecsls60.pth \\
        selecsls60_pruned.onnx --backbone-only

Unless ``--no-verify``, the exported graph is run with onnxruntime at the
given shape and its largest difference to PyTorch is printed.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import warnings
from typing import List, Optional

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction

import selecsls_mm  # noqa: F401  (registers SelecSLS)
from selecsls_mm.deploy import build_model, load_checkpoint_file, load_weights


class _Classifier(nn.Module):
    """``ImageClassifier`` in tensor mode: images -> logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a SelecSLS model to ONNX with dynamic batch and '
        'input size.')
    parser.add_argument('config', help='config of the model')
    parser.add_argument('checkpoint', help='checkpoint to load')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone (feature maps of its '
                        'out_indices) instead of the classifier')
    parser.add_argument('--deploy', action='store_true',
                        help='fold BN into the convs before exporting')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        metavar=('H', 'W'),
                        help='example input size used for tracing and the '
                        'check (the graph accepts other sizes)')
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset version')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the onnxruntime comparison')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def export(module: nn.Module, example: torch.Tensor, out: str,
           output_names: List[str], opset: int):
    """Trace ``module`` on ``example`` and write the ONNX graph to ``out``
    (through a temp file and a rename), with dynamic batch, height and
    width."""
    dynamic = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    for name in output_names:
        dynamic[name] = {0: 'batch'} if name == 'logits' else \
            {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'}
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix='.tmp_', suffix='.onnx')
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of dynamo,
            # which needs onnxscript; its output is still the same graph.
            warnings.simplefilter('ignore', DeprecationWarning)
            torch.onnx.export(
                module, (example, ), tmp, input_names=['input'],
                output_names=output_names, dynamic_axes=dynamic,
                opset_version=opset, do_constant_folding=True, dynamo=False)
        os.replace(tmp, out)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def add_metadata(path: str, props: dict):
    """Store string ``props`` in the model's metadata_props, atomically."""
    import onnx
    model = onnx.load(path)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(osp.abspath(path)),
                               prefix='.tmp_', suffix='.onnx')
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def run_onnx(path: str, x: torch.Tensor) -> List[torch.Tensor]:
    """Run the ONNX graph at ``path`` on ``x`` with onnxruntime (CPU)."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return [torch.from_numpy(o) for o in
            session.run(None, {'input': x.numpy()})]


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
    if not args.out.endswith('.onnx'):
        raise ValueError(f'OUT must end with .onnx, got {args.out}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg)
    load_weights(model, load_checkpoint_file(args.checkpoint),
                 args.checkpoint)
    backbone = model.backbone
    if args.deploy:
        if not hasattr(backbone, 'switch_to_deploy'):
            raise TypeError(f'{type(backbone).__name__} has no '
                            'switch_to_deploy(); drop --deploy')
        backbone.switch_to_deploy()

    if args.backbone_only:
        module = backbone
        output_names = [f'feat{i}' for i in backbone.out_indices]
    else:
        if not hasattr(model, 'head'):
            raise ValueError('the model has no classification head; export '
                             'it with --backbone-only')
        module = _Classifier(model)
        output_names = ['logits']
    # The exporter restores the module's mode afterwards: make it eval.
    module.eval()
    in_channels = getattr(backbone, 'in_channels', 3)
    example = torch.randn(1, in_channels, *args.shape,
                          generator=torch.Generator().manual_seed(0))
    export(module, example, args.out, output_names, args.opset)

    preprocessor = cfg.get('data_preprocessor') or \
        cfg.model.get('data_preprocessor') or {}
    props = {k: preprocessor[k] for k in ('mean', 'std', 'to_rgb')
             if k in preprocessor}
    props['outputs'] = ','.join(output_names)
    add_metadata(args.out, props)
    print(f'wrote {args.out} (outputs: {", ".join(output_names)}; dynamic '
          'batch, height, width)')

    diff = None
    if not args.no_verify:
        x = torch.randn(2, in_channels, *args.shape,
                        generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = module(x)
        expected = [expected] if isinstance(expected, torch.Tensor) else \
            list(expected)
        got = run_onnx(args.out, x)
        diff = max(((e - g).abs().max() / e.abs().max().clamp_min(1e-12))
                   .item() for e, g in zip(expected, got))
        print(f'onnxruntime vs PyTorch at batch 2, {args.shape[0]}x'
              f'{args.shape[1]}: max relative difference {diff:.2e}')
    return dict(out=args.out, output_names=output_names, max_rel_diff=diff)


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, TypeError) as e:
        sys.exit(f'error: {e}')

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Test (and evaluate) a checkpoint with an mmengine config.

The default scope (registry) comes from the config's ``default_scope``, so the
same entry point tests classification and pose configs. ``import
selecsls_mm`` registers the SelecSLS modules and safe checkpoint loading.

Examples::

    python tools/test.py configs/selecsls60_imagenet.py selecsls60.pth
    python tools/test.py CONFIG CKPT --out preds.pkl      # per-image results
    python tools/test.py CONFIG CKPT --out metrics.json --out-item metrics
    bash tools/dist_test.sh CONFIG CKPT 8
"""
import argparse
import os.path as osp
import sys

import mmengine
from mmengine.config import ConfigDict
from mmengine.evaluator import DumpResults

import selecsls_mm  # noqa: F401  (registers modules, safe checkpoint loading)
from selecsls_mm.runner_setup import (add_runner_arguments, build_runner,
                                      export_local_rank,
                                      fill_dataloader_defaults, set_work_dir,
                                      setup_cpu_distributed,
                                      teardown_distributed)
from selecsls_mm.stack import load_config
from selecsls_mm.utils import run_main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the directory to save the evaluation metrics')
    parser.add_argument(
        '--out',
        help='output file: per-image predictions (.pkl, the default item) '
        'or the metrics (any format mmengine.dump knows, with '
        '--out-item metrics)')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='what --out holds; defaults to the predictions')
    parser.add_argument(
        '--amp', action='store_true', help='test with mixed precision')
    parser.add_argument(
        '--show-dir', help='directory to save visualized predictions in')
    parser.add_argument(
        '--show', action='store_true', help='display predictions in a window')
    parser.add_argument(
        '--interval', type=int, default=1, help='visualize every N samples')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='window display seconds')
    add_runner_arguments(parser, 'test')
    args = parser.parse_args(argv)
    export_local_rank(args)
    if args.out is None and args.out_item is not None:
        parser.error('--out-item needs --out FILE')
    if args.out and args.out_item != 'metrics' and \
            not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out {args.out}: predictions are dumped as a pickle; '
                     'give a .pkl file (or --out-item metrics)')
    if not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint} does not exist')
    return args


def merge_args(cfg, args):
    """Merge CLI arguments into the config."""
    set_work_dir(cfg, args)  # CLI > config > ./work_dirs/<config name>

    cfg.load_from = args.checkpoint

    if args.amp:
        cfg.test_cfg = cfg.get('test_cfg', None) or ConfigDict()
        cfg.test_cfg.fp16 = True

    if args.show or args.show_dir is not None:
        hooks = cfg.get('default_hooks', {})
        if 'visualization' not in hooks:
            raise ValueError(
                '--show/--show-dir need a visualization hook: add '
                "default_hooks.visualization (e.g. type='VisualizationHook' "
                "for mmpretrain, 'PoseVisualizationHook' for mmpose) to "
                f'{args.config}')
        vis = hooks.visualization
        vis.enable = True
        vis.show = args.show
        vis.wait_time = args.wait_time
        vis.out_dir = args.show_dir
        vis.interval = args.interval

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    fill_dataloader_defaults(cfg, 'test_dataloader', persistent_workers=False)
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    # Also checks that the installed stack can build what the config names
    # (mmpose version, mmcv ops, mmdet): MissingDependencyError if not.
    cfg = load_config(args.config)
    cfg = merge_args(cfg, args)
    setup_cpu_distributed(cfg)

    runner = build_runner(cfg)

    if args.out and args.out_item in ('pred', None):
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))

    metrics = runner.test()
    teardown_distributed()

    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))

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

The checkpoint must fit the config's model: one whose keys or shapes differ
(e.g. another arch) stops with one line instead of giving a number, unless
``--allow-partial`` asks for loading only the tensors that fit.
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; torch, mmengine and the OpenMMLab packages are imported in run_test().
import argparse
import os.path as osp
import sys


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
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load a checkpoint whose keys or shapes do not all fit the '
        'model, only the tensors that fit; without it such a checkpoint is '
        'refused (the metrics of a half-loaded model mean nothing)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override settings of the config, e.g. '
        'test_dataloader.batch_size=8 or key="[a,b]"; data_root=PATH moves '
        'every dataset path of the config under PATH')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
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
    from mmengine.config import ConfigDict

    from selecsls_mm.runner_setup import fill_dataloader_defaults, set_work_dir
    from selecsls_mm.utils import cfg_options_dict, merge_cfg_options
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

    merge_cfg_options(cfg, cfg_options_dict(args.cfg_options))

    fill_dataloader_defaults(cfg, 'test_dataloader', persistent_workers=False)
    return cfg


def run_test(args) -> int:
    import mmengine
    from mmengine.evaluator import DumpResults

    import selecsls_mm  # noqa: F401  (registers modules, safe loading)
    from selecsls_mm.runner_setup import (build_runner, export_local_rank,
                                          setup_cpu_distributed,
                                          teardown_distributed)
    from selecsls_mm.stack import load_config
    from selecsls_mm.utils.data_paths import check_data_files

    export_local_rank(args)
    # Also checks that the installed stack can build what the config names
    # (mmpose version, mmcv ops, mmdet): MissingDependencyError if not.
    cfg = load_config(args.config)
    cfg = merge_args(cfg, args)
    check_data_files(cfg, ('test_dataloader', ), ('test_evaluator', ))
    setup_cpu_distributed(cfg)

    runner = build_runner(cfg, allow_partial=args.allow_partial)

    if args.out and args.out_item in ('pred', None):
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))

    metrics = runner.test()
    teardown_distributed()

    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(run_test, args)


if __name__ == '__main__':
    sys.exit(main())

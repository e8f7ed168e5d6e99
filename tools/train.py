# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Train a model from an mmengine config (mmpretrain, mmpose, ...).

The default scope (registry) comes from the config's ``default_scope``, so the
same entry point trains classification and pose configs. ``import
selecsls_mm`` registers the SelecSLS modules and safe checkpoint loading.

Examples::

    python tools/train.py configs/selecsls60_imagenet.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp \\
        --cfg-options train_dataloader.batch_size=64
    python tools/train.py CONFIG --cfg-options data_root=/data/coco/
    bash tools/dist_train.sh CONFIG 8          # 8 GPUs (or CPU processes)

A checkpoint to start from (``load_from``, ``--resume``) must fit the model:
one whose keys or shapes differ stops the run with one line, unless
``--allow-partial`` asks for loading only the tensors that fit.
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; torch, mmengine and the OpenMMLab packages are imported in train().
import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a path, resume from '
        'the latest checkpoint in the work directory')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load a --resume/load_from checkpoint whose keys or shapes do '
        'not all fit the model, only the tensors that fit (e.g. fine-tuning '
        'a new head); without it such a checkpoint stops the run')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size over '
        '`auto_scale_lr.base_batch_size` of the config')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override settings of the config, e.g. '
        'train_dataloader.batch_size=8 or key="[a,b]"; data_root=PATH '
        'moves every dataset path of the config under PATH')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def merge_args(cfg, args):
    """Merge CLI arguments into the config."""
    from selecsls_mm.runner_setup import fill_dataloader_defaults, set_work_dir
    from selecsls_mm.utils import cfg_options_dict, merge_cfg_options
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    set_work_dir(cfg, args)  # CLI > config > ./work_dirs/<config name>

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if cfg.get('auto_scale_lr', None) is None:
            raise ValueError(
                f'--auto-scale-lr needs `auto_scale_lr = dict('
                f'base_batch_size=...)` in the config {args.config}')
        cfg.auto_scale_lr.enable = True

    merge_cfg_options(cfg, cfg_options_dict(args.cfg_options))

    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        fill_dataloader_defaults(cfg, field, persistent_workers=True)
    return cfg


def train(args) -> int:
    from mmengine.device import get_device

    import selecsls_mm  # noqa: F401  (registers modules, safe loading)
    from selecsls_mm.runner_setup import (build_runner, export_local_rank,
                                          setup_cpu_distributed,
                                          teardown_distributed)
    from selecsls_mm.stack import load_config
    from selecsls_mm.utils.data_paths import check_data_files

    export_local_rank(args)
    if args.amp and get_device() == 'cpu':
        raise ValueError('--amp needs a GPU (or NPU/MLU): mmengine\'s '
                         'AmpOptimWrapper does not run on CPU; drop --amp')
    # Also checks that the installed stack can build what the config names
    # (mmpose version, mmcv ops, mmdet): MissingDependencyError if not.
    cfg = load_config(args.config)
    cfg = merge_args(cfg, args)
    check_data_files(cfg, ('train_dataloader', 'val_dataloader'),
                     ('val_evaluator', ))
    setup_cpu_distributed(cfg)

    runner = build_runner(cfg, allow_partial=args.allow_partial)
    runner.train()
    teardown_distributed()
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(train, args)


if __name__ == '__main__':
    sys.exit(main())

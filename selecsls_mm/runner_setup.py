# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""What ``tools/train.py`` and ``tools/test.py`` share: the common options,
the work directory, the runner, and the config adjustments for CPU-only and
distributed runs."""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .utils.cli import add_cfg_options_argument


def add_runner_arguments(parser: argparse.ArgumentParser, split: str):
    """Add the options every runner tool takes: ``--cfg-options``,
    ``--launcher`` and ``--local-rank`` (passed by
    ``torch.distributed.launch``).

    Args:
        parser (ArgumentParser): The tool's parser.
        split (str): ``'train'`` or ``'test'``, for the help text.
    """
    add_cfg_options_argument(parser, f'{split}_dataloader.batch_size=8')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def export_local_rank(args: argparse.Namespace):
    """Set ``LOCAL_RANK`` from ``--local-rank`` unless the launcher set it."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def set_work_dir(cfg: Config, args: argparse.Namespace):
    """``cfg.work_dir``: ``--work-dir``, else the config's, else
    ``./work_dirs/<config name>``; also sets ``cfg.launcher``."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])


def build_runner(cfg: Config) -> Runner:
    """The config's ``runner_type`` (mmengine ``Runner`` when unset)."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def fill_dataloader_defaults(cfg, field: str, persistent_workers: bool):
    """Fill the usual dataloader defaults of ``cfg[field]`` without
    overriding what the config sets.

    mmpretrain's configs rely on its ``default_collate`` (as its own tools
    set it); other scopes keep mmengine's default (``pseudo_collate``).
    """
    if cfg.get(field, None) is None:
        return
    loader = ConfigDict(
        pin_memory=torch.cuda.is_available(),
        persistent_workers=persistent_workers)
    if cfg.get('default_scope', None) == 'mmpretrain':
        loader.collate_fn = dict(type='default_collate')
    loader.update(cfg[field])
    # DataLoader refuses persistent workers when there are none.
    if loader.get('num_workers', 0) == 0:
        loader.persistent_workers = False
    cfg[field] = loader


def setup_cpu_distributed(cfg):
    """Make ``--launcher pytorch`` work without CUDA.

    mmengine's launcher calls ``torch.cuda.set_device`` and wraps the model
    with ``device_ids=[local_rank]``; both fail on CPU. Starting the gloo
    process group here (mmengine then skips its own) and wrapping without
    device ids runs DistributedDataParallel on CPU processes.
    """
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if not dist.is_initialized():
        # env:// reads MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE from torchrun.
        dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', ConfigDict())
    cfg.env_cfg.setdefault('dist_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper.update(cfg.get('model_wrapper_cfg', None) or {})
    wrapper.device_ids = None
    cfg.model_wrapper_cfg = wrapper


def teardown_distributed():
    """Destroy the process group before the interpreter exits.

    Left to interpreter shutdown, gloo's worker threads can be destroyed
    while still joinable, which aborts a finished run ("terminate called
    without an active exception", exit code -6) now and then.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()

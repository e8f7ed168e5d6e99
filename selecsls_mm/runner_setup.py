# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""What ``tools/train.py`` and ``tools/test.py`` share after parsing their
arguments: the work directory, the runner (with its checkpoint check), and
the config adjustments for CPU-only and distributed runs."""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .engine import CheckpointFitHook


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


def build_runner(cfg: Config, allow_partial: bool = False) -> Runner:
    """The config's ``runner_type`` (mmengine ``Runner`` when unset), with
    a :class:`CheckpointFitHook` that refuses a checkpoint whose tensors do
    not fit the model (unless ``allow_partial``)."""
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.register_hook(
        CheckpointFitHook(allow_partial=allow_partial), priority='VERY_HIGH')
    return runner


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

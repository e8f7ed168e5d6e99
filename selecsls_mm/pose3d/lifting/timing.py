# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Time Stage II against the number of people in a frame (the hook for
``tools/benchmark.py``).

Command line (CPU, one thread unless told)::

    python -m selecsls_mm.pose3d.lifting.timing [CONFIG] [--threads N]
"""
import argparse
import json
import sys
from typing import List, Optional, Sequence

import numpy as np
import torch

from ...benchmark.timing import summarize, time_interleaved

DEFAULT_CONFIG = 'configs/pose3d/xnect-stage2_mlp_motion.py'
_READOUT_KEYS = ('keypoints', 'keypoints_visible', 'keypoint_scores',
                 'samples_3d')


def build_lifter(config: str = DEFAULT_CONFIG,
                 checkpoint: Optional[str] = None):
    """The config's :class:`~.lifter.XNectLifter` on the CPU, in eval mode
    (random weights without ``checkpoint``: the time does not depend on
    them)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS

    if checkpoint is not None:  # refused unless it fits the config
        from ..demo import load_stage2
        return load_stage2(config, checkpoint)
    cfg = Config.fromfile(config)
    # mmpose's scope for this build only: a scope left set would send later
    # builds of another package (mmpretrain's transforms) to mmpose's
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    return model.eval()


def held_out_readouts(num_people: int,
                      joint_set: str = 'coco21',
                      seed: int = 0) -> dict:
    """Simulated Stage I read-outs of ``num_people`` held-out people."""
    from .dataset import MotionLiftingDataset
    data = MotionLiftingDataset(
        'held_out',
        num_samples=num_people,
        joint_set=joint_set,
        seed=seed,
        test_mode=True)
    items = [data.get_data_info(i) for i in range(num_people)]
    return {k: np.concatenate([it[k] for it in items]) for k in _READOUT_KEYS}


def time_lifting(model=None,
                 num_people: Sequence[int] = (1, 5, 10, 30),
                 iters: int = 50,
                 warmup: int = 5) -> List[dict]:
    """Median time of Stage II on M people at once: ``lift`` (feature
    encoding, network, decoding) and the network alone.

    Args:
        model (XNectLifter, optional): Defaults to the default config's
            model with random weights.
        num_people (Sequence[int]): People per frame to time.
        iters (int): Timed runs of each. Defaults to 50.
        warmup (int): Untimed runs first. Defaults to 5.

    Returns:
        list[dict]: Per M: ``num_people``, ``ms`` (median lift),
        ``iqr_ms``, ``ms_per_person`` and ``network_ms`` (median).
    """
    model = build_lifter() if model is None else model.eval()
    readout = held_out_readouts(max(num_people), model.joint_set.name)
    fns = {}
    for m in num_people:
        part = {k: v[:m] for k, v in readout.items()}
        x = model.features(part)
        fns[f'lift {m}'] = (lambda p=part: model.lift(p))
        fns[f'net {m}'] = (lambda x=x: model.forward_pose(x))
    with torch.no_grad():
        times = time_interleaved(fns, iters, warmup, torch.device('cpu'))
    rows = []
    for m in num_people:
        lift = summarize(times[f'lift {m}'])
        rows.append(
            dict(
                num_people=m,
                ms=lift.median,
                iqr_ms=lift.iqr,
                ms_per_person=lift.median / m,
                network_ms=summarize(times[f'net {m}']).median))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--checkpoint')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--iters', type=int, default=200)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = time_lifting(
        build_lifter(args.config, args.checkpoint), iters=args.iters)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == '__main__':
    sys.exit(main())

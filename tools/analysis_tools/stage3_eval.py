#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage III (skeleton fitting over time) on real motion with noisy inputs:
the numbers in docs/pose3d.md, the tuning of its filters and weights, and
its time per person per frame.

Every clip of a split is placed in front of every camera of the split
(``--runs`` random placements and noise draws each, fixed seed), its 2D
keypoints and root-relative 3D joints get noise
(:class:`~selecsls_mm.pose3d.fitting.simulate.NoiseModel`), and Stage III
fits them: per frame alone ("image"), over time without any filter or
temporal term ("unfiltered"), and over time as shipped ("video").

Examples::

    python tools/analysis_tools/stage3_eval.py                  # held out
    python tools/analysis_tools/stage3_eval.py --tune           # train
    python tools/analysis_tools/stage3_eval.py --timing --people 5
"""
import argparse
import json
import sys
import tempfile
from typing import List, Optional

import numpy as np

from selecsls_mm.pose3d.camera import HELD_OUT_CAMERAS, TRAIN_CAMERAS
from selecsls_mm.pose3d.fitting.benchmark import people_inputs
from selecsls_mm.pose3d.fitting.evaluate import bvh_round_trip, evaluate_clips
from selecsls_mm.pose3d.fitting.stage3 import SkeletonTracker
from selecsls_mm.pose3d.fitting.tuning import tune, unfiltered_settings
from selecsls_mm.pose3d.motion import clip_split
from selecsls_mm.utils import run_main
from selecsls_mm.utils.fileio import atomic_output


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Measure (or tune) Stage III on noisy real motion')
    parser.add_argument(
        '--split',
        choices=['train', 'held_out'],
        default=None,
        help='clips and cameras (default: held_out; train with --tune)')
    parser.add_argument(
        '--runs',
        type=int,
        default=None,
        help='placements per clip and camera (default 4; 1 with --tune)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--tune',
        action='store_true',
        help='choose the filters and weights on the TRAIN split '
        '(coordinate descent; prints the chosen settings)')
    parser.add_argument(
        '--timing',
        action='store_true',
        help='time Stage III per person per frame instead')
    parser.add_argument(
        '--people', type=int, default=5, help='people per frame (--timing)')
    parser.add_argument('--json', help='also write the results here')
    return parser.parse_args(argv)


def _print(rows: dict) -> None:
    for key, value in rows.items():
        print(f'{key:28s} {value:10.4f}'
              if isinstance(value, float) else f'{key:28s} {value}')


def _bvh_round_trip(seed: int) -> float:
    """Two held-out people over their clips, written as BVH files and
    read back by bvhio: the largest joint distance, mm."""
    people = people_inputs(2, seed=seed)
    tracker = SkeletonTracker(fps=30.)
    for t in range(len(people[0].times)):
        tracker.update(
            np.stack([p.keypoints[t] for p in people]),
            np.stack([p.scores[t] for p in people]),
            np.stack([p.joints_3d[t] for p in people]), people[0].camera,
            people[0].times[t])
    with tempfile.TemporaryDirectory() as folder:
        return bvh_round_trip(tracker, folder)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    split = args.split or ('train' if args.tune else 'held_out')
    if args.tune and split != 'train':
        raise ValueError('--tune chooses settings on the train split only; '
                         'drop --split held_out')
    clips = clip_split(split)
    cameras = TRAIN_CAMERAS if split == 'train' else HELD_OUT_CAMERAS
    runs = args.runs or (1 if args.tune else 4)
    if args.timing:
        from selecsls_mm.pose3d.fitting.benchmark import time_stage3
        result = time_stage3(num_people=args.people, seed=args.seed)
    elif args.tune:
        result = tune(clips, cameras[::4], runs=runs, seed=args.seed)
    else:
        result = {}
        for name, settings in (('unfiltered', unfiltered_settings()), ('video',
                                                                       {})):
            scores = evaluate_clips(
                clips,
                cameras,
                lambda: SkeletonTracker(**settings),
                runs=runs,
                seed=args.seed,
                baselines=name == 'video')
            result.update({
                k.replace('video/', f'{name}/'): v
                for k, v in scores.items()
            })
        result['bvh/round_trip_max_mm'] = _bvh_round_trip(args.seed)
        result['split'] = split
    _print(result)
    if args.json:
        with atomic_output(args.json) as tmp:
            with open(tmp, 'w', encoding='utf-8') as f:
                json.dump(result, f, indent=1, default=str)
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))

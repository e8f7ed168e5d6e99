# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""How Stage III's filter and temporal settings were chosen: coordinate
descent over a few candidates per setting on the TRAIN clips and cameras,
keeping the lowest joint acceleration error whose MPJPE is no worse than
fitting without any filter or temporal term. Run by
``tools/analysis_tools/stage3_eval.py --tune``.
"""
from dataclasses import replace
from typing import Dict, Sequence

import numpy as np

from .evaluate import evaluate_clips
from .fit import FitWeights
from .one_euro import OneEuroFilter
from .stage3 import (DEFAULT_FILTER_2D, DEFAULT_FILTER_3D, DEFAULT_FILTER_ROOT,
                     SkeletonTracker)

OFF = float('inf')  # a cutoff or sigma of inf switches the filter/term off

# candidates per setting, tried in this order
CANDIDATES: Dict[str, Sequence[float]] = {
    'filter_3d.min_cutoff': (0.5, 1., 2., 4.),
    'filter_3d.beta': (0.003, 0.01, 0.03),
    'filter_2d.min_cutoff': (1., 4., 16., OFF),
    'filter_2d.beta': (0.003, 0.01, 0.03),
    'sigma_smooth': (0.1, 0.2, 0.3, 0.5, OFF),
    'filter_root.min_cutoff': (0.5, 1., 4.),
    'sigma_depth': (30., 100., 300., OFF),
}

# where the search starts (hand-set before tuning; the search result is
# what SkeletonTracker ships, see DEFAULT_FILTER_* and FitWeights)
START: Dict[str, float] = {
    'filter_3d.min_cutoff': 1.,
    'filter_3d.beta': 0.01,
    'filter_2d.min_cutoff': 4.,
    'filter_2d.beta': 0.01,
    'sigma_smooth': 0.3,
    'filter_root.min_cutoff': 1.,
    'sigma_depth': 100.,
}


def shipped_params() -> Dict[str, float]:
    """The settings :class:`SkeletonTracker` uses by default."""
    w = FitWeights()
    return {
        'filter_3d.min_cutoff': DEFAULT_FILTER_3D.min_cutoff,
        'filter_3d.beta': DEFAULT_FILTER_3D.beta,
        'filter_2d.min_cutoff': DEFAULT_FILTER_2D.min_cutoff,
        'filter_2d.beta': DEFAULT_FILTER_2D.beta,
        'sigma_smooth': w.sigma_smooth,
        'filter_root.min_cutoff': DEFAULT_FILTER_ROOT.min_cutoff,
        'sigma_depth': w.sigma_depth,
    }


def tracker_settings(params: Dict[str, float]) -> dict:
    """:class:`SkeletonTracker` keyword arguments from flat settings."""
    kwargs = dict(
        filter_2d=DEFAULT_FILTER_2D,
        filter_3d=DEFAULT_FILTER_3D,
        filter_root=DEFAULT_FILTER_ROOT,
        weights=FitWeights())
    for key, value in params.items():
        if '.' in key:
            name, field = key.split('.')
            kwargs[name] = replace(kwargs[name], **{field: value})
        else:
            kwargs['weights'] = replace(kwargs['weights'], **{key: value})
    return kwargs


def unfiltered_settings() -> dict:
    """Stage III over time without any filter or temporal term (bones are
    still fixed per track): the "unfiltered" reference."""
    off = OneEuroFilter(OFF, 0.)
    return dict(
        filter_2d=off,
        filter_3d=off,
        filter_root=off,
        weights=FitWeights(sigma_smooth=OFF, sigma_depth=OFF))


def tune(clips: Sequence[str],
         cameras: Sequence[str],
         runs: int = 1,
         seed: int = 0,
         passes: int = 2) -> dict:
    """Coordinate descent over :data:`CANDIDATES` (see the module doc).

    Returns:
        dict: ``best`` (the chosen settings), its scores, and the
        unfiltered reference's.
    """

    def score(params):
        return evaluate_clips(
            clips,
            cameras,
            lambda: SkeletonTracker(**tracker_settings(params)),
            runs=runs,
            seed=seed,
            baselines=False)

    ref = evaluate_clips(
        clips,
        cameras,
        lambda: SkeletonTracker(**unfiltered_settings()),
        runs=runs,
        seed=seed,
        baselines=False)

    def cost(s):  # acceleration, with MPJPE above the reference forbidden
        return s['video/accel'] + 1e3 * max(
            0., s['video/mpjpe'] - ref['video/mpjpe'])

    best = dict(START)
    best_scores = score(best)
    for _ in range(passes):
        for key, values in CANDIDATES.items():
            for value in values:
                if np.isclose(value, best[key]) or value == best[key]:
                    continue
                trial = dict(best, **{key: value})
                s = score(trial)
                print(
                    f'[tune] {key}={value}: accel {s["video/accel"]:.2f} '
                    f'mpjpe {s["video/mpjpe"]:.2f}',
                    flush=True)
                if cost(s) < cost(best_scores):
                    best, best_scores = trial, s
    out = {f'best/{k}': v for k, v in best.items()}
    out.update({
        k.replace('video/', 'tuned/'): v
        for k, v in best_scores.items()
    })
    out.update({k.replace('video/', 'unfiltered/'): v for k, v in ref.items()})
    return out

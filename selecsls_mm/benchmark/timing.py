# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Wall-clock timing with models interleaved, so ratios are fair on a noisy
machine: one iteration runs every model once (in a rotating order) before
the next iteration starts, and load spikes hit all models alike."""
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch


@dataclass
class TimingStats:
    """Summary of one model's times in milliseconds."""
    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_dict(self) -> dict:
        return dict(asdict(self), iqr=self.iqr)


def summarize(times_ms: Sequence[float]) -> TimingStats:
    """Median, quartiles and extremes of a list of times."""
    if len(times_ms) == 0:
        raise ValueError('no times to summarize; run at least one iteration')
    t = np.asarray(times_ms, dtype=np.float64)
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return TimingStats(
        float(med), float(q1), float(q3), float(t.min()), float(t.max()),
        len(t))


def synchronize(device: torch.device):
    """Wait for queued kernels, so a timer measures the work itself."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def paired_ratio(numerator: Sequence[float],
                 denominator: Sequence[float]) -> float:
    """Median over iterations of ``numerator[i] / denominator[i]``.

    With interleaved timing both times of an iteration were taken moments
    apart, so a load change between iterations cancels in their ratio;
    this is more robust than the ratio of the two medians.
    """
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError('paired_ratio needs two equally long, non-empty '
                         'lists of times')
    return float(
        np.median(
            np.asarray(numerator, np.float64) /
            np.asarray(denominator, np.float64)))


def time_interleaved(fns: Dict[str, Callable[[], object]],
                     iters: int,
                     warmup: int,
                     device: torch.device,
                     min_time: float = 0.0,
                     max_iters: int = 1000) -> Dict[str, List[float]]:
    """Time several zero-argument callables round-robin.

    Args:
        fns (dict[str, callable]): Label -> the work to time once.
        iters (int): Timed calls per callable.
        warmup (int): Untimed calls per callable first (allocator, kernel
            selection, lazy initialisation).
        device (torch.device): Synchronised before and after each call.
        min_time (float): Keep iterating past ``iters`` until the timed
            iterations took this many seconds (cheap cells get more samples).
        max_iters (int): Upper bound on iterations when ``min_time`` is set.

    Returns:
        dict[str, list[float]]: Label -> times in milliseconds.
    """
    if iters < 1 or warmup < 0:
        raise ValueError(f'need iters >= 1 and warmup >= 0, got iters={iters}'
                         f', warmup={warmup}')
    labels = list(fns)
    for _ in range(warmup):
        for label in labels:
            fns[label]()
    synchronize(device)
    times: Dict[str, List[float]] = {label: [] for label in labels}
    start_all = time.perf_counter()
    i = 0
    while i < iters or (time.perf_counter() - start_all < min_time
                        and i < max_iters):
        # Rotate the order so no model always runs right after the same one.
        shift = i % len(labels)
        for label in labels[shift:] + labels[:shift]:
            synchronize(device)
            start = time.perf_counter()
            fns[label]()
            synchronize(device)
            times[label].append((time.perf_counter() - start) * 1e3)
        i += 1
    return times

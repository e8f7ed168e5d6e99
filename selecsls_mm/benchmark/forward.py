# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The forward-time experiment: every model under every runtime on every
(size, batch) cell, timed interleaved, with paired ratios."""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .runtimes import prepare_forward
from .settings import BenchmarkSettings
from .timing import paired_ratio, summarize, time_interleaved


def entry_label(model: str, runtime: str, runtimes: Sequence[str]) -> str:
    """Row label of a model under a runtime: the model's label alone when
    the run has one runtime, else ``'MODEL [RUNTIME]'``."""
    return model if len(runtimes) == 1 else f'{model} [{runtime}]'


def forward_pairs(models: Sequence[str], runtimes: Sequence[str],
                  baselines: Sequence[str]) -> List[Tuple[str, str]]:
    """(numerator, denominator) row labels of the ratio rows.

    Under each runtime, every baseline over every other model; then, with
    several runtimes, each model's first runtime (usually eager) over each
    other runtime: that runtime's speed-up for that model.
    """
    pairs = []
    for rt in runtimes:
        pairs += [(entry_label(b, rt, runtimes), entry_label(m, rt, runtimes))
                  for b in baselines if b in models for m in models if m != b]
    for m in models:
        pairs += [(entry_label(m, runtimes[0],
                               runtimes), entry_label(m, rt, runtimes))
                  for rt in runtimes[1:]]
    return pairs


def run_forward(models: Dict[str, dict],
                settings: BenchmarkSettings,
                sizes: Sequence[Tuple[int, int]],
                batch_sizes: Sequence[int],
                runtimes: Optional[Sequence[str]] = None,
                baselines: Sequence[str] = (),
                iters: int = 10,
                warmup: int = 2,
                min_time: float = 0.0,
                progress: Optional[Callable[[str], None]] = None,
                cells: Optional[Sequence[Tuple[Tuple[int, int],
                                               int]]] = None) -> dict:
    """Time one inference forward of every model in every cell.

    Within a cell every (model, runtime) entry runs round-robin
    (:func:`time_interleaved`), each prepared by its runtime on the cell's
    input (export, trace or compile happen before timing) and checked
    against the eager model's output on that input.

    Args:
        models (dict): Label -> ``dict(model=..., channels_last=bool)``, as
            :func:`build_models` returns.
        settings (BenchmarkSettings): Device, layout, autocast, runtime.
        sizes (Sequence[tuple]): Input sizes (W, H).
        batch_sizes (Sequence[int]): Batch sizes.
        runtimes (Sequence[str], optional): Runtimes timed side by side;
            defaults to ``[settings.runtime]``.
        baselines (Sequence[str]): Model labels that ratio rows divide by
            the others (see :func:`forward_pairs`).
        iters (int): Timed iterations per cell.
        warmup (int): Untimed iterations per cell.
        min_time (float): Keep iterating until a cell took this many seconds.
        progress (callable, optional): Called with one status line per cell.
        cells (Sequence, optional): ``((W, H), batch)`` pairs to time
            instead of every size with every batch size.

    Returns:
        dict: ``unit`` ('ms'), ``runtimes``, ``cells`` (one dict per entry
        and cell: ``model`` (row label), ``runtime``, ``size``, ``batch``,
        the stats of :class:`TimingStats`, ``times``, ``max_rel_diff`` from
        eager), ``ratios`` (``numerator``, ``denominator``, ``size``,
        ``batch``, ``ratio``: median of per-iteration time ratios).
    """
    runtimes = list(runtimes or [settings.runtime])
    cells = [(tuple(s), b) for s, b in cells] if cells else \
        [(tuple(s), b) for s in sizes for b in batch_sizes]
    results, raw, cache = [], {}, {}
    for size, batch in cells:
        if progress:
            progress(f'forward {size[0]}x{size[1]} batch {batch} '
                     f'({", ".join(runtimes)}) ...')
        x = settings.inputs(batch, size)
        prepared = {}
        for rt in runtimes:
            for label, entry in models.items():
                xm = settings.layout(x, entry['channels_last'])
                prepared[entry_label(label, rt,
                                     runtimes)] = (rt,
                                                   prepare_forward(
                                                       entry['model'], xm,
                                                       settings, rt, cache))
        times = time_interleaved({
            k: p.run
            for k, (_, p) in prepared.items()
        },
                                 iters,
                                 warmup,
                                 settings.device,
                                 min_time=min_time)
        for label, (rt, p) in prepared.items():
            raw[label, size, batch] = times[label]
            results.append(
                dict(
                    model=label,
                    runtime=rt,
                    size=list(size),
                    batch=batch,
                    **summarize(times[label]).to_dict(),
                    times=times[label],
                    max_rel_diff=p.max_rel_diff))
        del prepared, x
    ratios = [
        dict(
            numerator=a,
            denominator=b,
            size=list(s),
            batch=bs,
            ratio=paired_ratio(raw[a, s, bs], raw[b, s, bs]))
        for a, b in forward_pairs(list(models), runtimes, baselines)
        for s, bs in cells
    ]
    return dict(unit='ms', runtimes=runtimes, cells=results, ratios=ratios)

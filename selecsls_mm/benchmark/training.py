# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The training-memory experiment: activations saved for backward, the
step time (interleaved) and, on CUDA, the peak allocated memory."""
from typing import Callable, List, Optional, Sequence, Tuple

from .memory import cuda_peak_training_bytes, saved_activation_bytes
from .models import ModelSpec, build_models, is_selecsls_spec, ratio_pairs
from .settings import BenchmarkSettings
from .timing import paired_ratio, summarize, time_interleaved


def memory_specs(specs: Sequence[ModelSpec]) -> List[ModelSpec]:
    """The specs for the memory report: no deploy forms (they do not
    train), plus a ``:with_cp`` form of every SelecSLS model."""
    out = []
    for spec in specs:
        if 'deploy' in spec.options:
            continue
        out.append(spec)
        if is_selecsls_spec(spec) and 'with_cp' not in spec.options and \
                not (spec.cfg or {}).get('with_cp'):
            out.append(spec.with_options('with_cp'))
    labels = [s.label for s in out]
    return [s for i, s in enumerate(out) if s.label not in labels[:i]]


def run_training(specs: Sequence[ModelSpec],
                 settings: BenchmarkSettings,
                 batch: int = 16,
                 size: Tuple[int, int] = (224, 224),
                 baselines: Sequence[str] = (),
                 iters: int = 10,
                 warmup: int = 1,
                 progress: Optional[Callable[[str], None]] = None) -> dict:
    """Training memory and step time of every model (eager, train mode).

    Args:
        specs (Sequence[ModelSpec]): The models; see :func:`memory_specs`
            for which rows are added and dropped.
        settings (BenchmarkSettings): Device, layout, autocast.
        batch (int): Training batch size.
        size (tuple): Input size (W, H).
        baselines (Sequence[str]): Labels the ratio rows compare against.
        iters (int): Timed training steps.
        warmup (int): Untimed steps.
        progress (callable, optional): Called with a status line.

    Returns:
        dict: ``batch``, ``size``, ``rows`` (``model``, ``saved_bytes``,
        ``train_step`` stats, ``train_step_times``, on CUDA ``cuda``) and
        ``ratios`` (``numerator``, ``denominator``, ``saved``,
        ``train_step``).
    """
    specs = memory_specs(specs)
    models = build_models(specs, settings)
    if progress:
        progress(f'training memory and step time, batch {batch} '
                 f'{size[0]}x{size[1]} ...')
    x = settings.inputs(batch, size)
    rows, steps = {}, {}
    for label, entry in models.items():
        model = entry['model']
        model.train()
        xm = settings.layout(x, entry['channels_last'])
        with settings.autocast():
            saved = saved_activation_bytes(model, xm)
        rows[label] = dict(model=label, saved_bytes=saved)
        steps[label] = settings.train_step_fn(model, xm)
    times = time_interleaved(steps, iters, warmup, settings.device)
    for label in models:
        rows[label]['train_step'] = summarize(times[label]).to_dict()
        rows[label]['train_step_times'] = times[label]
        if settings.device.type == 'cuda':
            rows[label]['cuda'] = cuda_peak_training_bytes(
                steps[label], settings.device)
    labels = list(models)
    pairs = [(m, b) for b, m in ratio_pairs(labels, baselines)]
    # Checkpointing's price: a with_cp row against the same model without.
    pairs += [
        (s.label, s.without('with_cp').label) for s in specs
        if 'with_cp' in s.options and s.without('with_cp').label in labels
    ]
    pairs = list(dict.fromkeys(pairs))
    ratios = [
        dict(
            numerator=m,
            denominator=b,
            saved=rows[m]['saved_bytes'] / rows[b]['saved_bytes'],
            train_step=paired_ratio(times[m], times[b])) for m, b in pairs
    ]
    return dict(
        batch=batch, size=list(size), rows=list(rows.values()), ratios=ratios)

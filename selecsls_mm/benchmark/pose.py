# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The pose experiments: bottom-up pose models end to end through mmpose's
own inference path, split into pre/post-processing, network and grouping;
the network alone; and the PAF decoder's time against the number of people.

The models come from :mod:`.pose_peers`, the per-part timers from
:mod:`.estimator_patches`, the runtimes from :mod:`.pose_runtimes`."""
import copy
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .estimator_patches import PartTimer
from .pose_peers import POSE_PEERS
from .pose_runtimes import PoseNetwork, RuntimeNetwork
from .settings import BenchmarkSettings
from .timing import summarize, time_interleaved


def time_pose_end_to_end(models: Dict[str, nn.Module],
                         image: np.ndarray,
                         flips: Sequence[bool] = (False, True),
                         iters: int = 5,
                         warmup: int = 1,
                         progress: Optional[Callable[[str], None]] = None,
                         settings: Optional[BenchmarkSettings] = None,
                         runtime: str = 'eager',
                         skipped: Optional[Dict[str,
                                                str]] = None) -> List[dict]:
    """Time ``mmpose.apis.inference_bottomup`` of several models on one
    image, interleaved, with and without flip test.

    With a ``runtime`` other than eager, each model's network (backbone,
    neck and head forward) runs under that runtime, prepared once per input
    shape before the timed calls; a model the runtime cannot run (an export
    that fails) is left out and named in ``skipped``.

    Each call is split into: network (backbone, neck and head forward,
    both passes with flip test), grouping (the rest of the head's
    ``predict``: flip merging, decoding/grouping into people, NMS) and
    pre/post-processing (the rest: test pipeline, data preprocessor,
    packing the results).

    Args:
        models (dict): Row label -> bottom-up estimator (from
            :func:`build_pose_model` or :func:`build_peer`).
        image (np.ndarray): BGR image (H, W, 3).
        flips (Sequence[bool]): Flip-test settings to time. A model whose
            head cannot flip (``flip_test`` unsupported) gets only False.
        iters (int): Timed calls per model and setting.
        warmup (int): Untimed calls first.
        progress (callable, optional): Called with a status line.
        settings (BenchmarkSettings, optional): With settings (needed for
            a runtime other than eager), each network runs as one prepared
            forward whose outputs reach the grouping in NCHW, every model
            alike; without, the models run as they are.
        runtime (str): How the networks run, see :mod:`.runtimes`.
        skipped (dict, optional): Filled with ``'LABEL [RUNTIME]'`` -> why,
            for the models the runtime cannot run.

    Returns:
        list[dict]: One row per model and flip setting: ``model``, ``flip``,
        ``runtime``, ``total`` / ``network`` / ``grouping`` /
        ``preprocessing`` (medians in ms), ``img_per_s``, ``people`` (found
        in the last call), ``times`` (total ms per call), ``n`` and
        ``max_rel_diff`` (the runtime's network outputs vs eager).
    """
    from mmpose.apis import inference_bottomup

    from ..utils.cli import error_message
    if runtime != 'eager' and settings is None:
        raise ValueError(f'runtime {runtime} needs the run\'s settings')
    if settings is not None:
        from .runtimes import check_runtime
        check_runtime(runtime, settings)  # one line before any model runs
    networks = {}
    try:
        for label, model in list(models.items()) if settings else ():
            network = RuntimeNetwork(
                model,
                settings,
                runtime,
                nchw=POSE_PEERS.get(label, {}).get('nchw_only', False))
            try:  # prepares the network for this image's input shape
                inference_bottomup(model, image)
            except Exception as e:  # export, quantization, session errors
                network.remove()
                if skipped is not None:
                    skipped[f'{label} [{runtime}]'] = error_message(e)
                models = {k: v for k, v in models.items() if k != label}
                continue
            networks[label] = network
        if not models:  # every model was left out
            return []
        return _time_end_to_end(models, image, flips, iters, warmup, progress,
                                runtime, networks)
    finally:
        for network in networks.values():
            network.remove()


def _time_end_to_end(models: Dict[str, nn.Module], image: np.ndarray,
                     flips: Sequence[bool], iters: int, warmup: int,
                     progress: Optional[Callable[[str], None]], runtime: str,
                     networks: Dict[str, 'RuntimeNetwork']) -> List[dict]:
    """The timed part of :func:`time_pose_end_to_end` (same arguments and
    rows), with the runtime networks already installed."""
    from mmpose.apis import inference_bottomup
    timers = {label: PartTimer(m) for label, m in models.items()}
    parts: Dict[Tuple[str, bool], List[dict]] = defaultdict(list)
    people: Dict[Tuple[str, bool], int] = {}
    fns = {}
    for label, model in models.items():
        for flip in flips:
            if flip and not can_flip(model):
                continue

            def call(label=label, model=model, flip=flip):
                model.test_cfg['flip_test'] = flip
                timer = timers[label]
                timer.reset()
                start = time.perf_counter()
                results = inference_bottomup(model, image)
                total = time.perf_counter() - start
                t = timer.totals
                # the head's forward runs inside its predict
                parts[label, flip].append(
                    dict(
                        network=t['features'] + t['head_forward'],
                        grouping=t['head_predict'] - t['head_forward'],
                        preprocessing=total - t['features'] -
                        t['head_predict'],
                        total=total))
                people[label, flip] = len(results[0].pred_instances)

            fns[label, flip] = call
    if progress:
        progress(f'pose end to end ({runtime}): {len(fns)} model x flip '
                 'settings ...')
    try:
        times = time_interleaved(fns, iters, warmup, torch.device('cpu'))
    finally:
        for timer in timers.values():
            timer.remove()
    rows = []
    for key, measured in parts.items():
        label, flip = key
        measured = measured[warmup:]  # the warm-up calls come first
        ms = {
            p: float(np.median([m[p] for m in measured])) * 1e3
            for p in ('preprocessing', 'network', 'grouping', 'total')
        }
        rows.append(
            dict(
                model=label,
                flip=flip,
                runtime=runtime,
                max_rel_diff=networks[label].max_rel_diff
                if label in networks else 0.0,
                **ms,
                img_per_s=1e3 / ms['total'],
                people=people[key],
                times=times[key],
                n=len(times[key])))
    return rows


def can_flip(model: nn.Module) -> bool:
    """Whether a bottom-up model supports mmpose's flip test (heatmap-style
    heads do; RTMO's does not)."""
    return type(model.head).__name__ != 'RTMOHead'


def synthetic_codec(decoder_cfg: dict, heatmap_size=(64, 64)):
    """The codec of a pose head, re-built for maps of ``heatmap_size``
    (input size scaled alike, so the stride stays that of the config)."""
    from mmpose.registry import KEYPOINT_CODECS
    cfg = copy.deepcopy(dict(decoder_cfg))
    stride = np.asarray(cfg['input_size'], np.float32) / np.asarray(
        cfg['heatmap_size'], np.float32)
    cfg['heatmap_size'] = tuple(heatmap_size)
    cfg['input_size'] = tuple(
        int(round(s * r)) for s, r in zip(heatmap_size, stride))
    return KEYPOINT_CODECS.build(cfg)


def time_decode_vs_people(decoder_cfg: dict,
                          num_people: Sequence[int] = (1, 5, 10, 30),
                          heatmap_size: Tuple[int, int] = (64, 64),
                          scenes: int = 4,
                          repeats: int = 5) -> List[dict]:
    """Time a config's PAF decoder on maps of N people.

    The codec of ``decoder_cfg`` is rebuilt for ``heatmap_size`` maps
    (:func:`synthetic_codec`) and timed by the project's decode timer,
    :func:`selecsls_mm.benchmark.paf_decode.time_paf_decode` (clean maps
    the codec encodes from realistic synthetic scenes).

    Args:
        decoder_cfg (dict): The codec config (``model.head.decoder``).
        num_people (Sequence[int]): People per scene.
        heatmap_size (tuple): Map size (W, H).
        scenes (int): Scenes per N.
        repeats (int): Decodes of each scene.

    Returns:
        list[dict]: ``num_people``, ``heatmap_size`` and the timer's
        ``ms`` (median), ``iqr_ms``, ``min_ms``, ``people`` (labelled people
        over the scenes) and ``found`` (decoded people over the scenes).
    """
    from .paf_decode import time_paf_decode
    codec = synthetic_codec(decoder_cfg, heatmap_size)
    timed = time_paf_decode(codec, num_people, scenes=scenes, repeats=repeats)
    return [
        dict(num_people=n, heatmap_size=list(heatmap_size), **timed[n])
        for n in num_people
    ]


def time_pose_network(model: nn.Module,
                      size: Tuple[int, int],
                      settings: BenchmarkSettings,
                      iters: int = 10,
                      warmup: int = 2) -> dict:
    """Time the network alone (batch 1, no flip test) at ``size`` (W, H).

    Returns:
        dict: ``size`` and the stats of :class:`TimingStats` in ms.
    """
    from .runtimes import prepare_forward
    network = settings.place(PoseNetwork(model).eval())
    x = settings.inputs(1, size)
    prepared = prepare_forward(network, x, settings)
    times = time_interleaved(
        dict(network=prepared.run), iters, warmup, settings.device)['network']
    return dict(
        size=list(size),
        runtime=prepared.runtime,
        max_rel_diff=prepared.max_rel_diff,
        **summarize(times).to_dict())

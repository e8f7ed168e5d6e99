# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""XNect in 3D, stage by stage (``tools/benchmark.py --pose3d``).

* Stage I's network at 512x320, the 3D model against the 2D model it
  inherits from, interleaved, in each form (eager; eager with BN folded;
  ONNX Runtime int8), with the paired ratio 3D / 2D per form;
* the 3D decoder (``PartAffinityField3D.decode``) on maps the codec encodes
  from held-out real-motion scenes (random weights find no people);
* Stage II (:func:`~selecsls_mm.pose3d.lifting.timing.time_lifting`) and
  Stage III (:func:`~selecsls_mm.pose3d.fitting.benchmark.time_stage3`) per
  person, on held-out clips, by their own timers;
* a real-time frame: the sum of the parts' medians for N people.

Every function returns plain dicts; :mod:`.report` prints them.
"""
import copy
import os
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .settings import BenchmarkSettings
from .timing import paired_ratio, summarize, time_interleaved

CONFIG_2D = 'configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-512x320.py'
CONFIG_3D = ('configs/pose3d/'
             'xnect3d_selecsls60_8xb32-140e_muco-coco-512x320.py')
# Stage I forms, every model alike: name -> (fold BN, runtime, description,
# transposed convs as sub-pixel convs). ONNX Runtime has no int8 transposed
# conv; 'int8-deconv' keeps them (in fp32) to show what the rewrite saves.
FORMS = {
    'eager': (False, 'eager', 'eager', False),
    'folded': (True, 'eager', 'eager, BN folded', False),
    'int8': (True, 'onnxruntime-int8',
             'ONNX Runtime int8, BN folded, sub-pixel upsampling', True),
    'int8-deconv': (True, 'onnxruntime-int8',
                    'ONNX Runtime int8, BN folded, transposed convs', False),
}
REAL_TIME_FORM = 'int8'
# Issues 15 and 16: the 3D branch adds <= 30% to the network; decode of 10
# people <= 10 ms; Stages II + III <= 2 ms per person; >= 10 fps for 5
# people on the CPU (int8 network, no flip test).
TARGETS = dict(
    ratio_3d_2d=1.30, decode_ms=(10, 10.), ms_per_person=2., fps=(5, 10.))


def load_average() -> float:
    """The machine's 1-minute load average (what shared the cores)."""
    return float(os.getloadavg()[0])


def fold_deconv_bn(module: nn.Module) -> int:
    """Fold every BN that follows a transposed conv inside an
    ``nn.Sequential`` (the heads' upsampling; mmcv's ``fuse_conv_bn`` folds
    plain convs only) into that conv, in place; returns how many."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    folded = 0
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.ConvTranspose2d) and isinstance(
                    bn, nn.modules.batchnorm._BatchNorm):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn, transpose=True)
                seq._modules[b] = nn.Identity()
                folded += 1
    return folded


def fold_pose_model(model: nn.Module) -> str:
    """Fold BN into convs in a pose model's backbone (ours by
    ``switch_to_deploy()``) and head (mmcv's ``fuse_conv_bn`` for convs,
    :func:`fold_deconv_bn` for the upsampling), in place; returns how, with
    the number of BNs left."""
    from mmcv.cnn import fuse_conv_bn

    from .pose_peers import fold_pose_backbone
    how = fold_pose_backbone(model.eval())
    deconvs = fold_deconv_bn(model.head)
    model.head = fuse_conv_bn(model.head)
    left = sum(
        isinstance(m, nn.modules.batchnorm._BatchNorm)
        for m in model.modules())
    return (f'backbone {how}, head fuse_conv_bn + {deconvs} deconv; {left} '
            'BN left')


def build_stage1_networks(configs: Dict[str, str],
                          settings: BenchmarkSettings,
                          size: Tuple[int, int] = (512, 320),
                          forms: Sequence[str] = tuple(FORMS),
                          skipped: Optional[Dict[str, str]] = None
                          ) -> Dict[tuple, dict]:
    """Each config's network (backbone, head forward; batch 1, no flip
    test) in each form, prepared for one input of ``size``.

    Args:
        configs (dict): Model label -> pose config file.
        settings (BenchmarkSettings): Device and memory format.
        size (tuple): Input (W, H).
        forms (Sequence[str]): Names in :data:`FORMS`.
        skipped (dict, optional): Filled with ``'LABEL [FORM]'`` -> why,
            for the forms that cannot run here (ONNX Runtime missing).

    Returns:
        dict: (label, form) -> ``run`` (zero-argument forward),
        ``max_rel_diff`` (its outputs vs the unfolded eager model's on the
        same input), ``folding`` (how its BN was folded, and the
        transposed convs rewritten) and ``macs`` (multiply-accumulates of
        the network in that form, per image).
    """
    from ..deploy.subpixel import deconvs_to_subpixel
    from ..utils.cli import error_message
    from ..utils.compare import max_rel_diff
    from ..utils.complexity import count_macs
    from .pose_peers import build_pose_model
    from .pose_runtimes import PoseNetwork
    from .runtimes import as_tensors, check_runtime, prepare_forward
    unknown = [f for f in forms if f not in FORMS]
    if unknown:
        raise ValueError(f'unknown Stage I form(s) {unknown}; choose from '
                         f'{list(FORMS)}')
    networks = {}
    for label, config in configs.items():
        torch.manual_seed(0)  # the same random weights in every run
        built = build_pose_model(config)
        x = settings.inputs(1, size)
        eager = settings.place(PoseNetwork(copy.deepcopy(built)).eval())
        with torch.inference_mode():
            reference = as_tensors(eager(x))
        for form in forms:
            fold, runtime, _, subpixel = FORMS[form]
            try:
                check_runtime(runtime, settings)
            except (ImportError, ValueError) as e:
                if skipped is not None:
                    skipped[f'{label} [{form}]'] = error_message(e)
                continue
            model = copy.deepcopy(built)
            folding = fold_pose_model(model) if fold else 'not folded'
            if subpixel:
                folding += (f'; {deconvs_to_subpixel(model.head)} '
                            'transposed convs as sub-pixel convs')
            network = settings.place(PoseNetwork(model).eval())
            macs = count_macs(network, x)  # the sub-pixel convs do more
            prepared = prepare_forward(network, x, settings, runtime)
            with torch.inference_mode():  # vs the unfolded eager model
                diff = max_rel_diff(reference, as_tensors(prepared.run()))
            networks[label, form] = dict(
                run=prepared.run,
                max_rel_diff=diff,
                folding=folding,
                macs=macs)
    return networks


def time_stage1(networks: Dict[tuple, dict],
                iters: int = 10,
                warmup: int = 2,
                min_time: float = 0.0,
                numerator: str = '3d',
                denominator: str = '2d') -> dict:
    """Time every prepared network interleaved, and per form the paired
    ratio ``numerator / denominator`` (> 1: the numerator is slower).

    Args:
        networks (dict): From :func:`build_stage1_networks`.
        iters, warmup, min_time: As :func:`~.timing.time_interleaved`.
        numerator (str): Model label over ...
        denominator (str): ... this one.

    Returns:
        dict: ``rows`` (one per model and form: ``model``, ``form``, the
        stats in ms, ``times``, ``max_rel_diff``, ``folding``, ``macs``),
        ``ratios`` (per form with both models: ``form``, ``numerator``,
        ``denominator``, ``ratio`` of the times and ``macs_ratio``) and
        ``load_average`` (before timing).
    """
    load = load_average()
    fns = {key: net['run'] for key, net in networks.items()}
    with torch.inference_mode():
        times = time_interleaved(fns, iters, warmup, torch.device('cpu'),
                                 min_time)
    rows = [
        dict(
            model=label,
            form=form,
            **summarize(times[label, form]).to_dict(),
            times=times[label, form],
            **{
                k: networks[label, form][k]
                for k in ('max_rel_diff', 'folding', 'macs')
            }) for label, form in networks
    ]
    ratios = [
        dict(
            form=form,
            numerator=numerator,
            denominator=denominator,
            ratio=paired_ratio(times[numerator, form], times[denominator,
                                                             form]),
            macs_ratio=networks[numerator, form]['macs'] /
            networks[denominator, form]['macs'])
        for form in dict.fromkeys(f for _, f in networks)
        if (numerator, form) in times and (denominator, form) in times
    ]
    return dict(rows=rows, ratios=ratios, load_average=load)


def encode_held_out_scenes(codec, num_people: int, scenes: int,
                           seed: int) -> tuple:
    """The codec's maps of ``scenes`` held-out real-motion scenes of
    ``num_people`` people (fewer where the generator could not place
    everyone).

    Returns:
        tuple: A list of (heatmaps, pafs, maps_3d) per scene and the
        number of labelled people (any keypoint visible) over the scenes.
    """
    from selecsls_mm.pose3d.scenes import SceneGenerator
    size = tuple(int(s) for s in codec.input_size)
    gen = SceneGenerator(
        'held_out', image_size=size, num_people=(num_people, num_people))
    rng = np.random.default_rng(seed)
    maps, people = [], 0
    for _ in range(scenes):
        scene = gen(rng)
        kpts, vis = scene.keypoints_2d()
        people += int((vis.sum(1) > 0).sum())
        enc = codec.encode(kpts, vis, scene.keypoints_3d(codec.joint_set))
        maps.append((enc['heatmaps'], enc['pafs'], enc['maps_3d']))
    return maps, people


def time_decode_3d(codec,
                   num_people: Sequence[int] = (5, 10),
                   scenes: int = 4,
                   repeats: int = 5,
                   seed: int = 0) -> list:
    """Time ``codec.decode`` (2D grouping and 3D read-out, with the samples
    Stage II reads) against the number of people, every decode of every
    scene interleaved.

    Returns:
        list[dict]: Per N: ``num_people``, ``heatmap_size``, ``ms``
        (median), ``iqr_ms``, ``min_ms``, ``people`` (labelled over the
        scenes), ``found`` (decoded over the scenes) and ``load_average``.
    """
    encoded = {
        n: encode_held_out_scenes(codec, n, scenes, seed + n)
        for n in num_people
    }
    fns = {
        (n, i): (lambda m=m: codec.decode(*m, return_samples=True))
        for n, (maps, _) in encoded.items()
        for i, m in enumerate(maps)
    }
    load = load_average()
    times = time_interleaved(fns, repeats, 1, torch.device('cpu'))
    rows = []
    for n, (maps, people) in encoded.items():
        stats = summarize([t for i in range(len(maps)) for t in times[n, i]])
        rows.append(
            dict(
                num_people=n,
                heatmap_size=list(codec.heatmap_size),
                ms=stats.median,
                iqr_ms=stats.iqr,
                min_ms=stats.min,
                people=people,
                found=sum(len(codec.decode(*m)[0]) for m in maps),
                load_average=load))
    return rows


def time_stages_2_and_3(num_people: Sequence[int] = (1, 5),
                        iters: int = 100,
                        warmup: int = 10,
                        lifter=None,
                        threads: Optional[int] = 1) -> list:
    """Stage II (``XNectLifter.lift``) and Stage III
    (``SkeletonTracker.update``) per person, on held-out clips, by the
    stages' own timers.

    Args:
        num_people (Sequence[int]): People per frame.
        iters (int): Timed frames of each.
        warmup (int): Untimed frames first.
        lifter (XNectLifter, optional): Defaults to the Stage II config's
            model with random weights (the time does not depend on them).
        threads (int, optional): Torch threads while these stages run
            (restored after). Defaults to 1, as the lifter's own timer: a
            4-layer MLP gains nothing from a second thread, and on a shared
            machine a second thread makes each layer wait for a descheduled
            one (9 ms instead of 0.7 per frame at load 9 on 2 cores). None:
            the run's setting.

    Returns:
        list[dict]: Per N: ``stage2_ms`` / ``stage3_ms`` (per frame,
        medians), ``stage2_ms_per_person``, ``stage3_ms_per_person``,
        ``ms_per_person`` (their sum), ``threads`` and ``load_average``.
    """
    from selecsls_mm.pose3d.fitting.benchmark import time_stage3
    from selecsls_mm.pose3d.lifting.timing import build_lifter, time_lifting
    lifter = build_lifter() if lifter is None else lifter
    load, before = load_average(), torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        lifted = {
            r['num_people']: r
            for r in time_lifting(lifter, num_people, iters, warmup)
        }
        fitted = {n: time_stage3(n, iters, warmup) for n in num_people}
    finally:
        torch.set_num_threads(before)
    rows = []
    for n in num_people:
        stage2 = lifted[n]['ms_per_person']
        rows.append(
            dict(
                num_people=n,
                stage2_ms=lifted[n]['ms'],
                stage3_ms=fitted[n]['ms_per_frame'],
                stage2_ms_per_person=stage2,
                stage3_ms_per_person=fitted[n]['ms_per_person'],
                ms_per_person=stage2 + fitted[n]['ms_per_person'],
                threads=threads or before,
                load_average=load))
    return rows


def real_time_frame(stage1: dict,
                    decode: list,
                    stages: list,
                    num_people: int = TARGETS['fps'][0],
                    model: str = '3d',
                    form: str = REAL_TIME_FORM) -> Optional[dict]:
    """One frame of N people from the parts' medians: the network (one
    form, no flip test), decoding, Stage II and Stage III.

    Returns:
        dict or None: ``num_people``, ``form``, ``parts`` (name -> ms),
        ``ms`` (their sum), ``fps`` and ``shares`` (name -> share of the
        frame); None when a part was not timed (e.g. int8 unavailable).
    """
    network = next(
        (r
         for r in stage1['rows'] if r['model'] == model and r['form'] == form),
        None)
    dec = next((r for r in decode if r['num_people'] == num_people), None)
    later = next((r for r in stages if r['num_people'] == num_people), None)
    if network is None or dec is None or later is None:
        return None
    parts = {
        'network': network['median'],
        'decode': dec['ms'],
        'stage2': later['stage2_ms'],
        'stage3': later['stage3_ms'],
    }
    total = sum(parts.values())
    return dict(
        num_people=num_people,
        form=form,
        parts=parts,
        ms=total,
        fps=1e3 / total,
        shares={
            k: v / total
            for k, v in parts.items()
        })


def run_pose3d(settings: BenchmarkSettings,
               iters: int = 10,
               warmup: int = 2,
               min_time: float = 0.0,
               size: Tuple[int, int] = (512, 320),
               forms: Sequence[str] = tuple(FORMS),
               stage_iters: int = 100,
               progress: Optional[Callable[[str], None]] = None,
               configs: Optional[Dict[str, str]] = None) -> dict:
    """Every experiment of ``--pose3d``, in order; see the module doc.

    Returns:
        dict: ``stage1``, ``decode``, ``stages``, ``real_time`` (None
        without the int8 form), ``skipped`` and ``load_average`` (start and
        end of the run).
    """
    from mmengine.config import Config
    from mmpose.registry import KEYPOINT_CODECS

    import selecsls_mm.pose3d  # noqa: F401  (registers the 3D codec)

    def say(msg):
        if progress:
            progress(msg)

    configs = configs or {'2d': CONFIG_2D, '3d': CONFIG_3D}
    start = load_average()
    say('3D decode on held-out real-motion scenes ...')
    codec = KEYPOINT_CODECS.build(
        Config.fromfile(configs['3d']).model.head.decoder.to_dict())
    decode = time_decode_3d(codec, repeats=iters)
    say('Stages II and III ...')
    stages = time_stages_2_and_3(
        iters=stage_iters, warmup=max(5, stage_iters // 10))
    say(f'Stage I networks at {size[0]}x{size[1]}: building '
        f'{", ".join(configs)} x {", ".join(forms)} ...')
    skipped = {}
    networks = build_stage1_networks(configs, settings, size, forms, skipped)
    say(f'timing {len(networks)} networks interleaved ...')
    stage1 = time_stage1(networks, iters, warmup, min_time)
    stage1['size'] = list(size)
    return dict(
        stage1=stage1,
        decode=decode,
        stages=stages,
        real_time=real_time_frame(stage1, decode, stages),
        skipped=skipped,
        load_average=dict(start=start, end=load_average()))

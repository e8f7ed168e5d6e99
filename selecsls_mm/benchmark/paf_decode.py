# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Decode time of the part-affinity-field codec against the number of
people, on clean maps of synthetic scenes, timed by :mod:`.timing`."""
from typing import Dict, Sequence

import numpy as np
import torch

from .timing import paired_ratio, summarize, time_interleaved

# Decoder settings timed against the config's own by
# ``tools/benchmark.py --paf-decode``. "greedy-1x" (greedy grouping, peaks
# at map resolution, no shared peaks) is the configs' decoder before the
# evidence clustering (issue 17).
DECODER_VARIANTS = {
    'greedy-1x':
    dict(
        decode_grouping='greedy', decode_upsample=1, decode_share_peaks=False),
    'no-upsampling':
    dict(decode_upsample=1),
    'greedy-grouping':
    dict(decode_grouping='greedy'),
}


def build_decoders(decoder_cfg: dict,
                   variants=None,
                   heatmap_size=(64, 64)) -> Dict[str, object]:
    """The codec of a config and its :data:`DECODER_VARIANTS`, rebuilt for
    ``heatmap_size`` maps at the config's stride.

    Args:
        decoder_cfg (dict): The codec config (``model.head.decoder``).
        variants (Sequence[str], optional): Names in
            :data:`DECODER_VARIANTS`. Defaults to all of them.
        heatmap_size (tuple): Map size (W, H).

    Returns:
        dict: ``'config'`` and each variant name -> codec.
    """
    from mmpose.registry import KEYPOINT_CODECS
    variants = list(DECODER_VARIANTS) if variants is None else variants
    unknown = [v for v in variants if v not in DECODER_VARIANTS]
    if unknown:
        raise ValueError(f'Unknown decoder variant(s) {unknown}; choose from '
                         f'{sorted(DECODER_VARIANTS)}.')
    cfg = dict(decoder_cfg)
    stride = np.asarray(cfg['input_size'], np.float32) / np.asarray(
        cfg['heatmap_size'], np.float32)
    cfg['heatmap_size'] = tuple(heatmap_size)
    cfg['input_size'] = tuple(
        int(round(s * r)) for s, r in zip(heatmap_size, stride))
    codecs = dict(config=KEYPOINT_CODECS.build(cfg))
    for name in variants:
        codecs[name] = KEYPOINT_CODECS.build(
            dict(cfg, **DECODER_VARIANTS[name]))
    return codecs


def encode_scenes(codec, num_people: int, scenes: int,
                  rng: np.random.Generator) -> tuple:
    """The codec's own targets of ``scenes`` realistic scenes of N people.

    Returns:
        tuple: A list of (heatmaps, pafs) per scene and the number of
        labelled people over the scenes.
    """
    from selecsls_mm.pose.synthetic import realistic_scene
    size = tuple(int(s) for s in codec.input_size)
    maps, people = [], 0
    for _ in range(scenes):
        kpts, vis = realistic_scene(rng, size, num_people)
        people += int((vis.sum(1) > 0).sum())
        enc = codec.encode(kpts, vis)
        maps.append((enc['heatmaps'], enc['pafs']))
    return maps, people


def _check_same_maps(codecs: Dict[str, object]) -> None:
    first = next(iter(codecs.values()))
    for label, codec in codecs.items():
        if (tuple(codec.input_size) != tuple(first.input_size)
                or tuple(codec.heatmap_size) != tuple(first.heatmap_size)
                or list(codec.skeleton) != list(first.skeleton)):
            raise ValueError(
                f'Decoder {label!r} reads other maps than the first one '
                '(input size, heatmap size or limbs differ); decoders timed '
                'side by side must decode the same maps.')


def time_paf_decoders(codecs: Dict[str, object],
                      num_people: Sequence[int] = (1, 5, 10, 30),
                      scenes: int = 4,
                      repeats: int = 5,
                      seed: int = 0) -> Dict[str, Dict[int, dict]]:
    """Time several PAF decoders on the same maps, interleaved.

    The maps are the first codec's own targets (``encode``) of
    :func:`~selecsls_mm.pose.synthetic.realistic_scene` people (rotated,
    40% cut by the border, 15% keypoints unlabelled), so only decoding is
    timed, not a network. Every decode of every scene is one call of
    :func:`~.timing.time_interleaved`, so a load change on the machine hits
    all decoders alike.

    Args:
        codecs (dict): Label -> codec (``PartAffinityField``); all must
            read maps of one size and limb set.
        num_people (Sequence[int]): People per scene to time.
            Defaults to (1, 5, 10, 30).
        scenes (int): Different scenes per people count. Defaults to 4.
        repeats (int): Timed decodes of each scene. Defaults to 5.
        seed (int): Random seed of the scenes. Defaults to 0.

    Returns:
        dict: Label -> N -> ``ms`` (median decode time in milliseconds),
        ``iqr_ms`` (its interquartile range), ``min_ms`` (the fastest
        decode, the least disturbed by other jobs), ``ratio`` (median over
        the paired decodes of this decoder's time over the first one's),
        ``people`` (labelled people over the scenes) and ``found`` (decoded
        people over the scenes).
    """
    if not codecs:
        raise ValueError('time_paf_decoders needs at least one codec.')
    _check_same_maps(codecs)
    first = next(iter(codecs))
    rng = np.random.default_rng(seed)
    results = {label: {} for label in codecs}
    for n in num_people:
        maps, people = encode_scenes(codecs[first], n, scenes, rng)
        fns = {
            f'{label}/{i}': (lambda c=codec, m=m: c.decode(*m))
            for label, codec in codecs.items()
            for i, m in enumerate(maps)
        }
        times = time_interleaved(
            fns, iters=repeats, warmup=1, device=torch.device('cpu'))
        for label, codec in codecs.items():
            # scene-major lists: entry j of two decoders is the same decode
            mine = [t for i in range(len(maps)) for t in times[f'{label}/{i}']]
            ref = [t for i in range(len(maps)) for t in times[f'{first}/{i}']]
            stats = summarize(mine)
            results[label][n] = dict(
                ms=stats.median,
                iqr_ms=stats.iqr,
                min_ms=stats.min,
                ratio=paired_ratio(mine, ref),
                people=people,
                found=sum(len(codec.decode(*m)[0]) for m in maps))
    return results


def time_paf_decode(codec=None,
                    num_people: Sequence[int] = (1, 5, 10, 30),
                    heatmap_size: Sequence[int] = (64, 64),
                    scenes: int = 4,
                    repeats: int = 5,
                    seed: int = 0) -> Dict[int, dict]:
    """Time one PAF decoder against the number of people; see
    :func:`time_paf_decoders`.

    Args:
        codec (PartAffinityField, optional): The decoder. Defaults to the
            configs' codec (COCO, redundant limb set, stride 8) for maps of
            ``heatmap_size``.
        num_people (Sequence[int]): People per scene to time.
            Defaults to (1, 5, 10, 30).
        heatmap_size (Sequence[int]): Map size [W, H] when ``codec`` is
            None. Defaults to (64, 64).
        scenes (int): Different scenes per people count. Defaults to 4.
        repeats (int): Timed decodes of each scene. Defaults to 5.
        seed (int): Random seed of the scenes. Defaults to 0.

    Returns:
        dict: N -> ``ms``, ``iqr_ms``, ``min_ms``, ``people``, ``found`` as
        :func:`time_paf_decoders` returns them.
    """
    if codec is None:
        from selecsls_mm.pose.codecs import PartAffinityField
        w, h = heatmap_size
        codec = PartAffinityField((w * 8, h * 8), (w, h))
    timed = time_paf_decoders(
        dict(decoder=codec), num_people, scenes, repeats, seed)['decoder']
    for row in timed.values():
        del row['ratio']
    return timed

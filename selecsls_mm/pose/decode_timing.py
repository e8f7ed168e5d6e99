# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Time the part-affinity-field decoder against the number of people."""
import time
from typing import Dict, Sequence

import numpy as np

from .synthetic import realistic_scene


def time_paf_decode(codec=None,
                    num_people: Sequence[int] = (1, 5, 10, 30),
                    heatmap_size: Sequence[int] = (64, 64),
                    scenes: int = 4,
                    repeats: int = 5,
                    seed: int = 0) -> Dict[int, dict]:
    """Median wall time of ``codec.decode`` on clean maps of N people.

    The maps are the codec's own targets (``encode``) of
    :func:`~selecsls_mm.pose.synthetic.realistic_scene` people (rotated,
    40% cut by the border, 15% keypoints unlabelled), so only decoding is
    timed, not a network.

    Args:
        codec (PartAffinityField, optional): The decoder. Defaults to the
            configs' codec (COCO, redundant limb set, stride 8) for maps of
            ``heatmap_size``.
        num_people (Sequence[int]): People per scene to time.
            Defaults to (1, 5, 10, 30).
        heatmap_size (Sequence[int]): Map size [W, H] when ``codec`` is
            None. Defaults to (64, 64).
        scenes (int): Different scenes per people count. Defaults to 4.
        repeats (int): Decodes of each scene. Defaults to 5.
        seed (int): Random seed of the scenes. Defaults to 0.

    Returns:
        dict: For each N: ``ms`` (median decode time in milliseconds),
        ``iqr_ms`` (its interquartile range), ``min_ms`` (the fastest
        decode, the least disturbed by other jobs), ``people`` (labelled people
        over the scenes) and ``found`` (decoded people over the scenes).
    """
    if codec is None:
        from .codecs import PartAffinityField
        w, h = heatmap_size
        codec = PartAffinityField((w * 8, h * 8), (w, h))
    size = tuple(int(s) for s in codec.input_size)
    rng = np.random.default_rng(seed)
    results = {}
    for n in num_people:
        maps, people = [], 0
        for _ in range(scenes):
            kpts, vis = realistic_scene(rng, size, n)
            people += int((vis.sum(1) > 0).sum())
            enc = codec.encode(kpts, vis)
            maps.append((enc['heatmaps'], enc['pafs']))
        found = sum(len(codec.decode(*m)[0]) for m in maps)  # warm-up
        times = []
        for _ in range(repeats):
            for m in maps:
                start = time.perf_counter()
                codec.decode(*m)
                times.append((time.perf_counter() - start) * 1e3)
        q1, med, q3 = np.percentile(times, [25, 50, 75])
        results[n] = dict(
            ms=float(med),
            iqr_ms=float(q3 - q1),
            min_ms=float(min(times)),
            people=people,
            found=found)
    return results

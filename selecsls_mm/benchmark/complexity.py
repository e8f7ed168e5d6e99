# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The complexity experiment: parameters and MACs per image of every model,
counted by the project's one counter (:mod:`selecsls_mm.utils.complexity`,
unit: multiply-accumulates)."""
from typing import Dict, Sequence, Tuple

from ..utils.complexity import count_macs, count_params
from .settings import BenchmarkSettings


def run_complexity(models: Dict[str, dict], settings: BenchmarkSettings,
                   sizes: Sequence[Tuple[int, int]]) -> list:
    """Parameters and MACs per image at each size.

    Args:
        models (dict): Label -> ``dict(model=..., channels_last=bool)``.
        settings (BenchmarkSettings): Device and layout of the inputs.
        sizes (Sequence[tuple]): Input sizes (W, H).

    Returns:
        list[dict]: ``model``, ``params``, ``macs`` (``'WxH'`` -> MACs).
    """
    out = []
    for label, entry in models.items():
        macs = {
            f'{s[0]}x{s[1]}':
            count_macs(entry['model'],
                       settings.inputs(1, s, entry['channels_last']))
            for s in sizes
        }
        out.append(
            dict(model=label, params=count_params(entry['model']), macs=macs))
    return out

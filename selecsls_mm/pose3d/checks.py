# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""A config that trains the 3D branch must train on data with 3D labels."""
from typing import Iterator

from mmengine.config import Config

from ..stack import config_types, register_config_check


def _datasets(node) -> Iterator[dict]:
    """Every dataset config in a dataset config (wrappers such as
    ``CombinedDataset`` and ``RepeatDataset`` opened)."""
    if isinstance(node, dict):
        if 'datasets' in node or 'dataset' in node:
            for child in node.get('datasets', None) or [node.get('dataset')]:
                yield from _datasets(child)
        else:
            yield node


def _has_3d_labels(dataset: dict) -> bool:
    from mmpose.registry import DATASETS
    cls = DATASETS.get(dataset.get('type', ''))
    return bool(getattr(cls, 'has_3d_labels', False))


@register_config_check
def check_3d_training_data(cfg: Config) -> None:
    """Raise ValueError when ``cfg`` trains ``XNect3DHead`` on training
    data none of whose datasets has 3D labels (e.g. COCO alone)."""
    if 'XNect3DHead' not in set(config_types(cfg.get('model', {}))):
        return
    loader = cfg.get('train_dataloader', None)
    if not loader or not loader.get('dataset'):
        return
    datasets = list(_datasets(loader['dataset']))
    if datasets and not any(_has_3d_labels(d) for d in datasets):
        names = ', '.join(str(d.get('type')) for d in datasets)
        raise ValueError(
            f'this config trains the 3D branch (XNect3DHead), but its '
            f'training data ({names}) has no 3D labels: add a 3D dataset '
            '(MuCo3DHPDataset, PanopticDataset or real-motion scenes, see '
            "docs/pose3d.md) or train the 2D model "
            '(configs/pose/xnect-paf_*.py)')

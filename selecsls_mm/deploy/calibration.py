# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Images of a config's dataset in the form an exported graph takes: the
config's test pipeline, then the model's data preprocessor (normalised
float32 batches), with their labels. Used to calibrate and check an int8
graph on real images."""
import copy
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, DefaultScope


def dataset_batches(cfg: Config,
                    model: nn.Module,
                    split: str = 'test',
                    num: Optional[int] = None,
                    batch_size: int = 32,
                    seed: int = 0
                    ) -> Iterator[Tuple[np.ndarray, Optional[np.ndarray]]]:
    """Yield ``(inputs, labels)`` batches of the dataset of ``split``.

    Every split is read with the config's test pipeline: calibration should
    see images as inference does, not augmented ones.

    Args:
        cfg (Config): The config, with ``{split}_dataloader`` and
            ``test_dataloader``.
        model (nn.Module): The model whose ``data_preprocessor`` normalises
            the images.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        num (int, optional): Use this many images, drawn at random (fixed by
            ``seed``, kept in dataset order); all when None or larger than
            the dataset.
        batch_size (int): Images per batch.
        seed (int): Seed of the draw.

    Yields:
        tuple: ``inputs`` (N, C, H, W) float32 and ``labels`` (N, ) int64,
        or None when the dataset has no labels.
    """
    if num is not None and num < 1:
        raise ValueError(f'num must be at least 1 (images to draw), got {num}')
    key = f'{split}_dataloader'
    if not cfg.get(key) or not cfg.get('test_dataloader'):
        raise ValueError(f'the config has no {key} (and test_dataloader) to '
                         'read images from; pick another split or add it')
    dataset_cfg = copy.deepcopy(cfg[key]['dataset'])
    dataset_cfg['pipeline'] = copy.deepcopy(
        cfg.test_dataloader.dataset.pipeline)
    scope = cfg.get('default_scope', None) or 'mmpretrain'
    try:
        with DefaultScope.overwrite_default_scope(scope):
            dataset = DATASETS.build(dataset_cfg)
    except (FileNotFoundError, NotADirectoryError) as e:
        raise FileNotFoundError(
            f'the images of {key} cannot be read ({e}); point the config '
            f'at them, e.g. --cfg-options {key}.dataset.data_root=DIR') \
            from None
    indices = np.arange(len(dataset))
    if num is not None and num < len(dataset):
        rng = np.random.default_rng(seed)
        indices = np.sort(rng.choice(len(dataset), num, replace=False))
    if len(indices) == 0:
        raise ValueError(f'the {key} dataset is empty; point it at images '
                         f'with --cfg-options {key}.dataset.data_root=DIR or '
                         'pick another split')
    preprocessor = model.data_preprocessor
    for start in range(0, len(indices), batch_size):
        data = pseudo_collate(
            [dataset[int(i)] for i in indices[start:start + batch_size]])
        with torch.no_grad():
            data = preprocessor(data, False)
        samples = data.get('data_samples') or []
        labels = [s.gt_label for s in samples if 'gt_label' in s]
        yield (data['inputs'].float().contiguous().cpu().numpy(),
               torch.cat(labels).numpy()
               if labels and len(labels) == len(samples) else None)

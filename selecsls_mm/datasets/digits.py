# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""scikit-learn's handwritten digits as an ImageNet-layout dataset: the real
images of ``make demo`` (they ship inside the package, nothing is
downloaded)."""
import json
import os
import os.path as osp
import shutil

import numpy as np

from ..utils.fileio import atomic_directory


def write_digits_dataset(data_root: str,
                         size: int = 32,
                         val_fraction: float = 0.2) -> dict:
    """Write the 1797 scanned digits as ``train/``, ``val/`` and
    ``meta/{train,val}.txt`` under ``data_root``.

    The validation split is held out and stratified by class (seed 0); each
    8x8 image is upsampled (bicubic) to ``size`` x ``size`` grey PNG, since
    SelecSLS needs at least 32 px. The dataset is built in a temporary folder
    and renamed into place, so an interrupted run never leaves half of it; a
    complete one with the same settings (``meta/info.json``) is reused, one
    with other settings is replaced; any other existing folder is an error
    (never deleted).

    Args:
        data_root (str): The dataset folder.
        size (int): Image side in pixels. Defaults to 32.
        val_fraction (float): Held-out fraction, in (0, 1). Defaults to 0.2.

    Returns:
        dict: The number of images per split, ``{'train': n, 'val': m}``.
    """
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if size < 32:
        raise ValueError(f'image size {size}: SelecSLS needs at least 32 px')
    if not 0 < val_fraction < 1:
        raise ValueError(f'val_fraction must be in (0, 1), got {val_fraction}')
    settings = dict(size=size, val_fraction=val_fraction, seed=0)
    info_file = osp.join(data_root, 'meta', 'info.json')
    if osp.isfile(info_file):
        with open(info_file) as f:
            info = json.load(f)
        if info.get('settings') == settings:
            return info['splits']
        shutil.rmtree(data_root)  # ours, written with other settings
    elif osp.exists(data_root):
        raise FileExistsError(
            f'{data_root} exists but is not a digits dataset written here (no '
            'meta/info.json); pick another data root or remove it')

    digits = load_digits()
    # 0..16 ink levels -> 0..255 grey.
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    train_idx, val_idx = train_test_split(
        np.arange(len(images)),
        test_size=val_fraction,
        random_state=0,
        stratify=digits.target)

    splits = {}
    with atomic_directory(data_root) as tmp:
        os.makedirs(osp.join(tmp, 'meta'))
        for split, ids in (('train', train_idx), ('val', val_idx)):
            os.makedirs(osp.join(tmp, split))
            lines = []
            for i in sorted(ids):
                name = f'{i:04d}.png'
                img = Image.fromarray(
                    images[i], mode='L').resize((size, size), Image.BICUBIC)
                img.save(osp.join(tmp, split, name))
                lines.append(f'{name} {digits.target[i]}\n')
            with open(osp.join(tmp, 'meta', f'{split}.txt'), 'w') as f:
                f.writelines(lines)
            splits[split] = len(lines)
        with open(osp.join(tmp, 'meta', 'info.json'), 'w') as f:
            json.dump(dict(settings=settings, splits=splits), f)
    return splits

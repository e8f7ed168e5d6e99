# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Where a config expects its data: moving it with one option, and one line
when it is not there.

OpenMMLab configs spell the dataset root into every dataloader (and into the
COCO evaluators' ``ann_file``) when they are parsed, so overriding a
top-level ``data_root`` alone changes nothing. :func:`rebase_data_root` moves
every path under the old root, so ``--cfg-options data_root=PATH`` works for
any config. :func:`check_data_files` names the first file or folder the
config expects but the disk lacks, before a dataset class fails on it with an
``AssertionError`` traceback.
"""
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# dataset fields that hold a path under data_root
_FILE_FIELDS = ('ann_file', 'bbox_file')


def _datasets(dataset, where: str) -> Iterator[Tuple[str, dict]]:
    """``(config key, dataset dict)`` of a dataset and of the datasets it
    wraps (``RepeatDataset``, ``ConcatDataset``, ...)."""
    if not isinstance(dataset, dict):
        return
    yield where, dataset
    yield from _datasets(dataset.get('dataset'), f'{where}.dataset')
    for i, inner in enumerate(dataset.get('datasets') or []):
        yield from _datasets(inner, f'{where}.datasets.{i}')


def config_datasets(cfg: Config,
                    loaders: Sequence[str] = LOADERS
                    ) -> Iterator[Tuple[str, dict]]:
    """``(config key, dataset dict)`` of every dataset of ``loaders``."""
    for loader in loaders:
        if isinstance(cfg.get(loader), dict):
            yield from _datasets(cfg[loader].get('dataset'),
                                 f'{loader}.dataset')


def data_roots(cfg: Config) -> List[str]:
    """The distinct ``data_root`` values of the config's datasets (and its
    top-level ``data_root``), in order."""
    roots = [cfg.get('data_root')]
    roots += [d.get('data_root') for _, d in config_datasets(cfg)]
    return list(
        dict.fromkeys(r for r in roots if isinstance(r, str) and r != ''))


def _rebased(value, old: str, new: str):
    if isinstance(value, str):
        if value == old or value.rstrip('/') == old.rstrip('/'):
            return new
        prefix = old if old.endswith('/') else old + '/'
        if value.startswith(prefix):
            return osp.join(new, value[len(prefix):])
        return value
    if isinstance(value, dict):
        return type(value)({
            k: _rebased(v, old, new)
            for k, v in value.items()
        })
    if isinstance(value, (list, tuple)):
        return type(value)(_rebased(v, old, new) for v in value)
    return value


def rebase_data_root(cfg: Config, new_root: str) -> None:
    """Move every path under the config's dataset root(s) to ``new_root``,
    in place: the datasets' ``data_root``, evaluators' ``ann_file`` and any
    other string that starts with an old root; sets ``cfg.data_root``.

    Args:
        cfg (Config): The loaded config.
        new_root (str): The folder that holds the data.
    """
    for old in data_roots(cfg):
        for key in list(cfg.keys()):
            if key != 'data_root':
                cfg[key] = _rebased(cfg[key], old, new_root)
    cfg.data_root = new_root


def _is_local(path: str) -> bool:
    return '://' not in path


def _expected_paths(dataset: dict) -> Iterator[Tuple[str, str]]:
    """``(field, path)`` of the files and folders a dataset config names."""
    root = dataset.get('data_root') or ''
    if root:
        yield 'data_root', root
    for field in _FILE_FIELDS:
        if dataset.get(field):
            yield field, osp.join(root, dataset[field])
    prefix = dataset.get('data_prefix')
    folders = prefix.items() if isinstance(prefix, dict) else \
        [('', prefix)] if isinstance(prefix, str) else []
    for name, folder in folders:
        if folder:
            field = f'data_prefix.{name}' if name else 'data_prefix'
            yield field, osp.join(root, folder)


def missing_data_path(
    cfg: Config,
    loaders: Sequence[str] = LOADERS,
    evaluators: Sequence[str] = ()
) -> Optional[Tuple[str, str]]:
    """The first ``(config key, path)`` the config expects on disk but the
    disk lacks, or None.

    Args:
        cfg (Config): The loaded config.
        loaders (Sequence[str]): Dataloaders whose datasets are checked.
        evaluators (Sequence[str]): Evaluators whose ``ann_file`` is checked.
    """
    expected = [(f'{where}.{field}', path)
                for where, dataset in config_datasets(cfg, loaders)
                for field, path in _expected_paths(dataset)]
    for name in evaluators:
        metrics = cfg.get(name)
        for i, metric in enumerate(
                metrics if isinstance(metrics, list) else [metrics]):
            if isinstance(metric, dict) and metric.get('ann_file'):
                key = f'{name}.{i}' if isinstance(metrics, list) else name
                expected.append((f'{key}.ann_file', metric['ann_file']))
    for key, path in expected:
        if _is_local(path) and not osp.exists(path):
            return key, path
    return None


def check_data_files(cfg: Config,
                     loaders: Sequence[str] = LOADERS,
                     evaluators: Sequence[str] = ()) -> None:
    """Raise FileNotFoundError, one line naming the first path the config
    expects and how to point it elsewhere, if any is missing.

    Args:
        cfg (Config): The loaded config.
        loaders (Sequence[str]): Dataloaders whose datasets are checked.
        evaluators (Sequence[str]): Evaluators whose ``ann_file`` is checked.

    Raises:
        FileNotFoundError: When a path is missing.
    """
    missing = missing_data_path(cfg, loaders, evaluators)
    if missing is None:
        return
    key, path = missing
    roots = data_roots(cfg)
    root = f" (data_root '{roots[0]}')" if roots else ''
    raise FileNotFoundError(
        f'{path} does not exist: the config expects it as {key}{root}; put '
        'the dataset there, or point the config at it with --cfg-options '
        f'data_root=/path/to/dataset/ (or {key}=...)')

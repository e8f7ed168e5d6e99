# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The models and the photo of the pose benchmark: our bottom-up configs,
mmpose's bottom-up peers built from the configs mmpose ships, each placed
and (with ``--deploy``) BN-folded alike."""
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .settings import BenchmarkSettings

# mmpose's bottom-up peers, built from the configs mmpose ships
# (mmpose/.mim/configs), and what each needs beyond the lite stack.
POSE_PEERS = {
    'ae-hrnet-w32':
    dict(
        config='body_2d_keypoint/associative_embedding/coco/'
        'ae_hrnet-w32_8xb24-300e_coco-512x512.py',
        needs=None),
    'dekr-hrnet-w32':
    dict(
        config='body_2d_keypoint/dekr/coco/'
        'dekr_hrnet-w32_8xb10-140e_coco-512x512.py',
        needs='mmcv.ops (DeformConv2d): the full stack, mmcv with its C++ '
        'ops, see docs/install.md',
        # mmcv's DeformConv2d CPU op refuses channels_last input ("input
        # must be contiguous"): NCHW is this peer's best (only) layout.
        nchw_only=True),
    'rtmo-s':
    dict(
        config='body_2d_keypoint/rtmo/coco/rtmo-s_8xb32-600e_coco-640x640.py',
        needs='mmpose >= 1.2 with mmcv.ops and mmdet: the full stack, see '
        'docs/install.md'),
    'rtmo-m':
    dict(
        config='body_2d_keypoint/rtmo/coco/'
        'rtmo-m_16xb16-600e_coco-640x640.py',
        needs='mmpose >= 1.2 with mmcv.ops and mmdet: the full stack, see '
        'docs/install.md'),
}


def build_pose_model(config,
                     checkpoint: Optional[str] = None,
                     device: str = 'cpu') -> nn.Module:
    """Build the pose estimator of an MMPose config for inference.

    No pretrained backbone weights are loaded (mmpose's ``init_model`` drops
    the backbone's ``init_cfg``), so no file but ``checkpoint`` is needed.

    Args:
        config (str | Config): The config file or object.
        checkpoint (str, optional): Weights to load.
        device (str): Where to build the model.

    Returns:
        nn.Module: The estimator in eval mode, with ``cfg`` and
        ``dataset_meta`` set as mmpose's inference API expects.
    """
    if isinstance(config, str) and not osp.isfile(config):
        raise FileNotFoundError(f'pose config {config!r} not found; pass a '
                                'config file, e.g. one in configs/pose/')
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} not found')
    from selecsls_mm.pose import init_pose_model
    return init_pose_model(config, checkpoint, device=device)


def fold_pose_backbone(model: nn.Module) -> str:
    """Fold BN into convs in a pose model's backbone (ours by
    ``switch_to_deploy()``, others by torch.fx); returns how."""
    from .models import fold_bn
    model.backbone, how = fold_bn(model.backbone)
    return how


def peer_config(name: str) -> str:
    """The path of a peer's config inside the installed mmpose package.

    Raises:
        ValueError: An unknown peer name (the known ones are listed).
        ImportError: The installed mmpose does not ship the config, or the
            peer needs packages that are missing; the message says what to
            install.
    """
    if name not in POSE_PEERS:
        raise ValueError(f'unknown pose peer {name!r}; known peers: '
                         f'{", ".join(POSE_PEERS)}')
    import mmpose
    peer = POSE_PEERS[name]
    path = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', peer['config'])
    if not osp.isfile(path):
        raise ImportError(f'pose peer {name}: mmpose {mmpose.__version__} '
                          f'does not ship {osp.basename(path)}; it needs '
                          f'{peer["needs"]}')
    return path


def build_peer(name: str, device: str = 'cpu') -> nn.Module:
    """Build an mmpose peer from mmpose's own config (random weights).

    Raises:
        ImportError: One line saying what the peer needs when it cannot be
            built on this stack.
    """
    path = peer_config(name)
    try:
        return build_pose_model(path, device=device)
    except (ImportError, KeyError, ModuleNotFoundError) as e:
        needs = POSE_PEERS[name]['needs'] or 'its mmpose dependencies'
        first = ' '.join(str(e).split())[:120]
        raise ImportError(f'pose peer {name} cannot be built here ({first}); '
                          f'it needs {needs}') from None


def build_pose_models(configs: Sequence[str],
                      peers: Sequence[str],
                      settings: BenchmarkSettings,
                      checkpoint: Optional[str] = None,
                      fold: bool = False) -> Tuple[dict, dict, dict]:
    """Build our configs and mmpose's peers for :func:`time_pose_end_to_end`.

    Args:
        configs (Sequence[str]): Our bottom-up configs (rows labelled by the
            file name without ``.py``).
        peers (Sequence[str]): Names in :data:`POSE_PEERS`.
        settings (BenchmarkSettings): Device and memory format.
        checkpoint (str, optional): Weights, with a single config only.
        fold (bool): Fold BN into convs in every backbone.

    Returns:
        tuple: ``models`` (label -> estimator, placed), ``skipped`` (peer
        -> the one line saying what it needs) and ``folding`` (label -> how
        its BN was folded; empty without ``fold``).

    Raises:
        ValueError: An unknown peer name, listing the known ones.
    """
    from ..utils.cli import error_message
    unknown = [n for n in peers if n not in POSE_PEERS]
    if unknown:
        raise ValueError(f'unknown pose peer(s) {", ".join(unknown)}; known '
                         f'peers: {", ".join(POSE_PEERS)}')
    if checkpoint is not None and len(configs) != 1:
        raise ValueError('--checkpoint needs exactly one --pose CONFIG')
    built, skipped, folding = {}, {}, {}
    for config in configs:
        torch.manual_seed(0)  # the same random weights in every run
        built[osp.basename(config)[:-3]] = build_pose_model(config, checkpoint)
    for name in peers:
        torch.manual_seed(0)
        try:
            built[name] = build_peer(name)
        except ImportError as e:  # what to install, in one line
            skipped[name] = error_message(e)
    models = {}
    for label, model in built.items():
        if fold:
            folding[label] = fold_pose_backbone(model)
        if POSE_PEERS.get(label, {}).get('nchw_only'):
            models[label] = model.to(settings.device)
        else:
            models[label] = settings.place(model)
    return models, skipped, folding


def sample_photo(name: str = 'china.jpg') -> np.ndarray:
    """A real photo shipped by scikit-learn, as BGR (mmpose's channel order
    for loaded images).

    Args:
        name (str): ``'china.jpg'`` (640x427) or ``'flower.jpg'``.

    Returns:
        np.ndarray: The image, (H, W, 3), uint8, BGR.
    """
    from sklearn.datasets import load_sample_image
    return np.ascontiguousarray(load_sample_image(name)[:, :, ::-1])

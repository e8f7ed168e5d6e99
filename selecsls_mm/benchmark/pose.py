# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The pose experiments: bottom-up pose models end to end through mmpose's
own inference path, split into pre/post-processing, network and grouping,
and the PAF decoder's time against the number of people."""
import copy
import dataclasses
import os.path as osp
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .settings import BenchmarkSettings
from .timing import summarize, time_interleaved

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
    from mmpose.apis import init_model
    return init_model(config, checkpoint, device=device).eval()


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


class _PartTimer:
    """Accumulates wall time spent in wrapped methods of a pose estimator:
    ``features`` (``extract_feat``: backbone and neck), ``head_forward``
    and ``head_predict`` (the head's whole ``predict``, its forward
    included); flipped passes included."""

    def __init__(self, model: nn.Module):
        self.totals: Dict[str, float] = defaultdict(float)
        self._patches = _Patches()
        self._wrap(model, 'extract_feat', 'features', _ae_feature_list(model))
        self._wrap(model.head, 'forward', 'head_forward')
        self._wrap(model.head, 'predict', 'head_predict')

    def _wrap(self,
              owner,
              method: str,
              part: str,
              convert: Callable = lambda out: out):
        inner = getattr(owner, method)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return convert(inner(*args, **kwargs))
            finally:
                self.totals[part] += time.perf_counter() - start

        self._patches.set(owner, method, timed)

    def reset(self):
        self.totals.clear()

    def remove(self):
        self._patches.restore()


class _Patches:
    """Instance attributes that shadow methods, and how to undo them:
    :meth:`set` shadows ``owner.name`` with ``value``, :meth:`restore`
    puts back what each owner had before, newest first."""

    def __init__(self):
        self._saved: List[tuple] = []

    def set(self, owner, name: str, value):
        self._saved.append((owner, name, vars(owner).get(name, _ABSENT)))
        setattr(owner, name, value)  # an instance attribute shadows a method

    def restore(self):
        for owner, name, before in reversed(self._saved):
            if before is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, before)
        self._saved.clear()


_ABSENT = object()


def _deploy_neck_and_head(model: nn.Module, device: torch.device):
    """Switch a pose estimator's neck and head to mmpose's own deploy form,
    the form its exporters use (RTMO's encoder, for one, stores its
    positional encodings for the configured input size only then).

    The same function in eager mode, so it is applied under every runtime
    alike and kept. The backbone is left to ``--deploy``.

    Args:
        model (nn.Module): The estimator; its ``test_cfg`` is passed on.
        device (torch.device): Where buffers created by the switch go.
    """
    for part in (getattr(model, 'neck', None), model.head):
        if part is None:
            continue
        for module in part.modules():
            if callable(getattr(module, 'switch_to_deploy', None)):
                module.switch_to_deploy(model.test_cfg)
        part.to(device)


class _RuntimeNetwork:
    """Runs a pose estimator's network (backbone, neck and head forward)
    with a benchmark runtime, inside mmpose's own inference path.

    ``extract_feat`` runs the whole network as one prepared forward (export,
    trace or compile once per input shape) and returns the head's outputs;
    ``head.forward`` hands those outputs on. Everything else (flip merging,
    decoding, grouping) runs as it does in eager mode.

    Args:
        model (nn.Module): The bottom-up estimator, placed.
        settings (BenchmarkSettings): The run's settings.
        runtime (str): A runtime of :data:`.runtimes.RUNTIMES`.
        nchw (bool): Feed this network NCHW input whatever the run's layout
            (the peers marked ``nchw_only``).
    """

    def __init__(self,
                 model: nn.Module,
                 settings: BenchmarkSettings,
                 runtime: str,
                 nchw: bool = False):
        from .runtimes import check_runtime
        check_runtime(runtime, settings)
        if nchw:
            settings = dataclasses.replace(settings, channels_last=False)
        self.settings, self.runtime = settings, runtime
        _deploy_neck_and_head(model, settings.device)
        self.network = _PoseNetwork(model).eval()
        self.max_rel_diff = 0.0
        self._prepared: Dict[tuple, tuple] = {}
        self._pending: Dict[int, tuple] = {}
        self._patches = _Patches()
        self._patches.set(model, 'extract_feat', self.extract_feat)
        self._patches.set(model.head, 'forward', self.head_forward)

    def extract_feat(self, inputs: torch.Tensor) -> tuple:
        from torch.utils._pytree import tree_flatten, tree_unflatten

        from .runtimes import prepare_forward
        x = self.settings.layout(inputs)
        key = (tuple(x.shape), x.stride())
        if key not in self._prepared:
            with torch.inference_mode():
                spec = tree_flatten(self.network(x))[1]
            prepared = prepare_forward(self.network, x, self.settings,
                                       self.runtime)
            self.max_rel_diff = max(self.max_rel_diff, prepared.max_rel_diff)
            self._prepared[key] = (prepared, spec)
        prepared, spec = self._prepared[key]
        # ONNX Runtime returns a flat list of arrays: back to the head's
        # structure, as tensors. Grouping gets them in NCHW and fp32,
        # whatever the network's layout and autocast: mmpose's AE flip
        # merging and grouping took 1.8x as long on channels_last maps (860
        # vs 470 ms, run 5), and its decoders refuse bf16.
        leaves = [
            torch.as_tensor(o).float().contiguous()
            for o in tree_flatten(prepared.call(x))[0]
        ]
        outputs = tuple(tree_unflatten(leaves, spec))
        self._pending[id(outputs[0])] = outputs
        return outputs

    def head_forward(self, feats) -> tuple:
        # The head receives what extract_feat returned (AE's flip-off path
        # turns it into a list first), so its first tensor identifies it.
        return self._pending.pop(id(feats[0]))

    def remove(self):
        self._patches.restore()


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
            network = _RuntimeNetwork(
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
                     networks: Dict[str, '_RuntimeNetwork']) -> List[dict]:
    """The timed part of :func:`time_pose_end_to_end` (same arguments and
    rows), with the runtime networks already installed."""
    from mmpose.apis import inference_bottomup
    timers = {label: _PartTimer(m) for label, m in models.items()}
    parts: Dict[Tuple[str, bool], List[dict]] = defaultdict(list)
    people: Dict[Tuple[str, bool], int] = {}
    fns = {}
    for label, model in models.items():
        for flip in flips:
            if flip and not _can_flip(model):
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


def _ae_feature_list(model: nn.Module) -> Callable:
    """mmpose's associative-embedding head asserts, without flip test, a
    *list* of feature tensors, while its own estimator passes the backbone's
    *tuple* (so ``flip_test=False`` fails upstream). The same features as a
    list make that path run; other heads get their features untouched."""
    if type(model.head).__name__ != 'AssociativeEmbeddingHead':
        return lambda feats: feats

    def convert(feats):
        if model.test_cfg.get('flip_test', False) or \
                not isinstance(feats, tuple):
            return feats
        return list(feats)

    return convert


def _can_flip(model: nn.Module) -> bool:
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


class _PoseNetwork(nn.Module):
    """Backbone (+ neck) and head forward of a pose estimator: images to
    raw outputs, without preprocessing, flip test or decoding."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        # The classes' methods: the instance-level wrappers installed by
        # the timers and by _RuntimeNetwork must not run (or recurse) here.
        model, head = self.model, self.model.head
        return type(head).forward(head, type(model).extract_feat(model, x))


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
    network = settings.place(_PoseNetwork(model).eval())
    x = settings.inputs(1, size)
    prepared = prepare_forward(network, x, settings)
    times = time_interleaved(
        dict(network=prepared.run), iters, warmup, settings.device)['network']
    return dict(
        size=list(size),
        runtime=prepared.runtime,
        max_rel_diff=prepared.max_rel_diff,
        **summarize(times).to_dict())

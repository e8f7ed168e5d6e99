# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Which OpenMMLab stack a feature needs, and one sentence when it is missing.

``import selecsls_mm`` needs torch, mmengine, mmcv (lite or full) and
mmpretrain. Pose (``selecsls_mm.pose``) also needs mmpose and xtcocotools;
detection configs need mmdet and mmcv with compiled ops. The two tested
stacks are described in docs/install.md:

- lite: mmcv-lite 2.1.0 + mmpose 1.1.0 (``make env``, CI);
- full: mmcv 2.1.0 with ops + mmpose 1.3.2 + mmdet 3.3.0 (``make env-full``).

:func:`load_config` loads a config and checks it against the installed stack
before anything is built, so a config that needs a newer mmpose or mmcv's
compiled ops ends in :class:`MissingDependencyError` with what to install,
not in a registry ``KeyError`` or an import traceback.
"""
import importlib.util
import re
from importlib import metadata
from typing import Callable, Iterator, List, Optional

from mmengine.config import Config

FULL_STACK = ('the full stack: `make env-full` (mmcv 2.1.0 built with ops, '
              'mmpose 1.3.2, mmdet 3.3.0; see docs/install.md)')
POSE_INSTALL = ("pip install -e '.[pose]' && pip install --no-deps "
                'mmpose==1.1.0 (mmcv-lite) or mmpose==1.3.2 (full mmcv)')

# Names registered by mmpose 1.3.2 but not by mmpose 1.1.0 (a diff of the two
# packages' registries), e.g. everything RTMO and YOLOX-Pose are built from.
MMPOSE_13_ONLY = frozenset({
    'BadCaseAnalysisHook', 'BatchSyncRandomResize', 'BBoxOverlaps2D',
    'BottomupRandomChoiceResize', 'BottomupRandomCrop', 'ChannelMapper',
    'ConstantLR', 'CSPDarknet', 'CSPNeXt', 'CSPNeXtPAFPN', 'DSTFormer',
    'DWPoseDistiller', 'EDPoseHead', 'EDPoseLabel', 'ExlposeDataset',
    'FeaLoss', 'FilterAnnotations', 'ForceDefaultOptimWrapperConstructor',
    'FrozenBatchNorm2d', 'H36MWholeBodyDataset', 'Hand3DHeatmap',
    'Hand3DInferencer', 'HandRandomFlip', 'HumanArt21Dataset', 'HybridEncoder',
    'InterHand2DDoubleDataset', 'InterHand3DDataset', 'InterHandMetric',
    'InternetHead', 'IoULoss', 'KDLoss', 'MLECCLoss', 'MlvlPointGenerator',
    'Mosaic', 'MotionBERTLabel', 'MotionRegressionHead',
    'MPJPEVelocityJointLoss', 'MultiDatasetEvaluator', 'OKSLoss', 'PoseOKS',
    'QuadraticWarmupLR', 'QuadraticWarmupMomentum',
    'QuadraticWarmupParamScheduler', 'RTMOHead', 'RTMOModeSwitchHook',
    'RTMWHead', 'SimOTAAssigner', 'SimpleMPJPE', 'SingleHandConverter',
    'SyncNormHook', 'TransformerHead', 'UBody2dDataset', 'UBody3dDataset',
    'VariFocalLoss', 'Face300VWDataset', 'Face300WLPDataset',
    'YOLOXHSVRandomAug', 'YOLOXMixUp', 'YOLOXPAFPN',
    'YOLOXPoseAnnotationProcessor', 'YOLOXPoseHead', 'YOLOXPoseModeSwitchHook'
})

# Config types whose modules call mmcv's compiled ops (mmcv.ops).
NEEDS_MMCV_OPS = frozenset({
    'DEKRHead', 'EDPoseHead', 'RoIAlign', 'RoIPool', 'DeformConv2d',
    'DeformConv2dPack', 'ModulatedDeformConv2d', 'ModulatedDeformConv2dPack',
    'DCN', 'DCNv2', 'MultiScaleDeformableAttention', 'CARAFE', 'CARAFEPack'
})

# Checks of what a config asks for beyond the installed packages, added by
# optional subpackages when they are imported (e.g. selecsls_mm.pose3d: a 3D
# model needs training data with 3D labels); each raises ValueError with one
# sentence.
CONFIG_CHECKS: List[Callable[[Config], None]] = []


def register_config_check(check: Callable[[Config], None]):
    """Run ``check(cfg)`` in :func:`check_config` (usable as a
    decorator); registering the same function twice keeps one."""
    if check not in CONFIG_CHECKS:
        CONFIG_CHECKS.append(check)
    return check


class MissingDependencyError(ImportError):
    """A feature or config needs a package (or version) that is not installed.

    Its message is one sentence naming what is missing and what to install.
    """


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it).

    A module set to ``None`` in ``sys.modules`` counts as missing, as it does
    for ``import``.
    """
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def installed_version(dist: str) -> Optional[str]:
    """The installed version of distribution ``dist``, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def mmcv_has_ops() -> bool:
    """Whether mmcv's compiled ops (``mmcv._ext``) are installed: False on
    mmcv-lite."""
    return has_module('mmcv') and has_module('mmcv._ext')


def mmcv_flavour() -> str:
    """``'mmcv X (with ops)'`` or ``'mmcv-lite X'``, for messages."""
    if mmcv_has_ops():
        return f"mmcv {installed_version('mmcv')} (with ops)"
    return f"mmcv-lite {installed_version('mmcv-lite') or '?'}"


def _version_tuple(version: str) -> tuple:
    return tuple(int(p) for p in re.findall(r'\d+', version)[:3])


def require_pose() -> None:
    """Check what ``selecsls_mm.pose`` needs: mmpose and xtcocotools, and
    mmcv's ops for mmpose >= 1.2 (its models import ``mmcv.ops``).

    Raises:
        MissingDependencyError: One sentence saying what to install.
    """
    missing = [m for m in ('mmpose', 'xtcocotools') if not has_module(m)]
    if missing:
        raise MissingDependencyError(
            f"selecsls_mm.pose needs {' and '.join(missing)}, which "
            f'{"is" if len(missing) == 1 else "are"} not installed: '
            f'{POSE_INSTALL}, or use {FULL_STACK}.')
    version = installed_version('mmpose') or '0'
    if _version_tuple(version) >= (1, 2) and not mmcv_has_ops():
        raise MissingDependencyError(
            f'mmpose {version} imports mmcv\'s compiled ops, but this '
            f'environment has {mmcv_flavour()}: use {FULL_STACK}, or '
            'pip install --no-deps mmpose==1.1.0 for mmcv-lite.')


def config_types(cfg) -> Iterator[str]:
    """Every ``type`` string in a config (nested dicts and lists)."""
    stack = [cfg._cfg_dict if isinstance(cfg, Config) else cfg]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kind = node.get('type')
            if isinstance(kind, str):
                yield kind.split('.')[-1]
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)


def check_config(cfg: Config) -> None:
    """Check that the installed stack can build everything ``cfg`` names.

    Args:
        cfg (Config): A loaded config.

    Raises:
        MissingDependencyError: One sentence naming the first type (or
            scope) that cannot be built here and what to install.
        ValueError: A check of :data:`CONFIG_CHECKS` failed.
    """
    scope = cfg.get('default_scope', None)
    if scope == 'mmdet':
        if not has_module('mmdet'):
            raise MissingDependencyError(
                'this is an mmdet config, but mmdet is not installed: '
                f'use {FULL_STACK}.')
        if not mmcv_has_ops():
            raise MissingDependencyError(
                'mmdet models need mmcv\'s compiled ops, but this environment '
                f'has {mmcv_flavour()}: use {FULL_STACK}.')
    if scope == 'mmpose':
        require_pose()
    mmpose = installed_version('mmpose')
    for kind in config_types(cfg):
        if (kind in MMPOSE_13_ONLY and mmpose is not None
                and _version_tuple(mmpose) < (1, 2)
                and not _in_mmengine_registries(kind)):
            raise MissingDependencyError(
                f'`{kind}` is not in mmpose {mmpose} (it came in a later '
                f'release; tested with mmpose 1.3.2): use {FULL_STACK}.')
        if kind in NEEDS_MMCV_OPS and not mmcv_has_ops():
            raise MissingDependencyError(
                f'`{kind}` needs mmcv\'s compiled ops, but this environment '
                f'has {mmcv_flavour()}: use {FULL_STACK}.')
    for check in CONFIG_CHECKS:
        check(cfg)


def _in_mmengine_registries(kind: str) -> bool:
    """Whether mmengine itself registers ``kind`` (mmpose 1.3 re-registers
    some of mmengine's names, e.g. ``ConstantLR``, which mmpose 1.1 configs
    reach through mmengine's root registry)."""
    import mmengine.hooks  # noqa: F401  (register mmengine's own modules)
    import mmengine.optim  # noqa: F401
    from mmengine import registry
    return any(
        kind in reg.module_dict for reg in vars(registry).values()
        if isinstance(reg, registry.Registry))


def _base_packages(path: str) -> Iterator[str]:
    """Packages named by ``pkg::`` bases in the config file at ``path``."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError:
        return
    for package in sorted(set(re.findall(r"""['"](\w+)::""", text))):
        yield package


def load_config(path: str, what: str = 'config') -> Config:
    """``Config.fromfile(path)``, then :func:`check_config`.

    Before loading, bases inherited from another package (``mmdet::...``)
    are checked to be installed; an ``ImportError`` raised by the config's
    ``custom_imports`` (e.g. ``selecsls_mm.pose`` without mmpose) keeps its
    one-sentence message.

    Args:
        path (str): Config file.
        what (str): What the file is for, in a syntax error's line (e.g.
            ``'Stage I config'``). Defaults to ``'config'``.

    Returns:
        Config: The loaded config.

    Raises:
        MissingDependencyError: When the installed stack cannot run it.
        ValueError: For a Python syntax error in the file or a file it
            inherits, in one line naming that file and the line.
    """
    for package in _base_packages(path):
        if not has_module(package):
            how = {
                'mmdet': f'use {FULL_STACK}',
                'mmpose': f'{POSE_INSTALL}, or use {FULL_STACK}'
            }.get(package, f'pip install {package}')
            raise MissingDependencyError(
                f'{path} inherits from {package}, which is not installed: '
                f'{how}.')
    try:
        cfg = Config.fromfile(path)
    except MissingDependencyError:
        raise
    except SyntaxError as err:  # mmengine's names no file nor line
        from .utils.config_syntax import syntax_error_line
        raise ValueError(syntax_error_line(path, err, what)) from None
    except ImportError as err:
        # mmengine wraps a failed custom import twice; the module's own
        # one-sentence error is further down the chain.
        cause = err
        while cause is not None:
            if isinstance(cause, MissingDependencyError):
                raise MissingDependencyError(str(cause)) from None
            cause = cause.__cause__ or cause.__context__
        raise
    check_config(cfg)
    return cfg

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""``selecsls_mm::`` config bases: this package's configs, as mmengine's
``mmpretrain::`` and ``mmpose::`` bases name theirs.

mmengine resolves ``pkg::path`` bases only for a fixed list of OpenMMLab
packages, through the distribution's install location (which an editable
install of a setuptools >= 64 project does not have), and tags what they
define with the scope ``pkg``. ``import selecsls_mm`` teaches it
``selecsls_mm::``: the path is looked up next to the imported package
(``selecsls_mm/.mim/configs``, written by ``setup.py``, or the source
checkout's ``configs/``), editable or not, and no scope is added, because
these configs register nothing of their own: they keep the scopes they were
written with (``default_scope``, their own ``mmpretrain::``/``mmpose::``
bases).
"""
import os.path as osp
from typing import Optional, Tuple

from mmengine.config import Config

PREFIX = 'selecsls_mm::'


def package_config_root() -> Optional[str]:
    """The folder ``selecsls_mm::`` paths are relative to: the installed
    package's ``.mim/configs`` or, in a source checkout without it, the
    checkout's ``configs``; None when neither exists."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (osp.join(package, '.mim', 'configs'),
                 osp.join(osp.dirname(package), 'configs')):
        if osp.isdir(root):
            return root
    return None


def package_config_path(name: str) -> str:
    """The file of ``selecsls_mm::REL``.

    Raises:
        FileNotFoundError: When there is no such config.
    """
    rel = name[len(PREFIX):]
    root = package_config_root()
    path = osp.join(root, rel) if root else rel
    if root is None or not osp.isfile(path):
        raise FileNotFoundError(
            f'{name}: there is no config {rel} in selecsls_mm\'s configs '
            f'({root or "not installed with the package"}); see '
            'configs/ in the repository for the names')
    return path


def package_config_name(path: str) -> Optional[str]:
    """``'selecsls_mm::REL'`` when ``path`` is one of this package's configs
    (under :func:`package_config_root`), else None."""
    root = package_config_root()
    if root is None:
        return None
    root, real = osp.realpath(root), osp.realpath(path)
    if osp.commonpath([root, real]) != root:
        return None
    return PREFIX + osp.relpath(real, root).replace(osp.sep, '/')


_registered = False


def register_package_configs() -> None:
    """Let mmengine's ``Config`` resolve ``selecsls_mm::`` bases (see the
    module docstring). Idempotent."""
    global _registered
    if _registered:
        return
    resolve = Config._get_cfg_path

    def get_cfg_path(cfg_path: str,
                     filename: str) -> Tuple[str, Optional[str]]:
        if cfg_path.startswith(PREFIX):
            return package_config_path(cfg_path), None
        return resolve(cfg_path, filename)

    Config._get_cfg_path = staticmethod(get_cfg_path)
    _registered = True

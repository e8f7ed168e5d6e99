# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""SelecSLS backbone (XNect: Mehta et al., SIGGRAPH 2020)."""
from typing import Dict, List, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.registry import MODELS
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils import fuse_conv_modules
from .selecsls_block import SelecSLSBlock

# Blocks as (in, skip, mid, out, is_first, stride); a block with is_first
# starts a stage. Every arch has three stages (strides 4, 8 and 16).
_BLOCKS_42 = [
    (32, 0, 64, 64, True, 2),
    (64, 64, 64, 128, False, 1),
    (128, 0, 144, 144, True, 2),
    (144, 144, 144, 288, False, 1),
    (288, 0, 304, 304, True, 2),
    (304, 304, 304, 480, False, 1),
]
_BLOCKS_60 = [
    (32, 0, 64, 64, True, 2),
    (64, 64, 64, 128, False, 1),
    (128, 0, 128, 128, True, 2),
    (128, 128, 128, 128, False, 1),
    (128, 128, 128, 288, False, 1),
    (288, 0, 288, 288, True, 2),
    *[(288, 288, 288, 288, False, 1)] * 2,
    (288, 288, 288, 416, False, 1),
]
_BLOCKS_84 = [
    (32, 0, 64, 64, True, 2),
    (64, 64, 64, 144, False, 1),
    (144, 0, 144, 144, True, 2),
    *[(144, 144, 144, 144, False, 1)] * 3,
    (144, 144, 144, 304, False, 1),
    (304, 0, 304, 304, True, 2),
    *[(304, 304, 304, 304, False, 1)] * 4,
    (304, 304, 304, 512, False, 1),
]
_BLOCKS_102 = [
    (32, 0, 64, 64, True, 2),
    *[(64, 64, 64, 64, False, 1)] * 2,
    (64, 64, 64, 128, False, 1),
    (128, 0, 128, 128, True, 2),
    *[(128, 128, 128, 128, False, 1)] * 3,
    (128, 128, 128, 288, False, 1),
    (288, 0, 288, 288, True, 2),
    *[(288, 288, 288, 288, False, 1)] * 5,
    (288, 288, 288, 480, False, 1),
]

# Head convs as (in, out, kernel, stride): two convs to stride 32 (level 4),
# two more to stride 64 (level 5). The "b" variants widen the third conv to
# 1280 and end with 1024 features. Written out rather than computed: a table
# built by a function at import time is out of reach of `make mutate`.
_HEAD_TAIL = [(1024, 1024, 3, 2), (1024, 1280, 1, 1)]
_HEAD_TAIL_B = [(1024, 1280, 3, 2), (1280, 1024, 1, 1)]
_HEAD_480 = [(480, 960, 3, 2), (960, 1024, 3, 1)]
_HEAD_416 = [(416, 756, 3, 2), (756, 1024, 3, 1)]
_HEAD_512 = [(512, 960, 3, 2), (960, 1024, 3, 1)]


@MODELS.register_module()
class SelecSLS(BaseBackbone):
    """SelecSLS backbone.

    A PyTorch implementation of `XNect: Real-time Multi-Person 3D Motion
    Capture with a Single RGB Camera <https://arxiv.org/abs/1907.00837>`_.

    The network has six levels that ``out_indices`` selects from:

    ====== =================================== ====== ====================
    level  layers                              stride channels (arch 60)
    ====== =================================== ====== ====================
    0      ``stem`` (3x3 conv)                 2      32
    1      ``stage1`` blocks                   4      128
    2      ``stage2`` blocks                   8      288
    3      ``stage3`` blocks                   16     416
    4      ``head1``: first two head convs     32     1024
    5      ``head2``: last two head convs      64     1280 (1024 for "b")
    ====== =================================== ====== ====================

    Only the levels up to ``max(out_indices)`` are built, so a pose model
    that stops at stride 16 carries no unused head parameters.

    Args:
        arch (str | dict): One of ``'42'``, ``'42b'``, ``'60'``, ``'60b'``,
            ``'84'``, ``'102'``, or a dict with keys ``blocks`` (list of
            ``(in, skip, mid, out, is_first, stride)``) and ``head`` (list of
            four ``(in, out, kernel, stride)``). Defaults to ``'60'``.
        in_channels (int): Channels of the input image. Defaults to 3.
        stem_channels (int): Output channels of the stem. Defaults to 32.
        out_indices (Sequence[int] | int): Levels to output (0-5, negative
            counts from the end). Defaults to ``(5, )``.
        frozen_stages (int): Levels ``0..frozen_stages`` are frozen: no
            gradient, BN in eval mode. -1 freezes nothing. Defaults to -1.
        conv_cfg (dict, optional): Config of the convolution layers.
        norm_cfg (dict, optional): Config of the norm layers, e.g.
            ``dict(type='SyncBN')``. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Config of the activation. Defaults to ReLU.
        norm_eval (bool): Keep every BN layer in eval mode during training
            (frozen statistics). Defaults to False.
        with_cp (bool | Sequence[bool]): Use gradient checkpointing in the
            blocks, trading compute for memory; one bool per stage (three)
            picks the stages, e.g. ``(True, True, False)``: the early, high
            resolution stages hold most of the activations. Defaults to
            False.
        deploy (bool): Build the inference-only form: every conv has a bias
            and no norm layer (``norm_cfg`` is ignored), as written by
            :meth:`switch_to_deploy` and ``tools/deployment/deploy.py``.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    arch_settings: Dict[str, dict] = {
        '42': dict(blocks=_BLOCKS_42, head=_HEAD_480 + _HEAD_TAIL),
        '42b': dict(blocks=_BLOCKS_42, head=_HEAD_480 + _HEAD_TAIL_B),
        '60': dict(blocks=_BLOCKS_60, head=_HEAD_416 + _HEAD_TAIL),
        '60b': dict(blocks=_BLOCKS_60, head=_HEAD_416 + _HEAD_TAIL_B),
        # The original release ends 84 with a 1x1 conv; timm uses a 3x3 one.
        '84': dict(blocks=_BLOCKS_84, head=_HEAD_512 + _HEAD_TAIL),
        '102': dict(blocks=_BLOCKS_102, head=_HEAD_480 + _HEAD_TAIL),
    }
    num_levels = 6
    min_input_size = 32

    def __init__(self,
                 arch: Union[str, dict] = '60',
                 in_channels: int = 3,
                 stem_channels: int = 32,
                 out_indices: Union[int, Sequence[int]] = (5, ),
                 frozen_stages: int = -1,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN', requires_grad=True),
                 act_cfg=dict(type='ReLU', inplace=True),
                 norm_eval: bool = False,
                 with_cp: Union[bool, Sequence[bool]] = False,
                 deploy: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg)
        # the name checkpoints are checked against (None for a custom dict)
        self.arch_name = arch if isinstance(arch, str) else None
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise KeyError(f'Unknown SelecSLS arch {arch!r}; valid archs '
                               f'are {sorted(self.arch_settings)}')
            arch = self.arch_settings[arch]
        elif not (isinstance(arch, dict) and {'blocks', 'head'} <= set(arch)):
            raise TypeError('arch must be one of '
                            f'{sorted(self.arch_settings)} or a dict with '
                            f'"blocks" and "head", got {arch!r}')
        self.arch = arch
        self.in_channels = in_channels
        self.out_indices = self._normalize_out_indices(out_indices)
        if not -1 <= frozen_stages < self.num_levels:
            raise ValueError(f'frozen_stages must be in [-1, '
                             f'{self.num_levels - 1}], got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        if isinstance(with_cp, bool):
            with_cp = (with_cp, ) * 3
        if len(with_cp) != 3:
            raise ValueError('with_cp must be a bool or one bool per stage '
                             f'(three), got {with_cp!r}')
        self.with_cp = tuple(bool(c) for c in with_cp)
        self.deploy = deploy
        if deploy:
            norm_cfg = None

        conv_kwargs = dict(
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        # Without a norm layer (the BN-fused deploy form) convs carry a bias.
        bias = norm_cfg is None
        num_built = max(self.out_indices) + 1
        self.stem = ConvModule(
            in_channels,
            stem_channels,
            3,
            stride=2,
            padding=1,
            bias=bias,
            **conv_kwargs)
        self.layer_names = ['stem']
        self.out_channels = [stem_channels]

        for i, blocks in enumerate(self._split_stages(arch['blocks'])):
            if len(self.layer_names) >= num_built:
                break
            stage = nn.ModuleList(
                SelecSLSBlock(*args, with_cp=self.with_cp[i], **conv_kwargs)
                for args in blocks)
            self._add_level(f'stage{i + 1}', stage, blocks[-1][3])

        head = arch['head']
        if len(head) != 4:
            raise ValueError(f'arch head needs four convs, got {len(head)}')
        for i, convs in enumerate((head[:2], head[2:])):
            if len(self.layer_names) >= num_built:
                break
            level = nn.Sequential(*[
                ConvModule(
                    cin,
                    cout,
                    k,
                    stride=s,
                    padding=k // 2,
                    bias=bias,
                    **conv_kwargs) for cin, cout, k, s in convs
            ])
            self._add_level(f'head{i + 1}', level, convs[-1][1])
        if deploy:
            fuse_conv_modules(self)  # same modules as switch_to_deploy()
        self._freeze_stages()

    def switch_to_deploy(self):
        """Fold every BN into its conv, in place, for inference.

        The model then computes the same function as the BN model in eval
        mode (BN running statistics are frozen into the conv weights) with
        fewer operations; its state dict matches a model built with
        ``deploy=True``. Calling it again does nothing.
        """
        if self.deploy:
            return
        fuse_conv_modules(self)
        self.deploy = True

    @staticmethod
    def _split_stages(blocks: Sequence[tuple]) -> List[List[tuple]]:
        stages: List[List[tuple]] = []
        for block in blocks:
            if block[4] or not stages:
                stages.append([])
            stages[-1].append(tuple(block))
        if len(stages) != 3:
            raise ValueError(f'arch blocks must form 3 stages (3 blocks with '
                             f'is_first=True), got {len(stages)}')
        return stages

    def _add_level(self, name: str, module: nn.Module, channels: int):
        self.add_module(name, module)
        self.layer_names.append(name)
        self.out_channels.append(channels)

    def _normalize_out_indices(self, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, (list, tuple)) or not out_indices:
            raise TypeError('out_indices must be an int or a non-empty '
                            f'sequence of ints, got {out_indices!r}')
        normalized = []
        for index in out_indices:
            if not -self.num_levels <= index < self.num_levels:
                raise ValueError(
                    f'out_indices {index} is out of range: SelecSLS has '
                    f'levels 0..{self.num_levels - 1} (0 stem, 1-3 stages, '
                    '4-5 head convs); negative indices count from the end')
            normalized.append(index % self.num_levels)
        return tuple(sorted(set(normalized)))

    def _check_input(self, x: Tensor):
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'SelecSLS expects input of shape (N, {self.in_channels}, H, '
                f'W), got {tuple(x.shape)}; set in_channels in the backbone '
                'config to match your images')
        if min(x.shape[2:]) < self.min_input_size:
            raise ValueError(
                f'input of {x.shape[2]}x{x.shape[3]} px is too small: '
                f'SelecSLS needs at least {self.min_input_size} px per side; '
                'resize the images in the data pipeline')

    @staticmethod
    def _forward_stage(stage: nn.ModuleList, x: Tensor) -> Tensor:
        skip = None
        for block in stage:
            x = block(x, skip)
            if block.is_first:
                skip = x
        return x

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Forward the backbone.

        Args:
            x (Tensor): Images of shape (N, in_channels, H, W), H, W >= 32.

        Returns:
            tuple[Tensor]: Feature maps of the levels in ``out_indices``.
        """
        # Python-side shape checks would be baked into a traced graph.
        if not (torch.jit.is_tracing() or torch.jit.is_scripting()):
            self._check_input(x)
        outs = []
        for level, name in enumerate(self.layer_names):
            layer = getattr(self, name)
            if isinstance(layer, nn.ModuleList):
                x = self._forward_stage(layer, x)
            else:
                x = layer(x)
            if level in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self):
        """Initialise from ``init_cfg``.

        mmengine would run every ``ConvModule``'s own ``init_weights``
        (Kaiming conv, unit norm) after the backbone's ``init_cfg`` and so
        overwrite it; the backbone's ``init_cfg`` governs its convs instead
        (a ``ConvModule`` applies its own init when it is built, so what a
        ``Pretrained`` checkpoint does not hold keeps that init). The default
        ``init_cfg`` is that same Kaiming/unit-norm init.
        """
        if self.init_cfg:
            for module in self.modules():
                if isinstance(module, ConvModule):
                    module.is_init = True
        super().init_weights()

    def _freeze_stages(self):
        for name in self.layer_names[:self.frozen_stages + 1]:
            layer = getattr(self, name)
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        """Set train/eval mode, keeping frozen levels and, with
        ``norm_eval``, every BN layer in eval mode. Returns the module."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

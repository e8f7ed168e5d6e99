# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The SelecSLS block: selective short- and long-range concatenative skips."""
import contextlib
from typing import Iterator, Optional, Sequence, Union

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


@contextlib.contextmanager
def _frozen_bn_statistics(module) -> Iterator[None]:
    """Stop BN running statistics from updating (momentum 0), so that the
    recomputation of a checkpointed forward does not count a batch twice."""
    norms = [
        m for m in module.modules() if isinstance(m, _BatchNorm) and m.training
    ]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


class SelecSLSBlock(BaseModule):
    """One SelecSLS block (XNect, Mehta et al. 2020, Fig. 3).

    Five convolutions form a chain ``conv1 (3x3, stride s) -> conv2 (1x1) ->
    conv3 (3x3) -> conv4 (1x1) -> conv5 (3x3)``. The outputs of conv1, conv3
    and conv5 (short-range skips) and, for every block but the first of a
    stage, the output of that stage's first block (the long-range skip) are
    concatenated and fused by ``conv6`` (1x1).

    Args:
        in_channels (int): Channels of the block input.
        skip_channels (int): Channels of the long-range skip input. Ignored
            (and usually 0) when ``is_first`` is True.
        mid_channels (int | Sequence[int]): Width ``k`` of the block; conv1..
            conv5 output ``(k, k, k/2, k, k/2)`` channels. A sequence of five
            ints gives each width explicitly (used by channel pruning).
        out_channels (int): Channels of the block output.
        is_first (bool): Whether this is the first block of its stage. Such a
            block takes no skip input; its output becomes the long-range skip
            of the rest of the stage.
        stride (int): Stride of conv1, 1 or 2. Defaults to 1.
        conv_cfg (dict, optional): Config of the convolution layers.
        norm_cfg (dict, optional): Config of the norm layers; None builds
            convolutions with bias (the BN-fused deploy form).
            Defaults to ``dict(type='BN')``.
        act_cfg (dict): Config of the activation. Defaults to ReLU.
        with_cp (bool): Use gradient checkpointing: activations inside the
            block are recomputed in backward instead of being stored.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 skip_channels: int,
                 mid_channels: Union[int, Sequence[int]],
                 out_channels: int,
                 is_first: bool,
                 stride: int = 1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU', inplace=True),
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, got {stride}')
        if isinstance(mid_channels, int):
            k = mid_channels
            widths = (k, k, k // 2, k, k // 2)
        else:
            widths = tuple(int(c) for c in mid_channels)
            if len(widths) != 5:
                raise ValueError('mid_channels must be an int or five ints, '
                                 f'got {mid_channels}')
        self.is_first = is_first
        self.with_cp = with_cp
        self.in_channels = in_channels
        self.skip_channels = 0 if is_first else skip_channels
        self.out_channels = out_channels

        def conv(cin, cout, kernel, s=1):
            return ConvModule(
                cin,
                cout,
                kernel,
                stride=s,
                padding=kernel // 2,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                bias=norm_cfg is None)

        c1, c2, c3, c4, c5 = widths
        self.conv1 = conv(in_channels, c1, 3, stride)
        self.conv2 = conv(c1, c2, 1)
        self.conv3 = conv(c2, c3, 3)
        self.conv4 = conv(c3, c4, 1)
        self.conv5 = conv(c4, c5, 3)
        self.conv6 = conv(c1 + c3 + c5 + self.skip_channels, out_channels, 1)

    def _forward(self, x: Tensor, skip: Optional[Tensor]) -> Tensor:
        d1 = self.conv1(x)
        d2 = self.conv3(self.conv2(d1))
        d3 = self.conv5(self.conv4(d2))
        parts = [d1, d2, d3] if self.is_first else [d1, d2, d3, skip]
        return self.conv6(torch.cat(parts, dim=1))

    def forward(self, x: Tensor, skip: Optional[Tensor] = None) -> Tensor:
        """Forward one block.

        Args:
            x (Tensor): Input of shape (N, in_channels, H, W).
            skip (Tensor, optional): The stage's long-range skip, required
                unless ``is_first``; shape (N, skip_channels, H', W') with
                H', W' the output size of this block.

        Returns:
            Tensor: Output of shape (N, out_channels, H', W').
        """
        if not self.is_first and skip is None:
            raise ValueError('a non-first SelecSLS block needs the skip input')
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(
                self._forward,
                x,
                skip,
                use_reentrant=False,
                context_fn=lambda:
                (contextlib.nullcontext(), _frozen_bn_statistics(self)))
        return self._forward(x, skip)

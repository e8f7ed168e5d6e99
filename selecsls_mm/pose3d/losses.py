# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Loss on sparsely supervised maps."""
import torch.nn as nn
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class MaskedMapLoss(nn.Module):
    """Mean error over the supervised entries of a map only.

    XNect's 3D maps are supervised at a few pixels per joint (weight 1) and
    free elsewhere (weight 0), so the loss is the weighted error summed over
    the batch divided by the number of supervised entries, not by the map
    size; a batch with none (e.g. only COCO images) gives 0.

    Args:
        mode (str): ``'l2'`` (squared error), ``'l1'`` or ``'smooth_l1'``
            (Huber with ``beta``). Defaults to ``'l2'``.
        beta (float): Huber threshold, map units. Defaults to 0.1.
        loss_weight (float): Defaults to 1.
    """

    def __init__(self,
                 mode: str = 'l2',
                 beta: float = 0.1,
                 loss_weight: float = 1.) -> None:
        super().__init__()
        if mode not in ('l2', 'l1', 'smooth_l1'):
            raise ValueError(f"MaskedMapLoss mode must be 'l2', 'l1' or "
                             f"'smooth_l1', got {mode!r}")
        self.mode = mode
        self.beta = beta
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, weights: Tensor) -> Tensor:
        """Args:
            pred, target (Tensor): (B, C, H, W).
            weights (Tensor): (B, C, H, W), 0 where unsupervised.

        Returns:
            Tensor: The scalar loss.
        """
        if self.mode == 'l2':
            err = (pred - target)**2
        elif self.mode == 'l1':
            err = (pred - target).abs()
        else:
            err = F.smooth_l1_loss(
                pred, target, reduction='none', beta=self.beta)
        total = (err * weights).sum()
        return self.loss_weight * total / weights.sum().clamp(min=1.)

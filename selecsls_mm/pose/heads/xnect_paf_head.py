# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""XNect Stage I 2D branch: keypoint heatmaps and part affinity fields."""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import (ConvModule, build_activation_layer, build_norm_layer,
                      build_upsample_layer)
from mmengine.structures import InstanceData, PixelData
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, Features, InstanceList,
                                 OptConfigType, OptSampleList, Predictions)
from torch import Tensor


@MODELS.register_module()
class XNectPAFHead(BaseHead):
    """Bottom-up head predicting keypoint heatmaps and part affinity fields
    (PAFs), the 2D branch of Stage I in `XNect
    <https://arxiv.org/abs/1907.00837>`_.

    On the last backbone feature map (stride 16 for SelecSLS with
    ``out_indices=(3,)``) it applies a 1x1 conv, a stride-2 4x4 transposed
    conv, two 3x3 convs and a final conv, so the outputs are at stride 8:
    ``K`` heatmaps followed by ``2L`` PAF channels, where channel ``2l`` is
    the x and ``2l + 1`` the y component of limb ``l``.

    Args:
        in_channels (int): Channels of the input feature map (416 for
            SelecSLS60 at stride 16).
        num_keypoints (int): Number of keypoints ``K``.
        num_limbs (int, optional): Number of limbs ``L``. Defaults to the
            number of limbs in the decoder's skeleton; one of the two must
            be given.
        reduce_channels (int): Channels of the first 1x1 conv.
            Defaults to 256.
        deconv_channels (int): Channels of the stride-2 transposed conv.
            Defaults to 192.
        conv_channels (Sequence[int]): Channels of the 3x3 convs after the
            transposed conv. Defaults to ``(128, 96)``.
        final_kernel_size (int): Kernel size of the output conv.
            Defaults to 1.
        norm_cfg (dict): Normalisation after every hidden conv.
            Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation after every hidden conv.
            Defaults to ``dict(type='ReLU')``.
        heatmap_loss (dict): Loss on the heatmaps. Defaults to
            ``dict(type='KeypointMSELoss')``.
        paf_loss (dict): Loss on the PAFs. Defaults to
            ``dict(type='KeypointMSELoss')``.
        decoder (dict, optional): The ``PartAffinityField`` codec used to
            turn outputs into people in :meth:`predict`. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to mmpose's heatmap-head init (normal, std 0.001).
    """

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 num_limbs: Optional[int] = None,
                 reduce_channels: int = 256,
                 deconv_channels: int = 192,
                 conv_channels: Sequence[int] = (128, 96),
                 final_kernel_size: int = 1,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 heatmap_loss: ConfigType = dict(type='KeypointMSELoss'),
                 paf_loss: ConfigType = dict(type='KeypointMSELoss'),
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        if init_cfg is None:
            init_cfg = [
                dict(
                    type='Normal',
                    layer=['Conv2d', 'ConvTranspose2d'],
                    std=0.001),
                dict(type='Constant', layer='BatchNorm2d', val=1)
            ]
        super().__init__(init_cfg)

        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder else None
        decoder_limbs = self._decoder_skeleton()
        if num_limbs is None:
            if decoder_limbs is None:
                raise ValueError(
                    'XNectPAFHead needs the number of limbs: pass '
                    '`num_limbs` or a `decoder` whose skeleton defines them.')
            num_limbs = len(decoder_limbs)
        elif decoder_limbs is not None and len(decoder_limbs) != num_limbs:
            raise ValueError(
                f'XNectPAFHead has num_limbs={num_limbs} but its decoder '
                f'skeleton has {len(decoder_limbs)} limbs; drop `num_limbs` '
                'to take it from the decoder.')
        if num_limbs < 1:
            raise ValueError(
                'XNectPAFHead needs at least one limb to predict part '
                'affinity fields, got a skeleton with none: check the '
                "dataset metainfo's `skeleton_info` (or the codec's "
                '`skeleton`).')
        if num_keypoints < 1:
            raise ValueError(
                f'num_keypoints must be positive, got {num_keypoints}.')
        decoder_k = getattr(self.decoder, 'num_keypoints', None)
        if decoder_k is not None and decoder_k != num_keypoints:
            raise ValueError(
                f'XNectPAFHead has num_keypoints={num_keypoints} but its '
                f'decoder has {self.decoder.num_keypoints}.')

        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.num_limbs = num_limbs
        self.heatmap_loss = MODELS.build(heatmap_loss)
        self.paf_loss = MODELS.build(paf_loss)

        layers = [
            ConvModule(
                in_channels,
                reduce_channels,
                1,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg),
            build_upsample_layer(
                dict(type='deconv'),
                reduce_channels,
                deconv_channels,
                kernel_size=4,
                stride=2,
                padding=1,
                bias=False),
            build_norm_layer(norm_cfg, deconv_channels)[1],
            build_activation_layer(act_cfg),
        ]
        channels = deconv_channels
        for out_channels in conv_channels:
            layers.append(
                ConvModule(
                    channels,
                    out_channels,
                    3,
                    padding=1,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
            channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(
            channels,
            num_keypoints + 2 * num_limbs,
            final_kernel_size,
            padding=final_kernel_size // 2)

        self._limb_flip = None  # (permutation, sign), built on first flip

    def _decoder_skeleton(self) -> Optional[List[Tuple[int, int]]]:
        """The limbs of the decoder as (start, end) pairs, if any."""
        if self.decoder is None:
            return None
        skeleton = getattr(self.decoder, 'skeleton', None)
        if skeleton is None:
            return None
        return [(int(a), int(b)) for a, b in skeleton]

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """Forward the last feature map.

        Args:
            feats (Tuple[Tensor]): Multi-level features; the last is used.

        Returns:
            tuple:
            - heatmaps (Tensor): Shape (B, K, H, W).
            - pafs (Tensor): Shape (B, 2L, H, W).
        """
        x = self.final_layer(self.layers(feats[-1]))
        return x[:, :self.num_keypoints], x[:, self.num_keypoints:]

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """MSE losses on heatmaps and PAFs, masked like mmpose's bottom-up
        heads: pixels of crowd regions and of people without keypoint
        labels (``heatmap_mask`` from ``BottomupGetHeatmapMask``) are
        ignored.

        Args:
            feats (Tuple[Tensor]): Multi-level features.
            batch_data_samples (List[:obj:`PoseDataSample`]): Data samples
                whose ``gt_fields`` hold ``heatmaps`` and ``pafs`` (packed by
                ``PackPAFInputs``) and optionally ``heatmap_mask``,
                ``heatmap_weights`` and ``paf_weights``.
            train_cfg (dict): Unused. Defaults to {}.

        Returns:
            dict: ``loss_kpt`` and ``loss_paf``.
        """
        pred_heatmaps, pred_pafs = self.forward(feats)
        return self.losses_2d(pred_heatmaps, pred_pafs, batch_data_samples)

    def losses_2d(self, pred_heatmaps: Tensor, pred_pafs: Tensor,
                  batch_data_samples: OptSampleList) -> dict:
        """:meth:`loss` on given predictions (for heads that also predict
        other maps from the same features)."""
        fields = [d.gt_fields for d in batch_data_samples]
        for key in ('heatmaps', 'pafs'):
            if key not in fields[0]:
                raise KeyError(
                    f'XNectPAFHead.loss needs `{key}` in gt_fields: encode '
                    "targets with `dict(type='GenerateTarget', encoder="
                    "dict(type='PartAffinityField', ...))` and pack them "
                    "with `dict(type='PackPAFInputs')` (mmpose's "
                    'PackPoseInputs drops `pafs`).')
        gt_heatmaps = torch.stack([f.heatmaps for f in fields])
        gt_pafs = torch.stack([f.pafs for f in fields])
        for name, pred, gt in (('heatmaps', pred_heatmaps, gt_heatmaps),
                               ('pafs', pred_pafs, gt_pafs)):
            if pred.shape != gt.shape:
                raise ValueError(
                    f'Predicted {name} {tuple(pred.shape)} and targets '
                    f'{tuple(gt.shape)} differ: the codec must use '
                    '`heatmap_size` = `input_size` / 8 (the head outputs at '
                    'stride 8 of a stride-16 feature map) and the same '
                    'keypoints and skeleton as the head.')

        # (B, 1, H, W): PixelData keeps a 2D mask as (1, H, W)
        mask = self._stack_optional(fields, 'heatmap_mask')
        heatmap_weights = self._stack_optional(fields, 'heatmap_weights')
        paf_weights = self._stack_optional(fields, 'paf_weights')

        loss_kpt = self.heatmap_loss(pred_heatmaps, gt_heatmaps,
                                     heatmap_weights, mask)
        loss_paf = self.paf_loss(pred_pafs, gt_pafs, paf_weights, mask)
        return dict(loss_kpt=loss_kpt, loss_paf=loss_paf)

    @staticmethod
    def _stack_optional(fields, key: str) -> Optional[Tensor]:
        if key not in fields[0]:
            return None
        return torch.stack([f.get(key) for f in fields]).float()

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict the people in each image.

        Args:
            feats (Tuple[Tensor] | List[Tuple[Tensor]]): Multi-level
                features, or ``[orig, flipped]`` features when
                ``test_cfg['flip_test']`` is set.
            batch_data_samples (List[:obj:`PoseDataSample`]): Data samples
                with ``flip_indices`` in their metainfo for flip test.
            test_cfg (dict): ``flip_test`` (bool), ``shift_heatmap`` (bool,
                shift flipped maps one pixel right to undo the half-stride
                offset, as mmpose does), ``output_heatmaps`` (bool).
                Defaults to {}.

        Returns:
            list[InstanceData] | tuple: Per image, ``keypoints`` (M, K, 2)
            in input-image coordinates, ``keypoint_scores`` (M, K) and
            ``bbox_scores`` (M,) (the per-person score of the decoder), plus
            ``bboxes`` (M, 4) around each person's keypoints. With
            ``output_heatmaps`` also a list of ``PixelData`` with
            ``heatmaps`` and ``pafs``.
        """
        if test_cfg.get('multiscale_test', False):
            raise NotImplementedError(
                'XNectPAFHead does not support multiscale_test; set '
                'model.test_cfg.multiscale_test=False.')

        if test_cfg.get('flip_test', False):
            if not (isinstance(feats, list) and len(feats) == 2):
                raise ValueError('flip_test expects features as '
                                 '[orig, flipped] from BottomupPoseEstimator')
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            shift = test_cfg.get('shift_heatmap', False)
            heatmaps, pafs = self.forward(feats[0])
            heatmaps_flip, pafs_flip = self.forward(feats[1])
            heatmaps_flip = flip_heatmaps(
                heatmaps_flip,
                flip_mode='heatmap',
                flip_indices=flip_indices,
                shift_heatmap=shift)
            pafs_flip = self.flip_pafs(pafs_flip, flip_indices, shift)
            heatmaps = (heatmaps + heatmaps_flip) * 0.5
            pafs = (pafs + pafs_flip) * 0.5
        else:
            heatmaps, pafs = self.forward(feats)

        preds = self.decode((heatmaps, pafs))
        if test_cfg.get('output_heatmaps', False):
            fields = [
                PixelData(heatmaps=h, pafs=p)
                for h, p in zip(heatmaps.detach(), pafs.detach())
            ]
            return preds, fields
        return preds

    def decode(self, batch_outputs: Tuple[Tensor, Tensor]) -> InstanceList:
        """Group the heatmaps and PAFs of each image into people.

        Args:
            batch_outputs (tuple): ``(heatmaps (B, K, H, W),
                pafs (B, 2L, H, W))``.

        Returns:
            list[InstanceData]: See :meth:`predict`.
        """
        if self.decoder is None:
            raise RuntimeError(
                'XNectPAFHead has no decoder: set `decoder` (the '
                'PartAffinityField codec) in the head config to predict.')
        heatmaps, pafs = batch_outputs
        self._check_outputs(heatmaps, pafs)
        preds = []
        for hm, paf in zip(to_numpy(heatmaps), to_numpy(pafs)):
            keypoints, scores, instance_scores = self._decode_one(hm, paf)
            preds.append(self._pack(keypoints, scores, instance_scores))
        return preds

    def _check_outputs(self, heatmaps: Tensor, pafs: Tensor) -> None:
        K, L = self.num_keypoints, self.num_limbs
        if heatmaps.ndim != 4 or pafs.ndim != 4:
            raise ValueError(
                'heatmaps and pafs must be (B, C, H, W), got '
                f'{tuple(heatmaps.shape)} and {tuple(pafs.shape)}')
        if heatmaps.shape[0] != pafs.shape[0] or \
                heatmaps.shape[2:] != pafs.shape[2:]:
            raise ValueError(
                f'heatmaps {tuple(heatmaps.shape)} and pafs '
                f'{tuple(pafs.shape)} must share batch size and spatial size '
                '(both are the stride-8 outputs of one image).')
        if heatmaps.shape[1] != K or pafs.shape[1] != 2 * L:
            raise ValueError(
                f'Expected {K} heatmap and {2 * L} PAF channels '
                f'({L} limbs), got {heatmaps.shape[1]} and {pafs.shape[1]}.')

    def _decode_one(self, heatmaps: np.ndarray, pafs: np.ndarray):
        """Decode one image; returns keypoints, scores and person scores."""
        return self.decoder.decode(heatmaps, pafs, return_instance_scores=True)

    def _pack(self, keypoints: np.ndarray, scores: np.ndarray,
              instance_scores: np.ndarray) -> InstanceData:
        K = self.num_keypoints
        keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, K, 2)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1, K)
        # boxes around the found keypoints, for the visualiser and metrics
        bboxes = np.zeros((len(keypoints), 4), dtype=np.float32)
        for i, (kpts, s) in enumerate(zip(keypoints, scores)):
            found = kpts[s > 0] if (s > 0).any() else kpts
            bboxes[i, :2] = found.min(axis=0)
            bboxes[i, 2:] = found.max(axis=0)
        return InstanceData(
            keypoints=keypoints,
            keypoint_scores=scores,
            bbox_scores=instance_scores.reshape(-1).astype(np.float32),
            bboxes=bboxes)

    def flip_pafs(self,
                  pafs: Tensor,
                  flip_indices: Sequence[int],
                  shift_heatmap: bool = False) -> Tensor:
        """Turn PAFs predicted on a horizontally flipped image into PAFs of
        the original image.

        Limb ``(a, b)`` of the original image is limb
        ``(flip[a], flip[b])`` in the flipped one; its field is mirrored,
        the x component negated, and the whole vector negated if the
        skeleton stores that limb as ``(flip[b], flip[a])``.

        Args:
            pafs (Tensor): PAFs of the flipped image, shape (B, 2L, H, W).
            flip_indices (Sequence[int]): Index of each keypoint's mirror.
            shift_heatmap (bool): Shift the result one pixel right, as
                ``flip_heatmaps`` does. Defaults to False.

        Returns:
            Tensor: PAFs aligned with the original image, shape (B, 2L, H, W).
        """
        B, C, H, W = pafs.shape
        perm, sign = self._limb_flip_permutation(flip_indices)
        sign = pafs.new_tensor(sign).view(1, -1, 1, 1, 1)
        axis = pafs.new_tensor([-1., 1.]).view(1, 1, 2, 1, 1)
        pafs = pafs.flip(-1).view(B, C // 2, 2, H, W)[:, perm]
        pafs = (pafs * sign * axis).reshape(B, C, H, W)
        if shift_heatmap:
            pafs[..., 1:] = pafs[..., :-1].clone()
        return pafs

    def _limb_flip_permutation(self, flip_indices: Sequence[int]):
        key = tuple(int(i) for i in flip_indices)
        if self._limb_flip is not None and self._limb_flip[0] == key:
            return self._limb_flip[1:]
        skeleton = self._decoder_skeleton()
        if skeleton is None:
            raise RuntimeError('flip_test needs the skeleton of the decoder '
                               'to swap left and right limbs.')
        if len(key) != self.num_keypoints:
            raise ValueError(f'flip_indices has {len(key)} entries, expected '
                             f'{self.num_keypoints}.')
        index = {limb: i for i, limb in enumerate(skeleton)}
        perm, sign = [], []
        for a, b in skeleton:
            fa, fb = key[a], key[b]
            if (fa, fb) in index:
                perm.append(index[(fa, fb)])
                sign.append(1.)
            elif (fb, fa) in index:
                perm.append(index[(fb, fa)])
                sign.append(-1.)
            else:
                raise ValueError(
                    f'Limb ({a}, {b}) has no mirror ({fa}, {fb}) in the '
                    'skeleton, so flipped PAFs cannot be aligned; set '
                    'model.test_cfg.flip_test=False or use a skeleton that '
                    'is symmetric under flip_indices.')
        self._limb_flip = (key, perm, sign)
        return perm, sign

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""XNect Stage I with its 3D branch: heatmaps, PAFs and 3D pose maps."""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import (ConvModule, build_activation_layer, build_norm_layer,
                      build_upsample_layer)
from mmengine.structures import PixelData
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, Features, InstanceList,
                                 OptConfigType, OptSampleList, Predictions)
from torch import Tensor

from selecsls_mm.pose.heads import XNectPAFHead


@MODELS.register_module()
class XNect3DHead(XNectPAFHead):
    """XNect's Stage I head: the 2D branch of :class:`XNectPAFHead`
    (keypoint heatmaps and part affinity fields) and, beside it on the same
    stride-16 features, the 3D branch predicting root-relative 3D pose maps
    at stride 8 (`XNect <https://arxiv.org/abs/1907.00837>`_, Fig. 3).

    3D branch: 1x1 conv (``reduce_channels_3d``), stride-2 4x4 transposed
    conv (``deconv_channels_3d``), 3x3 conv (``conv_channels_3d``), then
    concatenated with the output of the 2D branch's ``fuse_from``-th 3x3 conv
    (128 channels by default), a 1x1 and a 3x3 conv (``fuse_channels_3d``)
    and a 3x3 conv to ``3 * num_joints_3d`` channels (x, y, z per joint).

    Args:
        in_channels (int): Channels of the input feature map.
        num_keypoints (int): 2D keypoints K (COCO's 17).
        num_joints_3d (int, optional): 3D joints J. Defaults to the
            decoder's joint set; one of the two must be given.
        reduce_channels_3d (int): Defaults to 256.
        deconv_channels_3d (int): Defaults to 192.
        conv_channels_3d (int): Defaults to 160.
        fuse_channels_3d (Sequence[int]): Channels of the 1x1 conv and the
            3x3 convs after the concatenation. Defaults to ``(160, 128)``.
        fuse_from (int): Which of the 2D branch's 3x3 convs (index into its
            ``conv_channels``) feeds the 3D branch. Defaults to 0.
        final_kernel_size_3d (int): Kernel of the output conv. Defaults to 3.
        loss_3d (dict): Loss on the 3D maps, weighted by
            ``maps_3d_weights``. Defaults to
            ``dict(type='MaskedMapLoss', loss_weight=1.)``.
        decoder (dict, optional): A ``PartAffinityField3D`` codec, used by
            :meth:`predict`.
        **kwargs: The 2D branch's arguments, see :class:`XNectPAFHead`.
    """

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 num_joints_3d: Optional[int] = None,
                 reduce_channels_3d: int = 256,
                 deconv_channels_3d: int = 192,
                 conv_channels_3d: int = 160,
                 fuse_channels_3d: Sequence[int] = (160, 128),
                 fuse_from: int = 0,
                 final_kernel_size_3d: int = 3,
                 loss_3d: ConfigType = dict(
                     type='MaskedMapLoss', loss_weight=1.),
                 decoder: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(in_channels, num_keypoints, decoder=decoder, **kwargs)
        self.num_joints_3d = self._check_num_joints_3d(num_joints_3d)
        conv_channels = kwargs.get('conv_channels', (128, 96))
        if not 0 <= fuse_from < len(conv_channels):
            raise ValueError(f'fuse_from={fuse_from} but the 2D branch has '
                             f'{len(conv_channels)} 3x3 convs.')
        # 2D layers: 1x1 conv, deconv, norm, act, then the 3x3 convs
        self._fuse_layer = 4 + fuse_from
        norm_cfg = kwargs.get('norm_cfg', dict(type='BN'))
        act_cfg = kwargs.get('act_cfg', dict(type='ReLU'))
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.branch_3d = nn.Sequential(
            ConvModule(in_channels, reduce_channels_3d, 1, **conv),
            build_upsample_layer(
                dict(type='deconv'),
                reduce_channels_3d,
                deconv_channels_3d,
                kernel_size=4,
                stride=2,
                padding=1,
                bias=False),
            build_norm_layer(norm_cfg, deconv_channels_3d)[1],
            build_activation_layer(act_cfg),
            ConvModule(
                deconv_channels_3d, conv_channels_3d, 3, padding=1, **conv))
        fuse, channels = [], conv_channels_3d + conv_channels[fuse_from]
        for i, out_channels in enumerate(fuse_channels_3d):
            k = 1 if i == 0 else 3
            fuse.append(
                ConvModule(channels, out_channels, k, padding=k // 2, **conv))
            channels = out_channels
        self.fuse_3d = nn.Sequential(*fuse)
        self.final_layer_3d = nn.Conv2d(
            channels,
            3 * self.num_joints_3d,
            final_kernel_size_3d,
            padding=final_kernel_size_3d // 2)
        self.loss_3d = MODELS.build(loss_3d)

    def _check_num_joints_3d(self, num_joints_3d: Optional[int]) -> int:
        codec_j = getattr(self.decoder, 'num_joints_3d', None)
        if self.decoder is not None and codec_j is None:
            raise ValueError('XNect3DHead needs a decoder that reads 3D maps: '
                             "decoder=dict(type='PartAffinityField3D', ...).")
        if num_joints_3d is None:
            if codec_j is None:
                raise ValueError('XNect3DHead needs num_joints_3d or a '
                                 'PartAffinityField3D decoder.')
            return codec_j
        if codec_j is not None:
            self.decoder.check_joints_3d(num_joints_3d,
                                         'XNect3DHead (num_joints_3d)')
        return int(num_joints_3d)

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Forward the last feature map.

        Returns:
            tuple: heatmaps (B, K, H, W), pafs (B, 2L, H, W) and maps_3d
            (B, 3J, H, W).
        """
        x = feats[-1]
        y = x
        for i, layer in enumerate(self.layers):
            y = layer(y)
            if i == self._fuse_layer:
                fused = y
        out_2d = self.final_layer(y)
        z = self.branch_3d(x)
        z = self.fuse_3d(torch.cat([z, fused], dim=1))
        maps_3d = self.final_layer_3d(z)
        K = self.num_keypoints
        return out_2d[:, :K], out_2d[:, K:], maps_3d

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """The 2D losses of :class:`XNectPAFHead` and ``loss_3d`` on the 3D
        maps, counted only where ``maps_3d_weights`` is 1 (images without 3D
        labels add nothing to it).

        Returns:
            dict: ``loss_kpt``, ``loss_paf`` and ``loss_3d``.
        """
        heatmaps, pafs, maps_3d = self.forward(feats)
        losses = self.losses_2d(heatmaps, pafs, batch_data_samples)
        fields = [d.gt_fields for d in batch_data_samples]
        if 'maps_3d' not in fields[0]:
            raise KeyError(
                'XNect3DHead.loss needs `maps_3d` in gt_fields: encode '
                "targets with the PartAffinityField3D codec and pack them "
                "with dict(type='PackXNect3DInputs').")
        gt = torch.stack([f.maps_3d for f in fields])
        weights = torch.stack([f.maps_3d_weights for f in fields]).float()
        if gt.shape != maps_3d.shape:
            raise ValueError(
                f'Predicted 3D maps {tuple(maps_3d.shape)} and targets '
                f'{tuple(gt.shape)} differ: codec and head need the same '
                'joint_set and map size.')
        losses['loss_3d'] = self.loss_3d(maps_3d, gt, weights)
        return losses

    def flip_maps_3d(self,
                     maps_3d: Tensor,
                     flip_indices_3d: Sequence[int],
                     shift_heatmap: bool = False) -> Tensor:
        """3D maps predicted on a mirrored image, turned into maps of the
        original: mirrored, left/right joints swapped and x negated (camera
        x points right).

        Args:
            maps_3d (Tensor): (B, 3J, H, W) of the flipped image.
            flip_indices_3d (Sequence[int]): Each 3D joint's mirror.
            shift_heatmap (bool): Shift one pixel right as the heatmaps.

        Returns:
            Tensor: (B, 3J, H, W).
        """
        B, C, H, W = maps_3d.shape
        maps = maps_3d.flip(-1).view(B, C // 3, 3, H, W)
        maps = maps[:, list(flip_indices_3d)]
        sign = maps.new_tensor([-1., 1., 1.]).view(1, 1, 3, 1, 1)
        maps = (maps * sign).reshape(B, C, H, W)
        if shift_heatmap:
            maps[..., 1:] = maps[..., :-1].clone()
        return maps

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict the people of each image in 2D and 3D.

        Args:
            feats: Features, or ``[orig, flipped]`` for ``flip_test``.
            batch_data_samples (list): Data samples (``flip_indices``).
            test_cfg (dict): ``flip_test``, ``shift_heatmap``,
                ``output_heatmaps`` as :class:`XNectPAFHead`,
                ``output_samples_3d`` (also pack the map values read at
                each keypoint, Stage II's input) and
                ``readout_at_gt_keypoints`` (a diagnostic: skip the 2D
                grouping and read the 3D maps at each sample's labelled
                ground-truth keypoints, so that a metric scores the 3D
                branch alone). Defaults to {}.

        Returns:
            list[InstanceData]: Per image, :class:`XNectPAFHead`'s fields
            plus ``keypoints_3d`` (M, J, 3) root-relative mm and
            ``keypoints_3d_read`` (M, J) bool (and ``samples_3d`` (M, K, 3J)
            if asked).
        """
        if test_cfg.get('multiscale_test', False):
            raise NotImplementedError(
                'XNect3DHead does not support multiscale_test; set '
                'model.test_cfg.multiscale_test=False.')
        if test_cfg.get('flip_test', False):
            if not (isinstance(feats, list) and len(feats) == 2):
                raise ValueError('flip_test expects features as '
                                 '[orig, flipped] from the estimator')
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            shift = test_cfg.get('shift_heatmap', False)
            outputs = self.forward(feats[0])
            heatmaps, pafs, maps_3d = self.forward(feats[1])
            flipped = (flip_heatmaps(
                heatmaps,
                flip_mode='heatmap',
                flip_indices=flip_indices,
                shift_heatmap=shift), self.flip_pafs(pafs, flip_indices,
                                                     shift),
                       self.flip_maps_3d(maps_3d,
                                         self.decoder.joint_set.flip_indices,
                                         shift))
            outputs = tuple((a + b) * 0.5 for a, b in zip(outputs, flipped))
        else:
            outputs = self.forward(feats)
        samples = test_cfg.get('output_samples_3d', False)
        if test_cfg.get('readout_at_gt_keypoints', False):
            preds = self.read_out_at_gt(outputs[2], batch_data_samples,
                                        samples)
        else:
            preds = self.decode(outputs, samples=samples)
        if test_cfg.get('output_heatmaps', False):
            fields = [
                PixelData(heatmaps=h, pafs=p, maps_3d=m)
                for h, p, m in zip(*(o.detach() for o in outputs))
            ]
            return preds, fields
        return preds

    def read_out_at_gt(self,
                       maps_3d: Tensor,
                       batch_data_samples,
                       samples: bool = False) -> InstanceList:
        """Read the 3D maps at the ground-truth 2D keypoints (labelled ones
        only), one predicted person per ground-truth person.

        Args:
            maps_3d (Tensor): (B, 3J, H, W).
            batch_data_samples (list): With ``gt_instances.keypoints``,
                ``keypoints_visible`` (original image pixels) and the
                ``input_center``, ``input_scale`` and ``input_size`` meta.
            samples (bool): Also pack ``samples_3d``.

        Returns:
            list[InstanceData]: See :meth:`predict`.
        """
        preds = []
        for m3d, sample in zip(to_numpy(maps_3d), batch_data_samples):
            gt = sample.gt_instances
            meta = sample.metainfo
            if 'keypoints' not in gt:
                raise KeyError('readout_at_gt_keypoints needs '
                               'gt_instances.keypoints in the test data')
            scale = np.asarray(meta['input_scale'], np.float32)
            # original image -> network input, the inverse of the mapping
            # in BottomupPoseEstimator.add_pred_to_datasample
            keypoints = (np.asarray(gt.keypoints) - meta['input_center'] +
                         0.5 * scale) / scale * meta['input_size']
            scores = (np.asarray(gt.keypoints_visible)
                      > 0).astype(np.float32).reshape(keypoints.shape[:2])
            joints, read, values = self.decoder.read_out(
                m3d, keypoints, scores)
            preds.append(
                self._pack_3d(keypoints, scores, scores.mean(1), joints, read,
                              values if samples else None))
        return preds

    def _pack_3d(self,
                 keypoints,
                 scores,
                 instance_scores,
                 joints,
                 read,
                 values=None):
        """:meth:`_pack` plus the 3D fields."""
        pred = self._pack(keypoints, scores, instance_scores)
        J = self.num_joints_3d
        pred.keypoints_3d = np.asarray(joints, np.float32).reshape(-1, J, 3)
        pred.keypoints_3d_read = np.asarray(read, bool).reshape(-1, J)
        if values is not None:
            pred.samples_3d = np.asarray(values, np.float32).reshape(
                len(pred.keypoints_3d), self.num_keypoints, 3 * J)
        return pred

    def decode(self,
               batch_outputs: Tuple[Tensor, Tensor, Tensor],
               samples: bool = False) -> InstanceList:
        """Group and read out each image's people.

        Args:
            batch_outputs (tuple): heatmaps (B, K, H, W), pafs (B, 2L, H, W)
                and maps_3d (B, 3J, H, W).
            samples (bool): Also pack ``samples_3d``.

        Returns:
            list[InstanceData]: See :meth:`predict`.
        """
        if self.decoder is None:
            raise RuntimeError(
                'XNect3DHead has no decoder: set `decoder` (the '
                'PartAffinityField3D codec) in the head config to predict.')
        heatmaps, pafs, maps_3d = batch_outputs
        self._check_outputs(heatmaps, pafs)
        preds = []
        for hm, paf, m3d in zip(
                to_numpy(heatmaps), to_numpy(pafs), to_numpy(maps_3d)):
            (keypoints, scores, joints, read, instance_scores,
             values) = self.decoder.decode(
                 hm,
                 paf,
                 m3d,
                 return_instance_scores=True,
                 return_samples=True)
            preds.append(
                self._pack_3d(keypoints, scores, instance_scores, joints, read,
                              values if samples else None))
        return preds

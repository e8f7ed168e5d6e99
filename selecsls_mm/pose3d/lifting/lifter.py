# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""XNect's Stage II: a small fully connected network that turns each
person's Stage I read-out into a full root-relative 3D pose."""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from mmpose.registry import KEYPOINT_CODECS, MODELS
from torch import Tensor

from .numpy_mlp import NumpyMLP


def mlp(in_dim: int, hidden_dims: Sequence[int], out_dim: int) -> nn.Module:
    """Linear + BatchNorm + ReLU per hidden width, then a linear output."""
    layers, width = [], in_dim
    for h in hidden_dims:
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(True)]
        width = h
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


@MODELS.register_module()
class XNectLifter(BaseModel):
    """Stage II: per-person MLP from the read-out features to 3J values and
    a scale; the pose is their product, root-relative (mm).

    Trained with a loss on the root-relative joints and one on the
    parent-relative bone vectors (XNect's released model keeps both output
    heads); both in ``unit_mm`` units.

    Args:
        codec (dict): The :class:`~.features.XNectLiftingFeatures` config
            (input layout, joint set, output decoding).
        hidden_dims (Sequence[int]): Hidden widths. Defaults to XNect's
            (160, 256, 256, 128).
        loss_joints (dict): Loss on root-relative joints (N, J-1, 3).
            Defaults to ``MPJPELoss``.
        loss_bones (dict, optional): Loss on bone vectors (N, J-1, 3).
            Defaults to ``MPJPELoss``.
        linear_skip (bool): Add a linear map of the features to the MLP's
            output. A stack of ReLU layers learns to pass the reads through
            only slowly; the skip does that at once and leaves the MLP the
            corrections (gating missing joints, the pose prior).
            Defaults to True.
        unit_mm (float): Millimetres per unit of the output scale and of
            the losses. Defaults to 1000 (metres).
        test_cfg (dict, optional): ``flip_test`` (bool): in ``predict``
            and :meth:`lift`, also lift each person's mirror image and
            average the two poses (one batch of 2M people). Defaults to
            None (off).
        data_preprocessor (dict, optional): Defaults to mmengine's
            ``BaseDataPreprocessor`` (moves data to the device).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 codec: dict,
                 hidden_dims: Sequence[int] = (160, 256, 256, 128),
                 loss_joints: dict = dict(type='MPJPELoss'),
                 loss_bones: Optional[dict] = dict(type='MPJPELoss'),
                 linear_skip: bool = True,
                 unit_mm: float = 1000.,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.codec = KEYPOINT_CODECS.build(codec)
        self.joint_set = self.codec.joint_set
        self.unit_mm = float(unit_mm)
        self.test_cfg = dict(test_cfg or {})
        self.net = mlp(self.codec.input_dim, hidden_dims,
                       self.codec.output_dim)
        self.skip = nn.Linear(self.codec.input_dim,
                              self.codec.output_dim) if linear_skip else None
        self._numpy_net = NumpyMLP()  # lift() on the CPU
        self.loss_joints = MODELS.build(loss_joints)
        self.loss_bones = MODELS.build(loss_bones) if loss_bones else None
        parents = np.asarray(self.joint_set.parents)
        self.register_buffer(
            'bone_child',
            torch.as_tensor(np.flatnonzero(parents >= 0)),
            persistent=False)
        self.register_buffer(
            'bone_parent',
            torch.as_tensor(parents[parents >= 0]),
            persistent=False)

    def features(self, inputs: Union[Tensor, Dict[str, object]]) -> Tensor:
        """The network input (N, D) on the model's device and dtype:
        ``inputs`` when it is a tensor of features, else the codec's
        encoding of a read-out dict
        (``keypoints``, ``keypoint_scores``, ``samples_3d`` and optionally
        ``keypoints_visible``: arrays, tensors or lists of per-person
        tensors)."""
        if isinstance(inputs, dict):
            # on the model's device and dtype (mlp() starts with a Linear)
            return torch.from_numpy(self._encode(inputs)).to(
                self.net[0].weight)
        x = inputs
        if not isinstance(x, Tensor) or x.ndim != 2 or \
                x.shape[1] != self.codec.input_dim:
            got = (f'have shape {tuple(x.shape)}' if isinstance(x, Tensor) else
                   f'are a {type(x).__name__}, not a tensor')
            raise ValueError(
                f'Stage II inputs {got}'
                f'; this model takes (N, {self.codec.input_dim}) features '
                f"of its codec (joint set '{self.joint_set.name}', "
                f"read_channels='{self.codec.read_channels}') or a Stage I "
                'read-out dict: check the config\'s codec')
        return x.to(self.net[0].weight)

    def _encode(self, readout: Dict[str, object]) -> np.ndarray:
        arrays = {k: _as_array(v) for k, v in readout.items()}
        return self.codec.encode(arrays['keypoints'],
                                 arrays.get('keypoints_visible'),
                                 arrays.get('keypoint_scores'),
                                 arrays.get('samples_3d'))['lifting_features']

    def _decode(self, out):
        """Poses from the network output (tensor or array)."""
        if isinstance(out, Tensor):
            scale = self.unit_mm * torch.exp(out[:, -1].clamp(-4., 4.))
        else:
            scale = self.unit_mm * np.exp(np.clip(out[:, -1], -4., 4.))
        return self.codec.decode(out[:, :-1], scale)

    def forward_pose(self, x: Tensor) -> Tensor:
        """Root-relative poses (N, J, 3) in mm from features (N, D)."""
        out = self.net(x)
        if self.skip is not None:
            out = out + self.skip(x)
        return self._decode(out)

    @property
    def flip_test(self) -> bool:
        return bool(self.test_cfg.get('flip_test', False))

    def _with_mirror(self, x):
        """(M, D) features -> (2M, D): the people, then their mirrors."""
        flipped = self.codec.flip_features(x)
        if isinstance(x, Tensor):
            return torch.cat([x, flipped])
        return np.concatenate([x, flipped])

    def _average_mirror(self, pose):
        """(2M, J, 3) poses of :meth:`_with_mirror`'s batch -> (M, J, 3)."""
        m = len(pose) // 2
        return (pose[:m] + self.codec.flip_pose(pose[m:])) / 2

    def forward(self,
                inputs: Union[Tensor, Dict[str, object]],
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``inputs``: features (N, D) or a batch of read-outs (see
        :meth:`features`); ``mode`` ``'tensor'`` returns the poses (N, J, 3)
        mm, ``'loss'`` the losses, ``'predict'`` the data samples."""
        x = self.features(inputs)
        if mode == 'tensor':
            return self.forward_pose(x)
        if mode == 'loss':
            return self.loss(x, data_samples)
        if mode == 'predict':
            return self.predict(x, data_samples)
        raise ValueError(f"unknown mode {mode!r}: use 'tensor', 'loss' or "
                         "'predict'")

    def _targets(self, data_samples, like: Tensor) -> Tensor:
        target = np.concatenate(
            [s.gt_instances.lifting_target for s in data_samples])
        return torch.as_tensor(target).to(like)

    def loss(self, x: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """Losses on root-relative joints and bone vectors (in units of
        ``unit_mm``), and the batch MPJPE in mm (logged, not a loss)."""
        pose = self.forward_pose(x)
        target = self._targets(data_samples, pose)
        if target.shape != pose.shape:
            raise ValueError(f'lifting_target has shape {tuple(target.shape)}'
                             f', the model predicts {tuple(pose.shape)}: the '
                             "dataset's and the codec's joint_set differ")
        child, parent = self.bone_child, self.bone_parent
        pred, true = pose / self.unit_mm, target / self.unit_mm
        # the root is 0 in both, so it is left out
        losses = dict(
            loss_joints=self.loss_joints(pred[:, child], true[:, child]))
        if self.loss_bones is not None:
            losses['loss_bones'] = self.loss_bones(
                pred[:, child] - pred[:, parent],
                true[:, child] - true[:, parent])
        with torch.no_grad():
            losses['mpjpe'] = (pose - target).norm(dim=-1).mean()
        return losses

    def predict(self, x: Tensor, data_samples: list) -> list:
        """Set ``pred_instances.keypoints_3d`` (1, J, 3) root-relative mm on
        each person's data sample (with ``test_cfg.flip_test``, the mean
        of the person's and its mirror image's lifts)."""
        if self.flip_test:
            pose = self._average_mirror(
                self.forward_pose(self._with_mirror(x)))
        else:
            pose = self.forward_pose(x)
        pose = pose.detach().cpu().numpy()
        for sample, p in zip(data_samples, pose):
            sample.pred_instances = InstanceData(keypoints_3d=p[None])
        return data_samples

    @torch.no_grad()
    def lift(self, readout: dict) -> np.ndarray:
        """Full 3D poses of all people of a frame, in one batch, as in eval
        mode (on the CPU in numpy: :mod:`.numpy_mlp`; the mode is kept).
        With ``test_cfg.flip_test`` the mean of each person's and its
        mirror image's lifts.

        Args:
            readout (dict): Stage I's per-person decode: ``keypoints`` (M,
                17, 2) px, ``keypoint_scores`` (M, 17), ``samples_3d`` (M,
                17, 3J) mm and optionally ``keypoints_visible`` (M, 17)
                (found; defaults to scores > 0).

        Returns:
            np.ndarray: (M, J, 3) root-relative mm.
        """
        if len(readout['keypoints']) == 0:  # in the model's dtype
            return self.net[0].weight.new_zeros(0, self.joint_set.num_joints,
                                                3).cpu().numpy()
        x = self._encode(readout)
        if self.flip_test:
            x = self._with_mirror(x)
        pose = self._lift_features(x)
        return self._average_mirror(pose) if self.flip_test else pose

    def _lift_features(self, x: np.ndarray) -> np.ndarray:
        out = self._numpy_net(self.net, self.skip, x)
        if out is not None:
            return self._decode(out)
        was_training = self.training
        if was_training:  # walking the modules costs more than the MLP
            self.eval()
        pose = self.forward_pose(torch.from_numpy(x).to(self.net[0].weight))
        if was_training:
            self.train()
        return pose.cpu().numpy()


def _as_array(value) -> np.ndarray:
    """A batch as one numpy array: from an array, a tensor or a list of
    per-person tensors (mmengine's ``pseudo_collate``)."""
    if isinstance(value, (list, tuple)):
        value = torch.stack([torch.as_tensor(v) for v in value])
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)

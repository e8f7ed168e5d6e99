# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage II's input layout: one person's Stage I read-out as a flat vector,
and the network output back to a root-relative 3D pose.

Layout of the feature vector (``D`` values per person, in this order;
:meth:`XNectLiftingFeatures.layout` names every block):

1. ``offsets`` (17 x 2): each COCO keypoint's pixel position minus the
   *neck*, divided by the person's 2D *scale*; (x, y) per keypoint in COCO
   order, 0 for keypoints Stage I did not find.

   - neck: COCO has none, so the mid-point of the two shoulders; with one
     shoulder found, that shoulder; with none, the mid-point of the hips
     (or the one hip found); with no shoulder and no hip, the mean of the
     found keypoints. Which case applies can be read off the confidences,
     so the network is told where the origin is.
   - scale: the longer side of the found keypoints' bounding box (px, at
     least ``min_scale_px``). It removes the camera distance and focal
     length from the 2D input; the 3D size comes from the 3D channels.
2. ``scores`` (17): Stage I's confidence of each keypoint, 0 where not
   found.
3. ``reads``: the 3D-map values read at each found keypoint ``k`` (root-
   relative, divided by ``unit_mm``, so metres by default), 0 where ``k``
   was not found. With ``read_channels='supervised'`` (the default) only the
   channels Stage I supervises at ``k`` are kept (``joint_set.written_at()
   [k]``: the joint itself, its parent and children, 3 values each, 75 joints
   over the 17 keypoints for coco21): the others carry no trained meaning
   at ``k`` and are dropped, which is what makes Stage II trainable from
   motion capture alone (their real values are untrained map content that
   no simulation reproduces). Dropping them equals zeroing them for a fully
   connected layer, at a quarter of its cost. ``'all'`` keeps all 3J
   channels at every keypoint. ``use_3d=False`` zeroes this block (the
   2D-only lifter: same layout, same network size).

All 17 keypoints are kept: XNect drops its head-top row, but COCO has no
head top; its face points are the only cue to where the head points.

The network's output is 3J values and one scale (mm); the pose is their
product, made root-relative (:meth:`XNectLiftingFeatures.decode`).
"""
from typing import List, Optional, Tuple

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS

from ..joint_sets import COCO_KEYPOINTS, get_joint_set, mirror_name

NUM_KEYPOINTS = len(COCO_KEYPOINTS)
_SHOULDERS = (COCO_KEYPOINTS.index('left_shoulder'),
              COCO_KEYPOINTS.index('right_shoulder'))
_HIPS = (COCO_KEYPOINTS.index('left_hip'), COCO_KEYPOINTS.index('right_hip'))
# index of each COCO keypoint's left/right mirror
KEYPOINT_FLIP = [COCO_KEYPOINTS.index(mirror_name(n)) for n in COCO_KEYPOINTS]


def neck_and_scale(keypoints: np.ndarray,
                   found: np.ndarray,
                   min_scale_px: float = 1.) -> Tuple[np.ndarray, np.ndarray]:
    """The origin (neck) and 2D scale of each person's feature offsets.

    Args:
        keypoints (np.ndarray): Pixels (M, 17, 2), COCO order.
        found (np.ndarray): (M, 17) bool, keypoints Stage I found.
        min_scale_px (float): Lower bound of the scale. Defaults to 1.

    Returns:
        tuple: ``neck`` (M, 2) px and ``scale`` (M, ) px; see the module
        docstring for the fallbacks.
    """
    kpts = np.asarray(keypoints, np.float64)
    found = np.asarray(found, bool)

    def mid(pair):
        a, b = found[:, pair[0]], found[:, pair[1]]
        both = (kpts[:, pair[0]] + kpts[:, pair[1]]) / 2
        one = np.where(a[:, None], kpts[:, pair[0]], kpts[:, pair[1]])
        return np.where((a & b)[:, None], both, one), a | b

    shoulders, has_shoulder = mid(_SHOULDERS)
    hips, has_hip = mid(_HIPS)
    count = np.maximum(found.sum(1, keepdims=True), 1)
    centroid = (kpts * found[..., None]).sum(1) / count
    neck = np.where(has_shoulder[:, None], shoulders,
                    np.where(has_hip[:, None], hips, centroid))

    big = np.where(found[..., None], kpts, np.inf)
    small = np.where(found[..., None], kpts, -np.inf)
    extent = np.max(-big, 1) + np.max(small, 1)  # max - min per axis
    extent = np.where(np.isfinite(extent), extent, 0.)
    scale = np.maximum(extent.max(1), min_scale_px)
    return neck, scale


@KEYPOINT_CODECS.register_module()
class XNectLiftingFeatures(BaseKeypointCodec):
    """Stage I read-out <-> Stage II network input and output.

    Args:
        joint_set (str): The 3D joint set of Stage I's maps and of the
            output. Defaults to ``'coco21'``.
        read_channels (str): ``'supervised'`` (keep at each keypoint only
            the channels Stage I supervises there) or ``'all'``.
            Defaults to ``'supervised'``.
        use_3d (bool): False zeroes the 3D reads (the 2D-only lifter).
            Defaults to True.
        unit_mm (float): Millimetres per unit of the 3D reads.
            Defaults to 1000 (metres).
        min_scale_px (float): Lower bound of the 2D scale. Defaults to 1.
    """

    auxiliary_encode_keys = {'keypoint_scores', 'samples_3d'}

    def __init__(self,
                 joint_set: str = 'coco21',
                 read_channels: str = 'supervised',
                 use_3d: bool = True,
                 unit_mm: float = 1000.,
                 min_scale_px: float = 1.) -> None:
        super().__init__()
        if read_channels not in ('supervised', 'all'):
            raise ValueError(f"read_channels={read_channels!r}: use "
                             "'supervised' or 'all'")
        self.joint_set = get_joint_set(joint_set)
        self.num_joints = self.joint_set.num_joints
        self.read_channels = read_channels
        self.use_3d = bool(use_3d)
        self.unit_mm = float(unit_mm)
        self.min_scale_px = float(min_scale_px)
        every = np.arange(self.num_joints)
        rows = (
            self.joint_set.written_at()
            if read_channels == 'supervised' else [every] * NUM_KEYPOINTS)
        # (keypoint, joint) of each read, in feature order
        self.read_pairs = np.asarray([(k, j) for k, js in enumerate(rows)
                                      for j in js],
                                     dtype=np.int64).reshape(-1, 2)
        self._flip_order, self._flip_sign = self._feature_mirror()

    @property
    def input_dim(self) -> int:
        """Feature values per person (D)."""
        return 3 * NUM_KEYPOINTS + 3 * len(self.read_pairs)

    @property
    def output_dim(self) -> int:
        """Network outputs per person: 3J values and one scale."""
        return 3 * self.num_joints + 1

    def layout(self) -> List[Tuple[str, slice]]:
        """(name, slice) of every feature block, e.g. ``('offsets',
        slice(0, 34))``, ``('read nose@left_shoulder', slice(...))``."""
        n = NUM_KEYPOINTS
        out = [('offsets', slice(0, 2 * n)), ('scores', slice(2 * n, 3 * n))]
        for i, (k, j) in enumerate(self.read_pairs):
            start = 3 * n + 3 * i
            out.append((f'read {self.joint_set.names[j]}@'
                        f'{COCO_KEYPOINTS[k]}', slice(start, start + 3)))
        return out

    def _feature_mirror(self) -> Tuple[np.ndarray, np.ndarray]:
        """Where each feature of the mirrored person comes from and its
        sign: keypoint k takes keypoint flip(k)'s values, a read of joint j
        the read of flip(j) at flip(k), every x negated."""
        n = NUM_KEYPOINTS
        flip_k = np.asarray(KEYPOINT_FLIP)
        flip_j = np.asarray(self.joint_set.flip_indices)
        position = {(k, j): i for i, (k, j) in enumerate(self.read_pairs)}
        try:
            reads = [
                position[flip_k[k], flip_j[j]] for k, j in self.read_pairs
            ]
        except KeyError as e:  # written_at() not left/right symmetric
            raise ValueError(f'the reads of joint set {self.joint_set.name!r}'
                             f' have no mirror of (keypoint, joint) {e}: '
                             'the flip test needs a symmetric layout') from e
        order = np.concatenate([
            (2 * flip_k[:, None] + np.arange(2)).ravel(), 2 * n + flip_k,
            (3 * n + 3 * np.asarray(reads, np.int64)[:, None] +
             np.arange(3)).ravel()
        ])
        sign = np.ones(self.input_dim, np.float32)
        sign[0:2 * n:2] = -1  # offsets' x
        sign[3 * n::3] = -1  # reads' x
        return order, sign

    def flip_features(self, features):
        """The features of the people mirrored left/right: what
        :meth:`encode` gives for their mirror image (keypoints relabelled,
        every x negated about the neck).

        Args:
            features (np.ndarray | Tensor): (M, D).

        Returns:
            np.ndarray | Tensor: (M, D), the same type.
        """
        sign = self._flip_sign
        if not isinstance(features, np.ndarray):  # a tensor
            sign = features.new_tensor(sign)
        return features[:, self._flip_order] * sign

    def flip_pose(self, pose):
        """Root-relative poses (M, J, 3) mirrored back: joints relabelled
        left/right, x negated (numpy or torch)."""
        pose = pose[:, self.joint_set.flip_indices]
        sign = np.array([-1., 1., 1.], np.float32)
        if not isinstance(pose, np.ndarray):
            sign = pose.new_tensor(sign)
        return pose * sign

    def _check(self, keypoints, found, scores, samples_3d):
        if keypoints.shape[1:] != (NUM_KEYPOINTS, 2):
            raise ValueError(f'keypoints have shape {keypoints.shape}; Stage '
                             'II needs (M, 17, 2) COCO keypoints in pixels')
        m = len(keypoints)
        for name, arr in (('keypoints_visible', found), ('keypoint_scores',
                                                         scores)):
            if arr.shape != (m, NUM_KEYPOINTS):
                raise ValueError(f'{name} has shape {arr.shape}, expected '
                                 f'(M, 17) = {(m, NUM_KEYPOINTS)}')
        want = (m, NUM_KEYPOINTS, 3 * self.num_joints)
        if samples_3d.shape != want:
            raise ValueError(
                f'samples_3d has shape {samples_3d.shape}, expected {want} '
                f'(3 x {self.num_joints} joints of joint set '
                f"'{self.joint_set.name}'); set the codec's joint_set to the "
                "Stage I model's")

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None,
               keypoint_scores: Optional[np.ndarray] = None,
               samples_3d: Optional[np.ndarray] = None) -> dict:
        """Features of M people from their Stage I read-out.

        Args:
            keypoints (np.ndarray): Pixels (M, 17, 2), COCO order.
            keypoints_visible (np.ndarray, optional): (M, 17), keypoints
                Stage I found (> 0). Defaults to ``keypoint_scores > 0``.
            keypoint_scores (np.ndarray, optional): (M, 17) confidences.
                Defaults to ``keypoints_visible``.
            samples_3d (np.ndarray): (M, 17, 3J) root-relative mm read at
                each keypoint (channel 3j+c = joint j, coordinate c).

        Returns:
            dict: ``lifting_features`` (M, D) float32, ``neck`` (M, 2) px
            and ``person_scale`` (M, ) px.
        """
        kpts = np.asarray(keypoints, np.float64)
        if keypoint_scores is None and keypoints_visible is None:
            raise ValueError('give keypoints_visible or keypoint_scores: '
                             'Stage II must know which keypoints were found')
        if keypoints_visible is None:
            keypoints_visible = np.asarray(keypoint_scores) > 0
        found = np.asarray(keypoints_visible) > 0
        scores = (
            found.astype(np.float64) if keypoint_scores is None else
            np.asarray(keypoint_scores, np.float64))
        if samples_3d is None:
            raise ValueError('samples_3d is missing: decode Stage I with '
                             'return_samples=True')
        samples = np.asarray(samples_3d, np.float64)
        self._check(kpts, found, scores, samples)

        neck, scale = neck_and_scale(kpts, found, self.min_scale_px)
        offsets = (kpts - neck[:, None]) / scale[:, None, None]
        offsets *= found[..., None]
        scores = scores * found
        k, j = self.read_pairs.T
        reads = samples.reshape(len(kpts), NUM_KEYPOINTS, -1, 3)[:, k, j]
        reads = reads * found[:, k, None] / self.unit_mm
        if not self.use_3d:
            reads = np.zeros_like(reads)
        features = np.concatenate([
            offsets.reshape(len(kpts), -1), scores,
            reads.reshape(len(kpts), -1)
        ], 1)
        return dict(
            lifting_features=features.astype(np.float32),
            neck=neck,
            person_scale=scale)

    def unpack(self, features: np.ndarray) -> dict:
        """The blocks of features (M, D): ``offsets`` (M, 17, 2),
        ``scores`` (M, 17) and ``samples_3d`` (M, 17, 3J) in mm, zero in
        channels the layout does not hold."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or features.shape[1] != self.input_dim:
            raise ValueError(f'features have shape {features.shape}; this '
                             f'layout has (M, {self.input_dim}) values')
        m, n = len(features), NUM_KEYPOINTS
        samples = np.zeros((m, n, self.num_joints, 3))
        k, j = self.read_pairs.T
        samples[:, k, j] = features[:, 3 * n:].reshape(m, -1, 3) * \
            self.unit_mm
        return dict(
            offsets=features[:, :2 * n].reshape(m, n, 2),
            scores=features[:, 2 * n:3 * n],
            samples_3d=samples.reshape(m, n, -1))

    def decode(self, values, scale):
        """Root-relative poses from the network's 3J values and scale.

        Works on numpy arrays and torch tensors alike.

        Args:
            values (np.ndarray | Tensor): (M, 3J) network values.
            scale (np.ndarray | Tensor): (M, ) scale in mm.

        Returns:
            np.ndarray | Tensor: (M, J, 3) mm, the root at 0.
        """
        if values.ndim != 2 or values.shape[1] != 3 * self.num_joints:
            raise ValueError(f'values have shape {tuple(values.shape)}; the '
                             f'joint set {self.joint_set.name!r} needs '
                             f'(M, {3 * self.num_joints})')
        pose = values.reshape(-1, self.num_joints, 3) * scale.reshape(-1, 1, 1)
        root = self.joint_set.root
        return pose - pose[:, root:root + 1]

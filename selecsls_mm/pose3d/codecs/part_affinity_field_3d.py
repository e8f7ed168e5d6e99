# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""XNect's Stage I targets in 3D: heatmaps, PAFs and 3D pose maps."""
from typing import Optional, Tuple

import numpy as np
from mmpose.registry import KEYPOINT_CODECS

from selecsls_mm.pose.codecs import PartAffinityField
from ..joint_sets import COCO_KEYPOINTS, get_joint_set
from .utils import (combine_readouts, drop_foreign_readouts, pixel_owners,
                    render_3d_maps, sample_3d_maps, shared_joints)


@KEYPOINT_CODECS.register_module()
class PartAffinityField3D(PartAffinityField):
    """Keypoint heatmaps and part affinity fields (as
    :class:`~selecsls_mm.pose.codecs.PartAffinityField`) plus XNect's 3D pose
    maps: three channels (x, y, z) per 3D joint holding root-relative
    camera-frame positions, supervised only at the 2D keypoints of the
    joint's kinematic neighbourhood.

    At the map pixels within ``radius_3d`` of a labelled keypoint ``k`` of a
    person (a pixel belongs to the person of the nearest labelled keypoint),
    the channels of the joints read at ``k`` (``k``'s own joint, its parent and
    its children; see :mod:`~selecsls_mm.pose3d.joint_sets`) hold that
    person's root-relative joints; all other channels there and all other
    pixels have weight 0. Decoding groups people from heatmaps and PAFs,
    reads the maps at each found keypoint's pixel, drops keypoints whose
    values disagree with the rest of their person (their pixel shows
    someone else) and gives each joint the score-weighted mean of its
    values at the remaining keypoints that read it. A joint none of whose
    readers remains is flagged as not read.

    Note:

        - instance number: N (encode), M (decode)
        - keypoint number: K (COCO's 17 2D keypoints)
        - 3D joint number: J
        - heatmap size: [W, H]

    Encoded (besides :class:`PartAffinityField`'s items):

        - maps_3d (np.ndarray): (3J, H, W) float32; channel ``3j + c`` is
          coordinate ``c`` of joint ``j``, root-relative, in mm divided by
          ``value_scale``
        - maps_3d_weights (np.ndarray): (3J, H, W) float32, 1 where
          supervised
        - keypoints_3d_weights (np.ndarray): (N, J) float32, 1 for joints
          with a 3D label (and a labelled root)

    Args:
        input_size (tuple): Image size in [w, h].
        heatmap_size (tuple): Map size in [W, H].
        joint_set (str): The 3D joint set, see
            :data:`~selecsls_mm.pose3d.joint_sets.JOINT_SETS`. Its channel
            count must match the head's. Defaults to ``'coco21'`` (COCO's 17
            keypoints, pelvis, spine, neck, head top).
        radius_3d (float): Radius (map pixels) around a keypoint where its
            3D values are written. Defaults to 2.
        value_scale (float): Millimetres per map unit. Defaults to 1000
            (maps hold metres).
        decode_agreement_thr (float, optional): Keypoints of a person whose
            3D values differ by more than this (mm) on a joint they both
            supervise disagree; the most disagreeing ones are not read (see
            :func:`~.utils.drop_foreign_readouts`). ``None`` reads all.
            Defaults to 200.
        **kwargs: :class:`PartAffinityField` arguments (skeleton, sigma,
            decode settings).
    """

    auxiliary_encode_keys = {'keypoints_3d', 'keypoints_3d_visible'}
    field_mapping_table = dict(
        PartAffinityField.field_mapping_table,
        maps_3d='maps_3d',
        maps_3d_weights='maps_3d_weights')
    label_mapping_table = dict(
        PartAffinityField.label_mapping_table,
        keypoints_3d_weights='keypoints_3d_weights')

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 joint_set: str = 'coco21',
                 radius_3d: float = 2.,
                 value_scale: float = 1000.,
                 decode_agreement_thr: Optional[float] = 200.,
                 **kwargs) -> None:
        super().__init__(input_size, heatmap_size, **kwargs)
        if self.num_keypoints != len(COCO_KEYPOINTS):
            raise ValueError(
                f'PartAffinityField3D reads 3D joints at COCO\'s 17 '
                f'keypoints, but its skeleton has {self.num_keypoints}; use '
                "skeleton=dict(from_file='configs/_base_/datasets/coco.py', "
                "limbs='coco_redundant').")
        if radius_3d <= 0 or value_scale <= 0:
            raise ValueError(f'radius_3d ({radius_3d}) and value_scale '
                             f'({value_scale}) must be positive.')
        self.joint_set = get_joint_set(joint_set)
        self.radius_3d = float(radius_3d)
        self.value_scale = float(value_scale)
        self.decode_agreement_thr = decode_agreement_thr
        self._written_at = self.joint_set.written_at()
        self._readers = self.joint_set.readers
        self._shared = shared_joints(self._written_at, self.num_joints_3d)

    @property
    def joint_names_3d(self) -> Tuple[str, ...]:
        """Names of the 3D joints, in channel order."""
        return self.joint_set.names

    @property
    def root_index(self) -> int:
        """Index of the root joint; the 3D output is relative to it."""
        return self.joint_set.root

    @property
    def num_joints_3d(self) -> int:
        return self.joint_set.num_joints

    def check_joints_3d(self, num_joints: int, what: str) -> None:
        """One-line error unless ``num_joints`` fits the joint set."""
        J = self.num_joints_3d
        if num_joints != J:
            raise ValueError(
                f'{what} has {num_joints} 3D joints but the codec\'s joint '
                f'set {self.joint_set.name!r} has {J}; give the dataset, '
                'codec and head the same joint_set.')

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None,
               keypoints_3d: Optional[np.ndarray] = None,
               keypoints_3d_visible: Optional[np.ndarray] = None) -> dict:
        """Encode 2D keypoints and camera-frame 3D joints of one image.

        Args:
            keypoints (np.ndarray): (N, K, D>=2) in input image pixels.
            keypoints_visible (np.ndarray, optional): (N, K); None: all
                labelled.
            keypoints_3d (np.ndarray, optional): (N, J, 3) camera-frame mm;
                None: the image has no 3D labels (maps unsupervised).
            keypoints_3d_visible (np.ndarray, optional): (N, J); None: all
                labelled.

        Returns:
            dict: :class:`PartAffinityField`'s items plus ``maps_3d``,
            ``maps_3d_weights`` and ``keypoints_3d_weights``.
        """
        encoded = super().encode(keypoints, keypoints_visible)
        N = len(encoded['keypoint_weights'])
        if keypoints_visible is None:
            keypoints_visible = np.ones((N, len(COCO_KEYPOINTS)))
        J = self.num_joints_3d
        if keypoints_3d is None:
            keypoints_3d = np.zeros((N, J, 3), dtype=np.float32)
            keypoints_3d_visible = np.zeros((N, J), dtype=np.float32)
        keypoints_3d = np.asarray(keypoints_3d, dtype=np.float32)
        if keypoints_3d.ndim != 3 or keypoints_3d.shape[-1] != 3 or \
                len(keypoints_3d) != N:
            raise ValueError(f'keypoints_3d must have shape (N={N}, J, 3), '
                             f'got {keypoints_3d.shape}.')
        self.check_joints_3d(keypoints_3d.shape[1], 'keypoints_3d')
        if keypoints_3d_visible is None:
            keypoints_3d_visible = np.ones((N, J), dtype=np.float32)
        weights_3d = np.asarray(keypoints_3d_visible,
                                np.float32).reshape(N, J) >= 0.5
        root = self.root_index
        weights_3d &= weights_3d[:, root:root + 1]  # root-relative needs it
        joints = (keypoints_3d -
                  keypoints_3d[:, root:root + 1]) / self.value_scale
        keypoints = np.asarray(keypoints,
                               np.float32)[..., :2] / self.scale_factor
        keypoints_visible = np.asarray(keypoints_visible, np.float32)
        owner = pixel_owners(self.heatmap_size, keypoints, keypoints_visible,
                             self.radius_3d)
        maps, weights = render_3d_maps(owner, keypoints, keypoints_visible,
                                       joints, weights_3d, self._written_at,
                                       self.radius_3d)
        encoded.update(
            maps_3d=maps,
            maps_3d_weights=weights,
            keypoints_3d_weights=weights_3d.astype(np.float32))
        return encoded

    def decode(self,
               heatmaps: np.ndarray,
               pafs: np.ndarray,
               maps_3d: np.ndarray,
               return_instance_scores: bool = False,
               return_samples: bool = False) -> tuple:
        """Decode the people of one image in 2D and 3D.

        Args:
            heatmaps (np.ndarray): (K, H, W).
            pafs (np.ndarray): (2L, H, W).
            maps_3d (np.ndarray): (3J, H, W), as encoded.
            return_instance_scores (bool): Also return one score per person.
            return_samples (bool): Also return the raw map values read at
                each keypoint (Stage II's input).

        Returns:
            tuple:
            - keypoints (np.ndarray): (M, K, 2) input-image pixels
            - scores (np.ndarray): (M, K); 0 for keypoints not found
            - keypoints_3d (np.ndarray): (M, J, 3) root-relative mm
            - read (np.ndarray): (M, J) bool, whether a keypoint that reads
              the joint was found (else its 3D position is 0)
            - instance_scores (np.ndarray): (M, ), if asked
            - samples_3d (np.ndarray): (M, K, 3J) mm read at each found
              keypoint (zeros elsewhere), if asked
        """
        maps_3d = np.asarray(
            maps_3d.detach().cpu().numpy()
            if hasattr(maps_3d, 'detach') else maps_3d,
            dtype=np.float32)
        heatmaps = np.asarray(heatmaps)
        if maps_3d.ndim != 3 or maps_3d.shape[0] % 3 or \
                maps_3d.shape[1:] != tuple(heatmaps.shape[-2:]):
            raise ValueError(
                f'maps_3d must have shape (3J, H, W) with the heatmaps\' '
                f'{tuple(heatmaps.shape[-2:])} spatial size, got '
                f'{maps_3d.shape}.')
        self.check_joints_3d(maps_3d.shape[0] // 3, 'maps_3d')
        keypoints, scores, instance_scores = super().decode(
            heatmaps, pafs, return_instance_scores=True)
        found = scores > 0
        samples = sample_3d_maps(maps_3d, keypoints / self.scale_factor,
                                 found) * self.value_scale
        if self.decode_agreement_thr is not None:
            found = drop_foreign_readouts(samples, found, self._shared,
                                          self.decode_agreement_thr)
        joints, read = combine_readouts(samples, scores, found, self._readers)
        out = (keypoints, scores, joints, read)
        if return_instance_scores:
            out += (instance_scores, )
        if return_samples:
            out += (samples, )
        return out

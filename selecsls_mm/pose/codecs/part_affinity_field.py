"""The part-affinity-field keypoint codec (XNect / OpenPose) for MMPose."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS

from .paf_grouping import (assemble_people, find_peaks_upsampled, match_limbs,
                           merge_nearby_fragments, score_limb_candidates)
from .paf_targets import render_keypoint_heatmaps, render_part_affinity_fields
from .utils.people_clustering import cluster_people, share_coincident_peaks
from .utils.skeleton import check_limbs, parse_skeleton, resolve_metainfo_file

# the skeleton parsing lived here; its names stay importable from here
__all__ = ['PartAffinityField', 'check_limbs', 'parse_skeleton']
_resolve_metainfo_file = resolve_metainfo_file


@KEYPOINT_CODECS.register_module()
class PartAffinityField(BaseKeypointCodec):
    """Encode/decode keypoints of many people with keypoint heatmaps and part
    affinity fields (PAFs), as in XNect's 2D branch and OpenPose.

    Encoding draws a Gaussian per keypoint (max over people) and, for each
    limb, the unit vector from its start to its end keypoint in a band
    around the segment (averaged over people). Decoding finds heatmap peaks
    (on 2x upsampled maps where a peak is not one Gaussian), scores every
    candidate limb by integrating the PAF along it, joins peaks into people
    by the summed evidence of all their limbs and lets people share a peak
    where two keypoints of one type coincide.

    See `XNect`_ by Mehta et al. (2020) and `OpenPose`_ by Cao et al. (2017).

    Note:

        - instance number: N
        - keypoint number: K
        - limb number: L
        - image size: [w, h]
        - heatmap size: [W, H]

    Encoded:

        - heatmaps (np.ndarray): Keypoint heatmaps in shape (K, H, W)
        - pafs (np.ndarray): Part affinity fields in shape (2L, H, W);
          channels ``2l`` and ``2l + 1`` are the x and y components of limb l
        - keypoint_weights (np.ndarray): Shape (N, K); 1 for labelled
          keypoints whose Gaussian touches the map, else 0
        - limb_weights (np.ndarray): Shape (N, L); 1 where the limb was drawn
        - heatmap_weights (np.ndarray): Pixel-wise loss weights of the
          heatmaps, shape (K, H, W), all ones (every pixel has a defined
          target; multiply by a dataset ``heatmap_mask`` to ignore regions)
        - paf_weights (np.ndarray): Pixel-wise loss weights of the PAFs,
          shape (2L, H, W), all ones for the same reason

    Args:
        input_size (tuple): Image size in [w, h].
        heatmap_size (tuple): Heatmap (and PAF) size in [W, H].
        skeleton (Sequence | dict): The limb set, one PAF (two channels)
            per limb: (start, end) keypoint index pairs, or dataset metainfo
            accepted by :func:`parse_pose_metainfo` (paths relative to
            mmpose's packaged configs and ``mmpose::`` paths are resolved)
            with an optional ``limbs`` key: a set name from
            :data:`~selecsls_mm.pose.codecs.limb_sets.LIMB_SETS` or pairs of
            keypoint names/indices; without ``limbs`` the metainfo's
            ``skeleton_links`` are used. Every keypoint must be in a limb.
            Defaults to COCO with ``limbs='coco_redundant'`` (COCO's 19
            links plus 9 that keep a person connected when any one keypoint
            is missing; see :mod:`~selecsls_mm.pose.codecs.limb_sets`).
        sigma (float): Standard deviation of the keypoint Gaussians in
            heatmap pixels. Defaults to 2.0.
        paf_width (float): Half-width of a limb's band in heatmap pixels.
            Defaults to 1.0.
        decode_keypoint_thr (float): Minimum heatmap value of a keypoint
            peak. Defaults to 0.1.
        decode_nms_kernel (int): Window side of the max-pooling NMS on the
            heatmaps, an odd integer. 3 keeps same-type joints of people two
            map pixels apart (16 input pixels at stride 8) apart; 5 merges
            them in crowds. Defaults to 3.
        decode_topk (int): Maximum number of peaks per keypoint type.
            Defaults to 30.
        decode_upsample (int): Find peaks on heatmaps upsampled (bicubic)
            by this factor, so that joints of one type about a map pixel
            apart (people overlapping in a crowd) stay apart; peaks that
            are clean maxima on the original map are refined there. 1 (off)
            or 2. Defaults to 2.
        decode_subpixel (bool): Refine peaks to sub-pixel accuracy with a
            parabola fit of the log heatmap. Defaults to ``True``.
        decode_num_samples (int): Number of PAF samples along a candidate
            limb. Defaults to 10.
        decode_paf_thr (float): Minimum PAF agreement (dot product with the
            limb direction) of a sample to count as agreeing. Defaults to
            0.05.
        decode_min_fraction (float): Minimum fraction of agreeing samples
            for a candidate limb. Defaults to 0.8.
        decode_limb_length_ratio (float): Limbs longer than this fraction of
            the heatmap height get a score penalty
            ``min(0, ratio * H / length - 1)``. Defaults to 0.5.
        decode_grouping (str): How limb candidates become people:
            ``'cluster'`` joins pieces by the summed evidence of all limbs
            between them (see
            :func:`~.utils.people_clustering.cluster_people`), which keeps
            overlapping people apart; ``'greedy'`` is OpenPose's matching
            per limb, then assembly strongest limb first (faster, but where
            people overlap a wrong limb can outscore the right one).
            Defaults to ``'cluster'``.
        decode_missing_limb_cost (float): With ``'cluster'`` (and for shared
            peaks), the evidence against joining two pieces for each limb
            between them whose candidate failed the PAF test (a limb with
            score s counts ``-log(1 - s)``). Defaults to 2.0.
        decode_share_peaks (bool): Let a person also take a peak another
            person holds when its limbs lead there (two keypoints of one
            type closer than a map pixel give one peak). See
            :func:`~.utils.people_clustering.share_coincident_peaks`.
            Defaults to ``True``.
        decode_min_keypoints (int): People with fewer keypoints are
            dropped (with ``'greedy'``, fragments this small are first
            attached to a person through any candidate limb that passed the
            PAF test). Defaults to 3.
        decode_merge_gap (float): Pieces of people that no limb joins (all
            limbs between them lack a keypoint) are merged when their gap is
            at most this fraction of the larger piece's size; 0 disables.
            See :func:`merge_nearby_fragments`. Defaults to 1.0.
        decode_merge_ratio (float): ... and when every other piece they
            could join is at least this many times farther away (keeps a
            piece between two people of a crowd apart). Defaults to 1.5.
        decode_max_instances (int, optional): Keep at most this many people,
            highest instance score first. ``None`` keeps all. Defaults to 30.

    .. _`XNect`: https://arxiv.org/abs/1907.00837
    .. _`OpenPose`: https://arxiv.org/abs/1611.08050
    """

    # mmpose >= 1.3 packs encoded items according to these tables (mmpose
    # 1.1 ignores them; there a PackPoseInputs subclass does the same).
    label_mapping_table = dict(
        keypoint_weights='keypoint_weights',
        limb_weights='limb_weights',
    )
    field_mapping_table = dict(
        heatmaps='heatmaps',
        pafs='pafs',
        heatmap_weights='heatmap_weights',
        paf_weights='paf_weights',
    )
    instance_mapping_table = dict()

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 skeleton: Union[Sequence[Sequence[int]], dict] = dict(
                     from_file='configs/_base_/datasets/coco.py',
                     limbs='coco_redundant'),
                 sigma: float = 2.0,
                 paf_width: float = 1.0,
                 decode_keypoint_thr: float = 0.1,
                 decode_nms_kernel: int = 3,
                 decode_topk: int = 30,
                 decode_upsample: int = 2,
                 decode_subpixel: bool = True,
                 decode_num_samples: int = 10,
                 decode_paf_thr: float = 0.05,
                 decode_min_fraction: float = 0.8,
                 decode_limb_length_ratio: float = 0.5,
                 decode_grouping: str = 'cluster',
                 decode_missing_limb_cost: float = 2.0,
                 decode_share_peaks: bool = True,
                 decode_min_keypoints: int = 3,
                 decode_merge_gap: float = 1.0,
                 decode_merge_ratio: float = 1.5,
                 decode_max_instances: Optional[int] = 30) -> None:
        super().__init__()
        if sigma <= 0 or paf_width <= 0:
            raise ValueError(
                f'sigma ({sigma}) and paf_width ({paf_width}) must be '
                'positive (heatmap pixels).')
        if decode_nms_kernel < 1 or decode_nms_kernel % 2 == 0:
            raise ValueError(
                f'decode_nms_kernel must be a positive odd integer, got '
                f'{decode_nms_kernel}.')
        if decode_upsample not in (1, 2):
            raise ValueError('decode_upsample must be 1 (off) or 2, got '
                             f'{decode_upsample}.')
        if decode_grouping not in ('cluster', 'greedy'):
            raise ValueError("decode_grouping must be 'cluster' or 'greedy', "
                             f'got {decode_grouping!r}.')
        if decode_num_samples < 2:
            raise ValueError('decode_num_samples must be at least 2, got '
                             f'{decode_num_samples}.')
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.sigma = float(sigma)
        self.paf_width = float(paf_width)
        self.skeleton, self.num_keypoints = parse_skeleton(skeleton)
        self.num_limbs = len(self.skeleton)
        self.scale_factor = (
            np.array(input_size, dtype=np.float32) /
            np.array(heatmap_size, dtype=np.float32))

        self.decode_keypoint_thr = decode_keypoint_thr
        self.decode_nms_kernel = decode_nms_kernel
        self.decode_topk = decode_topk
        self.decode_upsample = int(decode_upsample)
        self.decode_subpixel = decode_subpixel
        self.decode_num_samples = decode_num_samples
        self.decode_paf_thr = decode_paf_thr
        self.decode_min_fraction = decode_min_fraction
        self.decode_limb_length_ratio = decode_limb_length_ratio
        self.decode_grouping = decode_grouping
        self.decode_missing_limb_cost = float(decode_missing_limb_cost)
        self.decode_share_peaks = bool(decode_share_peaks)
        self.decode_min_keypoints = decode_min_keypoints
        self.decode_merge_gap = decode_merge_gap
        self.decode_merge_ratio = decode_merge_ratio
        self.decode_max_instances = decode_max_instances

    def _check_num_keypoints(self, K: int, what: str) -> None:
        needed = max(max(limb) for limb in self.skeleton) + 1
        if K < needed or (self.num_keypoints is not None
                          and K != self.num_keypoints):
            expected = self.num_keypoints or f'at least {needed}'
            raise ValueError(
                f'{what} has {K} keypoints but the skeleton needs {expected}.')
        if self.num_keypoints is None:
            check_limbs(self.skeleton, K)

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints into heatmaps and part affinity fields. The
        keypoints are in input image coordinates; keypoints outside the
        image are clipped away (far outside ones contribute nothing).

        Args:
            keypoints (np.ndarray): Keypoint coordinates in shape (N, K, D),
                D >= 2 (only x, y are used).
            keypoints_visible (np.ndarray, optional): Keypoint visibility in
                shape (N, K); below 0.5 means unlabelled. ``None`` means all
                labelled.

        Returns:
            dict:
            - heatmaps (np.ndarray): Shape (K, H, W), float32
            - pafs (np.ndarray): Shape (2L, H, W), float32
            - keypoint_weights (np.ndarray): Shape (N, K), float32
            - limb_weights (np.ndarray): Shape (N, L), float32
            - heatmap_weights (np.ndarray): Shape (K, H, W), float32
            - paf_weights (np.ndarray): Shape (2L, H, W), float32
        """
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if keypoints.ndim != 3 or keypoints.shape[-1] < 2:
            raise ValueError('keypoints must have shape (N, K, D>=2), got '
                             f'{keypoints.shape}.')
        N, K = keypoints.shape[:2]
        self._check_num_keypoints(K, 'keypoints')
        if keypoints_visible is None:
            keypoints_visible = np.ones((N, K), dtype=np.float32)
        keypoints_visible = np.asarray(keypoints_visible, dtype=np.float32)
        if keypoints_visible.shape != (N, K):
            raise ValueError(
                f'keypoints_visible has shape {keypoints_visible.shape}, '
                f'expected (N, K) = {(N, K)} to match keypoints.')

        _keypoints = keypoints[..., :2] / self.scale_factor
        heatmaps, keypoint_weights = render_keypoint_heatmaps(
            self.heatmap_size, _keypoints, keypoints_visible, self.sigma)
        pafs, limb_weights = render_part_affinity_fields(
            self.heatmap_size, _keypoints, keypoints_visible, self.skeleton,
            self.paf_width)

        return dict(
            heatmaps=heatmaps,
            pafs=pafs,
            keypoint_weights=keypoint_weights,
            limb_weights=limb_weights,
            heatmap_weights=np.ones_like(heatmaps),
            paf_weights=np.ones_like(pafs))

    def decode(self,
               heatmaps: np.ndarray,
               pafs: np.ndarray,
               return_instance_scores: bool = False) -> tuple:
        """Decode the people of one image from heatmaps and PAFs.

        A keypoint a person lacks gets score 0 and, so that it stays near
        the person, the mean coordinates of the person's found keypoints.

        Args:
            heatmaps (np.ndarray): Keypoint heatmaps in shape (K, H, W).
            pafs (np.ndarray): Part affinity fields in shape (2L, H, W).
            return_instance_scores (bool): Also return one score per person:
                the sum of its keypoint scores divided by K. Defaults to
                ``False``.

        Returns:
            tuple:
            - keypoints (np.ndarray): Shape (M, K, 2), float32, in input
              image coordinates, people sorted by decreasing instance score
            - scores (np.ndarray): Keypoint scores (heatmap value at the
              peak) in shape (M, K), float32
            - instance_scores (np.ndarray): Shape (M, ), float32; only when
              ``return_instance_scores=True``
        """
        heatmaps = _to_numpy(heatmaps)
        pafs = _to_numpy(pafs)
        if heatmaps.ndim != 3 or pafs.ndim != 3:
            raise ValueError(
                'decode expects heatmaps (K, H, W) and pafs (2L, H, W) of one '
                f'image, got {heatmaps.shape} and {pafs.shape}; use '
                'batch_decode for batches.')
        if heatmaps.shape[1:] != pafs.shape[1:]:
            raise ValueError(
                f'heatmaps {heatmaps.shape} and pafs {pafs.shape} must have '
                'the same spatial size (H, W).')
        if pafs.shape[0] != 2 * self.num_limbs:
            raise ValueError(
                f'pafs has {pafs.shape[0]} channels, expected 2 * '
                f'{self.num_limbs} limbs = {2 * self.num_limbs}.')
        K, H, W = heatmaps.shape
        self._check_num_keypoints(K, 'heatmaps')

        coords, peak_scores, types = find_peaks_upsampled(
            heatmaps, self.decode_keypoint_thr, self.decode_nms_kernel,
            self.decode_topk, self.decode_upsample, self.decode_subpixel,
            self.sigma)
        limbs, starts, ends, limb_scores = score_limb_candidates(
            pafs, self.skeleton, coords, types, self.decode_num_samples,
            self.decode_paf_thr, self.decode_min_fraction,
            self.decode_limb_length_ratio * H)
        if self.decode_grouping == 'cluster':
            people = cluster_people(starts, ends, limb_scores, types,
                                    self.skeleton, K,
                                    self.decode_missing_limb_cost)
        else:
            people = self._group_greedy(limbs, starts, ends, limb_scores,
                                        types, K)
        if self.decode_merge_gap > 0:
            people = merge_nearby_fragments(people, coords,
                                            self.decode_merge_gap,
                                            self.decode_merge_ratio)
        people = people[(people >= 0).sum(1) >= self.decode_min_keypoints]
        if self.decode_share_peaks:
            people = share_coincident_peaks(people, starts, ends, limb_scores,
                                            types, self.skeleton,
                                            self.decode_missing_limb_cost,
                                            self.decode_min_keypoints)
        found = people >= 0

        M = len(people)
        keypoints = np.zeros((M, K, 2), dtype=np.float32)
        scores = np.zeros((M, K), dtype=np.float32)
        if M:
            idx = np.where(found, people, 0)
            keypoints = np.where(found[..., None], coords[idx], 0)
            scores = np.where(found, peak_scores[idx], 0).astype(np.float32)
            # missing keypoints sit at the mean of the found ones
            mean = (keypoints.sum(1) / found.sum(1)[:, None])[:, None, :]
            keypoints = np.where(found[..., None], keypoints, mean)
            keypoints = (keypoints * self.scale_factor).astype(np.float32)

        instance_scores = scores.sum(1) / K
        order = np.argsort(-instance_scores, kind='stable')
        order = order[:self.decode_max_instances]
        keypoints, scores = keypoints[order], scores[order]
        instance_scores = instance_scores[order].astype(np.float32)

        if return_instance_scores:
            return keypoints, scores, instance_scores
        return keypoints, scores

    def _group_greedy(self, limbs: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray, scores: np.ndarray, types: np.ndarray,
                      num_keypoints: int) -> np.ndarray:
        """OpenPose's grouping: greedy matching per limb, people assembled
        strongest limb first, small fragments attached through any valid
        candidate. Returns every piece, (M, K) peak indices."""
        accepted = match_limbs(limbs, starts, ends, scores, self.num_limbs,
                               len(types))
        spare = np.argsort(-scores, kind='stable')
        # keep every piece (single peaks too) for the fragment merging
        return assemble_people(
            starts[accepted],
            ends[accepted],
            types,
            num_keypoints,
            1,
            starts[spare],
            ends[spare],
            attach_below=self.decode_min_keypoints)

    def batch_decode(self,
                     batch_heatmaps,
                     batch_pafs,
                     return_instance_scores: bool = False) -> tuple:
        """Decode a batch; accepts numpy arrays or torch tensors.

        Args:
            batch_heatmaps (np.ndarray | Tensor): Shape (B, K, H, W).
            batch_pafs (np.ndarray | Tensor): Shape (B, 2L, H, W).
            return_instance_scores (bool): Also return the instance scores.
                Defaults to ``False``.

        Returns:
            tuple: Lists with one entry per image of the outputs of
            :meth:`decode`: keypoints (M, K, 2), scores (M, K) and, if asked,
            instance scores (M, ).
        """
        batch_heatmaps = _to_numpy(batch_heatmaps)
        batch_pafs = _to_numpy(batch_pafs)
        if len(batch_heatmaps) != len(batch_pafs):
            raise ValueError(
                f'Batch sizes differ: heatmaps {batch_heatmaps.shape}, pafs '
                f'{batch_pafs.shape}.')
        results = [
            self.decode(h, p, return_instance_scores)
            for h, p in zip(batch_heatmaps, batch_pafs)
        ]
        return tuple(list(items) for items in zip(*results)) if results \
            else tuple([] for _ in range(2 + return_instance_scores))


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""What Stage I reads for one person, simulated from the true pose: which
keypoints it finds, where, how sure it is, and the 3D-map values it reads
at them. Stage II learns from these (:class:`~.dataset.MotionLiftingDataset`)
without rendering an image.

The model, one person at a time:

- missing keypoints: those outside the image (frame cuts) count first; then
  keypoints are dropped until a share drawn as Binomial(17,
  ``missing_share``) / 17 is missing: with probability ``limb_share`` a
  whole limb (forearm, arm, shin, leg or the face) at a time, else single
  keypoints. At least ``min_found`` keypoints stay found.
- 2D positions: the projection plus Gaussian noise of ``keypoint_noise``
  times the person's 2D size (the longer side of its box).
- confidences: uniform in ``score_range`` for found keypoints (they are not
  made to predict the read-out error: nothing says Stage I's do).
- 3D reads: at each found keypoint ``k``, the true root-relative position of
  every joint Stage I supervises there (``written_at()[k]``) plus an error
  whose mean length is ``readout_error_mm`` (isotropic Gaussian); a share
  ``readout_correlation`` of its variance is common to all reads of a joint
  (a network's errors at neighbouring pixels are alike), the rest
  independent. With probability ``outlier_prob`` a keypoint's reads come
  from another person's pose (Stage I read the map where someone else is).
"""
from typing import Optional, Sequence, Tuple

import numpy as np

from ..joint_sets import COCO_KEYPOINTS, get_joint_set

_MEAN_NORM = np.sqrt(8. / np.pi)  # mean length / sigma of a 3D Gaussian


def _limb(*names) -> Tuple[int, ...]:
    return tuple(COCO_KEYPOINTS.index(n) for n in names)


LIMBS = tuple(
    _limb(*(f'{side}_{n}' for n in names)) for side in ('left', 'right')
    for names in (
        ('elbow', 'wrist'), ('shoulder', 'elbow', 'wrist'),
        ('knee', 'ankle'), ('hip', 'knee', 'ankle'))) + (_limb(
            'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear'), )


class StageIReadoutSimulator:
    """Simulated Stage I read-out of one person (see the module docstring).

    Args:
        joint_set (str): The maps' joint set. Defaults to ``'coco21'``.
        missing_share (float): Expected share of the 17 keypoints missing
            (frame cuts count towards it). Defaults to 0.3.
        limb_share (float): Chance that a drop takes a whole limb.
            Defaults to 0.5.
        readout_error_mm (float): Mean 3D error (mm) of one read, outliers
            aside: set it to Stage I's measured read-out error.
            Defaults to 70 (a guess until measured).
        readout_correlation (float): Share of the read error's variance
            common to all reads of a joint. Defaults to 0.5.
        outlier_prob (float): Chance per found keypoint that its reads are
            another person's. Defaults to 0.05.
        keypoint_noise (float): 2D noise sigma over the person's 2D size.
            Defaults to 0.02.
        score_range (tuple): Confidence range of found keypoints.
            Defaults to (0.3, 1.0).
        min_found (int): Keypoints that always stay found. Defaults to 3.
    """

    def __init__(self,
                 joint_set: str = 'coco21',
                 missing_share: float = 0.3,
                 limb_share: float = 0.5,
                 readout_error_mm: float = 70.,
                 readout_correlation: float = 0.5,
                 outlier_prob: float = 0.05,
                 keypoint_noise: float = 0.02,
                 score_range: Sequence[float] = (0.3, 1.0),
                 min_found: int = 3) -> None:
        for name, value in (('missing_share', missing_share),
                            ('limb_share', limb_share), ('readout_correlation',
                                                         readout_correlation),
                            ('outlier_prob', outlier_prob)):
            if not 0. <= value <= 1.:
                raise ValueError(f'{name}={value} must lie in [0, 1]')
        if readout_error_mm < 0 or keypoint_noise < 0:
            raise ValueError('readout_error_mm and keypoint_noise must be '
                             '>= 0')
        self.joint_set = get_joint_set(joint_set)
        self.missing_share = missing_share
        self.limb_share = limb_share
        self.readout_error_mm = readout_error_mm
        self.readout_correlation = readout_correlation
        self.outlier_prob = outlier_prob
        self.keypoint_noise = keypoint_noise
        self.score_range = tuple(score_range)
        self.min_found = int(min_found)
        self.read_pairs = np.asarray([
            (k, j) for k, js in enumerate(self.joint_set.written_at())
            for j in js
        ],
                                     dtype=np.int64)

    def drop_keypoints(self, rng: np.random.Generator,
                       found: np.ndarray) -> np.ndarray:
        """Drop found keypoints (whole limbs or single ones) until the
        drawn share is missing; returns the new (17, ) bool mask."""
        found = np.asarray(found, bool).copy()
        n = len(found)
        target = min(rng.binomial(n, self.missing_share), n - self.min_found)
        while (~found).sum() < target:
            need = target - (~found).sum()
            if rng.random() < self.limb_share:
                gains = [int(found[list(limb)].sum()) for limb in LIMBS]
                fits = [i for i, g in enumerate(gains) if 2 <= g <= need]
                if fits:
                    found[list(LIMBS[fits[rng.integers(len(fits))]])] = False
                    continue
            left = np.flatnonzero(found)
            found[left[rng.integers(len(left))]] = False
        return found

    def read_3d(self, rng: np.random.Generator, found: np.ndarray,
                pose: np.ndarray, other_pose: np.ndarray) -> np.ndarray:
        """Simulated ``samples_3d`` (17, 3J) mm at the found keypoints."""
        num_joints = self.joint_set.num_joints
        sigma = self.readout_error_mm / _MEAN_NORM
        rho = self.readout_correlation
        shared = rng.normal(0., sigma * np.sqrt(rho), (num_joints, 3))
        k, j = self.read_pairs.T
        own = rng.normal(0., sigma * np.sqrt(1. - rho), (len(k), 3))
        outlier = rng.random(len(found)) < self.outlier_prob
        source = np.where(outlier[k, None], other_pose[j], pose[j])
        samples = np.zeros((len(found), num_joints, 3))
        samples[k, j] = source + shared[j] + own
        samples *= found[:, None, None]
        return samples.reshape(len(found), -1)

    def __call__(self,
                 rng: np.random.Generator,
                 pixels: np.ndarray,
                 image_size: Tuple[int, int],
                 pose: np.ndarray,
                 other_pose: Optional[np.ndarray] = None) -> Optional[dict]:
        """Stage I's read-out of one person.

        Args:
            rng (np.random.Generator): Randomness.
            pixels (np.ndarray): True COCO keypoints (17, 2) px.
            image_size (tuple): (w, h); keypoints outside are cut.
            pose (np.ndarray): True root-relative joints (J, 3) mm.
            other_pose (np.ndarray, optional): Another person's
                root-relative joints (J, 3), the source of outlier reads.

        Returns:
            dict | None: ``keypoints`` (17, 2), ``keypoints_visible`` (17, )
            (found), ``keypoint_scores`` (17, ) and ``samples_3d`` (17, 3J);
            None when fewer than ``min_found`` keypoints are in the image.
        """
        pixels = np.asarray(pixels, np.float64)
        w, h = image_size
        in_frame = np.all((pixels >= 0) & (pixels < [w, h]), axis=1)
        if in_frame.sum() < self.min_found:
            return None
        found = self.drop_keypoints(rng, in_frame)
        size = np.ptp(pixels, axis=0).max()
        noisy = pixels + rng.normal(0., self.keypoint_noise * size,
                                    pixels.shape)
        scores = rng.uniform(*self.score_range, len(pixels))
        other = pose if other_pose is None else other_pose
        return dict(
            keypoints=(noisy * found[:, None]).astype(np.float32),
            keypoints_visible=found.astype(np.float32),
            keypoint_scores=(scores * found).astype(np.float32),
            samples_3d=self.read_3d(rng, found, pose,
                                    other).astype(np.float32))

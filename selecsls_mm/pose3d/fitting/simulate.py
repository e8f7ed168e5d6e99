# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage III inputs from real motion: a motion-capture clip placed in front
of a real camera, projected to 2D, with noise added to the 2D keypoints
and the 3D joints as Stages I and II would give them.

Noise (:class:`NoiseModel`, the levels the measurements in docs/pose3d.md
use): 2D keypoints get Gaussian noise of ``sigma_2d`` px per coordinate and
scores in [0.5, 1]; a share ``outliers_2d`` of keypoints is moved
20-60 px instead, with scores in [0.2, 0.7]. Root-relative 3D joints get
Gaussian noise of ``sigma_3d`` mm per coordinate (the root stays at 0); a
share ``outliers_3d`` of joints is moved 100-250 mm instead. Noise is
independent per frame.
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from ..camera import Camera
from ..joint_sets import COCO_KEYPOINTS, get_joint_set
from ..motion import POINT_NAMES, MotionClip


@dataclass
class NoiseModel:
    """Noise on Stage III's inputs.

    Args:
        sigma_2d (float): 2D keypoint noise per coordinate, px.
        outliers_2d (float): Share of keypoints moved 20-60 px.
        sigma_3d (float): 3D joint noise per coordinate, mm (the mean
            per-joint error is about 1.6 times this).
        outliers_3d (float): Share of 3D joints moved 100-250 mm.
    """
    sigma_2d: float = 3.
    outliers_2d: float = 0.03
    sigma_3d: float = 20.
    outliers_3d: float = 0.02


@dataclass
class Placement:
    """Where a clip's person stands in front of the camera.

    Args:
        depth (float): Distance of the first frame's root along the
            optical axis, mm.
        lateral (float): Sideways offset of the first frame's root, mm.
        yaw (float): Heading about the vertical, radians.
        height (float): Camera height above the ground, mm.
        pitch (float): Camera pitch, radians.
    """
    depth: float = 4000.
    lateral: float = 0.
    yaw: float = 0.
    height: float = 1000.
    pitch: float = 0.

    @staticmethod
    def random(rng: np.random.Generator,
               depth_range: Tuple[float, float] = (3000., 6000.)):
        """A random placement, as :class:`~..scenes.SceneGenerator`'s."""
        return Placement(
            depth=rng.uniform(*depth_range),
            lateral=rng.uniform(-1000., 1000.),
            yaw=rng.uniform(0., 2. * np.pi),
            height=rng.uniform(700., 1500.),
            pitch=np.deg2rad(rng.uniform(-8., 8.)))


def place(points: np.ndarray, where: Placement, root: int = 0) -> np.ndarray:
    """World points (T, P, 3) (mm, y up) in the camera frame (x right, y
    down, z forward), the first frame's point ``root`` over (lateral,
    depth)."""
    world = points - [points[0, root, 0], 0., points[0, root, 2]]
    c, s = np.cos(where.yaw), np.sin(where.yaw)
    x = c * world[..., 0] + s * world[..., 2]
    z = -s * world[..., 0] + c * world[..., 2]
    # (x, y up, z) -> (x right, y down, z forward) is a rotation (two axes
    # flipped), so the person's left stays left
    cam = np.stack(
        [x + where.lateral, where.height - world[..., 1], where.depth - z], -1)
    cp, sp = np.cos(where.pitch), np.sin(where.pitch)
    y, z = cam[..., 1].copy(), cam[..., 2].copy()
    cam[..., 1], cam[..., 2] = cp * y - sp * z, sp * y + cp * z
    return cam


@dataclass
class ClipInputs:
    """One person's Stage III inputs over a clip, and the truth.

    Args:
        times (np.ndarray): (T, ) seconds.
        keypoints (np.ndarray): (T, 17, 2) noisy COCO keypoints, px.
        scores (np.ndarray): (T, 17) their scores.
        joints_3d (np.ndarray): (T, J, 3) noisy root-relative joints, mm.
        truth (np.ndarray): (T, J, 3) true joints, camera frame, mm.
        camera (Camera): The camera.
        root (int): Index of the root joint.
    """
    times: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    joints_3d: np.ndarray
    truth: np.ndarray
    camera: Camera
    root: int

    def first(self, count: int) -> 'ClipInputs':
        """The first ``count`` frames."""
        return ClipInputs(self.times[:count], self.keypoints[:count],
                          self.scores[:count], self.joints_3d[:count],
                          self.truth[:count], self.camera, self.root)

    @property
    def truth_relative(self) -> np.ndarray:
        """(T, J, 3) true root-relative joints."""
        return self.truth - self.truth[:, self.root:self.root + 1]


def clip_inputs(clip: MotionClip,
                camera: Camera,
                rng: np.random.Generator,
                noise: NoiseModel = NoiseModel(),
                where: Placement = Placement(),
                joint_set='coco21') -> ClipInputs:
    """Noisy Stage III inputs for one person performing ``clip``.

    Args:
        clip (MotionClip): The motion (resample it to a frame rate first).
        camera (Camera): Real intrinsics.
        rng (np.random.Generator): Noise source.
        noise (NoiseModel): Noise levels.
        where (Placement): Where the person stands.
        joint_set (str): The 3D joint set.

    Returns:
        ClipInputs: Inputs and truth.
    """
    js = get_joint_set(joint_set)
    points = place(clip.points, where, POINT_NAMES.index('pelvis'))
    truth = points[:, [POINT_NAMES.index(n) for n in js.names]]
    coco = points[:, [POINT_NAMES.index(n) for n in COCO_KEYPOINTS]]
    keypoints, scores = noisy_keypoints(camera.project(coco), rng, noise)
    rel = truth - truth[:, js.root:js.root + 1]
    return ClipInputs(clip.times.copy(), keypoints, scores,
                      noisy_joints(rel, js.root, rng, noise), truth, camera,
                      js.root)


def noisy_keypoints(pixels: np.ndarray, rng: np.random.Generator,
                    noise: NoiseModel) -> Tuple[np.ndarray, np.ndarray]:
    """Keypoints (..., K, 2) with noise and outliers, and their scores."""
    out = pixels + rng.normal(0., noise.sigma_2d, pixels.shape)
    bad = rng.random(pixels.shape[:-1]) < noise.outliers_2d
    angle = rng.uniform(0., 2. * np.pi, bad.shape)
    jump = rng.uniform(20., 60., bad.shape)
    shift = np.stack([np.cos(angle), np.sin(angle)], -1) * jump[..., None]
    out = np.where(bad[..., None], pixels + shift, out)
    scores = np.where(bad, rng.uniform(.2, .7, bad.shape),
                      rng.uniform(.5, 1., bad.shape))
    return out, scores


def noisy_joints(joints: np.ndarray, root: int, rng: np.random.Generator,
                 noise: NoiseModel) -> np.ndarray:
    """Root-relative joints (..., J, 3) with noise and outliers (the root
    stays at the origin)."""
    out = joints + rng.normal(0., noise.sigma_3d, joints.shape)
    bad = rng.random(joints.shape[:-1]) < noise.outliers_3d
    direction = rng.normal(size=joints.shape)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    jump = rng.uniform(100., 250., bad.shape)[..., None]
    out = np.where(bad[..., None], joints + direction * jump, out)
    out[..., root, :] = 0.
    return out

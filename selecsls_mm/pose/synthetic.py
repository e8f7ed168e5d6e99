# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Synthetic COCO people: articulated 2D poses in realistic scenes.

The one generator of synthetic multi-person keypoints in this project, used
by the tests and by ``tools/benchmark.py --pose``. People are built from a
small kinematic model (torso lean, head turn, shoulder/elbow/hip/knee angles,
facing the camera or turned away, profile-like narrow views), then rotated,
scaled and placed in the image. Scenes can contain people cut by the image
border, randomly unlabelled keypoints (occlusion / annotator misses) and
crowds of small people, as in COCO.

Labels follow COCO's convention: keypoints outside the image are unlabelled
(``v = 0``); people left with fewer than ``min_labelled`` labelled keypoints
get no labels at all (COCO's ``num_keypoints = 0``, which the keypoint
evaluation ignores).

Coordinates are in pixels with pixel centres at integers (x right, y down).
"""
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

# COCO keypoint order, with left/right mirror indices.
COCO_KEYPOINTS = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
                  'left_shoulder', 'right_shoulder', 'left_elbow',
                  'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
                  'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                  'right_ankle')
COCO_FLIP_INDICES = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


def _rot(angle: np.ndarray) -> np.ndarray:
    """Unit direction(s) at ``angle`` radians from straight down (+y),
    counter-clockwise on screen towards +x."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def random_pose(rng: np.random.Generator,
                max_rotation: float = 30.,
                articulation: float = 1.,
                back_view: float = 0.2) -> np.ndarray:
    """One random articulated person of unit height, COCO keypoint order.

    Args:
        rng (np.random.Generator): Random source.
        max_rotation (float): The whole body is rotated by a uniform angle
            in ``[-max_rotation, max_rotation]`` degrees. Defaults to 30.
        articulation (float): Scale of the random joint angles; 0 gives a
            frontal person standing upright with hanging arms. Defaults to 1.
        back_view (float): Probability that the person is seen from the
            back (their left on the image left). Defaults to 0.2.

    Returns:
        np.ndarray: Keypoints (17, 2), float64, centred on the middle of
        their bounding box, about 1 tall.
    """
    a = float(articulation)
    # which way the person faces: > 0 frontal (person's left on image
    # right), < 0 from the back; small magnitudes are near-profile views
    facing = (-1. if rng.random() < back_view else
              1.) * (1. - a * rng.uniform(0., 0.7))
    k = np.zeros((17, 2))
    pelvis = np.array([0., 0.53])
    lean = a * rng.normal(0, np.deg2rad(8))
    torso_up = -_rot(lean)  # pelvis -> neck
    side = np.array([-torso_up[1], torso_up[0]])  # image right if upright
    side = side if side[0] >= 0 else -side
    neck = pelvis + 0.31 * torso_up
    for i, s in ((5, 1), (6, -1)):  # shoulders
        k[i] = neck + s * facing * 0.12 * side - 0.02 * torso_up
    for i, s in ((11, 1), (12, -1)):  # hips
        k[i] = pelvis + s * facing * 0.085 * side
    # head: turn (left/right) and nod
    turn = a * rng.uniform(-0.5, 0.5) + (1 - abs(facing)) * np.sign(
        rng.uniform(-1, 1)) * 0.6
    nose = neck + 0.12 * torso_up + 0.05 * turn * side
    k[0] = nose if facing > 0 else neck + 0.13 * torso_up
    for i, s in ((1, 1), (2, -1)):  # eyes
        k[i] = k[0] + 0.032 * s * facing * side + 0.025 * torso_up
    for i, s in ((3, 1), (4, -1)):  # ears, pushed back in a turn
        k[i] = (
            k[0] + (0.065 * s * facing - 0.035 * turn) * side +
            0.012 * torso_up - (0.03 * torso_up if facing < 0 else 0))
    # limbs: angles from straight down, outward positive
    for sho, elb, wri, s in ((5, 7, 9, 1), (6, 8, 10, -1)):
        upper = lean + s * np.sign(facing) * (
            np.deg2rad(12) + a * rng.uniform(-0.5, 2.6))
        bend = s * np.sign(facing) * a * rng.uniform(-0.4, 2.3)
        k[elb] = k[sho] + 0.17 * _rot(upper)
        k[wri] = k[elb] + 0.15 * _rot(upper + bend)
    for hip, knee, ank, s in ((11, 13, 15, 1), (12, 14, 16, -1)):
        thigh = lean * 0.3 + s * np.sign(facing) * (
            np.deg2rad(4) + a * rng.uniform(-0.2, 0.6))
        bend = a * rng.uniform(-0.6, 0.6)
        k[knee] = k[hip] + 0.235 * _rot(thigh)
        k[ank] = k[knee] + 0.23 * _rot(thigh + bend)
    k += rng.normal(0, 0.006 * a, k.shape)
    k = _rotate(k, rng, max_rotation)
    lo, hi = k.min(0), k.max(0)
    k = (k - (lo + hi) / 2) / max(hi[1] - lo[1], 1e-6)
    return k


def _rotate(keypoints: np.ndarray, rng: np.random.Generator,
            max_rotation: float) -> np.ndarray:
    """Rotate (17, 2) keypoints about the origin by a uniform angle in
    ``[-max_rotation, max_rotation]`` degrees."""
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    c, s_ = np.cos(angle), np.sin(angle)
    return keypoints @ np.array([[c, s_], [-s_, c]])


def synthetic_scene(
    rng: np.random.Generator,
    image_size: Tuple[int, int],
    num_people: int,
    height_range: Tuple[float, float],
    max_rotation: float = 30.,
    truncation: float = 0.,
    unlabelled: float = 0.,
    min_separation: float = 0.,
    min_labelled: int = 3,
    articulation: float = 1.,
    max_tries: int = 200,
    pose_sampler: Optional[Callable[[np.random.Generator], np.ndarray]] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """Place random people in an image.

    Args:
        rng (np.random.Generator): Random source.
        image_size (tuple): Image size [w, h] in pixels.
        num_people (int): Number of people N.
        height_range (tuple): Person height range in pixels.
        max_rotation (float): Maximum body rotation in degrees.
            Defaults to 30.
        truncation (float): Probability that a person is placed across the
            image border (its box centre anywhere within the image, its
            extent allowed outside). Other people lie fully inside.
            Defaults to 0.
        unlabelled (float): Probability that a keypoint is unlabelled at
            random. Defaults to 0.
        min_separation (float): Minimum distance in pixels between
            keypoints of the same type of two people (a decoder cannot
            split two peaks much closer than its map stride). Defaults to 0.
        min_labelled (int): People with fewer labelled keypoints get no
            labels (COCO's ``num_keypoints = 0``). Defaults to 3.
        articulation (float): See :func:`random_pose`. Defaults to 1.
        max_tries (int): Placement attempts per person before giving up.
        pose_sampler (callable, optional): Draws one person as
            :func:`random_pose` does (rng -> (17, 2) keypoints centred on
            the origin, about 1 tall), e.g. real poses; it is rotated by
            up to ``max_rotation`` degrees. Defaults to :func:`random_pose`
            (then ``articulation`` applies).

    Returns:
        tuple:
        - keypoints (np.ndarray): Shape (N, 17, 2), float32, pixels.
        - keypoints_visible (np.ndarray): Shape (N, 17), float32, 1 where
          labelled (inside the image and not dropped), else 0.
    """
    w, h = image_size
    if num_people < 0:
        raise ValueError(f'num_people must be >= 0, got {num_people}.')
    people: List[np.ndarray] = []
    for _ in range(num_people):
        for _ in range(max_tries):
            height = rng.uniform(*height_range)
            if pose_sampler is None:
                kpts = random_pose(rng, max_rotation, articulation) * height
            else:
                kpts = _rotate(pose_sampler(rng), rng, max_rotation) * height
            half = (kpts.max(0) - kpts.min(0)) / 2
            if rng.random() < truncation:
                centre = rng.uniform([0, 0], [w - 1, h - 1])
            else:
                lo, hi = half, np.array([w - 1, h - 1]) - half
                if (hi < lo).any():
                    continue
                centre = rng.uniform(lo, hi)
            kpts = kpts + centre
            if all(
                    np.linalg.norm(kpts - p, axis=1).min() >= min_separation
                    for p in people):
                people.append(kpts)
                break
        else:
            raise RuntimeError(
                f'Could not place {num_people} people {height_range} px tall '
                f'at least {min_separation} px apart in a {w}x{h} image; use '
                'fewer or smaller people or a smaller min_separation.')
    keypoints = np.asarray(people, dtype=np.float32).reshape(-1, 17, 2)
    inside = ((keypoints >= 0) & (keypoints <= [w - 1, h - 1])).all(-1)
    visible = inside & (rng.random(inside.shape) >= unlabelled)
    visible &= visible.sum(1, keepdims=True) >= min_labelled
    return keypoints, visible.astype(np.float32)


def realistic_scene(rng: np.random.Generator,
                    image_size: Tuple[int, int] = (512, 512),
                    num_people: Optional[int] = None,
                    **kwargs) -> Tuple[np.ndarray, np.ndarray]:
    """A scene as in issue 8's round trip: 1-10 people, rotated up to 30
    degrees, 40% of them cut by the border, 15% of keypoints unlabelled at
    random. Heights range from 15% of the image height up to
    ``min(95%, 150% / sqrt(N))``: one person may fill the frame, ten people
    share it (as in photos; ten people each nearly as tall as the image
    would stand inside each other).

    Args:
        rng (np.random.Generator): Random source.
        image_size (tuple): Image size [w, h]. Defaults to (512, 512).
        num_people (int, optional): Defaults to a random number in [1, 10].
        **kwargs: Overrides of :func:`synthetic_scene` arguments.

    Returns:
        tuple: keypoints (N, 17, 2) and keypoints_visible (N, 17).
    """
    h = image_size[1]
    n = int(rng.integers(1, 11)) if num_people is None else num_people
    top = min(0.95, 1.5 / np.sqrt(max(n, 1)))
    args = dict(
        height_range=(0.15 * h, top * h),
        max_rotation=30.,
        truncation=0.4,
        unlabelled=0.15,
        min_separation=16.)
    args.update(kwargs)
    return synthetic_scene(rng, image_size, n, **args)


def crowd_scene(rng: np.random.Generator,
                image_size: Tuple[int, int] = (512, 512),
                num_people: Optional[int] = None,
                **kwargs) -> Tuple[np.ndarray, np.ndarray]:
    """A crowd: 15-25 people 40-80 px tall, rotated up to 30 degrees.

    Args:
        rng (np.random.Generator): Random source.
        image_size (tuple): Image size [w, h]. Defaults to (512, 512).
        num_people (int, optional): Defaults to a random number in
            [15, 25].
        **kwargs: Overrides of :func:`synthetic_scene` arguments.

    Returns:
        tuple: keypoints (N, 17, 2) and keypoints_visible (N, 17).
    """
    n = int(rng.integers(15, 26)) if num_people is None else num_people
    args = dict(height_range=(40., 80.), max_rotation=30., min_separation=8.)
    args.update(kwargs)
    return synthetic_scene(rng, image_size, n, **args)


def flip_people(
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    width: int,
    flip_indices: Sequence[int] = COCO_FLIP_INDICES
) -> Tuple[np.ndarray, np.ndarray]:
    """Mirror people with the image (x -> width - 1 - x, as ``cv2.flip``
    maps pixel centres) and swap left/right labels.

    Returns:
        tuple: Flipped keypoints (N, K, 2) and visibility (N, K).
    """
    keypoints = np.array(keypoints, dtype=np.float32)[:, list(flip_indices)]
    keypoints[..., 0] = width - 1 - keypoints[..., 0]
    return keypoints, np.asarray(keypoints_visible)[:, list(flip_indices)]


def coco_annotation(ann_id: int, img_id: int, keypoints: np.ndarray,
                    keypoints_visible: np.ndarray,
                    image_size: Tuple[int, int]) -> dict:
    """COCO keypoint annotation of one person.

    The box covers the labelled keypoints plus 10% of their extent (at
    least 4 px) on every side, clipped to the image; ``area`` is the box
    area (COCO uses the segment area, about the box area for a person
    seen whole), so OKS is on the scale of the person. A person without
    labels gets ``num_keypoints = 0`` and the box of all its keypoints.

    Returns:
        dict: The annotation (``keypoints`` as 3K floats x, y, v with v=2
        labelled, 0 unlabelled).
    """
    w, h = image_size
    labelled = np.asarray(keypoints_visible) > 0
    pts = keypoints[labelled] if labelled.any() else keypoints
    lo, hi = pts.min(0), pts.max(0)
    pad = np.maximum((hi - lo) * 0.1, 4)
    x0, y0 = np.clip(lo - pad, 0, [w - 1, h - 1])
    x1, y1 = np.clip(hi + pad, 0, [w - 1, h - 1])
    coco = np.zeros((len(keypoints), 3))
    coco[labelled, :2] = keypoints[labelled]
    coco[labelled, 2] = 2
    bw, bh = float(max(x1 - x0, 1)), float(max(y1 - y0, 1))
    return dict(
        id=ann_id,
        image_id=img_id,
        category_id=1,
        iscrowd=0,
        num_keypoints=int(labelled.sum()),
        keypoints=[round(float(v), 3) for v in coco.ravel()],
        bbox=[float(x0), float(y0), bw, bh],
        area=bw * bh,
        segmentation=[[
            float(x0),
            float(y0),
            float(x1),
            float(y0),
            float(x1),
            float(y1),
            float(x0),
            float(y1)
        ]])


def scenes_to_coco(scenes: Sequence[Tuple[np.ndarray, np.ndarray]],
                   image_sizes: Sequence[Tuple[int, int]],
                   skeleton: Optional[Sequence[Tuple[int, int]]] = None,
                   file_names: Optional[Sequence[str]] = None) -> dict:
    """COCO keypoint ground truth (``person_keypoints_*.json`` layout) of
    scenes, image ids from 1, annotation ids from 1.

    Args:
        scenes (Sequence[tuple]): (keypoints (N, 17, 2), visible (N, 17))
            per image.
        image_sizes (Sequence[tuple]): [w, h] per image.
        skeleton (Sequence[tuple], optional): 0-based limbs for the
            category's ``skeleton`` (stored 1-based). Defaults to none.
        file_names (Sequence[str], optional): Defaults to ``000001.jpg``...

    Returns:
        dict: ``images``, ``annotations`` and ``categories``.
    """
    images, annotations = [], []
    for i, ((kpts, vis), size) in enumerate(zip(scenes, image_sizes)):
        img_id = i + 1
        name = file_names[i] if file_names else f'{img_id:06d}.jpg'
        images.append(
            dict(
                id=img_id,
                file_name=name,
                width=int(size[0]),
                height=int(size[1])))
        for k, v in zip(kpts, vis):
            annotations.append(
                coco_annotation(len(annotations) + 1, img_id, k, v, size))
    category = dict(
        id=1,
        name='person',
        supercategory='person',
        keypoints=list(COCO_KEYPOINTS),
        skeleton=[[a + 1, b + 1] for a, b in (skeleton or [])])
    return dict(images=images, annotations=annotations, categories=[category])

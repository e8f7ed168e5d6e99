# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Multi-person scenes from real motion: people posed from the DeepMimic
motion-capture clips, standing at random places in front of a real camera,
drawn over real photos (see :mod:`.render`).

The one generator of 3D multi-person scenes in this project, used by the
tests, the tiny training config, the demos and ``tools/benchmark.py``. A
scene generator draws its clips, cameras and photos from one split; the
training and the held-out splits share none of them (:func:`scene_split`).
"""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .camera import HELD_OUT_CAMERAS, TRAIN_CAMERAS, Camera, load_cameras
from .joint_sets import COCO_KEYPOINTS, get_joint_set
from .motion import POINT_NAMES, MotionClip, clip_split, load_clips
from .render import person_colours, render_people


@dataclass
class Scene:
    """People of one image, with everything known about them.

    Args:
        image (np.ndarray): BGR image (H, W, 3), uint8.
        camera (Camera): Its camera.
        points_cam (np.ndarray): Camera-frame positions (mm) of
            :data:`~.motion.POINT_NAMES`, shape (N, P, 3).
        visible (np.ndarray): (N, P) bool, which points are seen.
        sources (list): Per person, the (clip name, frame index) posed.
    """
    image: np.ndarray
    camera: Camera
    points_cam: np.ndarray
    visible: np.ndarray
    sources: List[Tuple[str, int]] = field(default_factory=list)

    @property
    def points_img(self) -> np.ndarray:
        """Pixel coordinates (N, P, 2) of every point."""
        return self.camera.project(self.points_cam)

    def select(self, names: Sequence[str]):
        """Pixels (N, K, 2), camera positions (N, K, 3) and visibility
        (N, K) of the named points."""
        index = [POINT_NAMES.index(n) for n in names]
        return (self.points_img[:, index].astype(np.float32),
                self.points_cam[:,
                                index].astype(np.float32), self.visible[:,
                                                                        index])

    def keypoints_2d(self):
        """COCO keypoints (N, 17, 2) and their visibility (N, 17)."""
        kpts, _, vis = self.select(COCO_KEYPOINTS)
        return kpts, vis.astype(np.float32)

    def keypoints_3d(self, joint_set='coco21') -> np.ndarray:
        """Camera-frame joints (N, J, 3) in mm of a joint set."""
        return self.select(get_joint_set(joint_set).names)[1]


def scene_split(split: str) -> dict:
    """Clips, cameras and photo indices of a split: ``'train'`` or
    ``'held_out'`` (they share none)."""
    if split == 'train':
        return dict(
            clips=clip_split('train'), cameras=TRAIN_CAMERAS, photo_parity=0)
    if split == 'held_out':
        return dict(
            clips=clip_split('held_out'),
            cameras=HELD_OUT_CAMERAS,
            photo_parity=1)
    raise ValueError(f"unknown scene split {split!r}; use 'train' or "
                     "'held_out'")


def default_photos() -> List[np.ndarray]:
    """scikit-learn's two sample photos (BGR), the backgrounds available
    wherever this package is installed."""
    from sklearn.datasets import load_sample_images
    return [img[..., ::-1].copy() for img in load_sample_images().images]


def load_photos(paths: Sequence[str]) -> List[np.ndarray]:
    """Read background photos; a path that is no image is refused."""
    photos = []
    for path in paths:
        img = cv2.imread(str(path))
        if img is None:
            raise FileNotFoundError(f'background photo {path} cannot be read '
                                    'as an image')
        photos.append(img)
    return photos


def _background(rng, photo: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """A random crop of a photo, resized to ``size`` (w, h)."""
    w, h = size
    ph, pw = photo.shape[:2]
    scale = max(w / pw, h / ph) * rng.uniform(1.0, 1.6)
    cw, ch = min(pw, int(np.ceil(w / scale))), min(ph, int(np.ceil(h / scale)))
    x0, y0 = rng.integers(0, pw - cw + 1), rng.integers(0, ph - ch + 1)
    crop = photo[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)


class SceneGenerator:
    """Random scenes of 1-6 people from real motion over real photos.

    Each person is a random frame of a random clip, turned to a random
    heading, with its feet on the ground at a random place in front of the
    camera (a log-uniform depth, at least ``min_gap`` from the others), so
    that people overlap and hide each other as they do in photos; a
    ``truncation`` share is placed across the image border. The camera has
    real intrinsics (fitted to ``image_size``), a random height and pitch.

    Args:
        split (str): ``'train'`` or ``'held_out'``: the clips, cameras and
            photos to draw from (:func:`scene_split`).
        image_size (tuple): (w, h). Defaults to XNect's (512, 320).
        num_people (tuple): Inclusive range of people per scene.
            Defaults to (1, 6).
        depth_range (tuple): Root depth range in mm. Defaults to
            (2500, 12000).
        truncation (float): Share of people placed across the image
            border. Defaults to 0.3.
        min_gap (float): Minimum distance (mm) between two people's roots
            on the ground. Defaults to 600.
        photos (Sequence[np.ndarray], optional): BGR background photos;
            the split takes every other one. Defaults to scikit-learn's
            two sample photos (one per split).
        fps (float, optional): Resample the clips to this frame rate.
    """

    def __init__(self,
                 split: str = 'train',
                 image_size: Tuple[int, int] = (512, 320),
                 num_people: Tuple[int, int] = (1, 6),
                 depth_range: Tuple[float, float] = (2500., 12000.),
                 truncation: float = 0.3,
                 min_gap: float = 600.,
                 photos: Optional[Sequence[np.ndarray]] = None,
                 fps: Optional[float] = None) -> None:
        parts = scene_split(split)
        clips = load_clips(parts['clips'])
        self.clips: List[MotionClip] = [
            c.resample(fps) if fps else c for c in clips.values()
        ]
        self.cameras = [
            c.fit_to(image_size) for c in load_cameras(parts['cameras'])
        ]
        photos = default_photos() if photos is None else list(photos)
        self.photos = photos[parts['photo_parity']::2] or photos
        self.image_size = tuple(image_size)
        self.num_people = num_people
        self.depth_range = depth_range
        self.truncation = truncation
        self.min_gap = min_gap

    def __call__(self, rng: np.random.Generator) -> Scene:
        camera = self.cameras[rng.integers(len(self.cameras))]
        height = rng.uniform(700., 1500.)  # camera above the ground, mm
        pitch = np.deg2rad(rng.uniform(-8., 8.))
        n = int(rng.integers(self.num_people[0], self.num_people[1] + 1))
        people, sources, spots = [], [], []
        for _ in range(n):
            placed = self._place(rng, camera, height, pitch, spots)
            if placed is not None:
                people.append(placed[0])
                sources.append(placed[1])
        points = np.asarray(
            people, dtype=np.float64).reshape(-1, len(POINT_NAMES), 3)
        background = _background(rng,
                                 self.photos[rng.integers(len(self.photos))],
                                 self.image_size)
        colours = [person_colours(rng) for _ in range(len(points))]
        image, visible = render_people(background, camera, points, colours)
        return Scene(image, camera, points.astype(np.float32), visible,
                     sources)

    def _place(self,
               rng,
               camera: Camera,
               height: float,
               pitch: float,
               spots: list,
               tries: int = 50):
        """One person on the ground in view, away from the others."""
        lo, hi = np.log(self.depth_range[0]), np.log(self.depth_range[1])
        for _ in range(tries):
            depth = float(np.exp(rng.uniform(lo, hi)))
            margin = 0. if rng.random() < self.truncation else 0.15
            u = rng.uniform(margin, 1. - margin) * camera.width
            x = (u - camera.cx) * depth / camera.fx
            if all(
                    np.hypot(x - sx, depth - sz) >= self.min_gap
                    for sx, sz in spots):
                break
        else:
            return None
        spots.append((x, depth))
        clip = self.clips[rng.integers(len(self.clips))]
        frame = int(rng.integers(len(clip)))
        world = clip.points[frame].copy()
        world[:, [0, 2]] -= world[0, [0, 2]]  # root over the origin
        yaw = rng.uniform(0., 2. * np.pi)
        c, s = np.cos(yaw), np.sin(yaw)
        x_w = c * world[:, 0] + s * world[:, 2]
        z_w = -s * world[:, 0] + c * world[:, 2]
        # world (x, y up, z) -> camera (x right, y down, z forward): a
        # rotation (two axes flipped), so left stays left
        cam = np.stack([x_w + x, height - world[:, 1], depth - z_w], -1)
        cp, sp = np.cos(pitch), np.sin(pitch)
        y, z = cam[:, 1].copy(), cam[:, 2].copy()
        cam[:, 1], cam[:, 2] = cp * y - sp * z, sp * y + cp * z
        return cam, (clip.name, frame)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Pinhole cameras: real intrinsics, projection and back-projection.

Camera coordinates follow OpenCV: x right, y down, z forward, millimetres.
"""
import json
import os.path as osp
from dataclasses import dataclass, replace
from typing import List, Sequence, Tuple

import numpy as np

_CAMERAS_FILE = osp.join(
    osp.dirname(osp.abspath(__file__)), 'data', 'cameras.json')


@dataclass(frozen=True)
class Camera:
    """Intrinsics of a pinhole camera (no distortion).

    Args:
        fx, fy (float): Focal lengths in pixels.
        cx, cy (float): Principal point in pixels.
        width, height (int): Image size in pixels.
        name (str): Where the intrinsics come from.
    """
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    name: str = ''

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 intrinsic matrix K."""
        return np.array([[self.fx, 0., self.cx], [0., self.fy, self.cy],
                         [0., 0., 1.]])

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of camera-frame points (..., 3)."""
        points = np.asarray(points, dtype=np.float64)
        z = np.maximum(points[..., 2:3], 1e-6)
        xy = points[..., :2] / z
        return xy * [self.fx, self.fy] + [self.cx, self.cy]

    def back_project(self, pixels: np.ndarray,
                     depth: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) at pixels (..., 2) and depths
        (...)."""
        pixels = np.asarray(pixels, dtype=np.float64)
        depth = np.asarray(depth, dtype=np.float64)[..., None]
        xy = (pixels - [self.cx, self.cy]) / [self.fx, self.fy]
        return np.concatenate([xy * depth, depth], axis=-1)

    def fit_to(self, size: Tuple[int, int]) -> 'Camera':
        """The camera of this camera's image resized to cover ``size``
        (w, h) and centre-cropped to it, as a photo is fitted to a
        network input."""
        w, h = size
        s = max(w / self.width, h / self.height)
        dx = (self.width * s - w) / 2
        dy = (self.height * s - h) / 2
        return replace(
            self,
            fx=self.fx * s,
            fy=self.fy * s,
            cx=self.cx * s - dx,
            cy=self.cy * s - dy,
            width=int(w),
            height=int(h))

    def to_dict(self) -> dict:
        """``f`` and ``c`` as in the MuCo-3DHP / MuPoTS-3D JSON files."""
        return dict(f=[self.fx, self.fy], c=[self.cx, self.cy])


def load_cameras(names: Sequence[str] = ()) -> List[Camera]:
    """The real cameras shipped in ``pose3d/data/cameras.json`` (Human3.6M
    and MPI-INF-3DHP intrinsics), optionally only those named."""
    with open(_CAMERAS_FILE, encoding='utf-8') as f:
        rows = json.load(f)['cameras']
    cameras = [Camera(**row) for row in rows]
    if names:
        by_name = {c.name: c for c in cameras}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f'unknown cameras {missing}; the shipped ones '
                             f'are {sorted(by_name)}')
        cameras = [by_name[n] for n in names]
    return cameras


# Cameras of the training and of the held-out scenes (never mixed).
TRAIN_CAMERAS = ('h36m_S1_54138969', 'h36m_S1_55011271', 'h36m_S1_58860488',
                 'h36m_S1_60457274', '3dhp_TS1', '3dhp_TS2', '3dhp_TS3',
                 '3dhp_TS4')
HELD_OUT_CAMERAS = ('3dhp_TS5', '3dhp_TS6')

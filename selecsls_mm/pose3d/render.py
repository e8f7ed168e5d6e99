# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Draw 3D people as solid limbs over a photo, nearer over farther.

Every body part (limbs as capsules, the torso as a polygon, the head as a
disc, face points and ears as dots) is one primitive at the mean depth of its
points. Primitives of all people are painted from far to near, and a buffer
keeps which primitive won each pixel, so what is drawn decides what is
visible: a point is visible where the pixel it projects to shows a primitive
of its own person that holds the point, or that lies no nearer than the point
(minus :data:`DEPTH_TOLERANCE`). A wrist behind its own torso, a nose seen
from behind or a knee hidden by someone in front are therefore not visible.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from .camera import Camera
from .motion import POINT_NAMES

DEPTH_TOLERANCE = 50.  # mm
_P = {n: i for i, n in enumerate(POINT_NAMES)}
# Capsules: (start, end, radius in mm, side) with side 'l', 'r' or 'c'.
_CAPSULES = [
    ('pelvis', 'spine', 110, 'c'), ('spine', 'neck', 100, 'c'),
    ('neck', 'head', 50, 'c'), ('left_shoulder', 'right_shoulder', 55, 'c'),
    ('left_hip', 'right_hip', 70, 'c')
] + [(f'{s}_{a}', f'{s}_{b}', r, s[0]) for s in ('left', 'right')
     for a, b, r in (('shoulder', 'elbow', 48), ('elbow', 'wrist', 40),
                     ('wrist', 'hand', 36), ('hip', 'knee', 72),
                     ('knee', 'ankle', 55), ('ankle', 'toe', 42))]
_TORSO = ('left_shoulder', 'right_shoulder', 'right_hip', 'left_hip')
_HEAD_RADIUS = 115.
# Dots on the head: (point, radius in mm)
_DOTS = [('nose', 22), ('left_eye', 14), ('right_eye', 14), ('left_ear', 25),
         ('right_ear', 25)]


@dataclass
class _Primitive:
    person: int
    depth: float
    points: Tuple[int, ...]  # indices into POINT_NAMES that it holds
    kind: str  # 'capsule', 'polygon' or 'disc'
    pixels: np.ndarray  # projected outline points
    radius: float  # pixels (capsules and discs)
    colour: Tuple[int, int, int]


def person_colours(rng: np.random.Generator) -> dict:
    """BGR colours of one person: left parts lighter, right parts darker
    (so the two sides can be told apart), torso and head in between."""
    hsv = np.uint8([[[
        rng.integers(0, 180),
        rng.integers(90, 230),
        rng.integers(110, 220)
    ]]])
    base = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(float)
    skin = np.array([120., 160., 210.]) * rng.uniform(0.6, 1.1)
    return dict(
        c=tuple(int(v) for v in base),
        l=tuple(int(v) for v in base * 0.45 + 255 * 0.55),
        r=tuple(int(v) for v in base * 0.45),
        head=tuple(int(v) for v in np.clip(skin, 0, 255)),
        face=(40, 40, 40))


def _person_primitives(n: int, points: np.ndarray, pixels: np.ndarray,
                       camera: Camera, colours: dict) -> List[_Primitive]:
    out = []
    z = points[:, 2]
    for a, b, r, side in _CAPSULES:
        ia, ib = _P[a], _P[b]
        depth = (z[ia] + z[ib]) / 2
        out.append(
            _Primitive(n, depth, (ia, ib), 'capsule', pixels[[ia, ib]],
                       camera.fx * r / max(depth, 1.), colours[side]))
    torso = [_P[p] for p in _TORSO]
    out.append(
        _Primitive(n, z[torso].mean(), tuple(torso), 'polygon', pixels[torso],
                   0., colours['c']))
    head = _P['head']
    out.append(
        _Primitive(n, z[head], (head, _P['head_top']), 'disc', pixels[[head]],
                   camera.fx * _HEAD_RADIUS / max(z[head], 1.),
                   colours['head']))
    for name, r in _DOTS:
        i = _P[name]
        out.append(
            _Primitive(n, z[i], (i, ), 'disc', pixels[[i]],
                       camera.fx * r / max(z[i], 1.), colours['face']))
    return out


def _paint(canvas: np.ndarray, prim: _Primitive, value) -> None:
    pts = np.round(prim.pixels * 4).astype(np.int32)  # 2 fractional bits
    radius = int(round(prim.radius * 4))
    if prim.kind == 'polygon':
        cv2.fillPoly(canvas, [pts], value, cv2.LINE_8, 2)
        return
    if prim.kind == 'capsule':
        cv2.line(canvas, tuple(pts[0]), tuple(pts[1]), value,
                 max(1, int(round(2 * prim.radius))), cv2.LINE_8, 2)
    for p in pts:
        cv2.circle(canvas, tuple(p), max(radius, 1), value, -1, cv2.LINE_8, 2)


def render_people(background: np.ndarray,
                  camera: Camera,
                  points: np.ndarray,
                  colours: Sequence[dict],
                  min_depth: float = 300.) -> Tuple[np.ndarray, np.ndarray]:
    """Draw people over a background and decide which points are seen.

    Args:
        background (np.ndarray): BGR image (H, W, 3), uint8, of the
            camera's size.
        camera (Camera): The camera the points are in.
        points (np.ndarray): Camera-frame points of :data:`POINT_NAMES`,
            shape (N, P, 3), mm.
        colours (Sequence[dict]): Per person, from :func:`person_colours`.
        min_depth (float): Parts nearer than this (mm) are not drawn.

    Returns:
        tuple:
        - image (np.ndarray): The drawn image, (H, W, 3) uint8.
        - visible (np.ndarray): (N, P) bool, whether each point is seen.
    """
    image = background.copy()
    h, w = image.shape[:2]
    pixels = camera.project(points) if len(points) else np.zeros((0, 0, 2))
    prims = [
        p for n in range(len(points)) for p in _person_primitives(
            n, points[n], pixels[n], camera, colours[n])
        if points[n][list(p.points), 2].min() >= min_depth
    ]
    prims.sort(key=lambda p: -p.depth)
    winner = np.full((h, w), -1, dtype=np.int32)
    for i, prim in enumerate(prims):
        _paint(image, prim, prim.colour)
        _paint(winner, prim, i)
    return image, _visibility(points, pixels, prims, winner)


def _visibility(points: np.ndarray, pixels: np.ndarray, prims: list,
                winner: np.ndarray) -> np.ndarray:
    h, w = winner.shape
    N, P = points.shape[:2]
    visible = np.zeros((N, P), dtype=bool)
    if not N:
        return visible
    uv = np.round(pixels).astype(np.int64)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (
        uv[..., 1] < h) & (
            points[..., 2] > 0)
    for n, p in zip(*np.nonzero(inside)):
        top = winner[uv[n, p, 1], uv[n, p, 0]]
        if top < 0 or prims[top].person != n:
            continue
        prim = prims[top]
        visible[n, p] = (
            p in prim.points
            or points[n, p, 2] <= prim.depth + DEPTH_TOLERANCE)
    return visible

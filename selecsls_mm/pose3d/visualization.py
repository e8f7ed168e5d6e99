# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Pictures of XNect's output: the 2D skeletons drawn on the image and a
3D view of the fitted skeletons beside it."""
from typing import Sequence

import cv2
import numpy as np

from .fitting import PersonFit
from .joint_sets import get_joint_set

# COCO's limbs (0-based), as drawn by mmpose
COCO_LIMBS = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11),
              (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1),
              (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))


def track_colour(track_id: int) -> tuple:
    """A distinct BGR colour per track id."""
    hue = (int(track_id) * 47) % 180
    hsv = np.uint8([[[hue, 200, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_2d(image: np.ndarray,
            fits: Sequence[PersonFit],
            min_score: float = 0.) -> np.ndarray:
    """The image with each person's found keypoints and limbs, coloured by
    track, and the track id at the head."""
    out = image.copy()
    for fit in fits:
        if fit.keypoints is None:
            continue
        colour = track_colour(fit.track_id)
        kpts, found = fit.keypoints, fit.keypoint_scores > min_score
        for a, b in COCO_LIMBS:
            if found[a] and found[b]:
                cv2.line(out, tuple(np.round(kpts[a]).astype(int)),
                         tuple(np.round(kpts[b]).astype(int)), colour, 2,
                         cv2.LINE_AA)
        for p in kpts[found]:
            cv2.circle(out, tuple(np.round(p).astype(int)), 3, colour, -1,
                       cv2.LINE_AA)
        if found.any():
            x, y = kpts[found].min(0)
            cv2.putText(out, str(fit.track_id), (int(x), max(int(y) - 4, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return out


def draw_3d(fits: Sequence[PersonFit], joint_set, size: int) -> np.ndarray:
    """A ``size`` x ``size`` BGR image of the fitted skeletons in camera
    coordinates (seen from above-behind the camera), matplotlib's Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    js = get_joint_set(joint_set)
    fig = Figure(figsize=(size / 100, size / 100), dpi=100)
    # drawn by Agg whatever pyplot's backend is (a bare Figure has none)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection='3d')
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):  # few ticks: no overlaps
        axis.set_major_locator(MaxNLocator(3))
    ax.tick_params(labelsize=7)
    points = [f.joints_camera / 1000. for f in fits]
    for fit, pts in zip(fits, points):
        rgb = np.array(track_colour(fit.track_id)[::-1]) / 255.
        for j, p in enumerate(js.parents):
            if p >= 0:
                seg = pts[[j, p]]
                # x right, z forward (depth), y down drawn up
                ax.plot(seg[:, 0], seg[:, 2], -seg[:, 1], color=rgb, lw=2)
    if points:
        allp = np.concatenate(points)
        centre, half = allp.mean(0), max(np.ptp(allp, 0).max() / 2, 1.)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[2] - half, centre[2] + half)
        ax.set_zlim(-centre[1] - half, -centre[1] + half)
    ax.set_xlabel('x (m)', fontsize=8)
    ax.set_ylabel('depth (m)', fontsize=8)
    ax.set_zlabel('up (m)', fontsize=8)
    ax.view_init(elev=15, azim=-80)
    fig.tight_layout()
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)


def draw_frame(image: np.ndarray,
               fits: Sequence[PersonFit],
               joint_set,
               min_view: int = 320) -> np.ndarray:
    """The 2D drawing and the 3D view side by side: one image high, or
    ``min_view`` px high for smaller images (padded below), so that the
    3D view's labels stay legible."""
    left = draw_2d(image, fits)
    size = max(image.shape[0], min_view)
    right = draw_3d(fits, joint_set, size)
    if left.shape[0] < size:
        pad = np.zeros((size - left.shape[0], ) + left.shape[1:], left.dtype)
        left = np.vstack([left, pad])
    return np.hstack([left, right])

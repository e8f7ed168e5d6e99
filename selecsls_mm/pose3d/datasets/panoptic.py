# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""CMU Panoptic bodies seen from one camera, in the 3DMPPE-style layout.

A Panoptic sequence folder (panoptic-toolbox's ``getData.sh`` +
``extractAll.sh``) holds ``calibration_<seq>.json`` (``cameras``: ``name``
such as ``'00_16'``, ``type`` ``'hd'``/``'vga'``/``'kinect'``,
``resolution`` [w, h], ``K`` 3x3, ``distCoef`` [k1, k2, p1, p2, k3], ``R``
3x3 and ``t`` 3x1 in cm, world to camera), ``hdPose3d_stage1_coco19/
body3DScene_<frame>.json`` (``bodies``: ``id`` and ``joints19`` = 19 x
[x, y, z, confidence], cm, world frame) and ``hdImgs/<cam>/<cam>_<frame>.jpg``.

:func:`panoptic_to_coco3d` moves every body into a camera's frame (mm),
projects it with the lens distortion (pixels lie on the raw images) and
returns the COCO-style dict :class:`~.coco3d_dataset.Coco3DPoseDataset`
reads (MuCo layout, ``categories[0]['joint_names']`` = Panoptic's coco19
names); joints with confidence at most ``min_confidence`` get
``keypoints_cam_valid`` 0. There is no occlusion label: a valid joint inside
the image counts as seen.
"""
import glob
import json
import os.path as osp
import re
from typing import Dict, List, Optional

import numpy as np

from .joint_names import PANOPTIC_JOINT_NAMES

BODY_DIR = 'hdPose3d_stage1_coco19'
# panoptic-toolbox's demos draw joints with a confidence above 0.1
MIN_CONFIDENCE = 0.1
_FRAME = re.compile(r'body3DScene_(\d+)\.json$')


def _load_json(path: str, what: str) -> dict:
    if not osp.isfile(path):
        raise FileNotFoundError(f'CMU Panoptic {what} {path} does not exist; '
                                'download and extract the sequence with '
                                "panoptic-toolbox's scripts (docs/pose3d.md)")
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def load_panoptic_camera(calib_file: str, name: str) -> dict:
    """One camera of a Panoptic calibration file.

    Returns:
        dict: ``name``, ``K`` (3, 3), ``dist`` (5, ) = k1, k2, p1, p2, k3,
        ``R`` (3, 3), ``t`` (3, ) cm, ``width``, ``height``.
    """
    cameras = _load_json(calib_file, 'calibration file').get('cameras', [])
    by_name = {c.get('name'): c for c in cameras}
    if name not in by_name:
        hd = sorted(n for n, c in by_name.items() if c.get('type') == 'hd')
        raise ValueError(f'camera {name!r} is not in {calib_file}; its HD '
                         f'cameras are {hd}')
    cam = by_name[name]
    try:
        dist = np.zeros(5)
        coef = np.asarray(cam.get('distCoef', []), np.float64).reshape(-1)
        dist[:coef.size] = coef[:5]
        return dict(
            name=name,
            K=np.asarray(cam['K'], np.float64).reshape(3, 3),
            dist=dist,
            R=np.asarray(cam['R'], np.float64).reshape(3, 3),
            t=np.asarray(cam['t'], np.float64).reshape(3),
            width=int(cam['resolution'][0]),
            height=int(cam['resolution'][1]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f'camera {name!r} of {calib_file} lacks or has a '
                         f'malformed K, R, t or resolution ({err})') from None


def world_to_camera(points_cm: np.ndarray, camera: dict) -> np.ndarray:
    """Camera-frame points (..., 3) in mm of world points in cm."""
    return (np.asarray(points_cm) @ camera['R'].T + camera['t']) * 10.


def project_distorted(points_cam: np.ndarray, camera: dict) -> np.ndarray:
    """Pixels (..., 2) of camera-frame points with the lens distortion
    (OpenCV's model with k1, k2, p1, p2, k3)."""
    z = np.maximum(points_cam[..., 2], 1e-6)
    x, y = points_cam[..., 0] / z, points_cam[..., 1] / z
    k1, k2, p1, p2, k3 = camera['dist']
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    K = camera['K']
    u = K[0, 0] * xd + K[0, 1] * yd + K[0, 2]
    v = K[1, 1] * yd + K[1, 2]
    return np.stack([u, v], axis=-1)


def read_bodies(body_file: str) -> List[dict]:
    """``id``, ``joints`` (19, 3) cm and ``confidence`` (19, ) of each body
    of one frame."""
    bodies = []
    for body in _load_json(body_file, 'body file').get('bodies', []):
        values = np.asarray(body.get('joints19', []), np.float64)
        if values.size != 4 * len(PANOPTIC_JOINT_NAMES):
            raise ValueError(
                f'body {body.get("id")} of {body_file} has '
                f'{values.size} joints19 values, expected '
                f'{4 * len(PANOPTIC_JOINT_NAMES)} (19 x [x, y, z, c]); only '
                'hdPose3d_stage1_coco19 files are supported')
        values = values.reshape(-1, 4)
        bodies.append(
            dict(
                id=int(body['id']),
                joints=values[:, :3],
                confidence=values[:, 3]))
    return bodies


def _person(body: dict, camera: dict, min_confidence: float) -> Optional[dict]:
    """A body as a 3DMPPE-style annotation (without ids); None when no
    valid joint lies in the image."""
    cam = world_to_camera(body['joints'], camera)
    pix = project_distorted(cam, camera)
    valid = body['confidence'] > min_confidence
    inside = ((pix[:, 0] >= 0) & (pix[:, 0] < camera['width']) &
              (pix[:, 1] >= 0) & (pix[:, 1] < camera['height']) &
              (cam[:, 2] > 0))
    seen = valid & inside
    if not seen.any():
        return None
    lo, hi = pix[valid].min(0), pix[valid].max(0)
    return dict(
        panoptic_id=body['id'],
        bbox=[float(lo[0]), float(lo[1]), *map(float, hi - lo)],
        keypoints_img=pix.round(3).tolist(),
        keypoints_cam=cam.round(3).tolist(),
        keypoints_vis=seen.astype(int).tolist(),
        keypoints_cam_valid=valid.astype(int).tolist())


def body_files(seq_dir: str, frame_step: int = 1) -> Dict[int, str]:
    """Frame index -> body file of a sequence, every ``frame_step``-th."""
    files = sorted(glob.glob(osp.join(seq_dir, BODY_DIR, '*.json')))
    frames = {}
    for path in files:
        match = _FRAME.search(osp.basename(path))
        if match:
            frames[int(match.group(1))] = path
    if not frames:
        raise FileNotFoundError(
            f'no {BODY_DIR}/body3DScene_*.json under {seq_dir}; extract '
            f'{BODY_DIR}.tar of the sequence there')
    return {f: frames[f] for f in sorted(frames)[::frame_step]}


def panoptic_to_coco3d(seq_dir: str,
                       camera: str,
                       frame_step: int = 1,
                       min_confidence: float = MIN_CONFIDENCE) -> dict:
    """The bodies of a Panoptic sequence seen from ``camera``, as a
    3DMPPE-style COCO dict (MuCo layout).

    Args:
        seq_dir (str): The sequence folder (its name is the sequence's).
        camera (str): Camera name, e.g. ``'00_16'`` (HD panel 0, node 16).
        frame_step (int): Use every ``frame_step``-th body file.
            Defaults to 1.
        min_confidence (float): Joints with a lower confidence have no 3D
            label. Defaults to 0.1.

    Returns:
        dict: ``images``, ``annotations``, ``categories``.
    """
    seq_dir = osp.abspath(seq_dir).rstrip('/')
    seq = osp.basename(seq_dir)
    cam = load_panoptic_camera(
        osp.join(seq_dir, f'calibration_{seq}.json'), camera)
    K = cam['K']
    images, anns = [], []
    for frame, path in body_files(seq_dir, frame_step).items():
        image_id = frame + 1
        images.append(
            dict(
                id=image_id,
                file_name=f'hdImgs/{camera}/{camera}_{frame:08d}.jpg',
                width=cam['width'],
                height=cam['height'],
                f=[K[0, 0], K[1, 1]],
                c=[K[0, 2], K[1, 2]]))
        for body in read_bodies(path):
            person = _person(body, cam, min_confidence)
            if person is not None:
                anns.append(
                    dict(
                        id=len(anns) + 1,
                        image_id=image_id,
                        category_id=1,
                        iscrowd=0,
                        **person))
    category = dict(
        id=1, name='person', joint_names=list(PANOPTIC_JOINT_NAMES))
    return dict(images=images, annotations=anns, categories=[category])

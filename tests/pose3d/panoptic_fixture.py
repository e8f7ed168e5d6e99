"""A tiny CMU Panoptic sequence written from real motion: DeepMimic clips
moved into Panoptic's world frame (cm, y down) and real camera intrinsics
placed around them, in the panoptic-toolbox file layout
(``calibration_<seq>.json``, ``hdPose3d_stage1_coco19/body3DScene_*.json``).

Each camera is built from its centre and viewing axes; the tests check the
loader against those, not against the R, t the file stores.
"""
import json
import os
import os.path as osp

import numpy as np

from selecsls_mm.pose3d.camera import load_cameras
from selecsls_mm.pose3d.datasets import PANOPTIC_JOINT_NAMES
from selecsls_mm.pose3d.joint_sets import canonical_name
from selecsls_mm.pose3d.motion import POINT_NAMES, load_clip

SEQ = '171204_pose1_tiny'
HD_SIZE = (1920, 1080)
FRAMES = (0, 7)
MISSING = (0, 1, 'lWrist')  # (frame, body, joint) with confidence -1


def look_at(centre, target):
    """Camera axes (rows: x right, y down, z forward) looking at target,
    in Panoptic's world (y down)."""
    forward = np.subtract(target, centre, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    right = np.cross([0., 1., 0.], forward)  # world down is +y
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def _camera(name, kind, intrinsics, centre, target, dist):
    axes = look_at(centre, target)
    cam = intrinsics.fit_to(HD_SIZE)
    entry = dict(
        name=name,
        type=kind,
        resolution=list(HD_SIZE),
        panel=int(name.split('_')[0]),
        node=int(name.split('_')[1]),
        K=[[cam.fx, 0., cam.cx], [0., cam.fy, cam.cy], [0., 0., 1.]],
        distCoef=list(dist),
        R=axes.tolist(),
        t=(-axes @ np.asarray(centre, np.float64)).reshape(3, 1).tolist())
    return entry, dict(centre=np.asarray(centre, np.float64), axes=axes)


def _bodies(frame):
    """Three people: two in front of camera 00_16, one behind it."""
    clips = (('walk', 10, (-70., 0.)), ('dance_a', 40, (80., 60.)),
             ('run', 5, (0., -700.)))
    index = [
        POINT_NAMES.index(canonical_name(n)) for n in PANOPTIC_JOINT_NAMES
    ]
    rng = np.random.default_rng(frame)
    bodies, world = [], []
    for i, (name, start, (x, z)) in enumerate(clips):
        points = load_clip(name).points[start + frame][index]  # mm, y up
        points[:, [0, 2]] -= points[0, [0, 2]]
        # to Panoptic's world: cm, y down (two axes flipped keep handedness)
        cm = points * [0.1, -0.1, -0.1] + [x, 0., z]
        conf = rng.uniform(0.3, 0.9, len(index))
        if (frame, i) == MISSING[:2]:
            conf[PANOPTIC_JOINT_NAMES.index(MISSING[2])] = -1.
        bodies.append(
            dict(
                id=i,
                joints19=np.concatenate([cm, conf[:, None]],
                                        1).reshape(-1).tolist()))
        world.append(dict(points=cm, confidence=conf))
    return bodies, world


def write_panoptic_sequence(root):
    """Write the sequence under ``root/SEQ``.

    Returns:
        dict: ``seq_dir``, ``cameras`` (name -> centre, axes, entry) and
        ``frames`` (frame -> list of dict(points (19, 3) cm, confidence)).
    """
    seq_dir = osp.join(root, SEQ)
    os.makedirs(osp.join(seq_dir, 'hdPose3d_stage1_coco19'))
    h36m, hp3d = load_cameras(['h36m_S1_54138969', '3dhp_TS1'])
    specs = [
        ('00_16', 'hd', h36m, (0., -160., -450.), (0., -90., 0.), [0.] * 5),
        ('00_03', 'hd', hp3d, (320., -220., -330.), (0., -90., 0.),
         [-0.21, 0.06, 0.0012, -0.0007, 0.01]),
        ('01_01', 'vga', h36m, (0., -250., 500.), (0., -90., 0.), [0.] * 5)
    ]
    entries, cameras = [], {}
    for name, kind, intr, centre, target, dist in specs:
        entry, geometry = _camera(name, kind, intr, centre, target, dist)
        entries.append(entry)
        cameras[name] = dict(entry=entry, **geometry)
    with open(osp.join(seq_dir, f'calibration_{SEQ}.json'), 'w') as f:
        json.dump(dict(calibDataSource=SEQ, cameras=entries), f)
    frames = {}
    for frame in FRAMES:
        bodies, world = _bodies(frame)
        frames[frame] = world
        path = osp.join(seq_dir, 'hdPose3d_stage1_coco19',
                        f'body3DScene_{frame:08d}.json')
        with open(path, 'w') as f:
            json.dump(
                dict(
                    version=0.7,
                    univTime=frame * 33.4,
                    fpsType='hd_29_97',
                    bodies=bodies), f)
    return dict(seq_dir=seq_dir, cameras=cameras, frames=frames)

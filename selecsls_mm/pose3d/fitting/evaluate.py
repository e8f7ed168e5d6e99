# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage III measured on real motion with noisy inputs: bone-length
constancy, joint acceleration error, MPJPE and absolute root depth, for the
raw inputs, per-frame (single image) fitting and fitting over time.

Used by the tests, ``tools/analysis_tools/stage3_eval.py`` and the numbers
in docs/pose3d.md.
"""
import warnings
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from ..camera import load_cameras
from ..metrics.functional import mpjpe
from ..motion import load_clip
from .bvh import CAMERA_TO_BVH
from .simulate import ClipInputs, NoiseModel, Placement, clip_inputs
from .stage3 import SkeletonTracker, fit_image


def acceleration_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean over frames and joints of the distance between predicted and
    true accelerations (second differences, mm per frame^2).

    Args:
        pred (np.ndarray): (T, J, 3) joint positions, mm.
        truth (np.ndarray): (T, J, 3) true positions, mm.
    """
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_t = truth[2:] - 2 * truth[1:-1] + truth[:-2]
    return float(np.linalg.norm(acc_p - acc_t, axis=-1).mean())


def track_arrays(fits) -> Dict[str, np.ndarray]:
    """One track's fits as arrays: ``joints`` (T, J, 3) root-relative,
    ``root`` (T, 3), ``frame`` (T, ), ``bones`` (T, J) lengths measured
    on the fitted joints."""
    return dict(
        joints=np.stack([f.joints for f in fits]),
        root=np.stack([f.root for f in fits]),
        frame=np.array([f.frame for f in fits]),
        rotations=np.stack([f.rotations for f in fits]))


def _scores(joints, root, inputs: ClipInputs, bones, name) -> dict:
    rel = inputs.truth_relative
    out = {
        f'{name}/mpjpe': mpjpe(joints, rel),
        f'{name}/accel': acceleration_error(joints, rel),
    }
    if root is not None:
        depth = inputs.truth[:, inputs.root, 2]
        out[f'{name}/depth_rel_err'] = float(
            np.mean(np.abs(root[:, 2] - depth) / depth))
    if bones is not None:
        out[f'{name}/bone_std'] = float(bones.std(0).max())
    return out


def evaluate_inputs(inputs: ClipInputs,
                    make_tracker: Callable[[], SkeletonTracker],
                    joint_set='coco21',
                    baselines: bool = True) -> dict:
    """Scores of one person's clip: raw 3D inputs, per-frame fits and the
    tracker's fits over time.

    Returns:
        dict: ``'<kind>/<metric>'`` with kind in ``raw``, ``image``,
        ``video`` and metric in ``mpjpe`` (root-relative, mm), ``accel``
        (mm/frame^2), ``depth_rel_err`` (mean |z - z_true| / z_true),
        ``bone_std`` (largest std over frames of a bone's length, mm).
        ``baselines=False`` leaves out ``raw`` and ``image``.
    """
    tracker = make_tracker()
    sk = tracker.skeleton
    out = {}
    if baselines:
        out.update(_scores(inputs.joints_3d, None, inputs, None, 'raw'))
        # every frame as its own image: one batched call
        image = fit_image(inputs.keypoints, inputs.scores, inputs.joints_3d,
                          inputs.camera, joint_set)
        joints = np.stack([f.joints for f in image])
        out.update(
            _scores(joints, np.stack([f.root for f in image]), inputs,
                    sk.bone_lengths(joints), 'image'))
    for t in range(len(inputs.times)):
        tracker.update(inputs.keypoints[t:t + 1], inputs.scores[t:t + 1],
                       inputs.joints_3d[t:t + 1], inputs.camera,
                       inputs.times[t])
    tracks = tracker.finish()
    if len(tracks) != 1:
        raise RuntimeError(f'one person gave {len(tracks)} tracks')
    arrays = track_arrays(next(iter(tracks.values())))
    if len(arrays['frame']) != len(inputs.times):
        raise RuntimeError('the track misses frames')
    out.update(
        _scores(arrays['joints'], arrays['root'], inputs,
                sk.bone_lengths(arrays['joints']), 'video'))
    return out


def evaluate_clips(clips: Sequence[str],
                   cameras: Sequence[str],
                   make_tracker: Callable[[], SkeletonTracker],
                   noise: NoiseModel = NoiseModel(),
                   fps: float = 30.,
                   seed: int = 0,
                   runs: int = 2,
                   max_frames: Optional[int] = None,
                   baselines: bool = True) -> dict:
    """Mean scores over clips x cameras x ``runs`` random placements and
    noise draws (a fixed seed, so the numbers are reproducible).

    Args:
        clips (Sequence[str]): Motion clip names.
        cameras (Sequence[str]): Camera names.
        make_tracker (callable): Builds a fresh :class:`SkeletonTracker`.
        noise (NoiseModel): Input noise.
        fps (float): Frame rate the clips are resampled to.
        seed (int): Random seed.
        runs (int): Placements per clip and camera.
        max_frames (int, optional): Use at most this many frames per clip.
        baselines (bool): Also score the raw inputs and per-frame fits.

    Returns:
        dict: The mean of :func:`evaluate_inputs`' scores, plus ``frames``.
    """
    rng = np.random.default_rng(seed)
    rows, frames = [], 0
    for name in clips:
        clip = load_clip(name).resample(fps)
        for camera in load_cameras(cameras):
            for _ in range(runs):
                inputs = clip_inputs(clip, camera, rng, noise,
                                     Placement.random(rng))
                if max_frames:
                    inputs = inputs.first(max_frames)
                rows.append(
                    evaluate_inputs(inputs, make_tracker, baselines=baselines))
                frames += len(inputs.times)
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out['frames'] = frames
    return out


def bvhio_positions(path: str, names) -> np.ndarray:
    """World positions (T, J, 3) of the named joints of a BVH file, as the
    independent reader bvhio (its own parser and forward kinematics)
    computes them."""
    with warnings.catch_warnings():
        # bvhio's PyGLM import style, not ours
        warnings.simplefilter('ignore', PendingDeprecationWarning)
        import bvhio
    root = bvhio.readAsHierarchy(path)
    joints = {j.Name: j for j, _, _ in root.layout()}
    out = []
    for frame in range(root.getKeyframeRange()[1] + 1):
        root.loadPose(frame)
        out.append([list(joints[n].PositionWorld) for n in names])
    return np.asarray(out)


def bvh_round_trip(tracker: SkeletonTracker, folder: str) -> float:
    """Largest distance (mm) between the fitted joints and those bvhio
    reads back from the tracker's BVH files (written to ``folder``)."""
    worst = 0.
    tracks = tracker.finish()
    for path, (_,
               fits) in zip(tracker.write_bvh(folder), sorted(tracks.items())):
        got = bvhio_positions(path, tracker.skeleton.names)
        frames = np.array([f.frame for f in fits])
        want = np.stack([f.joints_camera for f in fits]) @ CAMERA_TO_BVH.T
        worst = max(worst, float(np.abs(got[frames - frames[0]] - want).max()))
    return worst

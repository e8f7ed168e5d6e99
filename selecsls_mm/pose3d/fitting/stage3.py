# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""XNect's Stage III: skeleton fitting over time, per tracked person.

:class:`SkeletonTracker` takes, frame by frame, what Stages I and II give
for every person (2D keypoints with scores, root-relative 3D joints) and
the camera, and keeps per person: a track id (:mod:`.tracking`), One-Euro
filters on the 2D and 3D joints and on the root position
(:mod:`.one_euro`), the bone offsets (medians over the track's first
``bone_frames`` frames, fixed after them; :mod:`.skeleton`) and the last
fit (smoothness). Each frame, all people are fitted at once
(:func:`.fit.fit_frame`). :func:`fit_image` fits one image, without any
temporal terms.

A track's first ``bone_frames`` frames are held until its bones are fixed
and then fitted and reported together, so a person's bone lengths never
change; :meth:`SkeletonTracker.finish` fits what is still held at the end
of a video.
"""
import os.path as osp
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..camera import Camera
from .bvh import track_bvh_text, write_text
from .fit import FitWeights, Observations, fit_frame
from .one_euro import OneEuroFilter, OneEuroState
from .rotations import matrix_to_quaternion
from .skeleton import Skeleton
from .tracking import KeypointTracker

DEFAULT_FPS = 30.
# One-Euro settings chosen on the train clips (docs/pose3d.md, Stage III)
DEFAULT_FILTER_2D = OneEuroFilter(min_cutoff=16., beta=0.003)  # px
DEFAULT_FILTER_3D = OneEuroFilter(min_cutoff=0.5, beta=0.03)  # mm
DEFAULT_FILTER_ROOT = OneEuroFilter(min_cutoff=4., beta=0.002)  # mm


class Stage3Warning(UserWarning):
    """A bad input Stage III handled (a default used, a person skipped)."""


@dataclass
class PersonFit:
    """One person's fitted skeleton in one frame.

    Args:
        track_id (int): The person's id over the video.
        frame (int): Frame index (0-based, in calls of ``update``).
        time (float): Frame time, seconds.
        rotations (np.ndarray): (J, 3, 3) joint rotations, each local to
            its parent's frame (the root's: rest frame -> camera frame);
            identity at leaves. See :mod:`.skeleton` for the rest pose.
        root (np.ndarray): (3, ) root (pelvis) position, camera frame, mm.
        joints (np.ndarray): (J, 3) root-relative joint positions, mm,
            camera orientation.
        offsets (np.ndarray): (J, 3) the person's bone offsets, mm.
        keypoints (np.ndarray, optional): (17, 2) the 2D keypoints fitted
            to (filtered, in a video), px.
        keypoint_scores (np.ndarray, optional): (17, ) their scores.
        keypoints_3d (np.ndarray, optional): (J, 3) the root-relative 3D
            joints fitted to (Stage II's, filtered in a video), mm.
    """
    track_id: int
    frame: int
    time: float
    rotations: np.ndarray
    root: np.ndarray
    joints: np.ndarray
    offsets: np.ndarray
    keypoints: Optional[np.ndarray] = None
    keypoint_scores: Optional[np.ndarray] = None
    keypoints_3d: Optional[np.ndarray] = None

    @property
    def joints_camera(self) -> np.ndarray:
        """(J, 3) absolute joint positions, camera frame, mm."""
        return self.joints + self.root

    @property
    def quaternions(self) -> np.ndarray:
        """(J, 4) the rotations as quaternions (w, x, y, z)."""
        return matrix_to_quaternion(self.rotations)

    @property
    def bone_lengths(self) -> np.ndarray:
        """(J, ) length of each joint's bone to its parent, mm."""
        return np.linalg.norm(self.offsets, axis=-1)


@dataclass
class _Frame:
    """A track's filtered inputs of one frame (held or being fitted)."""
    frame: int
    time: float
    camera: Camera
    keypoints: np.ndarray
    scores: np.ndarray
    joints_3d: np.ndarray
    weights_3d: np.ndarray


@dataclass
class _TrackState:
    offsets: Optional[np.ndarray] = None
    held: List[_Frame] = field(default_factory=list)
    filter_2d: Optional[OneEuroState] = None
    filter_3d: Optional[OneEuroState] = None
    filter_root: Optional[OneEuroState] = None
    rotations: Optional[np.ndarray] = None
    global_rotations: Optional[np.ndarray] = None
    fits: List[PersonFit] = field(default_factory=list)


def _identities(num: int) -> np.ndarray:
    """(num, 3, 3) identity matrices (cheaper than np.tile)."""
    out = np.empty((num, 3, 3))
    out[:] = np.eye(3)
    return out


def _check_inputs(skeleton, keypoints, scores, joints_3d, camera, mask_3d):
    """Arrays as float64 with their shapes checked, one line if not."""
    if not isinstance(camera, Camera):
        got = 'none' if camera is None else f'a {type(camera).__name__}'
        raise ValueError(
            'Stage III needs the camera intrinsics for the absolute '
            f'placement and got {got}; pass camera=Camera(fx, fy, cx, cy, '
            'width, height) (from selecsls_mm.pose3d.camera)')
    keypoints = np.asarray(keypoints, np.float64)
    scores = np.asarray(scores, np.float64)
    joints_3d = np.asarray(joints_3d, np.float64)
    mask = np.ones(joints_3d.shape[:2]) if mask_3d is None else \
        np.asarray(mask_3d, np.float64)
    num, nj = len(keypoints), skeleton.num_joints
    if keypoints.shape != (num, 17, 2) or scores.shape != (num, 17) or \
            joints_3d.shape != (num, nj, 3) or mask.shape != (num, nj):
        raise ValueError(
            f'Stage III inputs disagree: keypoints {keypoints.shape}, scores '
            f'{scores.shape}, keypoints_3d {joints_3d.shape}, mask_3d '
            f'{mask.shape}; expected (M, 17, 2), (M, 17), (M, {nj}, 3) and '
            f'(M, {nj}) for joint set {skeleton.joint_set.name!r}')
    finite_3d = np.isfinite(joints_3d)
    finite_2d = np.isfinite(keypoints)
    mask = np.where(finite_3d.all(-1), mask, 0.)
    scores = np.where(finite_2d.all(-1), scores, 0.)
    # what is not finite has no weight; zeros keep the arithmetic finite
    keypoints = np.where(finite_2d, keypoints, 0.)
    joints_3d = np.where(finite_3d, joints_3d, 0.)
    return keypoints, scores, joints_3d, mask


class SkeletonTracker:
    """Stage III over a video: tracks, filters and fits every person.

    Args:
        joint_set (str): The 3D joint set of the inputs. Defaults to
            ``'coco21'``.
        fps (float, optional): Frame rate, used when ``update`` gets no
            frame time. Without either, 30 fps is assumed (said once).
        bone_frames (int): Frames over which a track's bones are measured
            (medians) before they are fixed.
        weights (FitWeights, optional): The energy's weights.
        filter_2d (OneEuroFilter, optional): On 2D keypoints (px).
        filter_3d (OneEuroFilter, optional): On root-relative 3D joints
            (mm).
        filter_root (OneEuroFilter, optional): On the fitted root position
            (mm); its depth is the depth term's reference.
        min_joints_3d (int): People with fewer valid 3D joints are skipped.
        min_keypoints (int): People with fewer 2D keypoints (score >=
            ``weights.min_score``) are skipped.
        tracker (KeypointTracker, optional): The person tracker.
    """

    def __init__(self,
                 joint_set='coco21',
                 fps: Optional[float] = None,
                 bone_frames: int = 10,
                 weights: Optional[FitWeights] = None,
                 filter_2d: Optional[OneEuroFilter] = None,
                 filter_3d: Optional[OneEuroFilter] = None,
                 filter_root: Optional[OneEuroFilter] = None,
                 min_joints_3d: int = 8,
                 min_keypoints: int = 4,
                 tracker: Optional[KeypointTracker] = None) -> None:
        if fps is not None and not fps > 0:
            raise ValueError(f'fps must be positive, got {fps}')
        self.skeleton = Skeleton(joint_set)
        self.fps = fps
        self.bone_frames = max(int(bone_frames), 1)
        self.weights = weights or FitWeights()
        self.filter_2d = filter_2d or DEFAULT_FILTER_2D
        self.filter_3d = filter_3d or DEFAULT_FILTER_3D
        self.filter_root = filter_root or DEFAULT_FILTER_ROOT
        self.min_joints_3d = min_joints_3d
        self.min_keypoints = min_keypoints
        self.tracker = tracker or KeypointTracker(
            min_score=self.weights.min_score)
        self.states: Dict[int, _TrackState] = {}
        self.frame = -1
        self.times: List[float] = []
        self._warned_fps = False

    @property
    def tracks(self) -> Dict[int, List[PersonFit]]:
        """Every track's fits so far, by id (frames in order)."""
        return {i: s.fits for i, s in self.states.items() if s.fits}

    def _frame_time(self, time: Optional[float]) -> float:
        if time is None:
            fps = self.fps
            if fps is None:
                fps = DEFAULT_FPS
                if not self._warned_fps:
                    warnings.warn(
                        'Stage III got no frame time and no fps: assuming '
                        f'{DEFAULT_FPS:g} fps; pass time= to update() or '
                        'fps= to SkeletonTracker', Stage3Warning)
                    self._warned_fps = True
            time = (self.frame + 1) / fps
        time = float(time)
        if self.times and not time > self.times[-1]:
            raise ValueError(
                f'frame times must increase: frame {self.frame + 1} has '
                f'time {time} after {self.times[-1]}')
        return time

    def _usable(self, scores, mask) -> np.ndarray:
        """Which people have enough joints; one line for each that not."""
        n2d = (scores >= self.weights.min_score).sum(1)
        n3d = (mask > 0).sum(1)
        ok = (n2d >= self.min_keypoints) & (n3d >= self.min_joints_3d)
        for i in np.flatnonzero(~ok):
            warnings.warn(
                f'Stage III frame {self.frame}: person {i} has {n3d[i]} 3D '
                f'joints (needs {self.min_joints_3d}) and {n2d[i]} 2D '
                f'keypoints with score >= {self.weights.min_score} (needs '
                f'{self.min_keypoints}); skipped', Stage3Warning)
        return ok

    def update(self,
               keypoints: np.ndarray,
               keypoint_scores: np.ndarray,
               keypoints_3d: np.ndarray,
               camera: Camera,
               time: Optional[float] = None,
               mask_3d: Optional[np.ndarray] = None) -> List[PersonFit]:
        """Process one frame.

        Args:
            keypoints (np.ndarray): (M, 17, 2) COCO keypoints, px.
            keypoint_scores (np.ndarray): (M, 17) their scores.
            keypoints_3d (np.ndarray): (M, J, 3) root-relative joints, mm.
            camera (Camera): The camera's intrinsics.
            time (float, optional): Frame time in seconds.
            mask_3d (np.ndarray, optional): (M, J) 3D joint confidences
                (0 for joints Stage II did not give).

        Returns:
            list[PersonFit]: This frame's fits of the tracks whose bones
            are fixed (a track's first frames are reported with the frame
            that fixes its bones, in ``tracks``).
        """
        keypoints, scores, joints_3d, mask = _check_inputs(
            self.skeleton, keypoints, keypoint_scores, keypoints_3d, camera,
            mask_3d)
        time = self._frame_time(time)
        self.frame += 1
        self.times.append(time)
        ok = self._usable(scores, mask)
        ids, ended = self.tracker.update(keypoints[ok], scores[ok], time)
        for i in ended:
            self._flush(i)
        frames = self._filter(ids, time, camera, keypoints[ok], scores[ok],
                              joints_3d[ok], mask[ok])
        ready = []
        for i, frame in zip(ids, frames):
            state = self.states[i]
            if state.offsets is None:
                state.held.append(frame)
                if len(state.held) >= self.bone_frames:
                    self._flush(i)
            else:
                ready.append(i)
        if ready:
            by_id = dict(zip(ids, frames))
            self._fit(ready, [by_id[i] for i in ready])
        return [
            self.states[i].fits[-1] for i in ids if self.states[i].fits
            and self.states[i].fits[-1].frame == self.frame
        ]

    def frame_time(self) -> float:
        """Seconds per frame: 1 / fps if given, else the median step of
        the frame times seen (1 / 30 s, said once, if neither is known)."""
        if self.fps:
            return 1. / self.fps
        if len(self.times) > 1:
            return float(np.median(np.diff(self.times)))
        warnings.warn(
            'Stage III cannot tell the frame time from a single frame: '
            f'assuming {DEFAULT_FPS:g} fps; pass fps= to SkeletonTracker',
            Stage3Warning)
        return 1. / DEFAULT_FPS

    def write_bvh(self,
                  folder: str,
                  prefix: str = 'person',
                  scale: float = 1.) -> List[str]:
        """One BVH file per tracked person, ``<folder>/<prefix>_<id>.bvh``
        (see :mod:`.bvh`). Every file is made before any is written, and
        each is written atomically, so a failure leaves no partial files.

        Args:
            folder (str): Output folder (created if needed).
            prefix (str): File name prefix.
            scale (float): Length unit per mm (1: mm, 0.1: cm).

        Returns:
            list[str]: The files written.
        """
        tracks = self.finish()
        if not tracks:
            raise ValueError('Stage III tracked nobody: no BVH to write; '
                             'check that the inputs hold people')
        step = self.frame_time()
        texts = {
            osp.join(folder, f'{prefix}_{i}.bvh'):
            track_bvh_text(self.skeleton, fits, step, scale)
            for i, fits in sorted(tracks.items())
        }
        return [write_text(path, text) for path, text in texts.items()]

    def finish(self) -> Dict[int, List[PersonFit]]:
        """Fit the frames still held (tracks younger than
        ``bone_frames``); returns :attr:`tracks`."""
        for i, state in self.states.items():
            if state.held:
                self._flush(i)
        return self.tracks

    def _filter(self, ids, time, camera, keypoints, scores, joints_3d,
                mask) -> List[_Frame]:
        """One-Euro filtering of the 2D and 3D inputs, batched."""
        valid_2d = scores >= self.weights.min_score
        out_2d, out_3d = keypoints.copy(), joints_3d.copy()
        old = [n for n, i in enumerate(ids) if i in self.states]
        if old:
            st = [self.states[ids[n]] for n in old]
            out_2d[old], s2 = self.filter_2d(
                keypoints[old], time,
                OneEuroState.stack([s.filter_2d for s in st]), valid_2d[old])
            out_3d[old], s3 = self.filter_3d(
                joints_3d[old], time,
                OneEuroState.stack([s.filter_3d for s in st]), mask[old] > 0)
            for k, s in enumerate(st):
                s.filter_2d, s.filter_3d = s2.row(k), s3.row(k)
        for n, i in enumerate(ids):
            if i not in self.states:
                self.states[i] = _TrackState(
                    filter_2d=self.filter_2d.start(keypoints[n:n + 1], time),
                    filter_3d=self.filter_3d.start(joints_3d[n:n + 1], time))
        return [
            _Frame(self.frame, time, camera, out_2d[n], scores[n], out_3d[n],
                   mask[n]) for n in range(len(ids))
        ]

    def _flush(self, i: int) -> None:
        """Fix a track's bones from its held frames and fit them."""
        state = self.states.get(i)
        if state is None or not state.held:
            return
        if state.offsets is None:
            held = state.held
            state.offsets, _ = self.skeleton.estimate_offsets(
                np.stack([f.joints_3d for f in held]),
                np.stack([f.weights_3d > 0 for f in held]))
        held, state.held = state.held, []
        for frame in held:
            self._fit([i], [frame])

    def _fit(self, ids: Sequence[int], frames: Sequence[_Frame]) -> None:
        """Fit several tracks' frames at once (one camera per batch)."""
        groups: Dict[int, list] = {}
        for i, f in zip(ids, frames):
            groups.setdefault(id(f.camera), []).append((i, f))
        for group in groups.values():
            self._fit_batch([g[0] for g in group], [g[1] for g in group])

    def _fit_batch(self, ids, frames) -> None:
        states = [self.states[i] for i in ids]
        sk = self.skeleton
        has_prev = np.array([s.rotations is not None for s in states])
        eye = _identities(sk.num_joints)
        prev = np.stack(
            [s.rotations if s.rotations is not None else eye for s in states])
        ref = np.stack([
            s.global_rotations if s.global_rotations is not None else eye
            for s in states
        ])
        depth_ref = np.array([
            s.filter_root.value[0, 2] if s.filter_root is not None else np.nan
            for s in states
        ])
        obs = Observations(
            joints_3d=np.stack([f.joints_3d for f in frames]),
            weights_3d=np.stack([f.weights_3d for f in frames]),
            keypoints=np.stack([f.keypoints for f in frames])[:,
                                                              sk.keypoint_ids],
            weights_2d=np.stack([
                np.where(f.scores >= self.weights.min_score, f.scores, 0.)
                for f in frames
            ])[:, sk.keypoint_ids],
            camera=frames[0].camera,
            depth_ref=depth_ref,
            previous=prev,
            has_previous=has_prev)
        offsets = np.stack([s.offsets for s in states])
        out = fit_frame(sk, offsets, obs, self.weights, ref, has_prev)
        self._record(ids, frames, states, offsets, out)

    def _record(self, ids, frames, states, offsets, out) -> None:
        """Keep the fits, and filter the root positions (batched)."""
        times = np.array([f.time for f in frames])
        old = [n for n, s in enumerate(states) if s.filter_root is not None]
        if old:
            _, filtered = self.filter_root(
                out['root'][old], times[old],
                OneEuroState.stack([states[n].filter_root for n in old]))
        for n, (i, f, s) in enumerate(zip(ids, frames, states)):
            if s.filter_root is None:
                s.filter_root = self.filter_root.start(out['root'][n:n + 1],
                                                       f.time)
            else:
                s.filter_root = filtered.row(old.index(n))
            s.rotations = out['rotations'][n]
            s.global_rotations = out['global_rotations'][n]
            s.fits.append(
                PersonFit(i, f.frame, f.time, out['rotations'][n],
                          out['root'][n], out['joints'][n], offsets[n],
                          f.keypoints, f.scores, f.joints_3d))


def fit_image(keypoints: np.ndarray,
              keypoint_scores: np.ndarray,
              keypoints_3d: np.ndarray,
              camera: Camera,
              joint_set='coco21',
              mask_3d: Optional[np.ndarray] = None,
              weights: Optional[FitWeights] = None,
              min_joints_3d: int = 8,
              min_keypoints: int = 4) -> List[PersonFit]:
    """Stage III on one image: each person's skeleton (bones measured in
    this image) fitted without temporal terms.

    Args:
        keypoints, keypoint_scores, keypoints_3d, camera, mask_3d: As in
            :meth:`SkeletonTracker.update`.
        joint_set (str): The 3D joint set.
        weights (FitWeights, optional): The energy's weights.

    Returns:
        list[PersonFit]: One per usable person; ``track_id`` is the
        person's index in the inputs (skipped people: one line each).
    """
    tracker = SkeletonTracker(
        joint_set,
        fps=DEFAULT_FPS,
        bone_frames=1,
        weights=weights,
        min_joints_3d=min_joints_3d,
        min_keypoints=min_keypoints)
    keypoints, scores, joints_3d, mask = _check_inputs(tracker.skeleton,
                                                       keypoints,
                                                       keypoint_scores,
                                                       keypoints_3d, camera,
                                                       mask_3d)
    tracker.frame = 0
    ok = np.flatnonzero(tracker._usable(scores, mask))
    sk = tracker.skeleton
    if not len(ok):
        return []
    offsets = np.stack([
        sk.estimate_offsets(joints_3d[n:n + 1], mask[n:n + 1] > 0)[0]
        for n in ok
    ])
    w2d = np.where(scores >= tracker.weights.min_score, scores, 0.)
    obs = Observations(
        joints_3d=joints_3d[ok],
        weights_3d=mask[ok],
        keypoints=keypoints[ok][:, sk.keypoint_ids],
        weights_2d=w2d[ok][:, sk.keypoint_ids],
        camera=camera,
        depth_ref=np.full(len(ok), np.nan))
    out = fit_frame(sk, offsets, obs, tracker.weights)
    return [
        PersonFit(
            int(n), 0, 0., out['rotations'][k], out['root'][k],
            out['joints'][k], offsets[k], keypoints[n], scores[n],
            joints_3d[n]) for k, n in enumerate(ok)
    ]

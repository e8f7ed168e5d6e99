# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage III's time per person per frame, for ``tools/benchmark.py`` (and
``tools/analysis_tools/stage3_eval.py --timing``): a video of several
people from the held-out clips, timed frame by frame once every track's
bones are fixed (the steady state), with the project's interleaved timer.
"""
import os
import time
from typing import List

import numpy as np
import torch

from ...benchmark.timing import summarize, time_interleaved
from ..camera import HELD_OUT_CAMERAS, load_cameras
from ..motion import HELD_OUT_CLIPS, load_clip
from .simulate import ClipInputs, NoiseModel, Placement, clip_inputs
from .stage3 import SkeletonTracker


def people_inputs(num_people: int,
                  seed: int = 0,
                  fps: float = 30.) -> List[ClipInputs]:
    """Inputs of ``num_people`` people side by side in one held-out camera
    (the held-out clips in turn, noise as :class:`NoiseModel`), all cut to
    the shortest clip's length."""
    rng = np.random.default_rng(seed)
    camera = load_cameras(HELD_OUT_CAMERAS[:1])[0]
    people = []
    for k in range(num_people):
        clip = load_clip(HELD_OUT_CLIPS[k % len(HELD_OUT_CLIPS)])
        where = Placement(
            depth=4000. + 700. * (k % 3),
            lateral=1200. * (k - (num_people - 1) / 2),
            yaw=rng.uniform(0., 2. * np.pi))
        people.append(
            clip_inputs(clip.resample(fps), camera, rng, NoiseModel(), where))
    count = min(len(p.times) for p in people)
    return [p.first(count) for p in people]


def people_video(num_people: int, seed: int = 0, fps: float = 30.):
    """:func:`people_inputs` stacked per frame: keypoints (T, M, 17, 2),
    scores (T, M, 17), joints (T, M, J, 3) and the camera."""
    people = people_inputs(num_people, seed, fps)
    return (np.stack([p.keypoints for p in people],
                     1), np.stack([p.scores for p in people],
                                  1), np.stack([p.joints_3d for p in people],
                                               1), people[0].camera)


def time_stage3(num_people: int = 5,
                iters: int = 200,
                warmup: int = 20,
                seed: int = 0,
                fps: float = 30.) -> dict:
    """Milliseconds per frame and per person of
    :meth:`SkeletonTracker.update` (tracking, filtering, fitting).

    Args:
        num_people (int): People per frame.
        iters (int): Timed frames.
        warmup (int): Frames run first (bones get fixed, caches warm).
        seed (int): Random seed of the inputs.
        fps (float): Frame rate.

    Returns:
        dict: ``ms_per_frame`` and ``ms_per_person`` (medians of wall
        time), the quartiles per frame, ``cpu_ms_per_person`` (the process's
        CPU time, mean: what the frame costs when other processes share the
        cores), the 1-minute ``load_average``, ``people`` and ``frames``.
    """
    keypoints, scores, joints, camera = people_video(num_people, seed, fps)
    tracker = SkeletonTracker(fps=fps)
    state = dict(frame=0)

    period = 2 * len(keypoints) - 2

    def step():
        # the clip plays forwards and backwards (continuous motion)
        t = state['frame'] % period
        t = min(t, period - t)
        tracker.update(keypoints[t], scores[t], joints[t], camera,
                       state['frame'] / fps)
        state['frame'] += 1

    for _ in range(tracker.bone_frames):
        step()
    if len(tracker.tracks) != num_people:
        raise RuntimeError(f'{num_people} people gave '
                           f'{len(tracker.tracks)} tracks')
    cpu_start = time.process_time()
    times = time_interleaved({'stage3': step}, iters, warmup,
                             torch.device('cpu'))['stage3']
    cpu = (time.process_time() - cpu_start) * 1e3 / (iters + warmup)
    stats = summarize(times)
    return dict(
        ms_per_frame=stats.median,
        ms_per_person=stats.median / num_people,
        q1_ms_per_frame=stats.q1,
        q3_ms_per_frame=stats.q3,
        cpu_ms_per_person=cpu / num_people,
        load_average=os.getloadavg()[0],
        people=num_people,
        frames=stats.n)

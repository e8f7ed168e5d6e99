# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage III over time on the HELD-OUT clips and cameras (its settings were
chosen on the train split): the issue's targets, BVH files read back by an
independent reader (bvhio), ids over a video and bad inputs."""
import os
import warnings
from dataclasses import replace

import numpy as np
import pytest

from selecsls_mm.pose3d.camera import HELD_OUT_CAMERAS, load_cameras
from selecsls_mm.pose3d.fitting import bvh as bvh_module
from selecsls_mm.pose3d.fitting import stage3
from selecsls_mm.pose3d.fitting.benchmark import people_inputs
from selecsls_mm.pose3d.fitting.evaluate import (bvhio_positions,
                                                 evaluate_clips,
                                                 evaluate_inputs, track_arrays)
from selecsls_mm.pose3d.fitting.fit import FitWeights
from selecsls_mm.pose3d.fitting.simulate import Placement, clip_inputs
from selecsls_mm.pose3d.fitting.stage3 import (SkeletonTracker, Stage3Warning,
                                               fit_image)
from selecsls_mm.pose3d.fitting.tuning import unfiltered_settings
from selecsls_mm.pose3d.metrics.functional import mpjpe
from selecsls_mm.pose3d.motion import HELD_OUT_CLIPS, load_clip


@pytest.fixture(scope='module')
def held_out_scores():
    """Each held-out clip in each held-out camera, once: as shipped and
    without filters or temporal terms."""
    kwargs = dict(runs=1, seed=0)
    video = evaluate_clips(HELD_OUT_CLIPS, HELD_OUT_CAMERAS, SkeletonTracker,
                           **kwargs)
    unfiltered = evaluate_clips(
        HELD_OUT_CLIPS,
        HELD_OUT_CAMERAS,
        lambda: SkeletonTracker(**unfiltered_settings()),
        baselines=False,
        **kwargs)
    return video, unfiltered


@pytest.mark.slow
def test_held_out_targets(held_out_scores):
    video, unfiltered = held_out_scores
    # measured (docs/pose3d.md): accel 18.2 vs 34.7 mm/frame^2, MPJPE 16.8
    # vs 18.3 mm, depth error 0.86%, bone std 0
    # bones fixed per track: their lengths never change (target: 1 mm)
    assert video['video/bone_std'] <= 1e-6
    # jitter: >= 30% less acceleration error than without filtering ...
    accel_ratio = video['video/accel'] / unfiltered['video/accel']
    assert accel_ratio <= 0.55
    # ... and no accuracy lost for it (target: at most +5 mm MPJPE)
    assert video['video/mpjpe'] <= unfiltered['video/mpjpe'] - 1.
    assert video['video/mpjpe'] <= 17.5
    # absolute depth from the intrinsics (target: within 5%)
    assert video['video/depth_rel_err'] <= 0.01
    # the fits are better than the noisy 3D inputs they come from
    assert video['video/mpjpe'] <= 0.55 * video['raw/mpjpe']


def _one_person(camera, seed=1, clip='jump'):
    rng = np.random.default_rng(seed)
    return clip_inputs(
        load_clip(clip).resample(30), camera, rng, where=Placement.random(rng))


def test_depth_comes_from_the_intrinsics():
    """Told a focal length 25% too long, the depth is about 25% too far:
    the absolute placement uses the camera it is given."""
    camera = load_cameras(HELD_OUT_CAMERAS[:1])[0]
    data = _one_person(camera)
    right = evaluate_inputs(data, SkeletonTracker, baselines=False)
    wrong = evaluate_inputs(
        replace(
            data,
            camera=replace(camera, fx=camera.fx * 1.25, fy=camera.fy * 1.25)),
        SkeletonTracker,
        baselines=False)
    assert right['video/depth_rel_err'] < 0.01  # measured 0.0067
    assert 0.23 < wrong['video/depth_rel_err'] < 0.27  # measured 0.249


def _run(tracker, people, hide=None, shuffle_seed=None):
    """Feed people (ClipInputs, same length) frame by frame; ``hide`` maps
    a person index to frames it is absent from."""
    rng = np.random.default_rng(shuffle_seed)
    shown = []
    for t in range(len(people[0].times)):
        who = [
            k for k in range(len(people))
            if hide is None or t not in hide.get(k, ())
        ]
        if shuffle_seed is not None:
            who = list(rng.permutation(who))
        tracker.update(
            np.stack([people[k].keypoints[t] for k in who]),
            np.stack([people[k].scores[t] for k in who]),
            np.stack([people[k].joints_3d[t] for k in who]), people[0].camera,
            people[0].times[t])
        shown.append(who)
    return tracker.finish(), shown


def test_people_keep_their_ids():
    """Five people, listed in a random order each frame, one of them
    unseen for three frames: five tracks, each one person throughout."""
    people = people_inputs(5, seed=2)
    tracks, _ = _run(
        SkeletonTracker(), people, hide={3: (20, 21, 22)}, shuffle_seed=3)
    assert sorted(tracks) == [0, 1, 2, 3, 4]
    for i, fits in tracks.items():
        arrays = track_arrays(fits)
        absolute = arrays['joints'] + arrays['root'][:, None]
        errors = [mpjpe(absolute, p.truth[arrays['frame']]) for p in people]
        assert sorted(errors)[0] < 150. < 500. < sorted(errors)[1], errors
        # each fit carries its id, time and the inputs it was fitted to
        p = people[int(np.argmin(errors))]
        for f in fits:
            assert f.track_id == i and f.time == p.times[f.frame]
            np.testing.assert_array_equal(f.keypoint_scores, p.scores[f.frame])
            assert np.abs(f.keypoints - p.keypoints[f.frame]).mean() < 10.
            assert np.abs(f.keypoints_3d - p.joints_3d[f.frame]).mean() < 60.
    assert len(tracks[3]) == len(people[0].times) - 3


def test_bvh_round_trip_with_an_independent_reader(tmp_path):
    """bvhio (its own parser and forward kinematics) reads our BVH files
    back to the fitted joints; a frame a track missed holds its pose."""
    people = people_inputs(2, seed=4)
    tracker = SkeletonTracker(fps=30.)
    tracks, _ = _run(tracker, people, hide={1: (30, 31)})
    paths = tracker.write_bvh(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ['person_0.bvh', 'person_1.bvh']
    names = tracker.skeleton.names
    for path, (i, fits) in zip(paths, sorted(tracks.items())):
        got = bvhio_positions(path, names)
        frames = [f.frame for f in fits]
        assert len(got) == frames[-1] - frames[0] + 1
        want = np.stack([f.joints_camera for f in fits])
        want = want @ bvh_module.CAMERA_TO_BVH.T
        err = np.abs(got[np.asarray(frames) - frames[0]] - want).max()
        assert err <= 0.01  # mm (target: 1 mm)
        if i == 1:  # the missed frames hold the last pose
            np.testing.assert_allclose(got[30], got[29], atol=1e-3)
        assert 'Frame Time: 0.03333333' in open(path).read()


def test_bad_inputs_say_what_and_go_on(tmp_path):
    camera = load_cameras(HELD_OUT_CAMERAS[:1])[0]
    people = people_inputs(3, seed=5)
    kp = np.stack([p.keypoints[0] for p in people])
    sc = np.stack([p.scores[0] for p in people])
    j3 = np.stack([p.joints_3d[0] for p in people])
    tracker = SkeletonTracker()
    # no intrinsics: stop, one line naming the fix
    with pytest.raises(ValueError, match='camera=Camera') as err:
        tracker.update(kp, sc, j3, None, 0.)
    assert '\n' not in str(err.value) and 'got none' in str(err.value)
    # intrinsics as a tuple: named as what was given
    with pytest.raises(ValueError, match='got a tuple; pass camera=Camera'):
        tracker.update(kp, sc, j3, (1000., 1000., 500., 500.), 0.)
    # 3D joints of another joint set
    with pytest.raises(ValueError, match="joint set 'coco21'"):
        tracker.update(kp, sc, j3[:, :17], camera, 0.)
    with pytest.raises(ValueError, match='disagree'):
        tracker.update(kp[:, :16], sc, j3, camera, 0.)
    # no frame time and no fps: 30 fps, said once
    mask = np.ones(j3.shape[:2])
    mask[1, 3:] = 0.  # person 1: three 3D joints only
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        # a frame without people is fine
        assert tracker.update(
            np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros((0, 21, 3)),
            camera) == []
        for t in range(12):
            out = tracker.update(kp + t, sc, j3, camera, mask_3d=mask)
    lines = [str(w.message) for w in caught if w.category is Stage3Warning]
    assert sum('assuming 30 fps' in m for m in lines) == 1
    skipped = [m for m in lines if 'skipped' in m]
    assert len(skipped) == 12 and 'person 1 has 3 3D joints' in skipped[0]
    # the others go on
    assert len(out) == 2 and len(tracker.tracks) == 2
    assert tracker.times[1] == pytest.approx(1 / 30)  # frame 0 was empty
    with pytest.raises(ValueError, match='must increase'):
        tracker.update(kp, sc, j3, camera, 0.)


def test_no_partial_bvh_files(tmp_path, monkeypatch):
    tracker = SkeletonTracker(fps=30.)
    with pytest.raises(ValueError, match='tracked nobody'):
        tracker.write_bvh(str(tmp_path / 'out'))
    people = people_inputs(2, seed=6)
    _run(tracker, [p.first(12) for p in people])
    calls = []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError('disk full (simulated)')
        return bvh_module.track_bvh_text(*args, **kwargs)

    monkeypatch.setattr(stage3, 'track_bvh_text', fail_second)
    with pytest.raises(ValueError, match='simulated'):
        tracker.write_bvh(str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists() or not os.listdir(tmp_path / 'out')


def test_single_image_several_people():
    """One image, three people: fitted without temporal terms, each with
    its root in the camera frame."""
    people = people_inputs(3, seed=7)
    t = 10
    fits = fit_image(
        np.stack([p.keypoints[t] for p in people]),
        np.stack([p.scores[t] for p in people]),
        np.stack([p.joints_3d[t] for p in people]), people[0].camera)
    assert [f.track_id for f in fits] == [0, 1, 2]
    for f, p in zip(fits, people):
        truth_root = p.truth[t, p.root]
        assert abs(f.root[2] - truth_root[2]) / truth_root[2] < 0.05
        assert mpjpe(f.joints[None], p.truth_relative[t][None]) < 60.
        # it is where the person is seen
        pixels = p.camera.project(f.joints_camera[:17])
        assert np.median(np.linalg.norm(pixels - p.keypoints[t], axis=-1)) < 8.
    # a person with too few 3D joints: said, skipped; ids stay the inputs'
    mask = np.ones((3, 21))
    mask[1, 5:] = 0.
    with pytest.warns(Stage3Warning, match='person 1 has 5 3D joints'):
        fits = fit_image(
            np.stack([p.keypoints[t] for p in people]),
            np.stack([p.scores[t] for p in people]),
            np.stack([p.joints_3d[t] for p in people]),
            people[0].camera,
            mask_3d=mask)
    assert [f.track_id for f in fits] == [0, 2]


# the fewest joints Stage III fits: 8 valid 3D joints (shoulders, hips, a
# knee, the trunk) and 4 keypoints (shoulders and hips)
FEWEST_3D = [5, 6, 11, 12, 13, 17, 18, 19]
FEWEST_2D = [5, 6, 11, 12]
HIDDEN_3D = np.setdiff1d(np.arange(21), FEWEST_3D)
LOW_2D = np.setdiff1d(np.arange(17), FEWEST_2D)


def test_single_image_at_the_limits():
    """What ``fit_image`` keeps and when it fits: a person with exactly the
    fewest joints it accepts (8 valid 3D joints, 4 keypoints at exactly the
    minimum score) is fitted, its masked 3D joints (far-off values) and its
    keypoints below the minimum score (moved away) play no part, and the
    inputs come back in the fit; its own weights decide what is usable."""
    people = people_inputs(2, seed=8)
    t = 12
    keypoints = np.stack([p.keypoints[t] for p in people])
    scores = np.stack([p.scores[t] for p in people])
    joints = np.stack([p.joints_3d[t] for p in people])
    mask = np.ones((2, 21))
    seen, hidden, low = FEWEST_3D, HIDDEN_3D, LOW_2D
    mask[0, hidden] = 0.
    joints[0, hidden] += 2000.
    scores[0, FEWEST_2D] = 0.2  # the minimum score, included
    scores[0, low] = 0.1
    keypoints[0, low] = 5.  # far from the person, but below the minimum
    with warnings.catch_warnings():
        warnings.simplefilter('error', Stage3Warning)
        fits = fit_image(
            keypoints, scores, joints, people[0].camera, mask_3d=mask)
    assert [f.track_id for f in fits] == [0, 1]
    for n, f in enumerate(fits):
        assert (f.frame, f.time) == (0, 0.)
        np.testing.assert_array_equal(f.keypoints, keypoints[n])
        np.testing.assert_array_equal(f.keypoint_scores, scores[n])
        np.testing.assert_array_equal(f.keypoints_3d, joints[n])
    # bones from the valid joints only, the depth from the four keypoints
    assert fits[0].bone_lengths.max() < 700.
    truth_root = people[0].truth[t, people[0].root]
    assert abs(fits[0].root[2] - truth_root[2]) / truth_root[2] < 0.2
    # keypoints below the minimum score have no weight at all
    scores[0, low] = 0.
    again = fit_image(
        keypoints, scores, joints, people[0].camera, mask_3d=mask)
    np.testing.assert_array_equal(again[0].root, fits[0].root)
    np.testing.assert_array_equal(again[0].rotations, fits[0].rotations)
    # one joint fewer: skipped, said with the frame and the counts
    mask[0, seen[-1]] = 0.
    with pytest.warns(
            Stage3Warning, match='frame 0: person 0 has 7 3D joints'):
        assert [
            f.track_id for f in fit_image(
                keypoints, scores, joints, people[0].camera, mask_3d=mask)
        ] == [1]
    # the minimum score is the weights' own
    with pytest.warns(Stage3Warning, match=r'score >= 0.5'):
        fits = fit_image(
            keypoints,
            np.minimum(scores, 0.4),
            joints,
            people[0].camera,
            weights=FitWeights(min_score=0.5))
    assert fits == []


def test_video_ignores_what_it_is_told_to():
    """Over a video: masked 3D joints and keypoints below the minimum
    score, with a new random value every frame, keep their first filtered
    value and change nothing (bones, depth); the first fits come with the
    frame that fixes the bones, then one per frame, each of its frame."""
    person = people_inputs(1, seed=9)[0]
    rng = np.random.default_rng(10)
    hidden, low = HIDDEN_3D, LOW_2D
    mask = np.ones((1, 21))
    mask[0, hidden] = 0.
    tracker = SkeletonTracker(fps=30.)
    for t in range(14):
        joints = person.joints_3d[t].copy()
        joints[hidden] = rng.uniform(-3000., 3000., (len(hidden), 3))
        keypoints = person.keypoints[t].copy()
        keypoints[low] = rng.uniform(0., 500., (len(low), 2))
        scores = np.full(17, 0.1)
        scores[FEWEST_2D] = 0.2  # the minimum score, included
        out = tracker.update(
            keypoints[None],
            scores[None],
            joints[None],
            person.camera,
            mask_3d=mask)
        assert [f.frame for f in out] == ([] if t < 9 else [t])
    fits = tracker.tracks[0]
    assert [f.frame for f in fits] == list(range(14))
    first = fits[0]
    for f in fits:
        np.testing.assert_array_equal(f.keypoints_3d[hidden],
                                      first.keypoints_3d[hidden])
        np.testing.assert_array_equal(f.keypoints[low], first.keypoints[low])
        truth = person.truth[f.frame, person.root]
        assert abs(f.root[2] - truth[2]) / truth[2] < 0.2
    assert first.bone_lengths.max() < 700.
    # the keypoints at the minimum score are filtered, and move
    used = FEWEST_2D
    assert np.abs(fits[-1].keypoints[used] - first.keypoints[used]).min() > 0


def test_missing_3d_joints_follow_their_keypoints():
    """Stage II without the left arm for ten frames (mask 0, garbage in
    the array): the arm follows its 2D keypoints and the smoothness, the
    rest of the body does not notice.

    Without its 3D the arm's depth is ambiguous, and which way the fit
    takes depends on float rounding: over ten inputs at most 1e-6 mm apart
    the arm's median error was 8.9 to 16.4 px and the body's largest shift
    7.3 to 11.8 mm (before and after the rewrite that changed the rounding
    of the solver). So three such inputs are fitted and each is checked.
    """
    camera = load_cameras(HELD_OUT_CAMERAS[:1])[0]
    data = _one_person(camera, seed=4, clip='dance_b')
    sk = SkeletonTracker().skeleton
    arm = sk.joint_set.index(['left_elbow', 'left_wrist'])
    others = np.setdiff1d(np.arange(sk.num_joints), arm)
    keypoints = data.keypoints[20:30][:, sk.keypoint_ids[arm]]

    def fit(masked, nudge):
        mask = np.ones(data.joints_3d.shape[:2])
        joints_3d = data.joints_3d + nudge
        if masked:
            mask[20:30, arm] = 0.
            joints_3d[20:30, arm] += 500.
        tracker = SkeletonTracker()
        for t in range(len(data.times)):
            tracker.update(data.keypoints[t:t + 1], data.scores[t:t + 1],
                           joints_3d[t:t + 1], camera, data.times[t],
                           mask[t:t + 1])
        return np.stack([f.joints_camera for f in tracker.finish()[0]])

    full = fit(False, 0.)
    seen = camera.project(full[20:30, arm])
    assert np.median(np.linalg.norm(seen - keypoints, axis=-1)) < 8.  # 6.3
    medians = []
    for nudge in (0., 1e-9, -1e-9):
        masked = fit(True, nudge)
        shift = np.linalg.norm(masked[:, others] - full[:, others], axis=-1)
        # measured 0.55, 0.50, 0.59 and 9.1, 8.1, 10.9
        assert shift.mean() < 1. and shift.max() < 15.
        pixels = camera.project(masked[20:30, arm])
        medians.append(np.median(np.linalg.norm(pixels - keypoints, axis=-1)))
    assert max(medians) < 20. and np.median(medians) < 15.  # 12.8-14.3

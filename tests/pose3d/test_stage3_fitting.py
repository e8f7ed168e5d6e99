# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage III's parts: rotations, the One-Euro filter (against the paper's
scalar algorithm), the skeleton, the fit's Jacobians and closed forms, and
the tracker."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from selecsls_mm.pose3d.camera import HELD_OUT_CAMERAS, load_cameras
from selecsls_mm.pose3d.fitting import rotations as so3
from selecsls_mm.pose3d.fitting.fit import (FitWeights, Observations,
                                            apply_step, initial_rotations,
                                            linearise, place_root, residuals)
from selecsls_mm.pose3d.fitting.one_euro import OneEuroFilter
from selecsls_mm.pose3d.fitting.simulate import (NoiseModel, Placement,
                                                 clip_inputs)
from selecsls_mm.pose3d.fitting.skeleton import Skeleton
from selecsls_mm.pose3d.fitting.stage3 import fit_image
from selecsls_mm.pose3d.fitting.tracking import KeypointTracker, person_size
from selecsls_mm.pose3d.motion import load_clip, quaternion_matrix

NO_NOISE = NoiseModel(0., 0., 0., 0.)


def _random_rotations(rng, n):
    return Rotation.random(n, random_state=int(rng.integers(1 << 30)))


def test_rotations_match_scipy():
    rng = np.random.default_rng(0)
    rot = _random_rotations(rng, 200)
    vec = rot.as_rotvec()
    # include angles near zero and near a half turn
    vec[:5] *= 1e-7
    vec[5:10] *= (np.pi - 1e-6) / np.linalg.norm(vec[5:10], axis=-1)[:, None]
    mats = Rotation.from_rotvec(vec).as_matrix()
    np.testing.assert_allclose(so3.so3_exp(vec), mats, atol=1e-12)
    logs = so3.so3_log(mats)
    np.testing.assert_allclose(so3.so3_exp(logs), mats, atol=1e-9)
    small = np.linalg.norm(vec, axis=-1) < 3.
    np.testing.assert_allclose(
        so3.so3_log_small(mats[small]), vec[small], atol=1e-9)
    quat = so3.matrix_to_quaternion(mats)
    np.testing.assert_allclose(quaternion_matrix(quat), mats, atol=1e-12)
    xyzw = Rotation.from_matrix(mats).as_quat()
    ref = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], -1)
    ref *= np.where(ref[:, :1] < 0, -1., 1.)
    np.testing.assert_allclose(quat, ref, atol=1e-9)
    # any leading batch shape gives what the flat batch gives
    nested = mats.reshape(2, 5, 20, 3, 3)
    np.testing.assert_allclose(
        so3.matrix_to_quaternion(nested),
        quat.reshape(2, 5, 20, 4),
        atol=1e-15)
    np.testing.assert_allclose(
        so3.so3_log(nested), logs.reshape(2, 5, 20, 3), atol=1e-15)


def test_skew_is_the_cross_product_on_any_batch_shape():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 4, 5, 3))
    np.testing.assert_allclose(
        (so3.skew(a) @ b[..., None])[..., 0], np.cross(a, b), atol=1e-12)


def test_kabsch_matches_scipy_align_vectors():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(6, 3))
    truth = _random_rotations(rng, 1)[0]
    dst = truth.apply(src) + rng.normal(scale=0.05, size=src.shape)
    w = rng.uniform(0.2, 1., 6)
    ref, _ = Rotation.align_vectors(dst, src, weights=w)
    np.testing.assert_allclose(
        so3.kabsch(src, dst, w), ref.as_matrix(), atol=1e-9)


def test_left_jacobian_inverse_linearises_log():
    rng = np.random.default_rng(2)
    r = _random_rotations(rng, 20).as_rotvec() * 0.8
    d = rng.normal(scale=1e-6, size=r.shape)
    moved = so3.so3_log(so3.so3_exp(d) @ so3.so3_exp(r))
    pred = r + np.einsum('nij,nj->ni', so3.so3_left_jacobian_inv(r), d)
    np.testing.assert_allclose(moved, pred, atol=1e-10)


class _PaperOneEuro:
    """Casiez et al.'s One-Euro filter as the paper's pseudo-code gives it,
    for one scalar signal (the reference)."""

    def __init__(self, min_cutoff, beta, d_cutoff):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x_prev = self.dx_prev = self.t_prev = None

    @staticmethod
    def alpha(cutoff, rate):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * rate)

    def __call__(self, x, t):
        if self.x_prev is None:
            self.x_prev, self.dx_prev, self.t_prev = x, 0.0, t
            return x
        rate = 1.0 / (t - self.t_prev)
        dx = (x - self.x_prev) * rate
        a_d = self.alpha(self.d_cutoff, rate)
        edx = a_d * dx + (1 - a_d) * self.dx_prev
        cutoff = self.min_cutoff + self.beta * abs(edx)
        a = self.alpha(cutoff, rate)
        out = a * x + (1 - a) * self.x_prev
        self.x_prev, self.dx_prev, self.t_prev = out, edx, t
        return out


def test_one_euro_matches_the_paper_per_coordinate():
    rng = np.random.default_rng(3)
    # variable frame rate, 4 people x 3 joints x 2 coordinates
    times = np.cumsum(rng.uniform(0.02, 0.05, 60))
    signal = np.cumsum(rng.normal(size=(60, 4, 3, 2)), 0) * 5.
    filt = OneEuroFilter(min_cutoff=1.5, beta=0.05, d_cutoff=2., vector=False)
    state = filt.start(signal[0], times[0])
    ours = [signal[0]]
    for x, t in zip(signal[1:], times[1:]):
        out, state = filt(x, t, state)
        ours.append(out)
    ours = np.stack(ours)
    ref = np.empty_like(signal)
    for idx in np.ndindex(signal.shape[1:]):
        one = _PaperOneEuro(1.5, 0.05, 2.)
        ref[(slice(None), ) + idx] = [
            one(x, t) for x, t in zip(signal[(slice(None), ) + idx], times)
        ]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-9)


def test_one_euro_vector_speed_and_mask():
    filt = OneEuroFilter(min_cutoff=1., beta=0.01)
    state = filt.start(np.zeros((1, 2, 3)), 0.)
    x = np.array([[[100., 0., 0.], [0., 100., 0.]]])
    out, state = filt(x, 1 / 30, state, mask=np.array([[True, False]]))
    assert 0 < out[0, 0, 0] < 100  # smoothed, not held
    np.testing.assert_array_equal(out[0, 1], 0.)  # masked: held
    # the same motion along any axis is filtered alike (speed = norm)
    turned = OneEuroFilter(min_cutoff=1., beta=0.01)
    s2 = turned.start(np.zeros((1, 1, 3)), 0.)
    out2, _ = turned(np.full((1, 1, 3), 100. / np.sqrt(3)), 1 / 30, s2)
    np.testing.assert_allclose(np.linalg.norm(out2), out[0, 0, 0])


@pytest.fixture(scope='module')
def held_out_frames():
    camera = load_cameras(HELD_OUT_CAMERAS[:1])[0]
    rng = np.random.default_rng(4)
    clip = load_clip('kick').resample(30)
    return clip_inputs(clip, camera, rng, NO_NOISE, Placement.random(rng))


@pytest.mark.parametrize('joint_set', ['coco21', 'muco21'])
def test_noise_free_fit_is_exact(joint_set):
    """Every frame of a held-out clip, fitted as its own image: the
    skeleton reproduces the joints and the root is placed in the camera."""
    camera = load_cameras(HELD_OUT_CAMERAS[1:])[0]
    rng = np.random.default_rng(5)
    data = clip_inputs(
        load_clip('punch').resample(30), camera, rng, NO_NOISE,
        Placement.random(rng), joint_set)
    fits = fit_image(data.keypoints, data.scores, data.joints_3d, camera,
                     joint_set)
    assert len(fits) == len(data.times)
    joints = np.stack([f.joints_camera for f in fits])
    assert np.abs(joints - data.truth).max() < 1.0  # mm
    # forward kinematics of the reported rotations gives the joints
    sk = Skeleton(joint_set)
    pos, _ = sk.forward(
        np.stack([f.offsets for f in fits]),
        np.stack([f.rotations for f in fits]))
    np.testing.assert_allclose(
        pos, np.stack([f.joints for f in fits]), atol=1e-9)


def _noisy_observations(data, sk, rng, frame=20):
    t = slice(frame, frame + 3)
    weights_2d = data.scores[t][:, sk.keypoint_ids]
    prev = Rotation.random(
        3 * sk.num_joints,
        random_state=7).as_matrix().reshape(3, sk.num_joints, 3, 3)
    return Observations(
        joints_3d=data.joints_3d[t] + rng.normal(0, 20, (3, 21, 3)),
        weights_3d=rng.uniform(0.5, 1., (3, 21)),
        keypoints=data.keypoints[t][:, sk.keypoint_ids] +
        rng.normal(0, 3, (3, 17, 2)),
        weights_2d=weights_2d,
        camera=data.camera,
        depth_ref=data.truth[t, 17, 2] + [50., np.nan, -80.],
        previous=prev,
        has_previous=np.array([True, True, False]))


def test_jacobians_match_finite_differences(held_out_frames):
    """Every residual's Jacobian (3D, 2D, smoothness, limits, depth)
    against central differences through the parameter update, and the
    normal equations against the dense Jacobian."""
    sk = Skeleton()
    rng = np.random.default_rng(6)
    obs = _noisy_observations(held_out_frames, sk, rng)
    weights = FitWeights(huber_3d=np.inf, huber_2d=np.inf, sigma_limit=0.3)
    offsets = np.broadcast_to(sk.default_offsets(), (3, 21, 3))
    rot = Rotation.random(63, random_state=8).as_matrix().reshape(3, 21, 3, 3)
    # bend the hinges past their limits, so the limit terms are active
    rot[:, sk.rotated[sk.is_hinge]] = Rotation.from_rotvec(
        rng.normal(0, 2., (12, 3))).as_matrix().reshape(3, 4, 3, 3)
    root = held_out_frames.truth[20:23, 17] + 30.
    res, jac = residuals(sk, offsets, rot, root, obs, weights)
    h = 1e-6
    numeric = np.empty_like(jac)
    for p in range(jac.shape[2]):
        step = np.zeros((3, jac.shape[2]))
        step[:, p] = h
        plus = residuals(sk, offsets, *apply_step(sk, offsets, rot, root,
                                                  step), obs, weights)[0]
        minus = residuals(sk, offsets,
                          *apply_step(sk, offsets, rot, root, -step), obs,
                          weights)[0]
        numeric[..., p] = (plus - minus) / (2 * h)
    scale = np.abs(jac).max(2, keepdims=True) + 1e-3
    np.testing.assert_allclose(jac / scale, numeric / scale, atol=1e-5)
    energy, grad, hess, _ = linearise(sk, offsets, rot, root, obs, weights)
    np.testing.assert_allclose(energy, (res**2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(
        grad, np.einsum('nmp,nm->np', jac, res), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        hess, np.einsum('nmp,nmq->npq', jac, jac), rtol=1e-9, atol=1e-9)


def test_place_root_is_exact():
    rng = np.random.default_rng(9)
    camera = load_cameras(HELD_OUT_CAMERAS[:1])[0]
    joints = rng.normal(0, 300, (4, 17, 3))
    root = np.array([[100., -200., 3000.], [-900., 50., 5000.],
                     [0., 0., 2500.], [1500., 300., 9000.]])
    pixels = camera.project(joints + root[:, None])
    np.testing.assert_allclose(
        place_root(camera, joints, pixels, np.ones((4, 17))), root, atol=1e-6)


@pytest.mark.parametrize('joint_set', ['coco21', 'muco21'])
def test_forward_kinematics_is_the_chain_of_parents(joint_set):
    """Batched forward kinematics against its definition, joint by joint
    down the tree; leaves with a rotation of their own too."""
    sk = Skeleton(joint_set)
    rng = np.random.default_rng(11)
    rot = Rotation.random(
        2 * sk.num_joints,
        random_state=12).as_matrix().reshape(2, sk.num_joints, 3, 3)
    offsets = rng.normal(0., 200., (2, sk.num_joints, 3))
    offsets[:, sk.root] = 0.
    glob, pos = np.zeros_like(rot), np.zeros_like(offsets)
    done = {sk.root}
    glob[:, sk.root] = rot[:, sk.root]
    while len(done) < sk.num_joints:
        for j in range(sk.num_joints):
            p = sk.parents[j]
            if j not in done and p in done:
                glob[:, j] = glob[:, p] @ rot[:, j]
                pos[:, j] = pos[:, p] + np.einsum('nab,nb->na', glob[:, p],
                                                  offsets[:, j])
                done.add(j)
    got_pos, got_glob = sk.forward(offsets, rot)
    np.testing.assert_allclose(got_glob, glob, atol=1e-12)
    np.testing.assert_allclose(got_pos, pos, atol=1e-9)
    # offsets shared by everyone, (J, 3)
    np.testing.assert_allclose(
        sk.forward(offsets[0], rot)[0][1],
        sk.forward(offsets[[0, 0]], rot)[0][1],
        atol=1e-9)


@pytest.mark.parametrize('joint_set', ['coco21', 'muco21'])
def test_initial_rotations_do_not_depend_on_the_batch(joint_set):
    """A batch where only some people have last frame's rotations (solved
    tree level by tree level) gives what each person gives alone (those
    with a reference: all joints in two batches)."""
    sk = Skeleton(joint_set)
    nj, rng = sk.num_joints, np.random.default_rng(13)
    offsets = np.broadcast_to(sk.default_offsets(), (3, nj, 3))
    truth = Rotation.random(
        3 * nj, random_state=14).as_matrix().reshape(3, nj, 3, 3)
    targets = sk.forward(offsets, truth)[0] + rng.normal(0., 30., (3, nj, 3))
    weights = rng.uniform(0.2, 1., (3, nj))
    weights[1, rng.choice(nj, 5, replace=False)] = 0.
    reference = sk.forward(
        offsets, truth @ Rotation.from_rotvec(rng.normal(
            0., .2, (3 * nj, 3))).as_matrix().reshape(3, nj, 3, 3))[1]
    has = np.array([True, False, True])
    batch = initial_rotations(sk, offsets, targets, weights, reference, has)
    for n in range(3):
        alone = initial_rotations(sk, offsets[n:n + 1], targets[n:n + 1],
                                  weights[n:n + 1],
                                  reference[n:n + 1] if has[n] else None)
        np.testing.assert_allclose(batch[n], alone[0], atol=1e-9)
    # the reference decides what the targets leave open: not ignored
    free = initial_rotations(sk, offsets[:1], targets[:1], weights[:1])
    assert np.abs(free[0] - batch[0]).max() > 1e-3


def _root_lstsq(camera, joints, pixels, weights):
    """numpy's lstsq of the multiplied-out pinhole equations, weighted."""
    xn = (pixels[:, 0] - camera.cx) / camera.fx
    yn = (pixels[:, 1] - camera.cy) / camera.fy
    one, zero = np.ones(len(xn)), np.zeros(len(xn))
    rows = np.concatenate(
        [np.stack([one, zero, -xn], 1),
         np.stack([zero, one, -yn], 1)])
    rhs = np.concatenate(
        [xn * joints[:, 2] - joints[:, 0], yn * joints[:, 2] - joints[:, 1]])
    w = np.sqrt(np.concatenate([weights, weights]))
    return np.linalg.lstsq(rows * w[:, None], rhs * w, rcond=None)[0]


def test_place_root_is_weighted_least_squares():
    """Noisy pixels and uneven weights: one pass is the weighted linear
    least squares of the multiplied-out pinhole equations (numpy's lstsq
    as the reference); the second (the default) weighs each keypoint again
    by the inverse square of its depth from the first, relative to the
    mean and at least 100 mm (the last person stands close enough for it)."""
    rng = np.random.default_rng(15)
    camera = load_cameras(HELD_OUT_CAMERAS[:1])[0]
    joints = rng.normal(0, 300, (4, 17, 3))
    root = np.array([[100., -200., 3000.], [-900., 50., 5000.],
                     [400., 0., 2500.], [0., 0., 500.]])
    pixels = camera.project(joints + root[:, None]) + rng.normal(
        0, 5, (4, 17, 2))
    weights = rng.uniform(0., 1., (4, 17))
    got = place_root(camera, joints, pixels, weights, iterations=1)
    both = place_root(camera, joints, pixels, weights)
    for n in range(4):
        expected = _root_lstsq(camera, joints[n], pixels[n], weights[n])
        np.testing.assert_allclose(got[n], expected, rtol=1e-6, atol=1e-4)
        depth = np.maximum(joints[n, :, 2] + expected[2], 100.)
        again = weights[n] / (depth / depth.mean())**2
        np.testing.assert_allclose(
            both[n],
            _root_lstsq(camera, joints[n], pixels[n], again),
            rtol=1e-6,
            atol=1e-4)
        if n < 3:
            assert np.abs(got[n] - root[n]).max() < 0.05 * root[n, 2]
    assert (joints[3, :, 2] + got[3, 2] < 100.).any()


def test_person_size_is_the_box_diagonal_of_valid_keypoints():
    keypoints = np.array([[[0., 0.], [30., 40.], [500., 500.]],
                          [[1., 1.], [1., 1.], [9., 9.]],
                          [[1., 1.], [2., 2.], [3., 3.]],
                          [[0., 0.], [30., 40.], [np.nan, 20.]]])
    valid = np.array([[True, True, False], [True, True, False],
                      [False, False, False], [True, True, True]])
    # at least 1 px; a NaN coordinate is skipped
    np.testing.assert_allclose(
        person_size(keypoints, valid), [50., 1., 1., 50.])


def test_estimated_offsets_are_robust_medians(held_out_frames):
    sk = Skeleton()
    rel = held_out_frames.truth_relative[:11].copy()
    rel[[2, 7], 9] += 300.  # two frames with a wild left wrist
    offsets, measured = sk.estimate_offsets(rel)
    assert measured[np.arange(21) != sk.root].all()
    truth = sk.bone_lengths(held_out_frames.truth_relative[0])
    np.testing.assert_allclose(
        np.linalg.norm(offsets, axis=-1), truth, atol=1e-6)
    # a joint never seen: its bone keeps the template, scaled to the person
    mask = np.ones(rel.shape[:2], bool)
    mask[:, 9] = False
    offsets, measured = sk.estimate_offsets(rel, mask)
    assert not measured[9] and np.linalg.norm(offsets[9]) > 100.


def test_hinges_stay_hinges(held_out_frames):
    """Noisy 3D: the fitted elbows and knees turn about their axes only,
    within their range."""
    sk = Skeleton()
    rng = np.random.default_rng(10)
    data = held_out_frames
    noisy = data.joints_3d + rng.normal(0., 40., data.joints_3d.shape)
    noisy[:, sk.root] = 0.
    fits = fit_image(data.keypoints, data.scores, noisy, data.camera)
    local = np.stack([f.rotations for f in fits])[:, sk.rotated[sk.is_hinge]]
    logs = so3.so3_log(local)
    axes = sk.hinge_axes[sk.is_hinge]
    bend = (logs * axes).sum(-1)
    off_axis = np.linalg.norm(logs - bend[..., None] * axes, axis=-1)
    assert off_axis.max() < np.deg2rad(3.)
    assert bend.min() > -np.deg2rad(3.) and bend.max() < np.deg2rad(153.)


def test_tracker_predicts_with_its_smoothed_velocity():
    """A track is looked for where its smoothed velocity takes it, at
    most 0.2 s ahead (a track unseen for longer is not sent off)."""
    rng = np.random.default_rng(12)
    person = rng.uniform(100, 300, (1, 17, 2))
    scores = np.ones((1, 17))
    tracker = KeypointTracker(velocity_smoothing=0.5)
    tracker.update(person, scores, 1.)
    tracker.update(person + (9., -3.), scores, 1. + 1 / 30)
    # velocity: half of the newest step's (270, -90) px/s
    for later, ahead in ((1 / 30, 1 / 30), (1., 0.2)):
        _, pred, valid = tracker._predict(1. + 1 / 30 + later)
        np.testing.assert_allclose(
            pred[0], person[0] + (9., -3.) + np.array([135., -45.]) * ahead)
        assert valid.all()


def test_tracker_keeps_ids():
    rng = np.random.default_rng(11)
    people = rng.uniform(0, 1000, (3, 1, 2)) + rng.normal(0, 60, (3, 17, 2))
    scores = np.ones((3, 17))
    tracker = KeypointTracker(max_missed=2)
    ids, _ = tracker.update(people, scores, 0.)
    assert sorted(ids) == [0, 1, 2]
    # shuffled input order, small motion: same ids
    order = [2, 0, 1]
    moved = people[order] + 5.
    ids2, _ = tracker.update(moved, scores, 0.033)
    np.testing.assert_array_equal(ids2, ids[order])
    # person 1 unseen for two frames, then back: same id
    for k in range(2):
        out, ended = tracker.update(people[[0, 2]], scores[:2],
                                    0.066 + 0.033 * k)
        assert ended == []
    out, _ = tracker.update(people, scores, 0.2)
    np.testing.assert_array_equal(out, ids)
    # unseen for longer than max_missed: ended; a new person gets a new id
    for k in range(3):
        out, ended = tracker.update(people[:2], scores[:2], 0.3 + 0.033 * k)
    assert ended == [ids[2]]
    out, _ = tracker.update(people, scores, 0.5)
    assert out[2] == 3 and list(out[:2]) == list(ids[:2])

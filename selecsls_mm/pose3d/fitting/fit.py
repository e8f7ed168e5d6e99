# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Per-frame kinematic fitting of a skeleton to 3D joints and 2D keypoints,
batched over people.

For each person, the local joint rotations ``L`` and the root position
``t`` (camera frame, mm) minimise

    E = w3d * sum_j c_j |p_j(L) - q_j|^2                 (3D match)
      + w2d * sum_k s_k |proj(p_k(L) + t) - u_k|^2       (2D reprojection)
      + wsm * sum_a |log(L_a L_a,prev^T)|^2               (smoothness)
      + wlim * (hinge and cone limit violations)^2        (joint limits)
      + wdep * (t_z - z_ref)^2                            (depth)

with ``p`` the forward kinematics of the person's fixed bone offsets, ``q``
the root-relative 3D joints (Stage II) with confidences ``c``, ``u`` the 2D
keypoints with scores ``s``, ``proj`` the camera's pinhole projection and
``z_ref`` the person's filtered depth so far. Each weight is ``sigma^-2``
of :class:`FitWeights`, so every term is in units of its expected error;
the 3D and 2D terms are robust (Huber, by re-weighting).

A closed-form start (:func:`initial_rotations`: per joint a Kabsch
alignment of its bones to its children's targets, for shoulders and hips
also of the elbow's or knee's axis to the limb's bending plane, pulled
weakly to last frame's rotation; :func:`place_root`: the linear
least-squares root position that best reprojects the skeleton onto the 2D
keypoints) is refined by a few Levenberg-Marquardt steps
(:func:`refine`) whose parameters are the root position and one rotation
increment per rotating joint (in the camera frame, about the joint).
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np

from ..camera import Camera
from .rotations import (cross, rotation_from_covariance, skew, so3_exp,
                        so3_left_jacobian_inv, so3_log_small)
from .skeleton import Skeleton


@dataclass
class FitWeights:
    """The energy's weights as the error each term expects (its sigma;
    weight = sigma^-2), and the solver's settings.

    Args:
        sigma_3d (float): 3D joint error, mm.
        sigma_2d (float): 2D keypoint error, px.
        sigma_smooth (float): Rotation change per frame, radians.
        sigma_limit (float): Joint-limit violation, radians.
        sigma_depth (float): Root depth change from its filtered value, mm.
        huber_3d (float): 3D residuals beyond this many sigmas count
            linearly (robust to outliers).
        huber_2d (float): The same for 2D residuals.
        min_score (float): 2D keypoints below this score are ignored.
        iterations (int): Levenberg-Marquardt steps.
        damping (float): Levenberg-Marquardt damping (relative).
    """
    sigma_3d: float = 30.
    sigma_2d: float = 4.
    sigma_smooth: float = 0.2
    sigma_limit: float = 0.02
    sigma_depth: float = 100.
    huber_3d: float = 2.
    huber_2d: float = 2.
    min_score: float = 0.2
    iterations: int = 2
    damping: float = 1e-3


@dataclass
class Observations:
    """One frame's inputs for N people, as the fit uses them.

    Args:
        joints_3d (np.ndarray): (N, J, 3) root-relative targets, mm.
        weights_3d (np.ndarray): (N, J) their confidences (0: unknown).
        keypoints (np.ndarray): (N, K, 2) pixels of the skeleton's joints
            that are 2D keypoints (:attr:`Skeleton.keypoint_joints`).
        weights_2d (np.ndarray): (N, K) their scores (0: unknown).
        camera (Camera): The camera of the frame.
        depth_ref (np.ndarray): (N, ) root depth to stay near (mm), NaN
            where there is none yet.
        previous (np.ndarray, optional): (N, J, 3, 3) last frame's local
            rotations, for the smoothness term.
        has_previous (np.ndarray, optional): (N, ) bool, rows of
            ``previous`` that exist.
    """
    joints_3d: np.ndarray
    weights_3d: np.ndarray
    keypoints: np.ndarray
    weights_2d: np.ndarray
    camera: Camera
    depth_ref: np.ndarray
    previous: Optional[np.ndarray] = None
    has_previous: Optional[np.ndarray] = None


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt((v * v).sum(-1, keepdims=True)), 1e-9)


def _aiming_covariances(skeleton: Skeleton, offsets: np.ndarray,
                        targets: np.ndarray,
                        weights: np.ndarray) -> np.ndarray:
    """(N, R, 3, 3) the data part of every rotating joint's Kabsch
    covariance ``sum_i w_i b_i a_i^T``: its bones (sources a) onto its
    children's target directions (b), and for shoulders and hips the
    hinge's axis onto the normal of the limb's bending plane."""
    aim, js = skeleton.aiming, skeleton.rotated
    kids = aim['kids']
    dst = _unit(targets[:, kids] - targets[:, js, None])
    w = weights[:, kids] * weights[:, js, None] * aim['kid_mask']
    cov = np.swapaxes(dst * w[..., None], -1, -2) @ _unit(offsets)[:, kids]
    b, grand = aim['bend_index'], aim['grand']
    if len(b):
        fore = _unit(targets[:, grand] - targets[:, kids[b, 0]])
        # |normal| = sin(bend) weighs the pair by how bent the limb is
        normal = cross(dst[:, b, 0],
                       fore) * (w[:, b, 0] * weights[:, grand])[..., None]
        cov[:, b] += normal[..., :, None] * aim['axis'][:, None, :]
    return cov


def initial_rotations(skeleton: Skeleton,
                      offsets: np.ndarray,
                      targets: np.ndarray,
                      weights: np.ndarray,
                      reference: Optional[np.ndarray] = None,
                      has_reference: Optional[np.ndarray] = None,
                      eps: float = 0.05) -> np.ndarray:
    """Closed-form local rotations that point each bone at the targets.

    Every rotating joint's global rotation is one weighted Kabsch
    alignment of: its bones to its children's target directions; for
    shoulders and hips (whose child is a hinge), also the hinge axis to the
    normal of the limb's bending plane, weighted by how bent the limb is;
    and, weakly (``eps``), the three axes of a reference rotation, which
    decides what the data leave open (a bone's twist): last frame's
    rotation if given, else (and always for hinges) the parent's.

    Args:
        skeleton (Skeleton): The skeleton.
        offsets (np.ndarray): (N, J, 3) bone offsets.
        targets (np.ndarray): (N, J, 3) root-relative joint targets.
        weights (np.ndarray): (N, J) target confidences.
        reference (np.ndarray, optional): (N, J, 3, 3) global rotations
            of the last frame.
        has_reference (np.ndarray, optional): (N, ) bool, the people that
            have one (all if not given).
        eps (float): Weight of the reference axes.

    Returns:
        np.ndarray: (N, J, 3, 3) local rotations (identity at leaves).
    """
    num, nj = targets.shape[:2]
    sk, js = skeleton, skeleton.rotated
    cov = _aiming_covariances(sk, offsets, targets, weights)
    glob = np.empty((num, nj, 3, 3))
    glob[:] = np.eye(3)  # the root's parent frame (and the leaves')
    if reference is not None and (has_reference is None
                                  or has_reference.all()):
        # a joint pulled to its own last rotation does not need its parent:
        # every such joint in one batch, then the hinges (pulled to their
        # parents), instead of one batch per tree level
        free, hinge = ~sk.is_hinge, sk.is_hinge
        pull = eps * reference[:, js[free]]
        glob[:, js[free]] = rotation_from_covariance(cov[:, free] + pull)
        pull = eps * glob[:, sk.rotated_parents[hinge]]
        glob[:, js[hinge]] = rotation_from_covariance(cov[:, hinge] + pull)
    else:
        for lv in sk.rotation_levels:  # the parents' frames come first
            ref = glob[:, sk.rotated_parents_or_self[lv]]
            if reference is not None:
                use = has_reference[:, None] & ~sk.is_hinge[lv][None]
                ref = np.where(use[..., None, None], reference[:, js[lv]], ref)
            glob[:, js[lv]] = rotation_from_covariance(cov[:, lv] + eps * ref)
    local = np.empty_like(glob)
    local[:] = np.eye(3)
    local[:, js] = np.swapaxes(_parent_frames(sk, glob), -1, -2) @ glob[:, js]
    return local


# place_root's normal matrix from its sums (1, xn, yn, xn^2 + yn^2):
# [[S, 0, -Sx], [0, S, -Sy], [-Sx, -Sy, Sq]]
_NORMAL_AT = np.array([0, 0, 1, 0, 0, 2, 1, 2, 3])
_NORMAL_SIGN = np.array([1., 0., -1., 0., 1., -1., -1., -1., 1.])


def place_root(camera: Camera,
               joints: np.ndarray,
               keypoints: np.ndarray,
               weights: np.ndarray,
               iterations: int = 2) -> np.ndarray:
    """The root position t that best reprojects root-relative joints onto
    their keypoints (linear least squares, re-weighted by depth so that it
    approximates the pixel error).

    Each keypoint u of a joint p gives two equations linear in t:
    ``(p_x + t_x) - x_n (p_z + t_z) = 0`` with ``x_n = (u_x - cx) / fx``
    (and the same for y), the pinhole model multiplied out.

    Args:
        camera (Camera): Intrinsics.
        joints (np.ndarray): (N, K, 3) root-relative positions, mm.
        keypoints (np.ndarray): (N, K, 2) their pixels.
        weights (np.ndarray): (N, K) keypoint weights.

    Returns:
        np.ndarray: (N, 3) root positions in the camera frame, mm.
    """
    xn = (keypoints[..., 0] - camera.cx) / camera.fx
    yn = (keypoints[..., 1] - camera.cy) / camera.fy
    # rows (1, 0, -xn) and (0, 1, -yn) with right-hand sides rx and ry:
    # the normal equations need only these per-keypoint sums
    rx = xn * joints[..., 2] - joints[..., 0]
    ry = yn * joints[..., 2] - joints[..., 1]
    terms = np.stack([
        np.ones_like(xn), xn, yn, xn * xn + yn * yn, rx, ry,
        -(xn * rx + yn * ry)
    ], -1)  # (N, K, 7)
    w = weights.astype(np.float64)
    t = np.zeros(joints.shape[:1] + (3, ))
    for i in range(iterations):
        if i:  # weight 1/depth^2: algebraic error ~ depth * pixel error
            depth = np.maximum(joints[..., 2] + t[:, None, 2], 100.)
            w = weights / (depth / depth.mean(1, keepdims=True))**2
        sums = np.einsum('nk,nkf->nf', w, terms)
        a = (sums[:, _NORMAL_AT] * _NORMAL_SIGN).reshape(-1, 3, 3)
        t = np.linalg.solve(a + 1e-9 * np.eye(3), sums[:, 4:, None])[..., 0]
    return t


def _robust(residual_norm: np.ndarray, threshold: float) -> np.ndarray:
    """Huber weights (IRLS): 1 inside the threshold, threshold/|r| out."""
    return np.minimum(1., threshold / np.maximum(residual_norm, 1e-12))


def _data_rows(sk: Skeleton, pos: np.ndarray, root: np.ndarray,
               obs: Observations, w: FitWeights):
    """Weighted residuals (N, M) and Jacobian (N, M, 3 + 3R) of the 3D
    match and the 2D reprojection. Parameters: the root position, then one
    world-frame rotation increment per rotating joint."""
    num, nj, nr = pos.shape[0], pos.shape[1], len(sk.rotated)
    nk = len(sk.keypoint_joints)
    # turning joint a by w moves a descendant j by w x (p_j - p_a), i.e.
    # by (skew(p_a) - skew(p_j)) w; rows (N, J, 3, R * 3): d p_j / d w
    spos = skew(pos)
    move = (spos[:, None, sk.rotated] - spos[:, :, None]) * sk.moves_mask
    move = np.swapaxes(move, 2, 3).reshape(num, nj, 3, 3 * nr)
    res3 = pos - obs.joints_3d
    sw3 = np.sqrt(obs.weights_3d * _robust(
        np.sqrt((res3 * res3).sum(-1)), w.huber_3d * w.sigma_3d)) / w.sigma_3d

    cam, kj = obs.camera, sk.keypoint_joints
    focal = np.array([cam.fx, cam.fy])
    pts = pos[:, kj] + root[:, None]
    inv_z = 1. / np.maximum(pts[..., 2:], 1.)
    normal = pts[..., :2] * inv_z  # (x / z, y / z)
    res2 = normal * focal + (cam.cx, cam.cy) - obs.keypoints
    sw2 = np.sqrt(obs.weights_2d * _robust(
        np.sqrt((res2 * res2).sum(-1)), w.huber_2d * w.sigma_2d)) / w.sigma_2d
    # d proj / d point, weighted: (N, K, 2, 3)
    dproj = np.zeros(normal.shape + (3, ))
    dproj[..., 0, 0] = dproj[..., 1, 1] = inv_z[..., 0]
    dproj[..., 2] = -normal * inv_z
    dproj *= (sw2[..., None] * focal)[..., None]
    # rows: the 3D match (the root does not move root-relative joints),
    # then the 2D reprojection (the chain rule through the projection)
    m3 = 3 * nj
    jac = np.zeros((num, m3 + 2 * nk, 3 + 3 * nr))
    jac[:, :m3, 3:] = (move * sw3[..., None, None]).reshape(num, m3, -1)
    jac[:, m3:, :3] = dproj.reshape(num, -1, 3)
    jac[:, m3:, 3:] = (dproj @ move[:, kj]).reshape(num, 2 * nk, -1)
    res = np.concatenate([(res3 * sw3[..., None]).reshape(num, -1),
                          (res2 * sw2[..., None]).reshape(num, -1)], 1)
    return res, jac


def _prior_blocks(sk: Skeleton, rotations: np.ndarray, g_par: np.ndarray,
                  obs: Observations, w: FitWeights):
    """Smoothness and joint-limit terms, which act on one joint's rotation
    each: per rotating joint, weighted residuals (N, R, m) and Jacobians
    (N, R, m, 3) with respect to its own increment."""
    num, nr = rotations.shape[0], len(sk.rotated)
    rot = rotations[:, sk.rotated]
    # a world-frame increment w of joint a turns its local rotation by
    # G_parent^T w (on the left)
    to_local = np.swapaxes(g_par, -1, -2)
    # rows per joint: smoothness (3, if there is a last frame), then the
    # limits (3 off the hinge axis, 1 bend outside its range, 1 cone excess)
    first = 0 if obs.previous is None else 3
    res = np.empty((num, nr, first + 5))
    jac = np.empty((num, nr, first + 5, 3))
    if first:  # both logarithms in one call: fewer calls
        rel_rot = rot @ np.swapaxes(obs.previous[:, sk.rotated], -1, -2)
        both = so3_log_small(np.stack([rel_rot, rot]))
        d_both = so3_left_jacobian_inv(both) @ to_local
        logs, d_log = both[1], d_both[1]
        sws = obs.has_previous[:, None, None] / w.sigma_smooth
        np.multiply(both[0], sws, out=res[..., :3])
        np.multiply(d_both[0], sws[..., None], out=jac[:, :, :3])
    else:
        logs = so3_log_small(rot)
        d_log = so3_left_jacobian_inv(logs) @ to_local
    axis = sk.hinge_axes  # (R, 3), zero for non-hinges
    bend = (logs * axis).sum(-1, keepdims=True)  # (N, R, 1)
    # hinges: no rotation off their axis, the bend within its range
    limits = res[..., first:]
    limits[..., :3] = (logs - bend * axis) * sk.is_hinge[:, None]
    lo, hi = sk.hinge_range[:, :1], sk.hinge_range[:, 1:]
    outside = (np.minimum(bend - lo, 0.) + np.maximum(bend - hi, 0.)) * \
        sk.is_hinge[:, None]
    limits[..., 3:4] = outside
    # ball joints with a cone limit: the angle below it
    angle = np.sqrt((logs * logs).sum(-1, keepdims=True))
    excess = np.maximum(angle - sk.cone_limit[:, None], 0.)
    limits[..., 4:] = excess
    limits /= w.sigma_limit
    rows = np.empty((num, nr, 5, 3))  # d (limit residuals) / d log
    rows[:, :, :3] = sk.off_axis_projector
    rows[:, :, 3] = axis * (outside != 0)
    rows[:, :, 4] = logs / np.maximum(angle, 1e-9) * (excess > 0)
    jac[:, :, first:] = rows @ d_log / w.sigma_limit
    return res, jac


def _parent_frames(sk: Skeleton, glob: np.ndarray) -> np.ndarray:
    """(N, R, 3, 3) global rotation of each rotating joint's parent (the
    identity for the root)."""
    g_par = glob[:, sk.rotated_parents_or_self]
    g_par[:, sk.rotated_parents < 0] = np.eye(3)
    return g_par


@lru_cache(maxsize=None)
def _diagonal_blocks(num_rotated: int) -> np.ndarray:
    """Flat indices (R * 9, ) of the rotation increments' 3x3 diagonal
    blocks in a flattened (3 + 3R) x (3 + 3R) matrix."""
    size = 3 + 3 * num_rotated
    rows = 3 + np.arange(3 * num_rotated).reshape(num_rotated, 3)
    return (rows[:, :, None] * size + rows[:, None, :]).ravel()


def linearise(skeleton: Skeleton,
              offsets: np.ndarray,
              rotations: np.ndarray,
              root: np.ndarray,
              obs: Observations,
              weights: FitWeights,
              pose: Optional[Tuple[np.ndarray, np.ndarray]] = None):
    """The energy at a pose and its Gauss-Newton model.

    Parameters (per person, 3 + 3R): the root position, then one
    world-frame rotation increment per rotating joint (see
    :func:`apply_step`). ``pose``: ``skeleton.forward(offsets, rotations)``
    if already computed.

    Returns:
        tuple: energy (N, ) (the sum of squared weighted residuals; the 3D
        and 2D ones re-weighted by Huber at this pose), gradient / 2
        (N, P), Gauss-Newton matrix (N, P, P) and the rotating joints'
        parent frames (N, R, 3, 3) (for :func:`apply_step`).
    """
    sk = skeleton
    num, nr = rotations.shape[0], len(sk.rotated)
    pos, glob = sk.forward(offsets, rotations) if pose is None else pose
    g_par = _parent_frames(sk, glob)
    res, jac = _data_rows(sk, pos, root, obs, weights)
    prior_res, prior_jac = _prior_blocks(sk, rotations, g_par, obs, weights)
    jt = np.swapaxes(jac, 1, 2)
    h = jt @ jac
    g = (jt @ res[..., None])[..., 0]
    # the priors act on one joint each: add their blocks to the diagonal
    prior_jt = np.swapaxes(prior_jac, -1, -2)
    blocks = (prior_jt @ prior_jac).reshape(num, -1)
    h.reshape(num, -1)[:, _diagonal_blocks(nr)] += blocks  # h: a new array
    g[:, 3:] += (prior_jt @ prior_res[..., None]).reshape(num, -1)
    # depth: one residual on the root's z
    has_ref = np.isfinite(obs.depth_ref)
    depth_w = has_ref / weights.sigma_depth
    depth_res = (root[:, 2] - np.where(has_ref, obs.depth_ref, 0.)) * depth_w
    h[:, 2, 2] += depth_w**2
    g[:, 2] += depth_res * depth_w
    energy = (res * res).sum(1) + (prior_res * prior_res).sum((1, 2)) + \
        depth_res**2
    return energy, g, h, g_par


def residuals(skeleton: Skeleton, offsets: np.ndarray, rotations: np.ndarray,
              root: np.ndarray, obs: Observations,
              weights: FitWeights) -> Tuple[np.ndarray, np.ndarray]:
    """All weighted residuals (N, M) of the energy and their dense
    Jacobian (N, M, 3 + 3R) (for checks; :func:`linearise` builds the
    normal equations without the prior terms' zeros)."""
    sk = skeleton
    num, nr = rotations.shape[0], len(sk.rotated)
    pos, glob = sk.forward(offsets, rotations)
    res, jac = _data_rows(sk, pos, root, obs, weights)
    prior_res, prior_jac = _prior_blocks(sk, rotations,
                                         _parent_frames(sk,
                                                        glob), obs, weights)
    rows = prior_res.shape[2]
    dense = np.zeros((num, nr, rows, 1 + nr, 3))
    dense[:, np.arange(nr), :,
          np.arange(1, nr + 1)] = np.moveaxis(prior_jac, 1, 0)
    has_ref = np.isfinite(obs.depth_ref)
    depth_w = has_ref / weights.sigma_depth
    depth_jac = np.zeros((num, 1, 3 + 3 * nr))
    depth_jac[:, 0, 2] = depth_w
    return (np.concatenate([
        res,
        prior_res.reshape(num, -1),
        ((root[:, 2] - np.where(has_ref, obs.depth_ref, 0.)) * depth_w)[:,
                                                                        None]
    ], 1),
            np.concatenate([jac,
                            dense.reshape(num, nr * rows, -1), depth_jac], 1))


def apply_step(skeleton: Skeleton,
               offsets: np.ndarray,
               rotations: np.ndarray,
               root: np.ndarray,
               delta: np.ndarray,
               parent_frames: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
    """Move a pose by parameters ``delta`` (N, 3 + 3R): the root by the
    first three, each rotating joint's subtree by a turn about the joint,
    given in the camera frame, of the next three. ``parent_frames``: as
    :func:`linearise` returns them for this pose (else computed)."""
    sk, num = skeleton, rotations.shape[0]
    g_par = parent_frames
    if g_par is None:
        g_par = _parent_frames(sk, sk.forward(offsets, rotations)[1])
    rotations = rotations.copy()
    turn = so3_exp(delta[:, 3:].reshape(num, -1, 3))
    # G_par^T exp(w) G_par L: the subtree turns by exp(w) in the world
    rotations[:, sk.rotated] = np.swapaxes(g_par, -1, -2) @ turn @ \
        g_par @ rotations[:, sk.rotated]
    return rotations, root + delta[:, :3]


def refine(
    skeleton: Skeleton,
    offsets: np.ndarray,
    rotations: np.ndarray,
    root: np.ndarray,
    obs: Observations,
    weights: FitWeights,
    pose: Optional[Tuple[np.ndarray, np.ndarray]] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt steps on the energy from a start.

    Args:
        skeleton (Skeleton): The skeleton.
        offsets (np.ndarray): (N, J, 3) bone offsets.
        rotations (np.ndarray): (N, J, 3, 3) starting local rotations.
        root (np.ndarray): (N, 3) starting root positions, mm.
        obs (Observations): The frame's inputs.
        weights (FitWeights): Energy weights and solver settings.
        pose (tuple, optional): ``skeleton.forward`` of the start, if
            already computed.

    Returns:
        tuple: refined local rotations (N, J, 3, 3) and root (N, 3).
    """
    for _ in range(weights.iterations):
        _, g, h, g_par = linearise(skeleton, offsets, rotations, root, obs,
                                   weights, pose)
        pose = None
        diag = np.einsum('nii->ni', h)
        diag += weights.damping * diag + 1e-9  # writes into h
        delta = -np.linalg.solve(h, g[..., None])[..., 0]
        rotations, root = apply_step(skeleton, offsets, rotations, root, delta,
                                     g_par)
        root[:, 2] = np.maximum(root[:, 2], 100.)
    return rotations, root


def fit_frame(skeleton: Skeleton,
              offsets: np.ndarray,
              obs: Observations,
              weights: FitWeights,
              reference: Optional[np.ndarray] = None,
              has_reference: Optional[np.ndarray] = None) -> dict:
    """Fit N people of one frame: closed-form start, then refinement.

    Args:
        skeleton (Skeleton): The skeleton.
        offsets (np.ndarray): (N, J, 3) each person's bone offsets.
        obs (Observations): The frame's inputs.
        weights (FitWeights): Energy weights and solver settings.
        reference (np.ndarray, optional): (N, J, 3, 3) last frame's global
            rotations (for the start's undetermined twists).
        has_reference (np.ndarray, optional): (N, ) bool, who has one.

    Returns:
        dict: ``rotations`` (N, J, 3, 3) local, ``root`` (N, 3) camera mm,
        ``joints`` (N, J, 3) root-relative (camera orientation) and
        ``global_rotations`` (N, J, 3, 3).
    """
    rotations = initial_rotations(skeleton, offsets, obs.joints_3d,
                                  obs.weights_3d, reference, has_reference)
    pose = skeleton.forward(offsets, rotations)
    root = place_root(obs.camera, pose[0][:, skeleton.keypoint_joints],
                      obs.keypoints, obs.weights_2d)
    rotations, root = refine(skeleton, offsets, rotations, root, obs, weights,
                             pose)
    pos, glob = skeleton.forward(offsets, rotations)
    return dict(
        rotations=rotations, root=root, joints=pos, global_rotations=glob)

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

A closed-form start (:func:`initial_rotations`: Kabsch for joints with
several children, the arm's or leg's bending plane for shoulders and hips,
the shortest turn for the rest; :func:`place_root`: the linear
least-squares root position that best reprojects the skeleton onto the 2D
keypoints) is refined by a few Levenberg-Marquardt steps
(:func:`refine`) whose parameters are the root position and one rotation
increment per rotating joint (in the camera frame, about the joint).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..camera import Camera
from .rotations import (kabsch, skew, so3_exp, so3_left_jacobian_inv,
                        so3_log_small)
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
    sigma_smooth: float = 0.1
    sigma_limit: float = 0.02
    sigma_depth: float = 100.
    huber_3d: float = 2.
    huber_2d: float = 2.
    min_score: float = 0.2
    iterations: int = 4
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
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def initial_rotations(skeleton: Skeleton,
                      offsets: np.ndarray,
                      targets: np.ndarray,
                      weights: np.ndarray,
                      reference: Optional[np.ndarray] = None,
                      has_reference: Optional[np.ndarray] = None,
                      eps: float = 0.05) -> np.ndarray:
    """Closed-form local rotations that point each bone at the targets.

    Every rotating joint's global rotation is one weighted Kabsch
    alignment (all joints of a tree level at once) of: its bones to its
    children's target directions; for shoulders and hips (whose child is a
    hinge), also the hinge axis to the normal of the limb's bending plane,
    weighted by how bent the limb is; and, weakly (``eps``), the three axes
    of a reference rotation, which decides what the data leave open (a
    bone's twist): last frame's rotation if given, else (and always for
    hinges) the parent's.

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
    local = np.broadcast_to(np.eye(3), (num, nj, 3, 3)).copy()
    glob = local.copy()
    for lv in skeleton.rotation_levels:
        js, par = lv['joints'], lv['parents']
        g_par = np.where((par >= 0)[:, None, None], glob[:,
                                                         np.maximum(par, 0)],
                         np.eye(3))  # N,n,3,3
        ref = g_par
        if reference is not None:
            use = has_reference[:, None] & ~lv['is_hinge'][None]
            ref = np.where(use[..., None, None], reference[:, js], g_par)
        kids = lv['kids']
        src = _unit(offsets[:, kids])  # N,n,C,3
        dst = _unit(targets[:, kids] - targets[:, js, None])
        w = weights[:, kids] * weights[:, js, None] * lv['kid_mask']
        # the limb's bending plane: its normal is the hinge axis
        fore = targets[:, lv['grand']] - targets[:, kids[:, 0]]
        normal = np.cross(dst[:, :, 0], _unit(fore))
        bend_w = np.linalg.norm(normal, axis=-1) * w[:, :, 0] * \
            weights[:, lv['grand']] * lv['bends']
        axis = np.broadcast_to(lv['axis'], (num, ) + lv['axis'].shape)
        eye = np.broadcast_to(np.eye(3), ref.shape)
        src = np.concatenate([src, axis[:, :, None], eye], 2)
        dst = np.concatenate(
            [dst, _unit(normal)[:, :, None],
             np.swapaxes(ref, -1, -2)], 2)
        w = np.concatenate(
            [w, bend_w[..., None],
             np.full(ref.shape[:2] + (3, ), eps)], 2)
        glob[:, js] = kabsch(src, dst, w)
        local[:, js] = np.swapaxes(g_par, -1, -2) @ glob[:, js]
    return local


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
    zero, one = np.zeros_like(xn), np.ones_like(xn)
    rows = np.stack(
        [np.stack([one, zero, -xn], -1),
         np.stack([zero, one, -yn], -1)], -2)  # (N, K, 2, 3)
    rhs = np.stack([
        xn * joints[..., 2] - joints[..., 0],
        yn * joints[..., 2] - joints[..., 1]
    ], -1)  # (N, K, 2)
    w = weights.astype(np.float64)
    t = np.zeros(joints.shape[:1] + (3, ))
    for i in range(iterations):
        if i:  # weight 1/depth^2: algebraic error ~ depth * pixel error
            depth = np.maximum(joints[..., 2] + t[:, None, 2], 100.)
            w = weights / (depth / depth.mean(1, keepdims=True))**2
        a = np.einsum('nk,nkri,nkrj->nij', w, rows, rows)
        b = np.einsum('nk,nkri,nkr->ni', w, rows, rhs)
        t = np.linalg.solve(a + 1e-9 * np.eye(3), b[..., None])[..., 0]
    return t


def _robust(residual_norm: np.ndarray, threshold: float) -> np.ndarray:
    """Huber weights (IRLS): 1 inside the threshold, threshold/|r| out."""
    return np.minimum(1., threshold / np.maximum(residual_norm, 1e-12))


class _System:
    """Residuals and Jacobians of the energy for N people, stacked."""

    def __init__(self, num: int, num_params: int):
        self.rows, self.jacs = [], []
        self.num, self.num_params = num, num_params

    def add(self, residual: np.ndarray, jacobian: np.ndarray) -> None:
        self.rows.append(residual.reshape(self.num, -1))
        self.jacs.append(jacobian.reshape(self.num, -1, self.num_params))

    def step(self, damping: float) -> np.ndarray:
        r = np.concatenate(self.rows, 1)
        jac = np.concatenate(self.jacs, 1)
        jt = np.swapaxes(jac, 1, 2)
        h = jt @ jac
        g = (jt @ r[..., None])[..., 0]
        diag = np.einsum('nii->ni', h)
        h = h + np.einsum('ni,ij->nij', damping * diag + 1e-9,
                          np.eye(self.num_params))
        return -np.linalg.solve(h, g[..., None])[..., 0]


def _block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """(N, R, m, 3) per-joint blocks -> (N, R, m, R, 3) acting on each
    joint's own rotation increment."""
    eye = np.eye(blocks.shape[1])
    return np.einsum('nrab,rs->nrasb', blocks, eye)


def _add_data_terms(system, sk, offsets, pos, root, obs, w: FitWeights):
    """3D match and 2D reprojection rows."""
    num, nj, nr = pos.shape[0], pos.shape[1], len(sk.rotated)
    diff = pos[:, :, None, :] - pos[:, None, sk.rotated, :]
    # rotating joint a by w moves its descendants j by w x (p_j - p_a)
    move = -skew(diff) * sk.moves[None, :, :, None, None]  # N,J,R,3,3
    res3 = pos - obs.joints_3d
    sw3 = np.sqrt(obs.weights_3d * _robust(
        np.linalg.norm(res3, axis=-1), w.huber_3d * w.sigma_3d)) / w.sigma_3d
    jac3 = np.zeros((num, nj, 3, 3 + 3 * nr))
    jac3[..., 3:] = np.swapaxes(move, 2, 3).reshape(num, nj, 3, 3 * nr)
    system.add(res3 * sw3[..., None], jac3 * sw3[..., None, None])

    kj = sk.keypoint_joints
    cam = obs.camera
    pts = pos[:, kj] + root[:, None]
    z = np.maximum(pts[..., 2], 1.)
    proj = np.stack(
        [cam.fx * pts[..., 0] / z + cam.cx, cam.fy * pts[..., 1] / z + cam.cy],
        -1)
    zero = np.zeros_like(z)
    dproj = np.stack([
        np.stack([cam.fx / z, zero, -cam.fx * pts[..., 0] / z**2], -1),
        np.stack([zero, cam.fy / z, -cam.fy * pts[..., 1] / z**2], -1)
    ], -2)  # N,K,2,3
    res2 = proj - obs.keypoints
    sw2 = np.sqrt(obs.weights_2d * _robust(
        np.linalg.norm(res2, axis=-1), w.huber_2d * w.sigma_2d)) / w.sigma_2d
    jac2 = np.concatenate([
        dproj,
        np.einsum('nkab,nkrbc->nkarc', dproj, move[:, kj]).reshape(
            num, len(kj), 2, 3 * nr)
    ], -1)
    system.add(res2 * sw2[..., None], jac2 * sw2[..., None, None])


def _add_prior_terms(system, sk, rotations, glob, root, obs, w: FitWeights):
    """Smoothness, joint-limit and depth rows."""
    num, nr = rotations.shape[0], len(sk.rotated)
    rot = rotations[:, sk.rotated]
    par = sk.rotated_parents
    g_par = np.where((par >= 0)[None, :, None, None], glob[:,
                                                           np.maximum(par, 0)],
                     np.eye(3))
    # a world-frame increment w of joint a changes its local rotation by
    # G_parent^T w (on the left)
    to_local = np.swapaxes(g_par, -1, -2)

    if obs.previous is not None:
        rel = so3_log_small(
            rot @ np.swapaxes(obs.previous[:, sk.rotated], -1, -2))
        jac = so3_left_jacobian_inv(rel) @ to_local
        sws = obs.has_previous.astype(np.float64)[:, None, None] / \
            w.sigma_smooth
        system.add(
            rel * sws,
            np.concatenate([
                np.zeros((num, nr * 3, 3)),
                _block_diagonal(jac * sws[..., None]).reshape(
                    num, nr * 3, 3 * nr)
            ], -1))

    logs = so3_log_small(rot)
    jac = so3_left_jacobian_inv(logs) @ to_local  # d log / d increment
    axis = sk.hinge_axes  # R,3 (zero for non-hinges)
    bend = np.einsum('nrc,rc->nr', logs, axis)
    off = (logs - bend[..., None] * axis) * sk.is_hinge[:, None]
    off_jac = (np.eye(3) - axis[:, :, None] * axis[:, None, :]) @ jac
    lo, hi = sk.hinge_range[:, 0], sk.hinge_range[:, 1]
    outside = np.where(bend < lo, bend - lo, np.where(bend > hi, bend - hi,
                                                      0.)) * sk.is_hinge
    out_jac = np.einsum('rc,nrcd->nrd', axis, jac) * (outside != 0)[..., None]
    angle = np.linalg.norm(logs, axis=-1)
    excess = np.maximum(angle - sk.cone_limit, 0.)
    cone_jac = np.einsum('nrc,nrcd->nrd', logs / np.maximum(
        angle, 1e-9)[..., None], jac) * (excess > 0)[..., None]
    res = np.concatenate([off, outside[..., None], excess[..., None]], -1)
    blocks = np.concatenate([
        off_jac * sk.is_hinge[:, None, None], out_jac[:, :, None],
        cone_jac[:, :, None]
    ], 2)
    system.add(
        res / w.sigma_limit,
        np.concatenate([
            np.zeros((num, nr, 5, 3)),
            _block_diagonal(blocks).reshape(num, nr, 5, 3 * nr)
        ], -1) / w.sigma_limit)

    has_ref = np.isfinite(obs.depth_ref)
    swd = has_ref / w.sigma_depth
    jac_d = np.zeros((num, 1, 3 + 3 * nr))
    jac_d[:, 0, 2] = swd
    system.add((root[:, 2] - np.where(has_ref, obs.depth_ref, 0.)) * swd,
               jac_d)


def refine(skeleton: Skeleton, offsets: np.ndarray, rotations: np.ndarray,
           root: np.ndarray, obs: Observations,
           weights: FitWeights) -> Tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt steps on the energy from a start.

    Args:
        skeleton (Skeleton): The skeleton.
        offsets (np.ndarray): (N, J, 3) bone offsets.
        rotations (np.ndarray): (N, J, 3, 3) starting local rotations.
        root (np.ndarray): (N, 3) starting root positions, mm.
        obs (Observations): The frame's inputs.
        weights (FitWeights): Energy weights and solver settings.

    Returns:
        tuple: refined local rotations (N, J, 3, 3) and root (N, 3).
    """
    rotations, root = rotations.copy(), root.copy()
    sk, num = skeleton, rotations.shape[0]
    par = sk.rotated_parents
    for _ in range(weights.iterations):
        pos, glob = sk.forward(offsets, rotations)
        system = _System(num, 3 + 3 * len(sk.rotated))
        _add_data_terms(system, sk, offsets, pos, root, obs, weights)
        _add_prior_terms(system, sk, rotations, glob, root, obs, weights)
        delta = system.step(weights.damping)
        root = root + delta[:, :3]
        root[:, 2] = np.maximum(root[:, 2], 100.)
        turn = so3_exp(delta[:, 3:].reshape(num, -1, 3))
        g_par = np.where((par >= 0)[None, :, None, None],
                         glob[:, np.maximum(par, 0)], np.eye(3))
        rotations[:, sk.rotated] = np.swapaxes(g_par, -1, -2) @ turn @ \
            g_par @ rotations[:, sk.rotated]
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
    pos, _ = skeleton.forward(offsets, rotations)
    root = place_root(obs.camera, pos[:, skeleton.keypoint_joints],
                      obs.keypoints, obs.weights_2d)
    rotations, root = refine(skeleton, offsets, rotations, root, obs, weights)
    pos, glob = skeleton.forward(offsets, rotations)
    return dict(
        rotations=rotations, root=root, joints=pos, global_rotations=glob)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Batched 3D rotations in numpy: exponential and logarithm maps of SO(3),
quaternions and weighted Kabsch alignment. Every function works on any
leading batch shape.

Quaternions are (w, x, y, z), as in :func:`~..motion.quaternion_matrix`.
"""
import numpy as np

# Linear maps written as one matrix product each (a product costs one numpy
# call; the indexing it replaces costs several, which is what a frame of one
# person pays for).
# skew(v) as a flat 3x3: v @ _SKEW (entries 1, 2, 3, 5, 6, 7 are -z, y, z,
# -x, -y, x)
_SKEW = np.zeros((3, 9))
_SKEW[[2, 1, 2, 0, 1, 0], [1, 2, 3, 5, 6, 7]] = (-1., 1., 1., -1., -1., 1.)
# a flat 3x3 matrix M @ _VEE_TRACE: 2 * vee of its skew part (M21 - M12,
# M02 - M20, M10 - M01) and its trace
_VEE_TRACE = np.zeros((9, 4))
for _col, (_plus, _minus) in enumerate(((7, 5), (2, 6), (3, 1))):
    _VEE_TRACE[_plus, _col], _VEE_TRACE[_minus, _col] = 1., -1.
_VEE_TRACE[[0, 4, 8], 3] = 1.


def norm(v: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Euclidean norms over the last axis (``np.linalg.norm`` with less
    overhead)."""
    return np.sqrt((v * v).sum(-1, keepdims=keepdims))


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices (..., 3, 3) of vectors (..., 3):
    ``skew(a) @ b == np.cross(a, b)``."""
    return (v @ _SKEW).reshape(v.shape[:-1] + (3, 3))


def so3_exp(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3)
    (Rodrigues' formula, exact near zero)."""
    theta2 = np.einsum('...i,...i->...', rotvec, rotvec)
    theta = np.sqrt(theta2)
    small = theta < 1e-4
    safe = np.where(small, 1., theta)
    # sin(t)/t and (1 - cos(t))/t^2 with their Taylor series near 0
    a = np.where(small, 1. - theta2 / 6., np.sin(safe) / safe)
    b = np.where(small, .5 - theta2 / 24., (1. - np.cos(safe)) / safe**2)
    k = skew(rotvec)
    return (np.eye(3) + a[..., None, None] * k + b[..., None, None] * (k @ k))


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4), w >= 0, of rotation matrices (..., 3, 3).

    Uses the largest of the four candidate denominators per matrix
    (Shepperd's method), so it is stable for every rotation.
    """
    m = np.asarray(matrix, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4 * (w^2, x^2, y^2, z^2)
    four_sq = np.stack([
        1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
        1 - m00 - m11 + m22
    ], -1)
    best = np.argmax(four_sq, axis=-1)
    root = np.sqrt(
        np.maximum(
            np.take_along_axis(four_sq, best[..., None], -1)[..., 0], 1e-12))
    d21, d12 = m[..., 2, 1], m[..., 1, 2]
    d02, d20 = m[..., 0, 2], m[..., 2, 0]
    d10, d01 = m[..., 1, 0], m[..., 0, 1]
    candidates = np.stack([
        np.stack([root * root, d21 - d12, d02 - d20, d10 - d01], -1),
        np.stack([d21 - d12, root * root, d01 + d10, d02 + d20], -1),
        np.stack([d02 - d20, d01 + d10, root * root, d12 + d21], -1),
        np.stack([d10 - d01, d02 + d20, d12 + d21, root * root], -1),
    ], -2) / (2. * root[..., None, None])
    q = np.take_along_axis(candidates, best[..., None, None], -2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def quaternion_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) of unit quaternions (..., 4)."""
    q = np.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    sin_half = norm(v)
    angle = 2. * np.arctan2(sin_half, q[..., 0])
    # angle / sin(angle / 2) -> 2 as the angle goes to 0
    scale = np.where(sin_half < 1e-8, 2., angle / np.maximum(sin_half, 1e-300))
    return v * scale[..., None]


def so3_log(matrix: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3), angle in [0, pi], of rotation matrices."""
    return quaternion_to_rotvec(matrix_to_quaternion(matrix))


def so3_log_small(matrix: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) of rotation matrices whose angle is well
    below pi (a few times cheaper than :func:`so3_log`; the axis gets
    inaccurate within about 1e-3 rad of a half turn)."""
    vt = matrix.reshape(matrix.shape[:-2] + (9, )) @ _VEE_TRACE
    vee = .5 * vt[..., :3]  # sin(angle) * axis
    sin = norm(vee)
    cos = .5 * (vt[..., 3] - 1.)
    angle = np.arctan2(sin, cos)
    scale = np.where(sin < 1e-9, 1., angle / np.maximum(sin, 1e-300))
    return vee * scale[..., None]


def so3_left_jacobian_inv(rotvec: np.ndarray) -> np.ndarray:
    """Inverse left Jacobians (..., 3, 3) of SO(3): to first order
    ``log(exp(d) @ exp(r)) = r + J_l^{-1}(r) @ d``. Angles are clipped
    below pi, where the inverse Jacobian is singular."""
    theta = norm(rotvec)
    small = theta < 1e-4
    t = np.minimum(np.where(small, 1., theta), np.pi - 1e-3)
    coef = np.where(small, 1. / 12.,
                    1. / t**2 - (1. + np.cos(t)) / (2. * t * np.sin(t)))
    k = skew(rotvec)
    return np.eye(3) - .5 * k + coef[..., None, None] * (k @ k)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products (..., 3) (``np.cross`` with less overhead)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0],
                    -1)


def rotation_from_covariance(cov: np.ndarray) -> np.ndarray:
    """The rotations R (..., 3, 3) maximising ``trace(R^T cov)``: for
    ``cov = sum_i w_i b_i a_i^T`` the R minimising
    ``sum_i w_i |R a_i - b_i|^2`` (Kabsch; no reflections)."""
    u, _, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= np.where(d == 0, 1., d)[..., None]
    return u @ vt


def kabsch(source: np.ndarray,
           target: np.ndarray,
           weights: np.ndarray = None) -> np.ndarray:
    """Rotations R (..., 3, 3) minimising ``sum_i w_i |R a_i - b_i|^2``.

    Args:
        source (np.ndarray): Vectors a, shape (..., K, 3).
        target (np.ndarray): Vectors b, shape (..., K, 3).
        weights (np.ndarray, optional): (..., K) non-negative weights.

    Returns:
        np.ndarray: Proper rotations (no reflection), shape (..., 3, 3).
    """
    if weights is not None:
        target = target * weights[..., None]
    return rotation_from_covariance(np.swapaxes(target, -1, -2) @ source)

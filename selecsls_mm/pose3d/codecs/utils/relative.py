# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""3D joints as offsets from the root or from their parent, and back."""
from typing import Sequence, Tuple

import numpy as np

RELATIVE_TO = ('root', 'parent')


def topological_order(parents: Sequence[int]) -> np.ndarray:
    """Joint indices with every parent before its children."""
    order, placed = [], set()
    while len(order) < len(parents):
        for j, p in enumerate(parents):
            if j not in placed and (p < 0 or p in placed):
                order.append(j)
                placed.add(j)
    return np.asarray(order, dtype=np.int64)


def joint_offsets(joints: np.ndarray, labelled: np.ndarray,
                  parents: Sequence[int], root: int,
                  relative_to: str) -> Tuple[np.ndarray, np.ndarray]:
    """Each joint's offset from the root (``'root'``) or from its parent
    (``'parent'``; the root's offset is 0).

    Args:
        joints (np.ndarray): (N, J, 3).
        labelled (np.ndarray): (N, J) bool, which joints have a label.
        parents (Sequence[int]): Parent of each joint, -1 for the root.
        root (int): The root joint.
        relative_to (str): ``'root'`` or ``'parent'``.

    Returns:
        tuple: offsets (N, J, 3) and which are defined (N, J) bool (both
        ends labelled).
    """
    if relative_to == 'root':
        return (joints - joints[:, root:root + 1],
                labelled & labelled[:, root:root + 1])
    base = np.asarray([root if p < 0 else p for p in parents])
    return joints - joints[:, base], labelled & labelled[:, base]


def offsets_to_root_relative(offsets: np.ndarray, read: np.ndarray,
                             parents: Sequence[int], root: int,
                             relative_to: str, order: np.ndarray
                             ) -> Tuple[np.ndarray, np.ndarray]:
    """Root-relative joints from :func:`joint_offsets`' offsets.

    With parent offsets a joint is the sum of the offsets on its path from
    the root, and read only if all of them were.

    Args:
        offsets (np.ndarray): (M, J, 3).
        read (np.ndarray): (M, J) bool, which offsets were read.
        parents, root, relative_to: As :func:`joint_offsets`.
        order (np.ndarray): :func:`topological_order` of ``parents``.

    Returns:
        tuple: joints (M, J, 3) root-relative (0 where not read) and read
        (M, J) bool.
    """
    if relative_to == 'root':
        return np.where(read[..., None], offsets, 0.), read
    joints = np.zeros_like(offsets)
    chain = np.zeros_like(read)
    for j in order:
        if j == root:
            chain[:, j] = read[:, j]
            continue
        p = parents[j]
        joints[:, j] = joints[:, p] + offsets[:, j]
        chain[:, j] = chain[:, p] & read[:, j]
    return np.where(chain[..., None], joints, 0.).astype(offsets.dtype), chain

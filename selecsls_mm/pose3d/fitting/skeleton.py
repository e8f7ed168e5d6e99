# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The kinematic skeleton of a 3D joint set: its rest pose, its hinges,
per-person bone offsets and forward kinematics.

Rest pose (every local rotation the identity): a T-pose in the person's own
frame, x to the person's LEFT, y UP, z FORWARD (the way the person faces),
millimetres; the template is :data:`T_POSE` (a generic adult; only its
directions and, for bones never seen, its lengths are used). Each joint's
rotation is local to its parent's frame and turns the bones to its
children; the root's rotation takes the rest frame to the camera frame
(a person standing upright facing the camera has root rotation
``diag(1, -1, -1)``). Leaves (wrists, ankles, face points) carry no
rotation of their own (identity).

A joint with several children (pelvis, spine, neck) moves them as one
rigid piece; its shape (the directions of its children in its frame) is
estimated per person, as are all bone lengths (:meth:`Skeleton.
estimate_offsets`: medians over the first frames).
"""
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..joint_sets import COCO_KEYPOINTS, JointSet, get_joint_set
from .rotations import kabsch

# Generic adult T-pose, mm: x = the person's left, y up, z forward.
T_POSE: Dict[str, Tuple[float, float, float]] = {
    'pelvis': (0., 0., 0.),
    'spine': (0., 240., 0.),
    'neck': (0., 470., 0.),
    'head': (0., 610., 0.),
    'head_top': (0., 730., 0.),
    'nose': (0., 620., 100.),
    'left_eye': (35., 660., 85.),
    'right_eye': (-35., 660., 85.),
    'left_ear': (75., 640., 0.),
    'right_ear': (-75., 640., 0.),
    'left_shoulder': (170., 450., 0.),
    'right_shoulder': (-170., 450., 0.),
    'left_elbow': (450., 450., 0.),
    'right_elbow': (-450., 450., 0.),
    'left_wrist': (700., 450., 0.),
    'right_wrist': (-700., 450., 0.),
    'left_hand': (780., 450., 0.),
    'right_hand': (-780., 450., 0.),
    'left_hip': (100., -40., 0.),
    'right_hip': (-100., -40., 0.),
    'left_knee': (100., -460., 0.),
    'right_knee': (-100., -460., 0.),
    'left_ankle': (100., -880., 0.),
    'right_ankle': (-100., -880., 0.),
    'left_toe': (100., -930., 130.),
    'right_toe': (-100., -930., 130.),
}

# Hinge joints: the direction their child bone bends to (rest frame) and
# the allowed bend in degrees. Elbows bend the forearm forward, knees the
# shank backward; 0 is straight.
HINGES: Dict[str, Tuple[Tuple[float, float, float], float, float]] = {
    'left_elbow': ((0., 0., 1.), 0., 150.),
    'right_elbow': ((0., 0., 1.), 0., 150.),
    'left_knee': ((0., 0., -1.), 0., 150.),
    'right_knee': ((0., 0., -1.), 0., 150.),
}

# Ball joints with a largest rotation from the rest pose, degrees.
CONE_LIMITS: Dict[str, float] = {'spine': 90., 'neck': 90.}


def _topological_levels(parents: Tuple[int, ...]) -> List[np.ndarray]:
    """Joint indices by depth in the tree (the root alone first)."""
    depth = [-1] * len(parents)

    def walk(j):
        if depth[j] < 0:
            depth[j] = 0 if parents[j] < 0 else walk(parents[j]) + 1
        return depth[j]

    for j in range(len(parents)):
        walk(j)
    return [
        np.asarray([j for j in range(len(parents)) if depth[j] == d])
        for d in range(max(depth) + 1)
    ]


class Skeleton:
    """Kinematic tree of a joint set, with its rest pose and hinges.

    Args:
        joint_set (str | JointSet): The joint set. Defaults to ``'coco21'``.

    Attributes:
        parents (np.ndarray): (J, ) parent index, -1 for the root.
        rest_dirs (np.ndarray): (J, 3) unit direction of each joint from
            its parent in the rest pose (zero for the root).
        rest_lengths (np.ndarray): (J, ) template bone lengths, mm.
        rotated (np.ndarray): (R, ) the joints with a rotation (root and
            every joint with children), in topological order.
        moves (np.ndarray): (J, R) bool, rotated joint r moves joint j (j
            is a strict descendant of it).
        hinge_axes (np.ndarray): (R, 3) rest-frame hinge axis per rotated
            joint (zero for non-hinges); ``hinge_range`` (R, 2) radians.
        cone_limit (np.ndarray): (R, ) largest rotation angle (radians,
            inf if free).
    """

    def __init__(self, joint_set='coco21') -> None:
        js: JointSet = get_joint_set(joint_set)
        missing = [n for n in js.names if n not in T_POSE]
        if missing:
            raise ValueError(f'joint set {js.name!r} has joints without a '
                             f'rest-pose position: {missing}; add them to '
                             'selecsls_mm.pose3d.fitting.skeleton.T_POSE')
        self.joint_set = js
        self.names = js.names
        self.root = js.root
        self.parents = np.asarray(js.parents)
        self.levels = _topological_levels(js.parents)
        self.order = np.concatenate(self.levels)
        self.children = [js.children(j) for j in range(js.num_joints)]
        rest = np.asarray([T_POSE[n] for n in js.names], dtype=np.float64)
        bones = rest - rest[np.maximum(self.parents, 0)]
        bones[self.root] = 0.
        self.rest_lengths = np.linalg.norm(bones, axis=-1)
        self.rest_dirs = bones / np.maximum(self.rest_lengths, 1e-9)[:, None]
        self.rotated = np.asarray([j for j in self.order if self.children[j]])
        self.rotated_index = {int(a): r for r, a in enumerate(self.rotated)}
        # the joints that are COCO keypoints, and which keypoint each is
        self.keypoint_joints = np.asarray(
            [j for j, n in enumerate(self.names) if n in COCO_KEYPOINTS])
        self.keypoint_ids = np.asarray([
            COCO_KEYPOINTS.index(self.names[j]) for j in self.keypoint_joints
        ])
        self._init_moves()
        self._init_limits()
        self._init_rotation_levels()
        self._init_forward()

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def _init_moves(self) -> None:
        moves = np.zeros((self.num_joints, len(self.rotated)), dtype=bool)
        for r, a in enumerate(self.rotated):
            for j in range(self.num_joints):
                p = self.parents[j]
                while p >= 0 and p != a:
                    p = self.parents[p]
                moves[j, r] = p == a
        self.moves = moves
        self.moves_mask = moves[None, :, :, None, None].astype(np.float64)
        self.rotated_parents = self.parents[self.rotated]
        # the parent of each rotating joint (the root stands for itself)
        self.rotated_parents_or_self = np.where(self.rotated_parents >= 0,
                                                self.rotated_parents,
                                                self.rotated)

    def _init_limits(self) -> None:
        num = len(self.rotated)
        self.hinge_axes = np.zeros((num, 3))
        self.hinge_range = np.zeros((num, 2))
        self.cone_limit = np.full(num, np.inf)
        for r, a in enumerate(self.rotated):
            name = self.names[a]
            if name in HINGES and len(self.children[a]) == 1:
                bend, lo, hi = HINGES[name]
                axis = np.cross(self.rest_dirs[self.children[a][0]], bend)
                self.hinge_axes[r] = axis / np.linalg.norm(axis)
                self.hinge_range[r] = np.deg2rad([lo, hi])
            if name in CONE_LIMITS:
                self.cone_limit[r] = np.deg2rad(CONE_LIMITS[name])
        self.is_hinge = np.linalg.norm(self.hinge_axes, axis=-1) > 0
        # d(off-axis part of a hinge's rotation vector) / d(rotation vector)
        axes = self.hinge_axes
        self.off_axis_projector = np.where(
            self.is_hinge[:, None, None],
            np.eye(3) - axes[:, :, None] * axes[:, None, :], 0.)

    def _init_rotation_levels(self) -> None:
        """What aims each rotating joint (in :attr:`rotated` order): its
        children (padded: ``kids``, ``kid_mask``), and for a joint whose
        child is a hinge (``bend_index``), the hinge's axis and the hinge's
        child (the limb's bending plane); ``rotation_levels``: the slice of
        :attr:`rotated` in each tree level."""
        width = max(len(self.children[j]) for j in self.rotated)
        kids = np.zeros((len(self.rotated), width), dtype=np.int64)
        kid_mask = np.zeros((len(self.rotated), width), dtype=bool)
        bend_index, grand, axis = [], [], []
        for n, j in enumerate(self.rotated):
            c = self.children[j]
            kids[n, :len(c)], kid_mask[n, :len(c)] = c, True
            if len(c) == 1 and self.is_hinge_joint(c[0]):
                bend_index.append(n)
                grand.append(self.children[c[0]][0])
                axis.append(self.hinge_axes[self.rotated_index[c[0]]])
        self.aiming = dict(
            kids=kids,
            kid_mask=kid_mask,
            bend_index=np.asarray(bend_index, dtype=np.int64),
            grand=np.asarray(grand, dtype=np.int64),
            axis=np.asarray(axis).reshape(-1, 3))
        depth = {
            int(j): d
            for d, level in enumerate(self.levels)
            for j in level
        }
        rot_depth = np.asarray([depth[int(j)] for j in self.rotated])
        hinged = self.rotated_parents[self.is_hinge]
        if any(self.is_hinge_joint(p) for p in hinged):
            # initial_rotations aims the hinges after all other joints
            raise ValueError('a hinge whose parent is a hinge is not '
                             'supported; check HINGES in '
                             'selecsls_mm.pose3d.fitting.skeleton')
        self.rotation_levels = [
            slice(
                int(np.searchsorted(rot_depth, d, 'left')),
                int(np.searchsorted(rot_depth, d, 'right')))
            for d in np.unique(rot_depth)
        ]

    def _init_forward(self) -> None:
        """What :meth:`forward` needs: the rotating joints per tree level
        below the root, the leaves, and which bones sum to each joint."""
        # rotation_levels[0] holds the root alone
        self._rotated_levels = [
            self.rotated[lv] for lv in self.rotation_levels[1:]
        ]
        self._leaves = np.setdiff1d(np.arange(self.num_joints), self.rotated)
        # a joint's position is the sum of the bones from the root to it
        chain = np.zeros((self.num_joints, self.num_joints))
        for j in range(self.num_joints):
            k = j
            while self.parents[k] >= 0:
                chain[j, k], k = 1., self.parents[k]
        self._bone_chain = chain
        self._bone_parents = np.maximum(self.parents, 0)

    def is_hinge_joint(self, j: int) -> bool:
        """Whether joint ``j`` is a hinge (elbow, knee)."""
        r = self.rotated_index.get(int(j))
        return r is not None and bool(self.is_hinge[r])

    def default_offsets(self) -> np.ndarray:
        """The template's bone offsets (J, 3), mm, in the parents' rest
        frames."""
        return self.rest_dirs * self.rest_lengths[:, None]

    def bone_lengths(self, joints: np.ndarray) -> np.ndarray:
        """Lengths (..., J) of each joint's bone to its parent (0 for the
        root) in joint positions (..., J, 3)."""
        out = np.linalg.norm(
            joints - joints[..., np.maximum(self.parents, 0), :], axis=-1)
        out[..., self.root] = 0.
        return out

    def estimate_offsets(self,
                         joints: np.ndarray,
                         mask: Optional[np.ndarray] = None,
                         min_views: int = 1) -> Tuple[np.ndarray, np.ndarray]:
        """Per-person bone offsets from root-relative joints of several
        frames: median bone lengths, and for joints with several children
        the median shape of the children in the joint's own frame.

        Args:
            joints (np.ndarray): (F, J, 3) positions, mm.
            mask (np.ndarray, optional): (F, J) which joints are valid.
            min_views (int): Frames a bone must be seen in to be measured.

        Returns:
            tuple: offsets (J, 3) in the parents' rest frames, and (J, )
            bool, which bones were measured (the others keep the template
            scaled by the measured bones' median ratio to it).
        """
        joints = np.asarray(joints, dtype=np.float64)
        mask = np.ones(joints.shape[:2], bool) if mask is None else \
            np.asarray(mask, bool)
        parent = np.maximum(self.parents, 0)
        seen = mask & mask[:, parent]
        seen[:, self.root] = False
        lengths = np.where(seen, self.bone_lengths(joints), np.nan)
        measured = seen.sum(0) >= max(min_views, 1)
        median = np.full(self.num_joints, np.nan)
        if measured.any():
            median[measured] = np.nanmedian(lengths[:, measured], axis=0)
        ratio = np.nanmedian(median / np.maximum(self.rest_lengths, 1e-9)) \
            if measured.any() else 1.
        lengths = np.where(measured, median, self.rest_lengths * ratio)
        lengths[self.root] = 0.
        dirs = self.rest_dirs.copy()
        for a in self.rotated:
            kids = self.children[a]
            if len(kids) > 1:
                dirs[kids] = self._cluster_shape(joints, seen, a, kids)
        return dirs * lengths[:, None], measured

    def _cluster_shape(self, joints, seen, a, kids) -> np.ndarray:
        """Median directions of a rigid group of children in its own
        frame: each frame is turned onto the template (Kabsch), then the
        children's directions are averaged there."""
        vec = joints[:, kids] - joints[:, a:a + 1]
        unit = vec / np.maximum(
            np.linalg.norm(vec, axis=-1, keepdims=True), 1e-9)
        w = seen[:, kids].astype(np.float64)
        ok = w.sum(1) >= 2  # two children fix the rotation
        if not ok.any():
            return self.rest_dirs[kids]
        rot = kabsch(self.rest_dirs[kids][None], unit[ok], w[ok])
        local = np.einsum('fji,fkj->fki', rot, unit[ok])  # R^T v
        local = np.where(w[ok][..., None] > 0, local, np.nan)
        shape = np.nanmedian(local, axis=0)
        shape = np.where(np.isnan(shape), self.rest_dirs[kids], shape)
        return shape / np.linalg.norm(shape, axis=-1, keepdims=True)

    def forward(self, offsets: np.ndarray,
                rotations: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Forward kinematics, batched over people.

        Args:
            offsets (np.ndarray): (N, J, 3) bone offsets in the parents'
                rest frames (or (J, 3) shared).
            rotations (np.ndarray): (N, J, 3, 3) local rotations; the
                root's takes the rest frame to the camera frame.

        Returns:
            tuple: root-relative joint positions (N, J, 3) in the camera's
            orientation, and the global rotations (N, J, 3, 3).
        """
        # the chain of rotations level by level (rotating joints only, a
        # leaf ends no chain), then every bone at once: few numpy calls,
        # which is what a frame of few people costs
        glob = np.empty_like(rotations)
        glob[:, self.root] = rotations[:, self.root]
        for level in self._rotated_levels:
            glob[:, level] = glob[:, self.parents[level]] @ rotations[:, level]
        leaves = self._leaves
        glob[:, leaves] = glob[:, self.parents[leaves]] @ rotations[:, leaves]
        bones = (glob[:, self._bone_parents] @ offsets[..., None])[..., 0]
        return self._bone_chain @ bones, glob

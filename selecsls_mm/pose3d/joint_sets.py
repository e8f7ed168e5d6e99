# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""3D joint sets: names, kinematic tree, mirror pairs and where each joint's
3D position is read out of the Stage I 3D maps.

A joint set is data (:data:`JOINT_SET_TABLES`), like mmpretrain's arch
tables. Each 3D joint either *is* one of COCO's 17 2D keypoints (same name)
or has *anchors*: the 2D keypoints that stand for it (the pelvis is read
where the hips are). The joints whose 3D position is supervised at a 2D
keypoint ``k`` are the joint ``k`` itself and its parent and children in the
kinematic tree (XNect's channel-sparse, limb-local encoding); a neighbour
without a 2D keypoint stands for its anchors. So a limb's 3D pose can be
read wherever one of its joints is visible. See docs/pose3d.md.

Names follow COCO (``left_shoulder``) with ``pelvis``, ``spine``, ``neck``
(thorax, between the shoulders), ``head`` (centre), ``head_top``, hands and
toes added; :data:`NAME_ALIASES` maps the MuCo-3DHP / MuPoTS-3D / CMU
Panoptic spellings to them.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

COCO_KEYPOINTS = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
                  'left_shoulder', 'right_shoulder', 'left_elbow',
                  'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
                  'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                  'right_ankle')

_FACE = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear')
_SHOULDERS = ('left_shoulder', 'right_shoulder')
_HIPS = ('left_hip', 'right_hip')

# Joint sets as (name, parent) rows, the root first. Joints that are not COCO
# keypoints need an entry in `anchors`.
JOINT_SET_TABLES: Dict[str, dict] = {
    # Default: COCO's 17 keypoints plus pelvis (root), spine, neck and head
    # top; 21 joints, so 63 map channels as in XNect's released model.
    'coco21':
    dict(
        joints=[('pelvis', None), ('spine', 'pelvis'), ('neck', 'spine'),
                ('head_top', 'neck'), ('nose', 'neck'), ('left_eye', 'neck'),
                ('right_eye', 'neck'), ('left_ear', 'neck'),
                ('right_ear', 'neck'), ('left_shoulder', 'spine'),
                ('right_shoulder', 'spine'), ('left_elbow', 'left_shoulder'),
                ('right_elbow', 'right_shoulder'),
                ('left_wrist', 'left_elbow'), ('right_wrist', 'right_elbow'),
                ('left_hip', 'pelvis'), ('right_hip', 'pelvis'),
                ('left_knee', 'left_hip'), ('right_knee', 'right_hip'),
                ('left_ankle', 'left_knee'), ('right_ankle', 'right_knee')],
        # listed in COCO's order after the root chain, see `order` below
        order=COCO_KEYPOINTS + ('pelvis', 'spine', 'neck', 'head_top'),
        anchors=dict(
            pelvis=_HIPS,
            spine=_SHOULDERS + _HIPS,
            neck=_SHOULDERS,
            head_top=_FACE)),
    # XNect's released model / MuCo-3DHP: 21 joints in MuCo's order.
    'muco21':
    dict(
        joints=[('pelvis', None), ('spine', 'pelvis'), ('neck', 'spine'),
                ('head', 'neck'), ('head_top', 'head'),
                ('right_shoulder', 'neck'), ('right_elbow', 'right_shoulder'),
                ('right_wrist', 'right_elbow'), ('right_hand', 'right_wrist'),
                ('left_shoulder', 'neck'), ('left_elbow', 'left_shoulder'),
                ('left_wrist', 'left_elbow'), ('left_hand', 'left_wrist'),
                ('right_hip', 'pelvis'), ('right_knee', 'right_hip'),
                ('right_ankle', 'right_knee'), ('right_toe', 'right_ankle'),
                ('left_hip', 'pelvis'), ('left_knee', 'left_hip'),
                ('left_ankle', 'left_knee'), ('left_toe', 'left_ankle')],
        order=('head_top', 'neck', 'right_shoulder', 'right_elbow',
               'right_wrist', 'left_shoulder', 'left_elbow', 'left_wrist',
               'right_hip', 'right_knee', 'right_ankle', 'left_hip',
               'left_knee', 'left_ankle', 'pelvis', 'spine', 'head',
               'right_hand', 'left_hand', 'right_toe', 'left_toe'),
        anchors=dict(
            pelvis=_HIPS,
            spine=_SHOULDERS + _HIPS,
            neck=_SHOULDERS,
            head=_FACE,
            head_top=_FACE,
            right_hand=('right_wrist', ),
            left_hand=('left_wrist', ),
            right_toe=('right_ankle', ),
            left_toe=('left_ankle', ))),
}

# Other datasets' joint names -> ours (lower-cased before lookup).
NAME_ALIASES = {
    'head_top': 'head_top',
    'thorax': 'neck',
    'r_shoulder': 'right_shoulder',
    'r_elbow': 'right_elbow',
    'r_wrist': 'right_wrist',
    'l_shoulder': 'left_shoulder',
    'l_elbow': 'left_elbow',
    'l_wrist': 'left_wrist',
    'r_hip': 'right_hip',
    'r_knee': 'right_knee',
    'r_ankle': 'right_ankle',
    'l_hip': 'left_hip',
    'l_knee': 'left_knee',
    'l_ankle': 'left_ankle',
    'r_hand': 'right_hand',
    'l_hand': 'left_hand',
    'r_toe': 'right_toe',
    'l_toe': 'left_toe',
    # CMU Panoptic (coco19)
    'bodycenter': 'pelvis',
    'lshoulder': 'left_shoulder',
    'lelbow': 'left_elbow',
    'lwrist': 'left_wrist',
    'lhip': 'left_hip',
    'lknee': 'left_knee',
    'lankle': 'left_ankle',
    'rshoulder': 'right_shoulder',
    'relbow': 'right_elbow',
    'rwrist': 'right_wrist',
    'rhip': 'right_hip',
    'rknee': 'right_knee',
    'rankle': 'right_ankle',
    'leye': 'left_eye',
    'lear': 'left_ear',
    'reye': 'right_eye',
    'rear': 'right_ear',
}


def canonical_name(name: str) -> str:
    """Our spelling of a joint name from any supported dataset."""
    key = str(name).strip().lower()
    return NAME_ALIASES.get(key, key)


def mirror_name(name: str) -> str:
    """The left/right counterpart of a joint or keypoint name."""
    for a, b in (('left_', 'right_'), ('right_', 'left_')):
        if name.startswith(a):
            return b + name[len(a):]
    return name


@dataclass(frozen=True)
class JointSet:
    """A 3D joint set and its link to COCO's 2D keypoints.

    Args:
        name (str): Registry name, e.g. ``'coco21'``.
        names (tuple[str]): Joint names in channel order (J joints).
        parents (tuple[int]): Parent index of each joint, -1 for the root.
        anchors (dict): For joints that are not COCO keypoints, the COCO
            keypoint names that stand for them.
    """
    name: str
    names: Tuple[str, ...]
    parents: Tuple[int, ...]
    anchors: Dict[str, Tuple[str, ...]] = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def root(self) -> int:
        """Index of the root joint (the pelvis in the shipped sets)."""
        return self.parents.index(-1)

    @property
    def flip_indices(self) -> List[int]:
        """Index of each joint's left/right mirror."""
        index = {n: i for i, n in enumerate(self.names)}
        return [index[mirror_name(n)] for n in self.names]

    def children(self, j: int) -> List[int]:
        return [i for i, p in enumerate(self.parents) if p == j]

    def keypoints_2d(self, j: int) -> Tuple[int, ...]:
        """The COCO keypoint indices that joint ``j`` is seen at: itself if
        it is a COCO keypoint, else its anchors."""
        name = self.names[j]
        if name in COCO_KEYPOINTS:
            return (COCO_KEYPOINTS.index(name), )
        return tuple(COCO_KEYPOINTS.index(a) for a in self.anchors[name])

    @property
    def readers(self) -> List[Tuple[int, ...]]:
        """Per joint, the COCO keypoints at whose pixels its 3D position is
        encoded and read: those of the joint, its parent and its children."""
        out = []
        for j in range(self.num_joints):
            near = [j] + self.children(j)
            if self.parents[j] >= 0:
                near.append(self.parents[j])
            keys = sorted({k for i in near for k in self.keypoints_2d(i)})
            out.append(tuple(keys))
        return out

    def written_at(self) -> List[np.ndarray]:
        """Per COCO keypoint ``k``, the joints whose channels are supervised
        at its pixels (the inverse of :attr:`readers`)."""
        rows = [[] for _ in COCO_KEYPOINTS]
        for j, keys in enumerate(self.readers):
            for k in keys:
                rows[k].append(j)
        return [np.asarray(r, dtype=np.int64) for r in rows]

    def index(self, names: Sequence[str], strict: bool = True) -> np.ndarray:
        """Indices in this set of the given (any dataset's) joint names;
        -1 for names it lacks unless ``strict``."""
        index = {n: i for i, n in enumerate(self.names)}
        out = []
        for n in names:
            i = index.get(canonical_name(n), -1)
            if i < 0 and strict:
                raise ValueError(
                    f'unknown joint name {n!r} for joint set {self.name!r}; '
                    f'its joints are {list(self.names)}')
            out.append(i)
        return np.asarray(out, dtype=np.int64)


def _build(name: str, table: dict) -> JointSet:
    rows = dict(table['joints'])
    order = list(table['order'])
    if sorted(order) != sorted(rows):
        raise ValueError(f'joint set {name!r}: order and joints differ')
    parents = tuple(-1 if rows[n] is None else order.index(rows[n])
                    for n in order)
    anchors = {k: tuple(v) for k, v in table.get('anchors', {}).items()}
    for n in order:
        if n not in COCO_KEYPOINTS and n not in anchors:
            raise ValueError(f'joint set {name!r}: joint {n!r} is no COCO '
                             'keypoint and has no anchors')
    return JointSet(name, tuple(order), parents, anchors)


JOINT_SETS: Dict[str, JointSet] = {
    name: _build(name, table)
    for name, table in JOINT_SET_TABLES.items()
}


def get_joint_set(joint_set) -> JointSet:
    """A :class:`JointSet` from its registry name (or itself).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(joint_set, JointSet):
        return joint_set
    if joint_set not in JOINT_SETS:
        raise ValueError(f'unknown 3D joint set {joint_set!r}; choose one of '
                         f'{sorted(JOINT_SETS)}')
    return JOINT_SETS[joint_set]

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Named limb sets (the graphs whose edges get a part affinity field).

``coco_redundant`` (28 limbs) is COCO's 19 ``skeleton_links`` plus 9
redundant limbs, chosen so that the graph stays connected when any one
keypoint is missing (it is 2-vertex-connected):

- COCO's own skeleton is a tree-like chain: an arm reaches the body only
  through its shoulder, the face only through the ears, a leg only through
  its hip. One missing shoulder (occluded, or outside the image) leaves
  elbow + wrist as a separate "person".
- ``shoulder - wrist`` bridges a missing elbow; ``elbow - hip`` (same side)
  attaches the arm when the shoulder is missing (the upper arm usually lies
  along the torso, so this band is short).
- ``nose - shoulder`` (both sides, as OpenPose's neck - nose) attaches the
  face without the ears, which frontal and profile views often lack.
- ``hip - ankle`` bridges a missing knee; ``knee - knee`` attaches a leg
  whose hip is missing to the other leg.

Every limb's mirror (by COCO's ``flip_indices``) is in the set, as flip test
needs. The set's connectivity is checked by
:func:`selecsls_mm.pose.codecs.utils.skeleton.parse_skeleton` for any
set a user passes (every keypoint must be in some limb) and by the tests for
this one (connected after removing any single keypoint).
"""

COCO_SKELETON_LINKS = (('left_ankle', 'left_knee'), ('left_knee', 'left_hip'),
                       ('right_ankle', 'right_knee'),
                       ('right_knee', 'right_hip'), ('left_hip', 'right_hip'),
                       ('left_shoulder', 'left_hip'), ('right_shoulder',
                                                       'right_hip'),
                       ('left_shoulder', 'right_shoulder'), ('left_shoulder',
                                                             'left_elbow'),
                       ('right_shoulder', 'right_elbow'), ('left_elbow',
                                                           'left_wrist'),
                       ('right_elbow', 'right_wrist'), ('left_eye',
                                                        'right_eye'),
                       ('nose', 'left_eye'), ('nose', 'right_eye'),
                       ('left_eye', 'left_ear'), ('right_eye', 'right_ear'),
                       ('left_ear', 'left_shoulder'), ('right_ear',
                                                       'right_shoulder'))

COCO_REDUNDANT_LIMBS = COCO_SKELETON_LINKS + (
    ('left_shoulder', 'left_wrist'), ('right_shoulder', 'right_wrist'),
    ('left_elbow', 'left_hip'), ('right_elbow', 'right_hip'),
    ('nose', 'left_shoulder'), ('nose', 'right_shoulder'),
    ('left_hip', 'left_ankle'), ('right_hip', 'right_ankle'),
    ('left_knee', 'right_knee'))

LIMB_SETS = dict(
    coco=COCO_SKELETON_LINKS,
    coco_redundant=COCO_REDUNDANT_LIMBS,
)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""XNect's Stage III: kinematic skeleton fitting over time (numpy/scipy).

:class:`SkeletonTracker` (a video) and :func:`fit_image` (one image) turn
Stage I/II outputs into per-person joint rotations, root positions in the
camera frame and BVH files. See docs/pose3d.md, "Stage III".
"""
from .bvh import write_bvh
from .fit import FitWeights, fit_frame
from .one_euro import OneEuroFilter, OneEuroState
from .skeleton import Skeleton
from .stage3 import PersonFit, SkeletonTracker, Stage3Warning, fit_image
from .tracking import KeypointTracker

__all__ = [
    'write_bvh', 'FitWeights', 'fit_frame', 'OneEuroFilter', 'OneEuroState',
    'Skeleton', 'PersonFit', 'SkeletonTracker', 'Stage3Warning', 'fit_image',
    'KeypointTracker'
]

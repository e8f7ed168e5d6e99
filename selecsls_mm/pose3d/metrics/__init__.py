# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""3D pose metrics: the errors (:mod:`.functional`), 2D matching of people
(:mod:`.matching`) and MMPose's multi-person 3D metric."""
from .multi_person_3d import MultiPerson3DMetric

__all__ = ['MultiPerson3DMetric']

from .bottomup_estimator import PAFBottomupPoseEstimator

__all__ = ['PAFBottomupPoseEstimator']

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Bottom-up pose estimator whose predicted boxes are in image coordinates."""
import numpy as np
from mmpose.models.pose_estimators import BottomupPoseEstimator
from mmpose.registry import MODELS


def keypoint_boxes(keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Boxes (x1, y1, x2, y2) around each person's found keypoints.

    Args:
        keypoints (np.ndarray): Shape (M, K, 2).
        scores (np.ndarray): Shape (M, K); keypoints scoring 0 (not found)
            are left out, unless a person has none found.

    Returns:
        np.ndarray: Shape (M, 4), float32.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    found = np.asarray(scores) > 0
    found |= ~found.any(1, keepdims=True)
    lo = np.where(found[..., None], keypoints, np.inf).min(1)
    hi = np.where(found[..., None], keypoints, -np.inf).max(1)
    return np.concatenate([lo, hi], axis=1).reshape(-1, 4).astype(np.float32)


@MODELS.register_module()
class PAFBottomupPoseEstimator(BottomupPoseEstimator):
    """mmpose's ``BottomupPoseEstimator`` with ``pred_instances.bboxes`` in
    the coordinates of the original image.

    mmpose 1.1's ``BottomupPoseEstimator.add_pred_to_datasample`` maps only
    the keypoints from the network input back to the image; a head's boxes
    stay in the resized and padded input frame (later mmpose versions map
    them too). Here the boxes are rebuilt from the mapped keypoints (the
    found ones, score > 0) after mmpose's mapping, so they are right on
    every mmpose version and whatever the head put in ``bboxes``.

    Args: as ``BottomupPoseEstimator``.
    """

    def add_pred_to_datasample(self, batch_pred_instances, batch_pred_fields,
                               batch_data_samples):
        samples = super().add_pred_to_datasample(batch_pred_instances,
                                                 batch_pred_fields,
                                                 batch_data_samples)
        for sample in samples:
            pred = sample.pred_instances
            if 'keypoints' in pred and 'keypoint_scores' in pred:
                pred.bboxes = keypoint_boxes(pred.keypoints,
                                             pred.keypoint_scores)
        return samples

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The whole XNect system in one call: Stage I (network and read-out),
Stage II (lifting) and Stage III (skeleton fitting, tracking, filtering).

:class:`XNect` takes images one at a time (a photo, or the frames of a
video in order) and gives, per person, a
:class:`~.fitting.PersonFit`: the 2D keypoints and the root-relative 3D
pose it was fitted to, the fitted skeleton's root-relative and absolute
(camera-frame) joints, its joint rotations and a track id.
"""
import warnings
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from .camera import Camera
from .fitting import PersonFit, SkeletonTracker, fit_image


def default_camera(width: int, height: int) -> Camera:
    """The camera assumed when none is given: principal point at the image
    centre, focal length ``max(width, height)`` (53 degrees across the
    longer side). Absolute depth scales with the focal length."""
    f = float(max(width, height))
    return Camera(f, f, (width - 1) / 2, (height - 1) / 2, int(width),
                  int(height), 'default')


def person_dict(fit: PersonFit, joint_names: Sequence[str]) -> dict:
    """One person of one frame, JSON-ready (mm, px, quaternions w x y z)."""

    def rounded(a, digits):
        return None if a is None else np.round(np.asarray(a, float),
                                               digits).tolist()

    return dict(
        track_id=int(fit.track_id),
        keypoints=rounded(fit.keypoints, 2),
        keypoint_scores=rounded(fit.keypoint_scores, 4),
        keypoints_3d=rounded(fit.keypoints_3d, 1),
        keypoints_3d_fitted=rounded(fit.joints, 1),
        keypoints_3d_camera=rounded(fit.joints_camera, 1),
        root=rounded(fit.root, 1),
        rotations=rounded(fit.quaternions, 5),
        bone_lengths=rounded(fit.bone_lengths, 1),
        joint_names=list(joint_names))


class XNect:
    """XNect's three stages: image in, people out.

    Args:
        stage1 (nn.Module): A Stage I model with ``XNect3DHead`` (e.g. from
            ``mmpose.apis.init_model``).
        stage2 (nn.Module): A Stage II ``XNectLifter``.
        camera (Camera, optional): The images' intrinsics. Without them,
            :func:`default_camera` of the first image's size is used (said
            once).
        fps (float, optional): Frame rate of a video, used when frames come
            without times; without either Stage III assumes 30 fps (said
            once).
        video (bool): Frames of one video (tracking, temporal filtering,
            bone lengths fixed over a track's first frames) or independent
            images (each fitted alone). Defaults to True.
        min_keypoints (int): People Stage I found with fewer keypoints are
            dropped before Stage II. Defaults to 4.
        tracker_cfg (dict, optional): More arguments of
            :class:`~.fitting.SkeletonTracker`.
    """

    def __init__(self,
                 stage1,
                 stage2,
                 camera: Optional[Camera] = None,
                 fps: Optional[float] = None,
                 video: bool = True,
                 min_keypoints: int = 4,
                 tracker_cfg: Optional[dict] = None) -> None:
        codec = getattr(stage1.head, 'decoder', None)
        if not hasattr(codec, 'read_out'):
            raise ValueError('XNect needs a Stage I model with a 3D head '
                             '(XNect3DHead with a PartAffinityField3D codec)')
        if codec.relative_to != 'root':
            raise ValueError(
                "Stage II reads root-relative 3D maps; this Stage I model's "
                f"codec has relative_to={codec.relative_to!r}")
        if stage2.joint_set.name != codec.joint_set.name:
            raise ValueError(
                f'Stage I has joint set {codec.joint_set.name!r} but Stage '
                f'II {stage2.joint_set.name!r}; use models of one joint set')
        # the estimator hands its test_cfg to the head's predict
        stage1.test_cfg = dict(stage1.test_cfg or {}, output_samples_3d=True)
        self.stage1 = stage1
        self.stage2 = stage2.eval()
        self.joint_names = codec.joint_set.names
        self.camera = camera
        self.video = video
        self.min_keypoints = min_keypoints
        self.tracker = SkeletonTracker(
            codec.joint_set.name, fps=fps, **(tracker_cfg or {}))

    def camera_for(self, image: np.ndarray) -> Camera:
        """The given camera, or (once, with a warning) the default one of
        this image's size, kept for the following images."""
        if self.camera is None:
            h, w = image.shape[:2]
            self.camera = default_camera(w, h)
            warnings.warn(
                'no camera intrinsics given: assuming fx = fy = '
                f'{self.camera.fx:g} px (the longer image side) and the '
                'principal point at the image centre; absolute depth scales '
                'with the focal length (give the camera for metric depth)')
        return self.camera

    @torch.no_grad()
    def stage1_people(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Stage I on one BGR image: per person ``keypoints`` (image px),
        ``keypoint_scores`` and ``samples_3d`` (the 3D maps read at each
        keypoint), without people of too few keypoints."""
        from mmpose.apis import inference_bottomup
        pred = inference_bottomup(self.stage1, image)[0].pred_instances
        scores = np.asarray(pred.keypoint_scores).reshape(-1, 17)
        keep = (scores > 0).sum(1) >= self.min_keypoints
        return dict(
            keypoints=np.asarray(pred.keypoints).reshape(-1, 17, 2)[keep],
            keypoint_scores=scores[keep],
            samples_3d=np.asarray(pred.samples_3d).reshape(
                len(scores), 17, -1)[keep])

    def __call__(self,
                 image: Union[str, np.ndarray],
                 time: Optional[float] = None) -> List[PersonFit]:
        """Process one image (the next frame of a video).

        Args:
            image (str | np.ndarray): Path or BGR array.
            time (float, optional): Frame time in seconds (video).

        Returns:
            list[PersonFit]: The people of this image. In a video, a new
            track's first frames are held until its bones are fixed and are
            then in :meth:`finish`'s result only.
        """
        if isinstance(image, str):
            path, image = image, cv2.imread(image)
            if image is None:
                raise FileNotFoundError(f'cannot read image {path}')
        camera = self.camera_for(image)
        people = self.stage1_people(image)
        poses = self.stage2.lift(people)
        if self.video:
            return self.tracker.update(people['keypoints'],
                                       people['keypoint_scores'], poses,
                                       camera, time)
        return fit_image(people['keypoints'], people['keypoint_scores'], poses,
                         camera, self.tracker.skeleton.joint_set)

    def finish(self) -> Dict[int, List[PersonFit]]:
        """End a video: fit what is still held; every track's fits by id."""
        return self.tracker.finish()

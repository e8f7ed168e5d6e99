# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""CMU Panoptic (``hdPose3d_stage1_coco19``) seen from one HD camera, as an
MMPose dataset with the keys of the 3DMPPE-style datasets."""
from mmpose.registry import DATASETS
from xtcocotools.coco import COCO

from .coco3d_dataset import Coco3DPoseDataset
from .joint_names import PANOPTIC_JOINT_NAMES
from .panoptic import MIN_CONFIDENCE, panoptic_to_coco3d


@DATASETS.register_module()
class PanopticDataset(Coco3DPoseDataset):
    """The bodies of one CMU Panoptic sequence seen from one camera.

    ``data_root`` is the sequence folder (``.../160422_ultimatum1/``, with
    ``calibration_160422_ultimatum1.json``, ``hdPose3d_stage1_coco19/`` and
    ``hdImgs/``); there is no ann_file. Each body file is one image of the
    chosen camera (see :func:`~.panoptic.panoptic_to_coco3d`), with the keys
    of :class:`~.coco3d_dataset.Coco3DPoseDataset`.

    Args:
        camera (str): Camera name, e.g. ``'00_16'``.
        frame_step (int): Use every ``frame_step``-th body file.
            Defaults to 1.
        min_confidence (float): Joints at or below this confidence have no
            3D label. Defaults to 0.1.
        **kwargs: :class:`Coco3DPoseDataset`'s arguments (without
            ``ann_file``).
    """
    default_joint_names = PANOPTIC_JOINT_NAMES
    default_camera_layout = 'f_c'

    def __init__(self,
                 camera: str,
                 frame_step: int = 1,
                 min_confidence: float = MIN_CONFIDENCE,
                 **kwargs) -> None:
        self.camera = camera
        self.frame_step = frame_step
        self.min_confidence = min_confidence
        super().__init__(**kwargs)

    def _load_coco(self) -> COCO:
        if not self.data_root:
            raise ValueError(f'{type(self).__name__} needs data_root: the '
                             'Panoptic sequence folder')
        coco = COCO()
        coco.dataset = panoptic_to_coco3d(self.data_root, self.camera,
                                          self.frame_step, self.min_confidence)
        coco.createIndex()
        return coco

    def _where(self) -> str:
        return f'{type(self).__name__} ({self.data_root}, {self.camera})'

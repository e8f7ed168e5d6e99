# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""MuCo-3DHP and MuPoTS-3D in the COCO-style JSON of the 3DMPPE project
(``MuCo-3DHP.json``, ``MuPoTS-3D.json``), as MMPose datasets.

Per image the file holds ``id``, ``file_name``, ``width``, ``height`` and the
camera: ``f`` = [fx, fy] and ``c`` = [cx, cy] (MuCo layout) or
``intrinsic`` = [fx, fy, cx, cy] (MuPoTS layout). Per person: ``id``,
``image_id``, ``bbox`` (x, y, w, h), ``keypoints_img`` (K, 2) px and
``keypoints_cam`` (K, 3) camera-frame mm in the file's joint order, and
optionally ``keypoints_vis`` (K, ) (a joint is seen; else all are),
``is_valid`` (0: the person is skipped, MuPoTS), ``keypoints_cam_valid``
(K, ) (this project's extension: 0 where a joint has no 3D label, written
for CMU Panoptic) and ``category_id``/``iscrowd``/``area``. The joint order
is ``joint_names``, else ``categories[0]['joint_names']`` of the file, else
the dataset's default (MuCo's 21 or MuPoTS' 17 joints). See docs/pose3d.md.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import exists, get_local_path
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import DATASETS
from xtcocotools.coco import COCO

from ..joint_sets import COCO_KEYPOINTS, get_joint_set
from .joint_names import MUCO_JOINT_NAMES, MUPOTS_JOINT_NAMES, JointMapping

CAMERA_LAYOUTS = {
    'f_c': "'f' = [fx, fy] and 'c' = [cx, cy]",
    'intrinsic': "'intrinsic' = [fx, fy, cx, cy]",
}


def read_camera(img: dict, layout: str) -> Optional[dict]:
    """``dict(f=[fx, fy], c=[cx, cy])`` of an image entry in ``layout``, or
    None when its camera fields are missing or malformed."""
    try:
        if layout == 'f_c':
            f = np.asarray(img['f'], np.float64).reshape(-1)
            c = np.asarray(img['c'], np.float64).reshape(-1)
        else:
            f, c = np.split(
                np.asarray(img['intrinsic'], np.float64).reshape(4), 2)
    except (KeyError, TypeError, ValueError):
        return None
    if f.size != 2 or c.size != 2 or not np.isfinite([*f, *c]).all():
        return None
    return dict(f=f.tolist(), c=c.tolist())


def _coco_keypoints(keypoints: np.ndarray, visible: np.ndarray) -> list:
    """COCO's flat [x, y, v, ...] list: v=2 where seen, 0 (at 0, 0) where
    not labelled."""
    seen = visible > 0
    xy = np.where(seen[:, None], keypoints, 0.)
    flat = np.concatenate([xy, 2. * seen[:, None]], axis=1)
    return [float(v) for v in flat.reshape(-1)]


@DATASETS.register_module()
class Coco3DPoseDataset(BaseCocoStyleDataset):
    """Multi-person 3D pose in the 3DMPPE project's COCO-style JSON.

    Besides MMPose's keys, each data info (bottom-up: each image) holds
    ``keypoints`` (N, 17, 2) COCO-order pixels and ``keypoints_visible``
    (N, 17) (the file's joints that are COCO keypoints, where seen and
    inside the image; MuCo has no face points), ``keypoints_3d`` (N, J, 3)
    camera-frame mm in ``joint_set`` order, ``keypoints_3d_visible`` (N, J)
    (0 for joints the file lacks) and ``camera_param`` =
    ``dict(f=[fx, fy], c=[cx, cy])``; ``flip_indices_3d`` comes with every
    sample. The 2D meta information is COCO's.

    Args:
        ann_file (str): The JSON file.
        joint_set (str): The 3D joint set, see
            :data:`~selecsls_mm.pose3d.joint_sets.JOINT_SETS`.
            Defaults to ``'coco21'``.
        joint_names (Sequence[str], optional): The file's joint order. When
            None, ``categories[0]['joint_names']`` of the file, else
            :attr:`default_joint_names`.
        camera_layout (str, optional): ``'f_c'`` (MuCo) or ``'intrinsic'``
            (MuPoTS). Defaults to :attr:`default_camera_layout`.
        **kwargs: :class:`BaseCocoStyleDataset`'s arguments
            (``data_root``, ``data_prefix``, ``data_mode``, ``pipeline``...).
    """

    METAINFO: dict = dict(from_file='configs/_base_/datasets/coco.py')
    # what a 3D model's training data must hold (see ..checks)
    has_3d_labels: bool = True
    default_joint_names: Tuple[str, ...] = MUCO_JOINT_NAMES
    default_camera_layout: str = 'f_c'

    def __init__(self,
                 ann_file: str = '',
                 joint_set: str = 'coco21',
                 joint_names: Optional[Sequence[str]] = None,
                 camera_layout: Optional[str] = None,
                 **kwargs) -> None:
        self.joint_set = get_joint_set(joint_set)
        self.joint_names = None if joint_names is None else list(joint_names)
        self.camera_layout = camera_layout or self.default_camera_layout
        if self.camera_layout not in CAMERA_LAYOUTS:
            raise ValueError(
                f'{type(self).__name__}: unknown camera_layout '
                f'{self.camera_layout!r}; use one of {sorted(CAMERA_LAYOUTS)}')
        self.mapping: Optional[JointMapping] = None
        self.cameras: Dict[int, dict] = {}
        super().__init__(ann_file=ann_file, **kwargs)

    # -- loading --------------------------------------------------------------
    def _load_coco(self) -> COCO:
        """The annotation file as an indexed COCO object."""
        if not exists(self.ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: annotation file {self.ann_file} '
                'does not exist; check data_root and ann_file')
        with get_local_path(self.ann_file) as local_path:
            return COCO(local_path)

    def _where(self) -> str:
        return f'{type(self).__name__} ({self.ann_file})'

    def _build_mapping(self, coco: COCO) -> JointMapping:
        categories = coco.dataset.get('categories') or [{}]
        if self.joint_names is not None:
            names, source = self.joint_names, 'joint_names'
        elif 'joint_names' in categories[0]:
            names = categories[0]['joint_names']
            source = "categories[0]['joint_names']"
        else:
            names, source = self.default_joint_names, 'the default joints'
        return JointMapping.build(names, self.joint_set,
                                  f'{source} of {self._where()}')

    def _read_cameras(self, coco: COCO) -> Dict[int, dict]:
        cameras = {}
        for img_id in coco.getImgIds():
            img = coco.imgs[img_id]
            camera = read_camera(img, self.camera_layout)
            if camera is None:
                raise ValueError(
                    f'{self._where()}: image {img_id} '
                    f'({img.get("file_name")!r}) lacks valid camera fields '
                    f'{CAMERA_LAYOUTS[self.camera_layout]} (focal length and '
                    "principal point in px); use the 3DMPPE file, or set "
                    f"camera_layout={self._other_layout()!r} if the file "
                    'stores the camera that way')
            cameras[img_id] = camera
        return cameras

    def _other_layout(self) -> str:
        return next(k for k in CAMERA_LAYOUTS if k != self.camera_layout)

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        """Every image and its (valid) people, checked against the joint
        order and the camera layout."""
        self.coco = self._load_coco()
        # the 3DMPPE files may have no categories (COCO tools need them)
        self._metainfo['CLASSES'] = self.coco.dataset.get('categories', [])
        self.mapping = self._build_mapping(self.coco)
        self.cameras = self._read_cameras(self.coco)
        instance_list, image_list = [], []
        for img_id in self.coco.getImgIds():
            img = dict(self.coco.imgs[img_id])
            img.update(
                img_id=img_id,
                img_path=osp.join(self.data_prefix['img'], img['file_name']))
            image_list.append(img)
            for ann in self.coco.loadAnns(self.coco.getAnnIds(imgIds=img_id)):
                info = self.parse_data_info(
                    dict(raw_ann_info=ann, raw_img_info=img))
                if info:
                    instance_list.append(info)
        return instance_list, image_list

    def _joint_array(self, ann: dict, key: str, dim: int) -> np.ndarray:
        """``ann[key]`` as (K, dim) float, K the file's joint count."""
        k = self.mapping.num_file_joints
        try:
            values = np.asarray(ann[key], dtype=np.float32)
        except KeyError:
            raise ValueError(
                f'{self._where()}: annotation {ann.get("id")} has no '
                f'{key!r}; a 3DMPPE-style file gives keypoints_img (K, 2) '
                'and keypoints_cam (K, 3) per person') from None
        if values.size != k * dim:
            raise ValueError(
                f'{self._where()}: annotation {ann.get("id")} has {key!r} of '
                f'shape {values.shape} but the joint list has {k} joints '
                f'(expected ({k}, {dim})); set joint_names to the file\'s '
                'joint order')
        return values.reshape(k, dim)

    def _joint_flags(self, ann: dict, key: str) -> np.ndarray:
        """Optional per-joint 0/1 field (all ones when absent)."""
        k = self.mapping.num_file_joints
        if key not in ann:
            return np.ones(k, np.float32)
        flags = np.asarray(ann[key], dtype=np.float32).reshape(-1)
        if flags.size != k:
            raise ValueError(
                f'{self._where()}: annotation {ann.get("id")} has {key!r} '
                f'with {flags.size} values but the joint list has {k} '
                'joints; set joint_names to the file\'s joint order')
        return (flags > 0).astype(np.float32)

    def parse_data_info(self, raw_data_info: dict) -> Optional[dict]:
        """One person: COCO 2D keypoints, 3D joints and the camera."""
        ann = raw_data_info['raw_ann_info']
        img = raw_data_info['raw_img_info']
        if not ann.get('is_valid', 1):  # MuPoTS marks unusable frames
            return None
        m = self.mapping
        cam = self._joint_array(ann, 'keypoints_cam', 3)
        pix = self._joint_array(ann, 'keypoints_img', 2)
        seen = self._joint_flags(ann, 'keypoints_vis')
        labelled_3d = self._joint_flags(ann, 'keypoints_cam_valid')
        w, h = img['width'], img['height']
        inside = ((pix[:, 0] >= 0) & (pix[:, 0] < w) & (pix[:, 1] >= 0)
                  & (pix[:, 1] < h) & (cam[:, 2] > 0))
        keypoints = m.gather(pix, m.to_coco)
        visible = m.gather(seen * inside, m.to_coco)
        bbox_xywh = self._bbox_xywh(ann, pix)
        bbox = self._clipped_xyxy(bbox_xywh, w, h)
        raw = self._coco_raw_ann(ann, keypoints, visible, bbox_xywh)
        return {
            'img_id': ann['image_id'],
            'img_path': img['img_path'],
            'bbox': bbox,
            'bbox_score': np.ones(1, dtype=np.float32),
            'area': np.array([raw['area']], dtype=np.float32),
            'num_keypoints': raw['num_keypoints'],
            'keypoints': keypoints[None],
            'keypoints_visible': visible[None],
            'keypoints_3d': m.gather(cam, m.to_3d)[None],
            'keypoints_3d_visible': m.gather(labelled_3d, m.to_3d)[None],
            'camera_param': self.cameras[ann['image_id']],
            'iscrowd': raw['iscrowd'],
            'segmentation': ann.get('segmentation', None),
            'id': ann['id'],
            'category_id': raw['category_id'],
            'raw_ann_info': raw,
        }

    @staticmethod
    def _bbox_xywh(ann: dict, points: np.ndarray) -> List[float]:
        """The file's box, else the box around all the person's joints."""
        if 'bbox' in ann:
            return [float(v) for v in ann['bbox']]
        lo, hi = points.min(0), points.max(0)
        return [float(lo[0]), float(lo[1]), *map(float, hi - lo)]

    @staticmethod
    def _clipped_xyxy(bbox_xywh, w: int, h: int) -> np.ndarray:
        """(1, 4) x1y1x2y2 inside the image, as MMPose's COCO datasets."""
        x, y, bw, bh = bbox_xywh
        box = [
            np.clip(x, 0, w - 1),
            np.clip(y, 0, h - 1),
            np.clip(x + bw, 0, w - 1),
            np.clip(y + bh, 0, h - 1)
        ]
        return np.array(box, dtype=np.float32).reshape(1, 4)

    @staticmethod
    def _coco_raw_ann(ann: dict, keypoints: np.ndarray, visible: np.ndarray,
                      bbox_xywh: List[float]) -> dict:
        """The annotation with COCO's keys filled in where the file lacks
        them, so CocoMetric can score it without an ann_file."""
        raw = dict(ann)  # nested values are shared, never modified
        if 'keypoints' not in raw:
            raw['keypoints'] = _coco_keypoints(keypoints, visible)
            raw['num_keypoints'] = int((visible > 0).sum())
        raw.setdefault(
            'num_keypoints',
            int(np.count_nonzero(np.asarray(raw['keypoints'])[2::3])))
        raw.setdefault('bbox', bbox_xywh)
        raw.setdefault('area', float(bbox_xywh[2] * bbox_xywh[3]))
        raw.setdefault('iscrowd', 0)
        raw.setdefault('category_id', 1)
        return raw

    # -- bottom-up grouping and per-sample keys -------------------------------
    def _get_bottomup_data_infos(self, instance_list: List[dict],
                                 image_list: List[dict]) -> List[dict]:
        """MMPose's grouping, with one camera per image (not one per person)
        and empty 3D arrays for images without people (test mode)."""
        data_list = super()._get_bottomup_data_infos(instance_list, image_list)
        num_joints = self.joint_set.num_joints
        for info in data_list:
            info['camera_param'] = self.cameras[info['img_id']]
            if 'keypoints_3d' not in info:  # an image nobody is labelled in
                info.update(
                    keypoints=np.zeros((0, len(COCO_KEYPOINTS), 2),
                                       np.float32),
                    keypoints_visible=np.zeros((0, len(COCO_KEYPOINTS)),
                                               np.float32),
                    keypoints_3d=np.zeros((0, num_joints, 3), np.float32),
                    keypoints_3d_visible=np.zeros((0, num_joints), np.float32),
                    bbox=np.zeros((0, 4), np.float32),
                    bbox_score=np.zeros(0, np.float32))
        return data_list

    def get_data_info(self, idx: int) -> dict:
        """MMPose's data info plus the 3D joint set's ``flip_indices_3d``."""
        data_info = super().get_data_info(idx)
        data_info['flip_indices_3d'] = list(self.joint_set.flip_indices)
        return data_info


@DATASETS.register_module()
class MuCo3DHPDataset(Coco3DPoseDataset):
    """MuCo-3DHP (``MuCo-3DHP.json`` of the 3DMPPE project): 21 joints in
    MuCo's order, camera as ``f`` and ``c``. See
    :class:`Coco3DPoseDataset`."""
    default_joint_names = MUCO_JOINT_NAMES
    default_camera_layout = 'f_c'


@DATASETS.register_module()
class MuPoTS3DDataset(Coco3DPoseDataset):
    """MuPoTS-3D (``MuPoTS-3D.json`` of the 3DMPPE project): 17 joints,
    camera as ``intrinsic`` = [fx, fy, cx, cy], people with ``is_valid`` 0
    skipped. See :class:`Coco3DPoseDataset`."""
    default_joint_names = MUPOTS_JOINT_NAMES
    default_camera_layout = 'intrinsic'

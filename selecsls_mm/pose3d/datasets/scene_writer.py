# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write real-motion scenes (:class:`~..scenes.SceneGenerator`) as a
dataset: ``images/*.jpg`` and one JSON in the 3DMPPE project's COCO-style
layout, which :class:`~.coco3d_dataset.Coco3DPoseDataset` reads and, with
``coco_keys``, COCO tools too.

Layouts: ``'muco'`` (per image ``f`` and ``c``; per person
``keypoints_img``, ``keypoints_cam``, ``keypoints_vis``) and ``'mupots'``
(per image ``intrinsic``; per person also ``is_valid`` 1). The joints are
``joint_names`` (any spelling the joint sets know; default: ``coco21``'s
order), listed in ``categories[0]['joint_names']`` unless
``write_joint_names`` is off (the 3DMPPE files do not list them).
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import ProgressBar

from ...utils.fileio import atomic_directory
from ..joint_sets import COCO_KEYPOINTS, canonical_name, get_joint_set
from ..scenes import Scene, SceneGenerator
from .joint_names import check_joint_names

LAYOUTS = ('muco', 'mupots')
# COCO's limbs, 1-based as in person_keypoints_*.json
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                 [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3],
                 [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]


def _inside(pixels: np.ndarray, depth: np.ndarray, size) -> np.ndarray:
    w, h = size
    return ((pixels[..., 0] >= 0) & (pixels[..., 0] < w) &
            (pixels[..., 1] >= 0) & (pixels[..., 1] < h) & (depth > 0))


def scene_annotations(scene: Scene, joint_names: Sequence[str], image_id: int,
                      first_id: int, layout: str, coco_keys: bool) -> list:
    """The people of one scene as 3DMPPE-style annotations.

    Args:
        scene (Scene): The scene.
        joint_names (Sequence[str]): The file's joints (any spelling).
        image_id (int): The image's id.
        first_id (int): The first person's annotation id.
        layout (str): ``'muco'`` or ``'mupots'``.
        coco_keys (bool): Also write COCO's ``keypoints`` (17 x [x, y, v]:
            2 seen, 1 hidden inside the image, 0 outside), ``num_keypoints``,
            ``area`` and ``iscrowd``.

    Returns:
        list[dict]: One annotation per person.
    """
    size = (scene.camera.width, scene.camera.height)
    ours = [canonical_name(n) for n in joint_names]
    pix, cam, seen = scene.select(ours)
    coco_pix, coco_cam, coco_seen = scene.select(COCO_KEYPOINTS)
    all_pix = scene.points_img
    anns = []
    for i in range(len(cam)):
        lo = np.clip(all_pix[i].min(0), 0, size)
        hi = np.clip(all_pix[i].max(0), 0, size)
        bbox = [float(lo[0]), float(lo[1]), *map(float, hi - lo)]
        ann = dict(
            id=first_id + i,
            image_id=image_id,
            bbox=bbox,
            keypoints_img=pix[i].round(3).tolist(),
            keypoints_cam=cam[i].round(3).tolist(),
            keypoints_vis=seen[i].astype(int).tolist(),
            motion_source=list(scene.sources[i]))
        if layout == 'mupots':
            ann['is_valid'] = 1
        if coco_keys:
            inside = _inside(coco_pix[i], coco_cam[i][:, 2], size)
            v = np.where(coco_seen[i], 2, np.where(inside, 1, 0))
            xy = np.where(v[:, None] > 0, coco_pix[i], 0.)
            ann.update(
                keypoints=np.concatenate([xy.round(3), v[:, None]],
                                         1).reshape(-1).tolist(),
                num_keypoints=int((v > 0).sum()),
                area=bbox[2] * bbox[3],
                iscrowd=0)
        anns.append(ann)
    return anns


def image_entry(scene: Scene, image_id: int, file_name: str,
                layout: str) -> dict:
    """A 3DMPPE-style image entry: size and camera in ``layout``."""
    cam = scene.camera
    entry = dict(
        id=image_id,
        file_name=file_name,
        width=int(cam.width),
        height=int(cam.height))
    if layout == 'muco':
        entry.update(cam.to_dict())
    else:
        entry['intrinsic'] = [cam.fx, cam.fy, cam.cx, cam.cy]
    return entry


def _category(joint_names: Optional[Sequence[str]]) -> dict:
    """COCO's person category, with the file's joint order if given."""
    category = dict(
        id=1,
        name='person',
        supercategory='person',
        keypoints=list(COCO_KEYPOINTS),
        skeleton=COCO_SKELETON)
    if joint_names:
        category['joint_names'] = list(joint_names)
    return category


def _dataset_json(info: dict, images: list, anns: list, names: Sequence[str],
                  coco_keys: bool, write_joint_names: bool) -> dict:
    """The file's content. COCO tools need categories and each person's
    category_id; the 3DMPPE files, which list no joint names, have
    neither."""
    data = dict(info=info, images=images, annotations=anns)
    if coco_keys or write_joint_names:
        data['categories'] = [_category(names if write_joint_names else None)]
        for ann in anns:
            ann['category_id'] = 1
    return data


def _check_output(out_dir: str, force: bool) -> None:
    if osp.isfile(out_dir):
        raise ValueError(f'output {out_dir} is a file; give a folder')
    if osp.isdir(out_dir) and os.listdir(out_dir) and not force:
        raise ValueError(f'output folder {out_dir} is not empty; choose '
                         'another or pass force=True (--force) to replace it')


def _move_aside(out_dir: str) -> Optional[str]:
    """Move a non-empty ``out_dir`` into a temporary holder folder next to
    it (returned), so the new folder can take its name."""
    if not (osp.isdir(out_dir) and os.listdir(out_dir)):
        return None
    parent, name = osp.split(out_dir)
    holder = tempfile.mkdtemp(prefix=f'.{name}.', suffix='.old', dir=parent)
    os.replace(out_dir, osp.join(holder, name))
    return holder


def _write_scenes(folder: str, generator: SceneGenerator, rng, num_scenes: int,
                  names: Sequence[str], layout: str, coco_keys: bool,
                  bar) -> Tuple[list, list]:
    """Draw and write the images; their image and person entries."""
    os.makedirs(osp.join(folder, 'images'))
    images, anns = [], []
    for i in range(num_scenes):
        scene = generator(rng)
        file_name = f'images/{i:06d}.jpg'
        jpeg = [cv2.IMWRITE_JPEG_QUALITY, 95]
        if not cv2.imwrite(osp.join(folder, file_name), scene.image, jpeg):
            raise OSError(f'cannot write {file_name} under {folder}')
        images.append(image_entry(scene, i + 1, file_name, layout))
        anns += scene_annotations(scene, names, i + 1,
                                  len(anns) + 1, layout, coco_keys)
        if bar:
            bar.update()
    return images, anns


def write_motion_scenes(out_dir: str,
                        num_scenes: int,
                        split: str = 'train',
                        seed: int = 0,
                        image_size: Tuple[int, int] = (512, 320),
                        num_people: Tuple[int, int] = (1, 6),
                        photos: Optional[Sequence[np.ndarray]] = None,
                        depth_range: Tuple[float, float] = (2500., 12000.),
                        truncation: float = 0.3,
                        joint_names: Optional[Sequence[str]] = None,
                        layout: str = 'muco',
                        write_joint_names: bool = True,
                        coco_keys: bool = True,
                        ann_name: str = 'scenes.json',
                        force: bool = False,
                        progress: bool = False) -> dict:
    """Write ``num_scenes`` real-motion scenes as a 3DMPPE-style dataset.

    Everything is written to a temporary folder next to ``out_dir`` and
    renamed when complete: an error leaves nothing behind.

    Args:
        out_dir (str): Output folder (``images/`` and ``ann_name``); an
            existing non-empty one is refused unless ``force``.
        num_scenes (int): Number of images.
        split (str): ``'train'`` or ``'held_out'`` clips, cameras and
            photos. Defaults to ``'train'``.
        seed (int): Seed of the scene draws. Defaults to 0.
        image_size (tuple): (w, h). Defaults to (512, 320).
        num_people (tuple): Inclusive range of people per image.
        photos (Sequence[np.ndarray], optional): BGR background photos
            (default: scikit-learn's two).
        depth_range (tuple): People's root depth range, mm. Defaults to
            (2500, 12000).
        truncation (float): Share of people placed across the image border.
            Defaults to 0.3.
        joint_names (Sequence[str], optional): The file's joints in order.
            Defaults to the ``coco21`` joint set's.
        layout (str): ``'muco'`` or ``'mupots'``. Defaults to ``'muco'``.
        write_joint_names (bool): List them in
            ``categories[0]['joint_names']``. Defaults to True.
        coco_keys (bool): Also write COCO's keys (see
            :func:`scene_annotations`). Defaults to True.
        ann_name (str): Name of the JSON file. Defaults to ``'scenes.json'``.
        force (bool): Replace a non-empty ``out_dir``. Defaults to False.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        dict: ``ann_file``, ``img_dir``, ``num_images``, ``num_people``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}; use one of {LAYOUTS}')
    if num_scenes < 1:
        raise ValueError(f'num_scenes must be at least 1, got {num_scenes}')
    names = list(joint_names or get_joint_set('coco21').names)
    check_joint_names(names, 'joint_names')
    out_dir = osp.abspath(out_dir)
    _check_output(out_dir, force)
    generator = SceneGenerator(
        split=split,
        image_size=tuple(image_size),
        num_people=tuple(num_people),
        depth_range=tuple(depth_range),
        truncation=truncation,
        photos=photos)
    rng = np.random.default_rng(seed)
    bar = ProgressBar(num_scenes) if progress else None
    holder = None
    try:
        with atomic_directory(out_dir) as tmp:
            images, anns = _write_scenes(tmp, generator, rng, num_scenes,
                                         names, layout, coco_keys, bar)
            info = dict(
                description='real-motion scenes written by selecsls-mm '
                '(tools/dataset_converters/make_motion_scenes.py)',
                split=split,
                seed=seed,
                image_size=list(image_size),
                num_people=list(num_people),
                layout=layout)
            with open(osp.join(tmp, ann_name), 'w', encoding='utf-8') as f:
                json.dump(
                    _dataset_json(info, images, anns, names, coco_keys,
                                  write_joint_names), f)
            holder = _move_aside(out_dir)  # replaced only when all is written
    except BaseException:
        if holder and not osp.exists(out_dir):
            os.replace(osp.join(holder, osp.basename(out_dir)), out_dir)
        raise
    finally:
        if holder and osp.isdir(holder) and osp.exists(out_dir):
            shutil.rmtree(holder)
    if bar:
        print()
    return dict(
        ann_file=osp.join(out_dir, ann_name),
        img_dir=out_dir,
        num_images=len(images),
        num_people=len(anns))

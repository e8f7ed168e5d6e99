"""A tiny COCO-keypoints dataset of drawn stick figures, built by the tests.

Figures come from the project's one synthetic-people generator
(:mod:`selecsls_mm.pose.synthetic`). Every figure is frontal (the person's
left side on the image's right), so the left/right labels follow from
geometry and stay consistent under horizontal flips; symmetric limbs share a
colour.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np

from selecsls_mm.pose.synthetic import coco_annotation, random_pose

# COCO skeleton (0-based) and a colour per symmetric pair of limbs
LIMBS = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12),
         (5, 6), (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2),
         (1, 3), (2, 4), (3, 5), (4, 6)]
_PAIR = {
    0: 0,
    2: 0,
    1: 1,
    3: 1,
    4: 2,
    5: 3,
    6: 3,
    7: 4,
    8: 5,
    9: 5,
    10: 6,
    11: 6,
    12: 7,
    13: 8,
    14: 8,
    15: 9,
    16: 9,
    17: 10,
    18: 10
}
_COLOURS = [(255, 64, 64), (64, 255, 64), (64, 64, 255), (255, 255, 64),
            (255, 64, 255), (64, 255, 255), (255, 160, 64), (160, 64, 255),
            (64, 160, 255), (160, 255, 64), (255, 255, 255)]


def figure_keypoints(cx: float, top: float, height: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Keypoints (17, 2) of a frontal, upright figure of the shared
    synthetic-people generator, centred at ``cx`` with its top at ``top``,
    with a little pose jitter."""
    kpts = random_pose(
        rng, max_rotation=0, articulation=0.3, back_view=0) * height
    kpts[:, 1] -= kpts[:, 1].min()
    return (kpts + np.array([cx, top])).astype(np.float32)


def draw_figure(img: np.ndarray, kpts: np.ndarray, thickness: int = 2):
    for i, (a, b) in enumerate(LIMBS):
        pa = tuple(int(round(v)) for v in kpts[a])
        pb = tuple(int(round(v)) for v in kpts[b])
        cv2.line(img, pa, pb, _COLOURS[_PAIR[i]], thickness, cv2.LINE_AA)
    for k, p in enumerate(kpts):
        centre = tuple(int(round(v)) for v in p)
        cv2.circle(img, centre, 2, _COLOURS[(k + 1) // 2 % len(_COLOURS)], -1,
                   cv2.LINE_AA)


def make_tiny_coco(root: str, size: int = 128, seed: int = 0) -> dict:
    """Write ``root/images/*.png`` and ``root/annotations.json``.

    Images: one person; two people; one person next to an unannotated crowd
    region (drawn figures masked by an ``iscrowd`` annotation); one person
    cut by the border; one image with nobody.

    Returns:
        dict: ``ann_file``, ``img_dir``, ``images`` (file paths) and
        ``num_people`` (annotated, non-crowd).
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    scenes = [
        [(size * 0.5, size * 0.08, size * 0.84)],
        [(size * 0.28, size * 0.15, size * 0.7),
         (size * 0.72, size * 0.12, size * 0.72)],
        [(size * 0.3, size * 0.1, size * 0.8)],
        [(size * 0.5, size * 0.35, size * 0.9)],  # legs below the border
        [],
    ]
    images, annotations, paths = [], [], []
    for img_id, people in enumerate(scenes, start=1):
        img = np.full((size, size, 3), 40, dtype=np.uint8)
        for cx, top, height in people:
            kpts = figure_keypoints(cx, top, height, rng)
            draw_figure(img, kpts)
            inside = np.all((kpts >= 0) & (kpts < size), axis=1)
            annotations.append(
                coco_annotation(
                    len(annotations) + 1, img_id, kpts, inside, (size, size)))
        if img_id == 3:
            # a crowd: small unannotated figures in a box marked iscrowd
            x0, y0, x1, y1 = (float(size * f) for f in (0.6, 0.2, 0.98, 0.8))
            for cx in (size * 0.68, size * 0.78, size * 0.9):
                draw_figure(
                    img,
                    figure_keypoints(cx, y0 + 4, size * 0.4, rng),
                    thickness=1)
            poly = [x0, y0, x1, y0, x1, y1, x0, y1]
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=1,
                    iscrowd=1,
                    num_keypoints=0,
                    keypoints=[0] * 51,
                    bbox=[x0, y0, x1 - x0, y1 - y0],
                    area=(x1 - x0) * (y1 - y0),
                    segmentation=[poly]))
        name = f'{img_id:04d}.png'
        path = osp.join(root, 'images', name)
        cv2.imwrite(path, img)
        paths.append(path)
        images.append(dict(id=img_id, file_name=name, width=size, height=size))
    coco = dict(
        images=images,
        annotations=annotations,
        categories=[
            dict(
                id=1,
                name='person',
                supercategory='person',
                keypoints=['k%d' % i for i in range(17)],
                skeleton=[[a + 1, b + 1] for a, b in LIMBS])
        ])
    ann_file = osp.join(root, 'annotations.json')
    with open(ann_file, 'w') as f:
        json.dump(coco, f)
    return dict(
        ann_file=ann_file,
        img_dir=osp.join(root, 'images'),
        images=paths,
        num_people=sum(a['iscrowd'] == 0 for a in annotations))

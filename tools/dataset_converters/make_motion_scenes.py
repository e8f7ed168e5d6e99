#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write a multi-person 3D dataset of real-motion scenes: people posed from
the DeepMimic motion-capture clips in front of real cameras, drawn over
photos (``selecsls_mm.pose3d.scenes``), as ``OUT/images/*.jpg`` and one
JSON in the 3DMPPE project's COCO-style layout (MuCo-3DHP's by default: per
image ``f`` and ``c``; per person ``keypoints_img``, ``keypoints_cam``,
``keypoints_vis`` in the coco21 joint order, listed in
``categories[0]['joint_names']``), plus COCO's ``keypoints``/``bbox``/
``area``/``num_keypoints`` so COCO tools read it too::

    python tools/dataset_converters/make_motion_scenes.py data/scenes_train \\
        --num 2000 --split train --seed 0
    python tools/dataset_converters/make_motion_scenes.py \\
        data/scenes_held_out --num 500 --split held_out --seed 1

Read it with ``type='MuCo3DHPDataset'`` (``ann_file='scenes.json'``). The
folder appears only when complete; a non-empty one is replaced only with
``--force``.
"""
import argparse
import glob
import os.path as osp
import sys
from typing import List, Optional

from selecsls_mm.utils import run_main

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write real-motion multi-person 3D scenes as images and '
        'a 3DMPPE-style (MuCo-3DHP layout) COCO JSON.')
    parser.add_argument('out', help='output folder')
    parser.add_argument(
        '--num', type=int, default=100, help='number of images')
    parser.add_argument(
        '--split',
        choices=('train', 'held_out'),
        default='train',
        help='motion clips, cameras and photos to draw from (they share '
        'none): train on train, report on held_out')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(512, 320),
        metavar=('W', 'H'),
        help='image size')
    parser.add_argument(
        '--people',
        type=int,
        nargs=2,
        default=(1, 6),
        metavar=('MIN', 'MAX'),
        help='people per image (inclusive range)')
    parser.add_argument(
        '--depth',
        type=float,
        nargs=2,
        default=(2500., 12000.),
        metavar=('MIN', 'MAX'),
        help="range of the people's root depth, mm (log-uniform)")
    parser.add_argument(
        '--truncation',
        type=float,
        default=0.3,
        help='share of people placed across the image border')
    parser.add_argument(
        '--photos',
        help='folder of background photos (the split takes every other '
        "one; default: scikit-learn's two sample photos)")
    parser.add_argument(
        '--layout',
        choices=('muco', 'mupots'),
        default='muco',
        help="camera as 'f' and 'c' (muco) or 'intrinsic' (mupots)")
    parser.add_argument(
        '--joint-set',
        default='coco21',
        help='joint order of keypoints_img/keypoints_cam')
    parser.add_argument(
        '--ann-name', default='scenes.json', help='name of the JSON file')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace a non-empty output folder')
    return parser.parse_args(argv)


def load_photo_folder(folder: str) -> list:
    """The images of a folder (sorted by name), refused when none."""
    from selecsls_mm.pose3d.scenes import load_photos
    if not osp.isdir(folder):
        raise FileNotFoundError(f'photo folder {folder} does not exist')
    paths = sorted(
        p for p in glob.glob(osp.join(folder, '*'))
        if p.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise ValueError(f'photo folder {folder} has no images '
                         f'({", ".join(IMAGE_EXTENSIONS)})')
    return load_photos(paths)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from selecsls_mm.pose3d.datasets import write_motion_scenes
    from selecsls_mm.pose3d.joint_sets import get_joint_set
    if args.num < 1:
        raise ValueError(f'--num must be at least 1, got {args.num}')
    lo, hi = args.people
    if not 1 <= lo <= hi:
        raise ValueError(f'--people MIN MAX needs 1 <= MIN <= MAX, got '
                         f'{lo} {hi}')
    if not 0 < args.depth[0] <= args.depth[1]:
        raise ValueError('--depth MIN MAX needs 0 < MIN <= MAX (mm), got '
                         f'{args.depth[0]:g} {args.depth[1]:g}')
    if not 0 <= args.truncation <= 1:
        raise ValueError('--truncation is a share in [0, 1], got '
                         f'{args.truncation:g}')
    photos = load_photo_folder(args.photos) if args.photos else None
    result = write_motion_scenes(
        args.out,
        args.num,
        split=args.split,
        seed=args.seed,
        image_size=tuple(args.size),
        num_people=(lo, hi),
        depth_range=tuple(args.depth),
        truncation=args.truncation,
        photos=photos,
        joint_names=get_joint_set(args.joint_set).names,
        layout=args.layout,
        ann_name=args.ann_name,
        force=args.force,
        progress=True)
    print(f'wrote {result["num_images"]} images with {result["num_people"]} '
          f'people ({args.split} split, seed {args.seed}) to '
          f'{result["img_dir"]}; annotations: {result["ann_file"]}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))

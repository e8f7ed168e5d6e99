#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Draw the people a bottom-up pose model finds in one image.

Example::

    python tools/pose_demo.py demo.jpg --out vis.png \\
      --config configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-512x512.py\\
      --checkpoint work_dirs/xnect-paf/epoch_140.pth

The picture is drawn with MMPose's ``PoseLocalVisualizer`` (keypoints and
skeleton in the dataset's colours) and written atomically. A checkpoint whose
keys or shapes do not fit the config's model is refused with one line
(``--allow-partial`` loads only the tensors that fit).
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; torch, mmengine and mmpose are imported in draw().
import argparse
import logging
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run a bottom-up pose model on an image and draw the '
        'people it finds')
    parser.add_argument('image', help='input image')
    parser.add_argument('--config', required=True, help='model config')
    parser.add_argument(
        '--checkpoint', required=True, help='trained pose checkpoint')
    parser.add_argument('--out', required=True, help='output picture (.png)')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--kpt-thr',
        type=float,
        default=0.3,
        help='draw keypoints (and their limbs) scoring above this')
    parser.add_argument(
        '--draw-bbox', action='store_true', help='draw a box per person')
    parser.add_argument(
        '--radius', type=int, default=3, help='keypoint radius in pixels')
    parser.add_argument(
        '--thickness', type=int, default=2, help='limb width in pixels')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load a checkpoint whose keys or shapes do not all fit the '
        'model, only the tensors that fit (the rest stays random)')
    return parser.parse_args(argv)


def draw(args) -> int:
    for path, what in ((args.image, 'image'), (args.config, 'config'),
                       (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file {path!r} does not exist')
    ext = osp.splitext(args.out)[1].lower()
    if ext not in ('.png', '.jpg', '.jpeg', '.bmp'):
        raise ValueError(f'--out {args.out!r} needs an image extension (.png, '
                         '.jpg)')

    import cv2
    import mmcv
    from mmengine.logging import MMLogger
    from mmpose.apis import inference_bottomup
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    from selecsls_mm.pose import init_pose_model
    from selecsls_mm.utils import atomic_output

    # init_model logs every initialised parameter; keep the output short.
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    model = init_pose_model(
        args.config,
        args.checkpoint,
        device=args.device,
        allow_partial=args.allow_partial)
    result = merge_data_samples(inference_bottomup(model, args.image))

    visualizer = VISUALIZERS.build(
        dict(
            type='PoseLocalVisualizer',
            name='pose_demo',
            radius=args.radius,
            line_width=args.thickness,
            # mmpose 1.1's opencv backend calls int() on 1-element arrays,
            # which numpy 2 rejects
            backend='matplotlib'))
    visualizer.set_dataset_meta(model.dataset_meta)
    image = mmcv.imread(args.image, channel_order='rgb')
    visualizer.add_datasample(
        'result',
        image,
        data_sample=result,
        draw_gt=False,
        draw_bbox=args.draw_bbox,
        kpt_thr=args.kpt_thr,
        show=False)
    drawn = visualizer.get_image()

    ok, encoded = cv2.imencode(ext, mmcv.rgb2bgr(drawn))
    if not ok:
        raise ValueError(f'could not encode {args.out!r}')
    with atomic_output(args.out) as tmp:
        with open(tmp, 'wb') as f:
            f.write(encoded.tobytes())

    people = result.pred_instances
    num = int((people.keypoint_scores > args.kpt_thr).any(axis=1).sum()) \
        if len(people) else 0
    print(f'{num} people drawn in {args.out}')
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(draw, args)


if __name__ == '__main__':
    sys.exit(main())

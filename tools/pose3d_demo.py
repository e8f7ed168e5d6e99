#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The whole XNect system on an image, a folder of frames or a video:
Stage I (network), Stage II (lifting), Stage III (skeleton fitting,
tracking, filtering), written into one output folder.

Example::

    python tools/pose3d_demo.py clip.mp4 --out-dir work_dirs/clip_3d \\
      --stage1-config configs/pose3d/xnect3d_selecsls60_8xb32-140e_muco-coco-512x320.py \\
      --stage1-checkpoint work_dirs/xnect3d/epoch_140.pth \\
      --stage2-checkpoint work_dirs/xnect-stage2_mlp_motion/epoch_30.pth \\
      --camera 1145 1144 512 320

Writes ``frames/<name>.json`` (per frame: each person's 2D keypoints,
scores, root-relative and absolute 3D joints, joint rotations, track id),
``bvh/person_<id>.bvh`` (per tracked person; folder or video input) and
``vis/<name>.jpg`` (2D skeletons and a 3D view). The folder appears only
when everything is written. Checkpoints that do not fit their config are
refused with one line (``--allow-partial`` loads only what fits).
"""  # noqa: E501
# Only the standard library before the arguments are parsed, so --help is
# fast; torch, mmengine and mmpose are imported in run().
import argparse
import logging
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGE2_CONFIG = osp.join(REPO, 'configs', 'pose3d',
                         'xnect-stage2_mlp_motion.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run XNect (Stages I, II and III) on an image, a folder '
        'of frames or a video and write per-frame JSON, BVH files per '
        'tracked person and pictures')
    parser.add_argument(
        'input',
        help='an image, a folder of frames (sorted by name) or a '
        'video')
    parser.add_argument(
        '--out-dir', required=True, help='output folder (must not exist)')
    parser.add_argument(
        '--stage1-config', required=True, help='Stage I (3D network) config')
    parser.add_argument(
        '--stage1-checkpoint', required=True, help='Stage I checkpoint')
    parser.add_argument(
        '--stage2-config',
        default=STAGE2_CONFIG,
        help='Stage II (lifter) config (default: '
        'configs/pose3d/xnect-stage2_mlp_motion.py)')
    parser.add_argument(
        '--stage2-checkpoint', required=True, help='Stage II checkpoint')
    parser.add_argument(
        '--camera',
        nargs='+',
        metavar='FX_FY_CX_CY_OR_JSON',
        help='intrinsics in px: four numbers fx fy cx cy, or a JSON file '
        'with fx, fy, cx, cy (or f: [fx, fy], c: [cx, cy]); default: fx = '
        'fy = the longer image side, principal point at the centre (said '
        'on stderr; absolute depth scales with the focal length)')
    parser.add_argument(
        '--fps',
        type=float,
        help='frame rate of a folder of frames (default 30), or of a video '
        'instead of the one its file states')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--no-vis', action='store_true', help='do not draw vis/<name>.jpg')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load checkpoints whose keys or shapes do not all fit the '
        'models, only the tensors that fit (the rest stays random)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override settings of the Stage I config, e.g. '
        'model.test_cfg.flip_test=False')
    return parser.parse_args(argv)


def check_paths(args) -> None:
    """Every input file exists and the output folder does not."""
    for path, what in ((args.stage1_config, 'Stage I config'),
                       (args.stage1_checkpoint, 'Stage I checkpoint'),
                       (args.stage2_config, 'Stage II config'),
                       (args.stage2_checkpoint, 'Stage II checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file {path!r} does not exist')
    if osp.lexists(args.out_dir):
        raise FileExistsError(f'--out-dir {args.out_dir!r} exists; remove it '
                              'or give a new folder')


def build_xnect(args, source):
    """The three stages for this input, with its camera."""
    from mmengine.logging import MMLogger

    from selecsls_mm.pose import init_pose_model
    from selecsls_mm.pose3d.demo import (check_stage1_config, load_stage2,
                                         read_camera)
    from selecsls_mm.pose3d.xnect import XNect
    from selecsls_mm.stack import load_config
    from selecsls_mm.utils import cfg_options_dict, merge_cfg_options

    _, first = next(source.frames())
    size = first.shape[1::-1]
    # a given camera is checked first; the default one is said last, so
    # that a refused config or checkpoint is the only line on stderr
    camera = read_camera(args.camera, size) if args.camera else None
    # init_model logs every initialised parameter; keep the output short.
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    cfg = load_config(args.stage1_config, 'Stage I config')
    merge_cfg_options(cfg, cfg_options_dict(args.cfg_options))
    check_stage1_config(cfg, args.stage1_config)
    stage1 = init_pose_model(
        cfg,
        args.stage1_checkpoint,
        device=args.device,
        allow_partial=args.allow_partial)
    stage2 = load_stage2(args.stage2_config, args.stage2_checkpoint,
                         args.device, args.allow_partial)
    xnect = XNect(
        stage1, stage2, camera=camera, fps=source.fps, video=source.is_video)
    if camera is None:
        xnect.camera = read_camera(None, size)
    return xnect


def run(args) -> int:
    check_paths(args)
    import selecsls_mm.pose3d  # noqa: F401  (registers the 3D modules)
    from selecsls_mm.pose3d.demo import check_device, open_input, run_demo

    check_device(args.device)
    source = open_input(args.input, args.fps)
    xnect = build_xnect(args, source)
    result = run_demo(xnect, source, args.out_dir, vis=not args.no_vis)
    print(f"{result['frames']} frames, {result['people']} person-frames, "
          f"{result['tracks']} BVH files written to {args.out_dir}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(run, args)


if __name__ == '__main__':
    sys.exit(main())

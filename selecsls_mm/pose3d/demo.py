# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""What ``tools/pose3d_demo.py`` does once its arguments are parsed: read
an image, a folder of frames or a video, run :class:`~.xnect.XNect` on it
and write, atomically, one folder of results:

- ``frames/<name>.json``: per frame, every person's 2D keypoints, scores,
  root-relative and absolute 3D joints, joint rotations and track id
  (:func:`~.xnect.person_dict`);
- ``bvh/person_<id>.bvh``: one animation per tracked person (a folder of
  frames or a video);
- ``vis/<name>.jpg``: the 2D skeletons with a 3D view beside them
  (:func:`~.visualization.draw_frame`).

The folder is filled in a temporary folder next to it and moved into place
only when everything is written, so a failure leaves nothing behind.
"""
import json
import os
import os.path as osp
import sys
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils.fileio import atomic_directory
from .camera import Camera
from .fitting import PersonFit, Stage3Warning
from .xnect import XNect, default_camera, person_dict

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# assumed for a folder of frames without --fps and a video whose file
# states no frame rate
DEFAULT_FPS = 30.


def note(message: str) -> None:
    """One line on stderr about a default used or an input skipped."""
    print(f'note: {message}', file=sys.stderr)


@dataclass
class FrameSource:
    """An image, a folder of frames or a video, read frame by frame.

    Args:
        kind (str): ``'image'``, ``'folder'`` or ``'video'``.
        path (str): The input.
        files (list[str]): The image files in order (image and folder).
        fps (float, optional): Frames per second (folder and video).
        num_frames (int): Frames expected (a video's header may be off).
    """
    kind: str
    path: str
    files: List[str]
    fps: Optional[float]
    num_frames: int

    @property
    def is_video(self) -> bool:
        """Frames of one scene over time (tracked, with BVH files)."""
        return self.kind != 'image'

    def time(self, index: int) -> Optional[float]:
        """Seconds from the first frame to frame ``index`` (None for an
        image)."""
        return index / self.fps if self.is_video else None

    def frames(self) -> Iterator[Tuple[str, np.ndarray]]:
        """(name, BGR image) of each frame, in order.

        Raises:
            ValueError: For an image OpenCV cannot decode, or one of
                another size than the first (the frames share one camera).
        """
        if self.kind != 'video':
            first = None
            for path in self.files:
                image = cv2.imread(path)
                if image is None:
                    raise ValueError(_undecodable(path))
                size = image.shape[1::-1]
                if first is None:
                    first = path, size
                elif size != first[1]:
                    raise ValueError(_size_mismatch(path, size, *first))
                yield osp.splitext(osp.basename(path))[0], image
            return
        capture = cv2.VideoCapture(self.path)
        try:
            index = 0
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                yield f'{index:06d}', image
                index += 1
        finally:
            capture.release()


def _undecodable(path: str) -> str:
    return (f'cannot decode image {path!r} (damaged, or a format this '
            'OpenCV cannot read); re-save it (e.g. as PNG) or remove it from '
            'the folder')


def _size_mismatch(path: str, size: Tuple[int, int], first: str,
                   first_size: Tuple[int, int]) -> str:
    return (f'frame {path!r} is {size[0]}x{size[1]} px but the first frame '
            f'{osp.basename(first)!r} is {first_size[0]}x{first_size[1]}; '
            'the frames of a folder share one camera and must share one '
            'size: resize them or split the folder')


def _header_size(path: str) -> Optional[Tuple[int, int]]:
    """(w, h) of an image as ``cv2.imread`` gives it (EXIF orientation
    applied), from its header alone; None if PIL cannot tell."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            w, h = image.size
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w  # rotated by a quarter turn
    except Exception:  # noqa: BLE001  (frames() says what is wrong)
        return None
    return w, h


def _check_sizes(files: Sequence[str]) -> None:
    """All frames of a folder have one size and are images (read from
    their headers, so that a folder is refused before any frame goes
    through the network; :meth:`FrameSource.frames` checks the decoded
    images as well)."""
    first = None
    for path in files:
        size = _header_size(path)
        if size is None:  # not an image to PIL: decode it to know
            if cv2.imread(path) is None:
                raise ValueError(_undecodable(path))
            continue
        if first is None:
            first = path, size
        elif size != first[1]:
            raise ValueError(_size_mismatch(path, size, *first))


def _open_folder(path: str, fps: Optional[float]) -> FrameSource:
    files = sorted(
        osp.join(path, name) for name in os.listdir(path)
        if osp.splitext(name)[1].lower() in IMAGE_EXTENSIONS
        and osp.isfile(osp.join(path, name)))
    if not files:
        raise ValueError(
            f'folder {path!r} holds no images ({", ".join(IMAGE_EXTENSIONS)})'
            '; give a folder of frames, an image or a video')
    stems = [osp.splitext(osp.basename(f))[0] for f in files]
    if len(set(stems)) < len(stems):
        twice = sorted({s for s in stems if stems.count(s) > 1})
        raise ValueError(f'folder {path!r} has several images named '
                         f'{twice[0]!r} (other extensions); keep one each')
    _check_sizes(files)
    if fps is None:
        fps = DEFAULT_FPS
        note(f'no --fps given for the folder of frames: assuming {fps:g} '
             'fps (frame times, filters and BVH timing)')
    return FrameSource('folder', path, files, fps, len(files))


def _open_video(path: str, fps: Optional[float]) -> FrameSource:
    capture = cv2.VideoCapture(path)
    try:
        ok = capture.isOpened() and capture.read()[0]
        stated = capture.get(cv2.CAP_PROP_FPS) if ok else 0.
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
    finally:
        capture.release()
    if not ok:
        raise ValueError(
            f'cannot open video {path!r} (OpenCV reads no frame from it); '
            'give a video OpenCV can decode (e.g. MP4/H.264, AVI/MJPG), a '
            'folder of frames or an image')
    if fps is None:
        if stated and np.isfinite(stated) and stated > 0:
            fps = float(stated)
        else:
            fps = DEFAULT_FPS
            note(f'video {path!r} states no frame rate: assuming {fps:g} '
                 'fps (give --fps)')
    return FrameSource('video', path, [], fps, max(count, 0))


def open_input(path: str, fps: Optional[float] = None) -> FrameSource:
    """The frames of an image, a folder of frames or a video.

    Args:
        path (str): The input.
        fps (float, optional): Frame rate of a folder of frames (default
            30, said on stderr) or, overriding the file's, of a video.

    Returns:
        FrameSource: The input, checked to hold at least one frame.

    Raises:
        FileNotFoundError: No such path.
        ValueError: An unreadable image or video, a folder without images,
            a frame rate that is not positive.
    """
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ValueError(f'--fps must be positive, got {fps}')
    if not osp.exists(path):
        raise FileNotFoundError(f'input {path!r} does not exist')
    if osp.isdir(path):
        return _open_folder(path, fps)
    if osp.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
        if cv2.imread(path) is None:
            raise ValueError(
                f'cannot decode image {path!r} (damaged, or a format this '
                'OpenCV cannot read); re-save it (e.g. as PNG), or give '
                'another image, a folder of frames or a video')
        return FrameSource('image', path, [path], None, 1)
    return _open_video(path, fps)


def read_camera(values: Optional[Sequence[str]], size: Tuple[int,
                                                             int]) -> Camera:
    """The intrinsics of ``--camera``: four numbers ``fx fy cx cy`` or a
    JSON file with ``fx, fy, cx, cy`` (or mmpose's ``camera_param`` layout
    ``f: [fx, fy], c: [cx, cy]``); without them :func:`~.xnect.
    default_camera`, said in one line on stderr.

    Args:
        values (Sequence[str], optional): What ``--camera`` got.
        size (tuple): (w, h) of the frames.

    Returns:
        Camera: The camera of the frames' size.
    """
    w, h = size
    if not values:
        camera = default_camera(w, h)
        note(f'no --camera given: assuming fx = fy = {camera.fx:g} px (the '
             f'longer image side) and the principal point at the image '
             f'centre ({camera.cx:g}, {camera.cy:g}); absolute depth scales '
             'with the focal length')
        return camera
    default = ('leave out --camera for the default fx = fy = the longer '
               'image side, principal point at the centre')
    if len(values) == 1:
        fx, fy, cx, cy = _camera_json(values[0], default)
    elif len(values) == 4:
        try:
            fx, fy, cx, cy = (float(v) for v in values)
        except ValueError:
            raise ValueError(
                f'--camera {" ".join(values)}: give four numbers '
                'fx fy cx cy (px) or a camera JSON file') from None
    else:
        raise ValueError(f'--camera got {len(values)} values; give fx fy cx '
                         f'cy (px) or one camera JSON file, or {default}')
    if not all(np.isfinite([fx, fy, cx, cy])) or fx <= 0 or fy <= 0:
        raise ValueError(f'--camera fx={fx:g} fy={fy:g} cx={cx:g} cy={cy:g}: '
                         'focal lengths must be positive numbers (px)')
    return Camera(fx, fy, cx, cy, int(w), int(h), 'given')


def _camera_json(path: str, default: str) -> Tuple[float, ...]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'camera file {path!r} does not exist; give '
                                f'fx fy cx cy (px) or {default}')
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'camera file {path!r} is not JSON ({err})')
    data = data.get('camera_param', data) if isinstance(data, dict) else {}
    if 'f' in data and 'c' in data:
        data = dict(
            fx=data['f'][0], fy=data['f'][1], cx=data['c'][0], cy=data['c'][1])
    missing = [k for k in ('fx', 'fy', 'cx', 'cy') if k not in data]
    if missing:
        raise ValueError(
            f'camera file {path!r} lacks the intrinsics {", ".join(missing)}'
            f'; give fx, fy, cx, cy (px) or f: [fx, fy], c: [cx, cy], or '
            f'{default}')
    return tuple(float(data[k]) for k in ('fx', 'fy', 'cx', 'cy'))


STAGE1_EXAMPLE = 'configs/pose3d/xnect3d_selecsls60_8xb32-140e_muco-coco-512x320.py'  # noqa: E501
STAGE2_EXAMPLE = 'configs/pose3d/xnect-stage2_mlp_motion.py'


def check_stage1_config(cfg, name: str) -> None:
    """Refuse a config that does not build a Stage I network (a 3D head
    whose codec gives the read-out Stage II takes), in one line."""
    from mmpose.registry import KEYPOINT_CODECS
    model = cfg.get('model')
    if not isinstance(model, dict):
        built = 'no model'
    else:
        head = model.get('head')
        decoder = head.get('decoder') if isinstance(head, dict) else None
        codec = KEYPOINT_CODECS.get(decoder['type']) if isinstance(
            decoder, dict) and isinstance(decoder.get('type'), str) else None
        if not isinstance(head, dict) or 'backbone' not in model:
            built = f'a {model.get("type")}'
        elif codec is not None and not hasattr(codec, 'read_out'):
            built = (f'a {model.get("type")} with a 2D head '
                     f'({head.get("type")})')
        else:
            return
    raise ValueError(
        f'{name} builds {built}, not a Stage I network '
        '(PAFBottomupPoseEstimator with an XNect3DHead); give e.g. '
        f'{STAGE1_EXAMPLE}')


def check_device(device: str) -> None:
    """Refuse a device torch does not know or this machine lacks (e.g.
    ``cuda:0`` without a GPU), in one line, before anything is built."""
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f'--device {device!r} is not a device; give e.g. '
                         'cpu or cuda:0') from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise ValueError(
                f'--device {device}: CUDA is not available here (no NVIDIA '
                'GPU or driver, or a CPU-only torch); use --device cpu')
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f'--device {device}: this machine has {count} CUDA '
                f'device(s), cuda:0 to cuda:{count - 1}; give one of them or '
                '--device cpu')
    elif dev.type == 'mps' and not torch.backends.mps.is_available():
        raise ValueError(f'--device {device}: MPS is not available here; '
                         'use --device cpu')


def load_stage2(config,
                checkpoint: str,
                device: str = 'cpu',
                allow_partial: bool = False):
    """A Stage II lifter from its config, with a checkpoint that must fit
    (as :func:`~selecsls_mm.pose.init_pose_model` does for Stage I).

    Args:
        config (str | Config): The lifter's config.
        checkpoint (str): Its trained weights.
        device (str): Where to put it.
        allow_partial (bool): Load only the tensors that fit.

    Returns:
        XNectLifter: In eval mode.
    """
    from mmengine.runner import load_state_dict

    from ..stack import load_config
    from ..utils import (build_model, check_checkpoint_fits,
                         load_checkpoint_file)
    from ..utils.checkpoint_fit import checkpoint_state_dict
    name = config if isinstance(config, str) else 'the Stage II config'
    cfg = load_config(config, 'Stage II config') if isinstance(config,
                                                               str) else config
    model = build_model(cfg)
    if not hasattr(model, 'lift'):
        raise ValueError(
            f'{name} builds a {type(model).__name__}, not a Stage II lifter '
            f'(XNectLifter); give e.g. {STAGE2_EXAMPLE}')
    ckpt = load_checkpoint_file(checkpoint)
    check_checkpoint_fits(model, ckpt, f'checkpoint {checkpoint}',
                          allow_partial)
    load_state_dict(model, checkpoint_state_dict(ckpt), strict=False)
    return model.to(device).eval()


def _camera_dict(camera: Camera) -> dict:
    return dict(
        fx=camera.fx,
        fy=camera.fy,
        cx=camera.cx,
        cy=camera.cy,
        width=camera.width,
        height=camera.height)


def frame_record(name: str, index: int, time: Optional[float], camera: Camera,
                 fits: Sequence[PersonFit],
                 joint_names: Sequence[str]) -> dict:
    """One frame's JSON: its name, index, time, camera and people (by
    track id)."""
    fits = sorted(fits, key=lambda f: f.track_id)
    return dict(
        name=name,
        frame=int(index),
        time=None if time is None else round(float(time), 6),
        camera=_camera_dict(camera),
        units=dict(keypoints='px', keypoints_3d='mm', rotations='wxyz'),
        people=[person_dict(f, joint_names) for f in fits])


def _progress(total: int, task: str):
    """mmengine's progress bar (stdout) for inputs of several frames."""
    if total <= 1:
        return None
    from mmengine.utils import ProgressBar
    print(task)
    return ProgressBar(total)


def _fit_frames(xnect: XNect, source: FrameSource) -> Dict[int, list]:
    """Stages I-III over all frames; each frame's fits by frame index.

    A person Stage III cannot fit is skipped: the first is said on stderr
    (one line) and, when there are more, their count at the end.
    """
    by_frame: Dict[int, list] = defaultdict(list)
    bar = _progress(source.num_frames, f'XNect on {source.num_frames} frames')
    count = 0
    skipped = 0  # person-frames Stage III skipped (too few joints)
    for index, (_, image) in enumerate(source.frames()):
        time = source.time(index)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', Stage3Warning)
            fits = xnect(image, time)
        for w in caught:
            if not issubclass(w.category, Stage3Warning):
                warnings.warn_explicit(w.message, w.category, w.filename,
                                       w.lineno)
            elif str(w.message).endswith('skipped'):
                skipped += 1
                if skipped == 1:
                    note(str(w.message))
            else:
                note(str(w.message))
        if not source.is_video:
            by_frame[index] = fits
        count += 1
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    if skipped > 1:
        note(f'Stage III skipped {skipped} person-frames in all for too few '
             'joints (the first is said above)')
    if source.is_video:
        for fits in xnect.finish().values():
            for fit in fits:
                by_frame[fit.frame].append(fit)
    if count == 0:
        raise ValueError(f'input {source.path!r} has no frames to read')
    source.num_frames = count
    return by_frame


def run_demo(xnect: XNect,
             source: FrameSource,
             out_dir: str,
             vis: bool = True) -> dict:
    """Run XNect on an input and write its results into ``out_dir``.

    Args:
        xnect (XNect): The three stages (``video`` must match the input:
            False for an image).
        source (FrameSource): The input (:func:`open_input`).
        out_dir (str): The folder to create (it must not exist).
        vis (bool): Also draw ``vis/<name>.jpg``.

    Returns:
        dict: ``frames`` (count), ``people`` (person-frames written),
        ``tracks`` (BVH files written).
    """
    if osp.lexists(out_dir):
        raise FileExistsError(f'--out-dir {out_dir!r} exists; remove it or '
                              'give a new folder')
    by_frame = _fit_frames(xnect, source)
    names = xnect.joint_names
    with atomic_directory(out_dir) as tmp:
        for sub in ('frames', 'vis') if vis else ('frames', ):
            os.makedirs(osp.join(tmp, sub))
        bar = _progress(source.num_frames, 'writing frames')
        people = 0
        for index, (name, image) in enumerate(source.frames()):
            fits = by_frame.get(index, [])
            people += len(fits)
            record = frame_record(name, index, source.time(index),
                                  xnect.camera, fits, names)
            with open(osp.join(tmp, 'frames', f'{name}.json'), 'w') as f:
                json.dump(record, f)
            if vis:
                _write_vis(
                    osp.join(tmp, 'vis', f'{name}.jpg'), image, fits,
                    xnect.tracker.skeleton.joint_set)
            if bar is not None:
                bar.update()
        if bar is not None:
            sys.stdout.write('\n')
        tracks = []
        if source.is_video and xnect.tracker.tracks:
            tracks = xnect.tracker.write_bvh(osp.join(tmp, 'bvh'))
        elif source.is_video:
            note('nobody was tracked: no BVH files written')
    return dict(frames=source.num_frames, people=people, tracks=len(tracks))


def _write_vis(path: str, image: np.ndarray, fits: Sequence[PersonFit],
               joint_set) -> None:
    from .visualization import draw_frame
    if not cv2.imwrite(path, draw_frame(image, fits, joint_set)):
        raise OSError(f'could not write {path!r}')

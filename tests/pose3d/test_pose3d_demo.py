"""tools/pose3d_demo.py: an image, a folder of frames and a video of a
held-out real-motion clip through the three stages, into JSON per frame,
BVH per track (read back by the independent reader bvhio) and pictures;
bad input as one line, with no output folder left behind.

Untrained Stage I weights find nobody, so Stage I's read-out is replaced
by the codec's decode of perfect maps of the rendered people (encode ->
decode with the 3D samples, as the network would give at best) and Stage
II by the people's true root-relative pose: Stage III and everything the
demo writes are the real thing.
"""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from scene_fixtures import match_people

from selecsls_mm.pose import init_pose_model
from selecsls_mm.pose3d.codecs import PartAffinityField3D
from selecsls_mm.pose3d.fitting.bvh import CAMERA_TO_BVH
from selecsls_mm.pose3d.fitting.evaluate import bvhio_positions
from selecsls_mm.pose3d.fitting.simulate import Placement, place
from selecsls_mm.pose3d.lifting import XNectLifter
from selecsls_mm.pose3d.motion import POINT_NAMES
from selecsls_mm.pose3d.render import person_colours, render_people
from selecsls_mm.pose3d.scenes import Scene, SceneGenerator
from selecsls_mm.utils import build_model

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'pose3d_demo.py')
STAGE1 = osp.join(REPO, 'configs', 'pose3d',
                  'xnect3d_selecsls-tiny_1xb8-40e_motion-192x128.py')
STAGE2 = osp.join(REPO, 'configs', 'pose3d', 'xnect-stage2_mlp_motion.py')
SIZE = (320, 224)  # w, h
FPS = 10.
NUM_FRAMES = 14


def load_tool():
    spec = importlib.util.spec_from_file_location('pose3d_demo', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Untrained Stage I (tiny config) and Stage II checkpoints."""
    root = tmp_path_factory.mktemp('ckpt')
    stage1 = init_pose_model(STAGE1, None)
    stage2 = build_model(Config.fromfile(STAGE2))
    paths = dict(stage1=str(root / 'stage1.pth'), stage2=str(root / 's2.pth'))
    torch.save(dict(state_dict=stage1.state_dict()), paths['stage1'])
    torch.save(dict(state_dict=stage2.state_dict()), paths['stage2'])
    return paths


def render_clip(num_frames=NUM_FRAMES, seed=0):
    """Two people performing held-out clips (at ``FPS``) in front of a
    held-out camera over a held-out photo: one Scene per frame."""
    gen = SceneGenerator('held_out', image_size=SIZE, fps=FPS)
    rng = np.random.default_rng(seed)
    camera = gen.cameras[0]
    background = cv2.resize(gen.photos[0], SIZE)
    pelvis = POINT_NAMES.index('pelvis')
    people = [
        place(gen.clips[1].points[:num_frames],
              Placement(depth=3500., lateral=-600., yaw=0.3), pelvis),
        place(gen.clips[3].points[:num_frames],
              Placement(depth=5000., lateral=900., yaw=2.5), pelvis)
    ]
    colours = [person_colours(rng) for _ in people]
    scenes = []
    for t in range(num_frames):
        points = np.stack([p[t] for p in people]).astype(np.float32)
        image, visible = render_people(background, camera, points, colours)
        scenes.append(Scene(image, camera, points, visible))
    return scenes


class PerfectStages:
    """Stage I's read-out of perfect maps of the scene shown, and the true
    root-relative poses as Stage II's output."""

    def __init__(self, scenes):
        self.scenes = scenes
        self.codec = PartAffinityField3D(
            input_size=SIZE,
            heatmap_size=(SIZE[0] // 8, SIZE[1] // 8),
            skeleton=dict(
                from_file='configs/_base_/datasets/coco.py',
                limbs='coco_redundant'))
        self.truth = []  # (keypoints, root-relative pose) per person
        self.lowered = set()  # (frame, person): scores to lower

    def scene_of(self, image):
        """The rendered scene an image shows (nearest; video codecs)."""
        small = cv2.resize(image, (80, 56)).astype(np.float32)
        diffs = [
            np.abs(cv2.resize(s.image, (80, 56)) - small).mean()
            for s in self.scenes
        ]
        assert min(diffs) < 8, 'the demo read an image not rendered here'
        return int(np.argmin(diffs))

    def inference_bottomup(self, model, image):
        index = self.scene_of(image)
        scene = self.scenes[index]
        kpts, vis = scene.keypoints_2d()
        joints = scene.keypoints_3d(self.codec.joint_set)
        enc = self.codec.encode(kpts, vis, joints)
        dec_k, dec_s, _, _, samples = self.codec.decode(
            enc['heatmaps'], enc['pafs'], enc['maps_3d'], return_samples=True)
        root = self.codec.joint_set.root
        relative = joints - joints[:, root:root + 1]
        for m, n in match_people(dec_k, dec_s, kpts, vis):
            self.truth.append((dec_k[m], relative[n]))
        for frame, person in self.lowered:
            if frame == index:
                dec_s = dec_s.copy()
                dec_s[person, 3:] = 0.1  # found, but too unsure to fit
        pred = InstanceData(
            keypoints=dec_k,
            keypoint_scores=dec_s,
            samples_3d=samples.reshape(len(dec_k), -1))
        return [PoseDataSample(pred_instances=pred)]

    def lift(self, lifter, readout):
        poses = []
        for kpts in readout['keypoints']:
            found = [p for k, p in self.truth if np.array_equal(k, kpts)]
            assert found, 'Stage II got a person Stage I did not give'
            poses.append(found[-1])
        return np.zeros((0, 21, 3)) if not poses else np.stack(poses)


@pytest.fixture
def perfect(monkeypatch):
    """Install the perfect Stages I and II for ``scenes``."""

    def install(scenes):
        stages = PerfectStages(scenes)
        import mmpose.apis
        monkeypatch.setattr(mmpose.apis, 'inference_bottomup',
                            stages.inference_bottomup)
        monkeypatch.setattr(XNectLifter, 'lift',
                            lambda self, r: stages.lift(self, r))
        return stages

    return install


def write_frames(folder, scenes):
    os.makedirs(folder)
    for t, scene in enumerate(scenes):
        cv2.imwrite(osp.join(folder, f'frame_{t:03d}.png'), scene.image)
    return str(folder)


def camera_args(camera):
    return ['--camera'
            ] + [str(v) for v in (camera.fx, camera.fy, camera.cx, camera.cy)]


def demo(capsys, checkpoints, *args):
    """Run the tool in this process; (exit code, stdout, stderr lines)."""
    # later options win: a test's own checkpoints replace these
    code = load_tool().main([
        '--stage1-config', STAGE1, '--stage1-checkpoint',
        checkpoints['stage1'], '--stage2-checkpoint', checkpoints['stage2'],
        *args
    ])
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def read_frames(out_dir):
    names = sorted(os.listdir(osp.join(out_dir, 'frames')))
    return names, [
        json.load(open(osp.join(out_dir, 'frames', n))) for n in names
    ]


def per_track(records):
    """Track id -> (frame indices, (T, J, 3) camera-frame joints)."""
    tracks = {}
    for rec in records:
        for person in rec['people']:
            frames, joints = tracks.setdefault(person['track_id'], ([], []))
            frames.append(rec['frame'])
            joints.append(person['keypoints_3d_camera'])
    return {i: (np.array(f), np.array(j)) for i, (f, j) in tracks.items()}


@pytest.mark.slow
def test_folder_of_frames(tmp_path, capsys, checkpoints, perfect):
    scenes = render_clip()
    perfect(scenes)
    out_dir = str(tmp_path / 'out')
    code, out, err = demo(capsys, checkpoints,
                          write_frames(tmp_path / 'frames', scenes),
                          '--out-dir', out_dir, '--fps', str(FPS),
                          *camera_args(scenes[0].camera))
    assert code == 0, err
    assert err == [], err  # fps and camera given: no defaults to state
    assert f'{NUM_FRAMES} frames' in out
    names, records = read_frames(out_dir)
    assert names == [f'frame_{t:03d}.json' for t in range(NUM_FRAMES)]
    assert [r['frame'] for r in records] == list(range(NUM_FRAMES))
    assert records[3]['time'] == pytest.approx(3 / FPS)
    assert all(len(r['people']) == 2 for r in records)
    assert sorted(os.listdir(osp.join(out_dir, 'vis'))) == \
        [f'frame_{t:03d}.jpg' for t in range(NUM_FRAMES)]
    tracks = per_track(records)
    assert sorted(os.listdir(osp.join(out_dir, 'bvh'))) == \
        sorted(f'person_{i}.bvh' for i in tracks)
    truth = np.stack([s.keypoints_3d() for s in scenes], 1)  # N, T, J, 3
    names = records[0]['people'][0]['joint_names']
    matched = []
    for i, (frames, joints) in tracks.items():
        path = osp.join(out_dir, 'bvh', f'person_{i}.bvh')
        got = bvhio_positions(path, names)  # BVH world frame
        assert len(got) == frames[-1] - frames[0] + 1
        err_mm = np.abs(got[frames - frames[0]] - joints @ CAMERA_TO_BVH.T)
        assert err_mm.max() <= 1.  # mm (measured 0.05: JSON's rounding)
        assert 'Frame Time: 0.10000000' in open(path).read()
        # each track is one of the people, placed where they stand
        dist = [
            np.linalg.norm(joints - t[frames], axis=-1).mean() for t in truth
        ]
        assert min(dist) < 100., dist  # mm (measured 25 and 42)
        matched.append(int(np.argmin(dist)))
    assert sorted(matched) == [0, 1]  # one track per person


def test_image_gives_json_and_picture(tmp_path, capsys, checkpoints, perfect):
    scene = render_clip(num_frames=1)[0]
    stages = perfect([scene])
    stages.lowered = {(0, 1)}
    image = str(tmp_path / 'photo.png')
    cv2.imwrite(image, scene.image)
    out_dir = str(tmp_path / 'out')
    code, _, err = demo(capsys, checkpoints, image, '--out-dir', out_dir)
    assert code == 0, err
    # the default camera in one line, the unfittable person in one line
    assert len(err) == 2, err
    assert err[0].startswith('note: no --camera given: assuming fx = fy = '
                             f'{max(SIZE)} px')
    assert 'person 1' in err[1] and 'skipped' in err[1]
    assert sorted(os.listdir(out_dir)) == ['frames', 'vis']
    names, records = read_frames(out_dir)
    assert names == ['photo.json']
    assert [p['track_id'] for p in records[0]['people']] == [0]
    person = records[0]['people'][0]
    assert np.array(person['keypoints_3d_camera']).shape == (21, 3)
    assert np.array(person['rotations']).shape == (21, 4)
    assert records[0]['camera']['fx'] == max(SIZE)
    drawn = cv2.imread(osp.join(out_dir, 'vis', 'photo.jpg'))
    h, w = scene.image.shape[:2]
    # the picture, the 3D view beside it: at least 320 px high (the
    # picture padded below), so that its labels stay legible
    view = max(h, 320)
    assert drawn.shape == (view, w + view, 3)
    # the 2D skeleton is drawn over the picture
    changed = np.abs(drawn[:h, :w].astype(int) - scene.image).sum(-1) > 60
    assert changed.mean() > 0.002


@pytest.mark.slow
def test_video_takes_its_frame_rate_from_the_file(tmp_path, capsys,
                                                  checkpoints, perfect):
    scenes = render_clip(num_frames=12)
    perfect(scenes)
    video = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 12.5,
                             SIZE)
    for scene in scenes:
        writer.write(scene.image)
    writer.release()
    out_dir = str(tmp_path / 'out')
    code, _, err = demo(capsys, checkpoints, video, '--out-dir', out_dir,
                        '--no-vis', *camera_args(scenes[0].camera))
    assert code == 0, err
    names, records = read_frames(out_dir)
    assert names == [f'{t:06d}.json' for t in range(12)]
    assert records[5]['time'] == pytest.approx(5 / 12.5)
    assert sorted(os.listdir(out_dir)) == ['bvh', 'frames']
    for path in os.listdir(osp.join(out_dir, 'bvh')):
        text = open(osp.join(out_dir, 'bvh', path)).read()
        assert 'Frame Time: 0.08000000' in text


def _broken_video(tmp_path):
    path = tmp_path / 'clip.mp4'
    path.write_bytes(b'\x00not a video' * 100)
    return [str(path)]


def _empty_folder(tmp_path):
    (tmp_path / 'frames').mkdir()
    (tmp_path / 'frames' / 'notes.txt').write_text('no images here')
    return [str(tmp_path / 'frames')]


def _image(tmp_path):
    path = str(tmp_path / 'photo.png')
    cv2.imwrite(path, np.zeros((SIZE[1], SIZE[0], 3), np.uint8))
    return [path]


def _camera_json_without_fx(tmp_path):
    path = tmp_path / 'camera.json'
    path.write_text(json.dumps(dict(fy=300., cx=160., cy=112.)))
    return _image(tmp_path) + ['--camera', str(path)]


def _frames(tmp_path, *images):
    """A folder of PNG frames a.png, b.png, ... (``None``: a file that is
    no image, named .jpg)."""
    folder = tmp_path / 'frames'
    folder.mkdir()
    for name, image in zip('abcdefgh', images):
        if image is None:
            (folder / f'{name}.jpg').write_bytes(b'\x00 not a JPEG' * 50)
        else:
            cv2.imwrite(str(folder / f'{name}.png'), image)
    return [str(folder)]


def _blank(w, h):
    return np.zeros((h, w, 3), np.uint8)


def _config(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _inherited_syntax_error(tmp_path):
    _config(tmp_path, 'bad.py', 'x = [1,\n')
    child = _config(tmp_path, 'child.py', "_base_ = ['bad.py']\n")
    return _image(tmp_path) + ['--stage2-config', child]


def _not_a_checkpoint(tmp_path):
    path = _config(tmp_path, 'x.pth', 'these are no weights\n')
    return _image(tmp_path) + ['--stage1-checkpoint', path]


BAD_INPUTS = {
    'broken video': (_broken_video, "cannot open video '{tmp}/clip.mp4'"),
    'folder without images': (_empty_folder,
                              "folder '{tmp}/frames' holds no images"),
    'missing stage1 checkpoint':
    (lambda t: _image(t) + ['--stage1-checkpoint', f'{t}/missing.pth'],
     "Stage I checkpoint file '{tmp}/missing.pth' does not exist"),
    'missing stage2 checkpoint':
    (lambda t: _image(t) + ['--stage2-checkpoint', f'{t}/missing.pth'],
     "Stage II checkpoint file '{tmp}/missing.pth' does not exist"),
    'camera without fx': (_camera_json_without_fx,
                          'lacks the intrinsics fx; give fx, fy, cx, cy'),
    'camera of three numbers':
    (lambda t: _image(t) + ['--camera', '300', '300', '160'],
     '--camera got 3 values; give fx fy cx cy'),
    # refused before any frame goes through the network (image headers)
    'frames of two sizes':
    (lambda t: _frames(t, _blank(*SIZE), _blank(*SIZE), _blank(640, 427)),
     "frame '{tmp}/frames/c.png' is 640x427 px but "
     "the first frame 'a.png' is 320x224; the frames "
     'of a folder share one camera and must share one '
     'size: resize them or split the folder'),
    'undecodable frame': (lambda t: _frames(t, _blank(*SIZE), None),
                          "cannot decode image '{tmp}/frames/b.jpg' (damaged"
                          ', or a format this OpenCV cannot read); re-save '
                          'it (e.g. as PNG) or remove it from the folder'),
    'stage2 config as stage1':
    (lambda t: _image(t) + ['--stage1-config', STAGE2],
     f'{STAGE2} builds a XNectLifter, not a Stage I network '
     '(PAFBottomupPoseEstimator with an XNect3DHead); give e.g. configs/'),
    '2D config as stage1': (lambda t: _image(t) + [
        '--stage1-config',
        osp.join(REPO, 'configs', 'pose',
                 'xnect-paf_selecsls60_8xb32-140e_coco-512x320.py')
    ], 'builds a PAFBottomupPoseEstimator with a 2D head (XNectPAFHead), '
                            'not a Stage I network'),
    'stage1 config with a syntax error':
    (lambda t: _image(t) +
     ['--stage1-config',
      _config(t, 'bad.py', 'x = 1\nmodel = dict(type=)\n')],
     'Stage I config {tmp}/bad.py line 2: invalid syntax (a Python '
     'syntax error); fix the file'),
    'syntax error in an inherited config':
    (_inherited_syntax_error, 'Stage II config {tmp}/bad.py (inherited by '
     "{tmp}/child.py) line 1: '[' was never closed"),
    'text file as checkpoint':
    (_not_a_checkpoint, '{tmp}/x.pth (21 bytes) is not a PyTorch checkpoint:'
     ' it is neither a torch zip archive nor a pickle'),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys,
                                                  checkpoints, case):
    make, expected = BAD_INPUTS[case]
    args = make(tmp_path)
    out_dir = tmp_path / 'out'
    tool = load_tool()
    # later options win: the checkpoints of a case replace the defaults
    code = tool.main([
        '--stage1-config', STAGE1, '--stage1-checkpoint',
        checkpoints['stage1'], '--stage2-checkpoint', checkpoints['stage2'],
        '--out-dir',
        str(out_dir), '--fps', '10', *args
    ])
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert code == 1
    assert len(err) == 1, err
    assert err[0].startswith('error: ')
    assert expected.format(tmp=tmp_path) in err[0], err[0]
    assert not out_dir.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.out')]


def test_device_this_machine_lacks_is_one_line(tmp_path, capsys, checkpoints,
                                               monkeypatch):
    """--device cuda:0 without CUDA: one line, before anything is built
    (torch's own error is a long traceback)."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    out_dir = tmp_path / 'out'
    code, _, err = demo(capsys, checkpoints, *_image(tmp_path), '--out-dir',
                        str(out_dir), '--device', 'cuda:0')
    assert code == 1 and err == [
        'error: --device cuda:0: CUDA is not available here (no NVIDIA GPU '
        'or driver, or a CPU-only torch); use --device cpu'
    ], err
    assert sorted(os.listdir(tmp_path)) == ['photo.png']


def test_frame_of_another_size_is_refused_at_the_frame(tmp_path, capsys,
                                                       checkpoints, perfect,
                                                       monkeypatch):
    """A frame whose size the header check missed (here: switched off) is
    refused when it is decoded, before anything is written."""
    import selecsls_mm.pose3d.demo as demo_module
    monkeypatch.setattr(demo_module, '_check_sizes', lambda files: None)
    scenes = render_clip(num_frames=3)
    perfect(scenes)
    frames = write_frames(tmp_path / 'frames', scenes)
    last = osp.join(frames, 'frame_002.png')
    cv2.imwrite(last, cv2.resize(scenes[2].image, (640, 448)))
    out_dir = tmp_path / 'out'
    code, _, err = demo(capsys, checkpoints, frames, '--out-dir', str(out_dir),
                        '--fps', '10', *camera_args(scenes[0].camera))
    assert code == 1 and err == [
        f"error: frame '{last}' is 640x448 px but the first frame "
        "'frame_000.png' is 320x224; the frames of a folder share one camera "
        'and must share one size: resize them or split the folder'
    ], err
    assert os.listdir(tmp_path) == ['frames']  # no temporary folder


def test_people_skipped_in_many_frames_are_summed_up(tmp_path, capsys,
                                                     checkpoints, perfect):
    """A person Stage III cannot fit in every frame: the first skip in one
    line, the count at the end, the other person fitted throughout."""
    scenes = render_clip(num_frames=4)
    stages = perfect(scenes)
    stages.lowered = {(t, 1) for t in range(4)}
    out_dir = str(tmp_path / 'out')
    code, _, err = demo(capsys, checkpoints,
                        write_frames(tmp_path / 'frames', scenes), '--out-dir',
                        out_dir, '--fps', '10', '--no-vis',
                        *camera_args(scenes[0].camera))
    assert code == 0, err
    assert len(err) == 2, err
    assert err[0].startswith('note: Stage III frame 0: person 1 has ')
    assert err[0].endswith('; skipped')
    assert err[1] == ('note: Stage III skipped 4 person-frames in all for '
                      'too few joints (the first is said above)')
    _, records = read_frames(out_dir)
    assert [len(r['people']) for r in records] == [1, 1, 1, 1]


def test_mismatched_checkpoint_needs_allow_partial(tmp_path, capsys,
                                                   checkpoints, perfect):
    scene = render_clip(num_frames=1)[0]
    perfect([scene])
    image = _image(tmp_path)[0]
    cv2.imwrite(image, scene.image)
    wrong = ['--stage2-checkpoint', checkpoints['stage1']]  # Stage I's
    out_dir = str(tmp_path / 'out')
    code, _, err = demo(capsys, checkpoints, image, '--out-dir', out_dir,
                        *wrong, '--camera', '300', '300', '160', '112')
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(f"error: checkpoint {checkpoints['stage1']}")
    assert '--allow-partial' in err[0] and not osp.exists(out_dir)
    code, _, err = demo(capsys, checkpoints, image, '--out-dir', out_dir,
                        *wrong, '--camera', '300', '300', '160', '112',
                        '--allow-partial')
    assert code == 0, err
    assert osp.isfile(osp.join(out_dir, 'frames', 'photo.json'))


def test_help_lists_the_arguments():
    proc = subprocess.run([sys.executable, TOOL, '--help'],
                          text=True,
                          capture_output=True,
                          timeout=60)
    assert proc.returncode == 0
    for option in ('input', '--out-dir', '--stage1-config',
                   '--stage1-checkpoint', '--stage2-config',
                   '--stage2-checkpoint', '--camera', '--fps', '--device',
                   '--allow-partial', '--no-vis', '--cfg-options'):
        assert option in proc.stdout, option


def test_failure_while_writing_leaves_nothing(tmp_path, capsys, checkpoints,
                                              perfect, monkeypatch):
    """A picture that cannot be written half-way: one line, exit 1, and
    neither the output folder nor its temporary folder is left."""
    scenes = render_clip(num_frames=4)
    perfect(scenes)
    frames = write_frames(tmp_path / 'frames', scenes)
    written = []

    def imwrite(path, image):
        written.append(path)
        return len(written) < 3  # the third picture fails

    monkeypatch.setattr(cv2, 'imwrite', imwrite)
    out_dir = tmp_path / 'out'
    code, _, err = demo(capsys, checkpoints, frames, '--out-dir', str(out_dir),
                        '--fps', '10', *camera_args(scenes[0].camera))
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith('error: could not write') and \
        err[0].endswith("frame_002.jpg'")
    assert os.listdir(tmp_path) == ['frames']  # no temporary folder
    assert not out_dir.exists()


@pytest.mark.slow
def test_command_line_run_with_untrained_models(tmp_path, checkpoints):
    """The tool as a user runs it (its own process, real Stages I and II,
    untrained): exit 0, the default camera said, a JSON and a picture."""
    image = _image(tmp_path)[0]
    cv2.imwrite(image, render_clip(num_frames=1)[0].image)
    out_dir = tmp_path / 'out'
    proc = subprocess.run([
        sys.executable, TOOL, image, '--out-dir',
        str(out_dir), '--stage1-config', STAGE1, '--stage1-checkpoint',
        checkpoints['stage1'], '--stage2-checkpoint', checkpoints['stage2']
    ],
                          cwd=REPO,
                          text=True,
                          capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.startswith('note: no --camera given'), proc.stderr
    assert sorted(os.listdir(out_dir / 'frames')) == ['photo.json']
    drawn = cv2.imread(str(out_dir / 'vis' / 'photo.jpg'))
    view = max(SIZE[1], 320)  # the 3D view's least height
    assert drawn.shape == (view, SIZE[0] + view, 3)

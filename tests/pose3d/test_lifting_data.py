"""Stage II's training data: the simulated Stage I read-out has the
configured missing share, limb drops and read error; the held-out test set
is fixed and uses only held-out clips and cameras; pose jitter keeps bone
lengths; limb mixing poses a donor's limbs as the donor's joint angles
would."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from selecsls_mm.pose3d.camera import HELD_OUT_CAMERAS
from selecsls_mm.pose3d.joint_sets import COCO_KEYPOINTS, get_joint_set
from selecsls_mm.pose3d.lifting import (MotionLiftingDataset,
                                        StageIReadoutSimulator)
from selecsls_mm.pose3d.lifting.pose_jitter import jitter_joints, mix_limbs
from selecsls_mm.pose3d.motion import (HELD_OUT_CLIPS, POINT_NAMES, clip_path,
                                       forward_kinematics, load_clip)
from helpers import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'configs/pose3d/xnect-stage2_mlp_motion.py')
READ_KEYS = ('keypoints', 'keypoints_visible', 'samples_3d', 'lifting_target')


def people(rng, n, sim, js):
    """n simulated read-outs of random poses with every keypoint in the
    image, and their true poses."""
    out = []
    for _ in range(n):
        pose = rng.normal(0, 400, (js.num_joints, 3))
        read = sim(rng, rng.uniform(10, 90, (17, 2)), (100, 100), pose)
        out.append((read, pose))
    return out


def test_missing_share_and_whole_limbs():
    js = get_joint_set('coco21')
    rng = np.random.default_rng(0)
    found = {}
    for limb_share in (0., 1.):
        sim = StageIReadoutSimulator(missing_share=0.3, limb_share=limb_share)
        found[limb_share] = np.stack([
            r['keypoints_visible'] > 0 for r, _ in people(rng, 1500, sim, js)
        ])
        assert 1 - found[limb_share].mean() == pytest.approx(0.3, abs=0.02)
    ew = [COCO_KEYPOINTS.index(n) for n in ('left_elbow', 'left_wrist')]
    forearm_gone = {s: (~f[:, ew]).all(1).mean() for s, f in found.items()}
    # single drops take both by chance (~9%); whole-limb drops far more
    assert forearm_gone[1.] > 2 * forearm_gone[0.] + 0.1


@pytest.mark.parametrize('rho', [0., 0.6])
def test_read_error_size_and_correlation(rho):
    js = get_joint_set('coco21')
    sim = StageIReadoutSimulator(
        missing_share=0.,
        readout_error_mm=50.,
        readout_correlation=rho,
        outlier_prob=0.)
    rng = np.random.default_rng(1)
    errors, pairs = [], []
    ls, rs = (
        COCO_KEYPOINTS.index(n) for n in ('left_shoulder', 'right_shoulder'))
    neck = js.names.index('neck')
    for read, pose in people(rng, 800, sim, js):
        samples = read['samples_3d'].reshape(17, -1, 3)
        for k, joints in enumerate(js.written_at()):
            errors += list(
                np.linalg.norm(samples[k, joints] - pose[joints], axis=1))
        # the neck is read at both shoulders: errors share rho
        pairs.append(
            (samples[ls, neck] - pose[neck], samples[rs, neck] - pose[neck]))
    assert np.mean(errors) == pytest.approx(50., rel=0.03)
    a, b = (np.concatenate(x) for x in zip(*pairs))
    assert np.corrcoef(a, b)[0, 1] == pytest.approx(rho, abs=0.08)


def test_unsupervised_channels_and_missing_keypoints_read_nothing():
    js = get_joint_set('coco21')
    sim = StageIReadoutSimulator(missing_share=0.5)
    for read, _ in people(np.random.default_rng(2), 50, sim, js):
        samples = read['samples_3d'].reshape(17, -1, 3)
        found = read['keypoints_visible'] > 0
        assert not samples[~found].any()
        assert not read['keypoints'][~found].any()
        for k, joints in enumerate(js.written_at()):
            other = np.setdiff1d(np.arange(js.num_joints), joints)
            assert not samples[k, other].any()


def test_held_out_test_set_is_fixed_and_held_out():
    a = MotionLiftingDataset('held_out', num_samples=40, test_mode=True)
    b = MotionLiftingDataset('held_out', num_samples=40, test_mode=True)
    for i in (0, 17, 39):
        x, y = a.get_data_info(i), b.get_data_info(i)
        for key in READ_KEYS:
            np.testing.assert_array_equal(x[key], y[key])
        assert x['clip'] in HELD_OUT_CLIPS
    # the cameras are the held-out ones (fitted to the image size)
    assert {c.name for c in a.generator.cameras} == set(HELD_OUT_CAMERAS)
    fx = {c.fx for c in a.generator.cameras}
    assert a.get_data_info(3)['camera_param']['f'][0] in fx


def test_training_set_draws_new_people():
    data = MotionLiftingDataset('train', num_samples=5)
    np.random.seed(0)
    first = data.get_data_info(0)
    again = data.get_data_info(0)
    assert not np.array_equal(first['lifting_target'], again['lifting_target'])


@pytest.mark.parametrize('persistent', [False, True])
def test_workers_draw_new_people_every_epoch(persistent):
    """mmengine seeds numpy alike in every worker it starts, so workers
    started anew each epoch drew the same people again; the training set
    also takes torch's seed of the worker, new at every start."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from mmengine.runner.utils import set_random_seed

    # the Stage II config's loader (workers, collate), made small
    cfg = Config.fromfile(CONFIG).train_dataloader
    cfg.update(batch_size=8, num_workers=1, persistent_workers=persistent)
    cfg.dataset.num_samples = 16

    def two_epochs():
        set_random_seed(0)
        loader = Runner.build_dataloader(cfg.copy(), seed=0)
        return [
            torch.cat([b['inputs']['keypoints'] for b in loader])
            for _ in range(2)
        ]

    with DefaultScope.overwrite_default_scope('mmpose'):
        first, again = two_epochs(), two_epochs()
    assert first[0].shape == (16, 17, 2)
    assert not torch.equal(first[0], first[1])  # new people each epoch
    for a, b in zip(first, again):  # the same ones from the same seed
        assert torch.equal(a, b)


def test_target_is_root_relative_and_readout_filled():
    data = MotionLiftingDataset('held_out', num_samples=30, test_mode=True)
    js = data.joint_set
    for i in range(30):
        item = data.get_data_info(i)
        target, readout = item['lifting_target'][0], \
            item['readout_keypoints_3d'][0]
        assert not target[js.root].any() and not readout[js.root].any()
        found = item['keypoints_visible'][0] > 0
        for j in range(js.num_joints):
            own = list(js.keypoints_2d(j))
            assert item['joints_seen'][0, j] == found[own].any()
            if not found[list(js.readers[j])].any():
                np.testing.assert_allclose(
                    readout[j], data.mean_pose[j], atol=1e-3)


def test_unknown_clip_is_refused_in_one_line():
    with pytest.raises(ValueError) as e:
        MotionLiftingDataset('train', clips=['kick'])
    msg = str(e.value)
    assert '\n' not in msg and 'kick' in msg and 'train' in msg


def test_jitter_keeps_bones_and_moves_joints():
    points = load_clip('walk').points[3]
    moved = jitter_joints(np.random.default_rng(3), points, 25.)
    bones = [('left_hip', 'left_knee'), ('left_knee', 'left_ankle'),
             ('right_shoulder', 'right_elbow'), ('right_elbow', 'right_wrist'),
             ('spine', 'neck'), ('neck', 'head_top'), ('pelvis', 'spine'),
             ('right_ankle', 'right_toe'), ('left_wrist', 'left_hand')]
    for a, b in bones:
        i, j = POINT_NAMES.index(a), POINT_NAMES.index(b)
        assert np.linalg.norm(moved[i] - moved[j]) == pytest.approx(
            np.linalg.norm(points[i] - points[j]), rel=1e-9)
    np.testing.assert_allclose(moved[0], points[0])  # the pelvis stays
    wrist = POINT_NAMES.index('left_wrist')
    assert np.linalg.norm(moved[wrist] - points[wrist]) > 20.


def _frames(name):
    with open(clip_path(name), encoding='utf-8') as f:
        return np.asarray(json.load(f)['Frames'], np.float64)


def test_limb_mixing_poses_the_donors_joint_angles():
    """Every limb taken from the donor equals forward kinematics of the
    recipient's root and chest with the donor's other joint angles (the
    DeepMimic frame layout: duration, root position, root and chest
    quaternions, then the rest), whatever either frame's placement."""
    walk, kick = _frames('walk')[5], _frames('spinkick')[40]
    mixed_frame = np.concatenate([walk[:12], kick[12:]])
    expected = forward_kinematics(mixed_frame[None])[0]
    rng = np.random.default_rng(0)
    turn = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    turn *= np.linalg.det(turn)  # a proper rotation
    shift = np.array([300., -50., 4000.])
    recipient = forward_kinematics(walk[None])[0] @ turn.T + shift
    donor = forward_kinematics(kick[None]) + 777.  # placed anywhere
    out = mix_limbs(rng, recipient, donor, 1.)
    np.testing.assert_allclose(out, expected @ turn.T + shift, atol=1e-6)
    assert np.abs(out - recipient).max() > 100.  # the limbs did move


def test_limb_mixing_draws_limbs_independently():
    recipient = load_clip('walk').points[5]
    donors = load_clip('spinkick').points[40:41]
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(
        mix_limbs(rng, recipient, donors, 0.), recipient)
    changed = np.stack([
        np.abs(mix_limbs(rng, recipient, donors, .5) - recipient).max(-1)
        > 1e-6 for _ in range(200)
    ])
    moved = changed.any(0)
    # shoulders, hips and the torso never move; each limb half the time
    for name in ('pelvis', 'spine', 'neck', 'left_shoulder', 'right_hip'):
        assert not moved[POINT_NAMES.index(name)]
    for name in ('head_top', 'left_wrist', 'right_hand', 'left_knee',
                 'right_toe'):
        share = changed[:, POINT_NAMES.index(name)].mean()
        assert 0.38 < share < 0.62, (name, share)
    both = changed[:, POINT_NAMES.index('left_wrist')] & \
        changed[:, POINT_NAMES.index('right_wrist')]
    assert 0.15 < both.mean() < 0.35  # not all limbs at once


def test_tuning_config_never_sees_its_validation_or_held_out_clips():
    """Stage II's settings are chosen on training clips kept out of
    training: the tuning config trains and validates on disjoint clips of
    the training split, with the rest of the Stage II config."""
    from mmengine.config import Config
    cfg = Config.fromfile(CONFIG.replace('_motion.py', '_motion-tuning.py'))
    made = {}
    for name in ('train', 'val', 'test'):
        ds = cfg[f'{name}_dataloader'].dataset.copy()
        ds.update(num_samples=4, pipeline=[])
        ds.pop('type')
        made[name] = MotionLiftingDataset(**ds)
    clips = {k: {c.name for c in d.generator.clips} for k, d in made.items()}
    assert len(clips['train']) == 8 and len(clips['val']) == 3
    assert clips['val'] == clips['test'] and not clips['train'] & clips['val']
    assert not (clips['train'] | clips['val']) & set(HELD_OUT_CLIPS)
    assert made['val'].test_mode and made['val'].split == 'train'
    # the data otherwise as Stage II trains on it
    stage2 = Config.fromfile(CONFIG)
    assert cfg.train_dataloader.dataset.readout == \
        stage2.train_dataloader.dataset.readout
    assert cfg.model == stage2.model


def test_dataset_mixes_limbs_from_its_own_clips():
    """limb_mix_prob reaches the people: the same draw keeps its torso and
    gets other limbs, all from frames of the dataset's clips."""
    data = {
        # no later draws (size, mirror) that the mixing's draws would shift
        p:
        MotionLiftingDataset(
            'train',
            clips=['walk'],
            limb_mix_prob=p,
            body_scale=(1., 1.),
            mirror=False)
        for p in (0., 1.)
    }
    assert len(data[1.].donors) == len(load_clip('walk'))
    kept = [
        POINT_NAMES.index(n)
        for n in ('pelvis', 'spine', 'neck', 'left_shoulder', 'right_hip')
    ]
    wrist = POINT_NAMES.index('left_wrist')
    moved = 0
    for seed in range(5):
        plain, mixed = (
            data[p].place_person(np.random.default_rng(seed))[0]
            for p in (0., 1.))
        np.testing.assert_allclose(mixed[kept], plain[kept])
        moved += np.linalg.norm(mixed[wrist] - plain[wrist]) > 1.
    assert moved >= 4

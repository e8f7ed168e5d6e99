"""Stage II's feature layout, Stage I's read-out baseline and the metric,
checked against independent per-person / per-joint references."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS

from selecsls_mm.pose3d.joint_sets import COCO_KEYPOINTS, get_joint_set
from selecsls_mm.pose3d.lifting import (Lifting3DMetric, XNectLiftingFeatures,
                                        read_out_pose)
from selecsls_mm.pose3d.lifting.features import neck_and_scale
from selecsls_mm.pose3d.metrics.functional import mpjpe, pa_mpjpe
from helpers import assert_refusals

LS, RS = COCO_KEYPOINTS.index('left_shoulder'), COCO_KEYPOINTS.index(
    'right_shoulder')
LH, RH = COCO_KEYPOINTS.index('left_hip'), COCO_KEYPOINTS.index('right_hip')


@pytest.fixture(autouse=True)
def _mmpose_scope():
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


def random_readout(rng, m=6, joint_set='coco21'):
    """People with ~30% keypoints missing, and random pixels and reads
    everywhere, also where nothing was found and in channels the codec
    does not keep (it must drop them, not rely on zeros)."""
    num_joints = get_joint_set(joint_set).num_joints
    found = rng.random((m, 17)) > 0.3
    found[:, :3] = True
    return dict(
        keypoints=rng.uniform(0, 500, (m, 17, 2)),
        keypoints_visible=found.astype(np.float32),
        keypoint_scores=rng.uniform(0.3, 1, (m, 17)) * found,
        samples_3d=rng.normal(0, 300, (m, 17, 3 * num_joints)))


def reference_neck(kpts, found):
    """The documented neck, one person at a time."""
    for pair in ((LS, RS), (LH, RH)):
        have = [k for k in pair if found[k]]
        if have:
            return kpts[have].mean(0)
    return kpts[found].mean(0)


@pytest.mark.parametrize('joint_set', ['coco21', 'muco21'])
def test_features_round_trip(joint_set):
    rng = np.random.default_rng(0)
    read = random_readout(rng, joint_set=joint_set)
    codec = XNectLiftingFeatures(joint_set)
    enc = codec.encode(**read)
    assert enc['lifting_features'].shape == (6, codec.input_dim)
    back = codec.unpack(enc['lifting_features'])
    assert back['offsets'].shape == (6, 17, 2)
    assert back['samples_3d'].shape == read['samples_3d'].shape
    js = get_joint_set(joint_set)
    written = js.written_at()
    for i in range(6):
        found = read['keypoints_visible'][i] > 0
        kpts = read['keypoints'][i]
        neck = reference_neck(kpts, found)
        box = kpts[found].max(0) - kpts[found].min(0)
        want = (kpts - neck) / box.max() * found[:, None]
        np.testing.assert_allclose(back['offsets'][i], want, atol=1e-5)
        np.testing.assert_allclose(
            back['scores'][i], read['keypoint_scores'][i], atol=1e-6)
        samples = read['samples_3d'][i].reshape(17, -1, 3)
        got = back['samples_3d'][i].reshape(17, -1, 3)
        for k in range(17):
            keep = np.zeros(js.num_joints, bool)
            keep[written[k]] = found[k]
            np.testing.assert_allclose(
                got[k][keep], samples[k][keep], rtol=1e-5, atol=1e-2)
            assert not got[k][~keep].any()


def test_neck_fallbacks():
    rng = np.random.default_rng(1)
    read = random_readout(rng, m=3)
    found = read['keypoints_visible']
    found[:] = 1
    found[0, LS] = 0  # one shoulder: that shoulder
    found[1, [LS, RS]] = 0  # no shoulder: the hips' mid-point
    found[2, [LS, RS, LH, RH]] = 0  # neither: the found keypoints' mean
    codec = XNectLiftingFeatures()
    offsets = codec.unpack(codec.encode(**read)['lifting_features'])['offsets']
    for i in range(3):
        f = found[i] > 0
        kpts = read['keypoints'][i]
        neck = reference_neck(kpts, f)
        scale = (kpts[f].max(0) - kpts[f].min(0)).max()
        np.testing.assert_allclose(
            offsets[i][f], (kpts[f] - neck) / scale, atol=1e-5)
    np.testing.assert_allclose(offsets[0][RS], 0, atol=1e-6)


def test_2d_only_layout_zeroes_reads():
    read = random_readout(np.random.default_rng(2))
    full = XNectLiftingFeatures().encode(**read)['lifting_features']
    flat = XNectLiftingFeatures(use_3d=False).encode(**read)
    flat = flat['lifting_features']
    assert flat.shape == full.shape
    np.testing.assert_array_equal(flat[:, :51], full[:, :51])
    assert not flat[:, 51:].any() and full[:, 51:].any()


def test_decode_is_values_times_scale_root_relative():
    codec = XNectLiftingFeatures()
    rng = np.random.default_rng(3)
    pose = rng.normal(0, 500, (4, 21, 3))
    pose -= pose[:, 17:18]  # coco21's root, the pelvis, is joint 17
    scale = rng.uniform(500, 2000, 4)
    values = (pose / scale[:, None, None]).reshape(4, -1)
    np.testing.assert_allclose(codec.decode(values, scale), pose, atol=1e-9)
    # an offset added to every joint is taken out again (root-relative)
    shifted = codec.decode(
        torch.as_tensor(values + 0.1), torch.as_tensor(scale))
    np.testing.assert_allclose(shifted.numpy(), pose, atol=1e-9)


def one_line(excinfo, *words):
    msg = str(excinfo.value)
    assert '\n' not in msg and all(w in msg for w in words), msg


def test_bad_input_is_refused_in_one_line():
    read = random_readout(np.random.default_rng(4))
    codec = XNectLiftingFeatures('coco21')
    wrong_j = dict(read, samples_3d=read['samples_3d'][..., :57])
    with pytest.raises(ValueError) as e:
        codec.encode(**wrong_j)
    one_line(e, 'samples_3d', 'joint_set')
    with pytest.raises(ValueError) as e:
        codec.encode(**dict(read, keypoints=read['keypoints'][:, :13]))
    one_line(e, 'keypoints', '(M, 17, 2)')
    model = MODELS.build(
        dict(type='XNectLifter', codec=dict(type=codec.__class__.__name__)))
    with pytest.raises(ValueError) as e:
        model(torch.zeros(2, codec.input_dim + 3))
    one_line(e, str(codec.input_dim), 'codec')
    with pytest.raises(ValueError) as e:
        codec.decode(np.zeros((2, 57)), np.ones(2))
    one_line(e, 'values', '63')


def reference_read_out(found, samples, js, fill):
    """Per joint and person: own keypoints' reads, else neighbours', else
    the fill; written without the vectorised tables."""
    m = len(found)
    samples = samples.reshape(m, 17, js.num_joints, 3)
    out = np.tile(fill, (m, 1, 1)).astype(np.float64)
    for i in range(m):
        for j in range(js.num_joints):
            own = [k for k in js.keypoints_2d(j) if found[i, k]]
            near = [
                k for k in js.readers[j]
                if found[i, k] and k not in js.keypoints_2d(j)
            ]
            if own or near:
                out[i, j] = samples[i, own or near, j].mean(0)
    out[:, js.root] = 0
    return out


@pytest.mark.parametrize('joint_set', ['coco21', 'muco21'])
def test_read_out_pose_matches_reference(joint_set):
    js = get_joint_set(joint_set)
    rng = np.random.default_rng(5)
    read = random_readout(rng, m=20, joint_set=joint_set)
    found = read['keypoints_visible'] > 0
    found[0] = False  # nothing found: the fill pose
    fill = rng.normal(0, 100, (js.num_joints, 3))
    got = read_out_pose(found, read['samples_3d'], js, fill)
    want = reference_read_out(found, read['samples_3d'], js, fill)
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_metric_scores_prediction_and_readout():
    rng = np.random.default_rng(6)
    gt = rng.normal(0, 300, (8, 21, 3))
    pred = gt + rng.normal(0, 40, gt.shape)
    readout = gt + rng.normal(0, 90, gt.shape)
    seen = rng.random((8, 21)) > 0.3
    metric = Lifting3DMetric()
    metric.process({}, [
        dict(
            pred_instances=dict(keypoints_3d=pred[i:i + 1]),
            gt_instances=dict(
                lifting_target=gt[i:i + 1],
                joints_seen=seen[i:i + 1],
                keypoints_visible=np.ones((1, 17)),
                readout_keypoints_3d=readout[i:i + 1])) for i in range(8)
    ])
    out = metric.compute_metrics(metric.results)
    assert out['MPJPE'] == pytest.approx(mpjpe(pred, gt))
    assert out['PA-MPJPE'] == pytest.approx(pa_mpjpe(pred, gt))
    assert out['MPJPE_missing'] == pytest.approx(mpjpe(pred, gt, ~seen))
    assert out['readout/MPJPE'] == pytest.approx(mpjpe(readout, gt))
    assert out['missing_share'] == 0


@pytest.mark.parametrize('read_channels', ['supervised', 'all'])
def test_layout_names_every_value(read_channels):
    """``layout()`` is how a user finds a value in the features: its blocks
    tile the vector, and each ``read J@K`` block holds joint J's read at
    keypoint K in metres (0 where K was not found)."""
    js = get_joint_set('coco21')
    codec = XNectLiftingFeatures(read_channels=read_channels)
    read = random_readout(np.random.default_rng(7))
    features = codec.encode(**read)['lifting_features']
    layout = codec.layout()
    assert [n for n, _ in layout[:2]] == ['offsets', 'scores']
    assert layout[0][1] == slice(0, 34) and layout[1][1] == slice(34, 51)
    starts = [s.start for _, s in layout]
    stops = [s.stop for _, s in layout]
    assert starts == [0] + stops[:-1] and stops[-1] == codec.input_dim
    written = js.written_at()
    pairs = [(k, j) for k in range(17) for j in (
        written[k] if read_channels == 'supervised' else range(js.num_joints))]
    assert len(layout) == 2 + len(pairs)
    assert codec.input_dim == 51 + 3 * len(pairs)
    samples = read['samples_3d'].reshape(6, 17, js.num_joints, 3)
    found = read['keypoints_visible'] > 0
    for (name, block), (k, j) in zip(layout[2:], pairs):
        assert name == f'read {js.names[j]}@{COCO_KEYPOINTS[k]}'
        assert block.stop - block.start == 3
        want = samples[:, k, j] / 1000 * found[:, k, None]
        np.testing.assert_allclose(features[:, block], want, rtol=1e-6)


def test_encode_returns_neck_and_scale_with_its_bounds():
    rng = np.random.default_rng(8)
    read = random_readout(rng, m=4)
    found = read['keypoints_visible']
    found[0] = 0
    found[0, 0] = 1  # the nose alone: it is the neck, the scale the bound
    found[1] = 0  # nobody: the bound
    found[2] = 1
    found[2, [RS, RH]] = 0  # the left shoulder alone of its pair
    read['keypoint_scores'] *= found
    enc = XNectLiftingFeatures(min_scale_px=0.5).encode(**read)
    np.testing.assert_allclose(enc['neck'][0], read['keypoints'][0, 0])
    np.testing.assert_allclose(enc['neck'][2], read['keypoints'][2, LS])
    np.testing.assert_allclose(enc['person_scale'][:2], [0.5, 0.5])
    for i in (2, 3):
        f = found[i] > 0
        kpts = read['keypoints'][i]
        np.testing.assert_allclose(enc['neck'][i], reference_neck(kpts, f))
        np.testing.assert_allclose(enc['person_scale'][i],
                                   (kpts[f].max(0) - kpts[f].min(0)).max())
    tiny = dict(read, keypoints=read['keypoints'] * 1e-3)
    bound = XNectLiftingFeatures(min_scale_px=5).encode(**tiny)
    np.testing.assert_allclose(bound['person_scale'], 5)
    assert XNectLiftingFeatures().encode(**read)['person_scale'][1] == 1
    # called directly: found as 0/1 numbers, the default bound of 1 px
    neck, scale = neck_and_scale(read['keypoints'], found)
    np.testing.assert_allclose(neck, enc['neck'])
    assert scale[1] == 1 and scale[0] == 1


def test_defaults_and_what_encode_infers():
    """Found keypoints default to scores > 0, scores to the found flags;
    reads are in metres."""
    read = random_readout(np.random.default_rng(9))
    codec = XNectLiftingFeatures()
    explicit = XNectLiftingFeatures(
        'coco21',
        read_channels='supervised',
        use_3d=True,
        unit_mm=1000.,
        min_scale_px=1.)
    full = codec.encode(**read)['lifting_features']
    np.testing.assert_array_equal(full,
                                  explicit.encode(**read)['lifting_features'])
    no_visible = dict(read, keypoints_visible=None)
    np.testing.assert_array_equal(
        codec.encode(**no_visible)['lifting_features'], full)
    found = read['keypoints_visible'] > 0
    no_scores = codec.encode(**dict(read, keypoint_scores=None))
    np.testing.assert_array_equal(no_scores['lifting_features'][:, 34:51],
                                  found)
    np.testing.assert_array_equal(no_scores['lifting_features'][:, 51:],
                                  full[:, 51:])
    metres = XNectLiftingFeatures(unit_mm=1.).encode(**read)
    np.testing.assert_allclose(
        metres['lifting_features'][:, 51:], full[:, 51:] * 1000, rtol=1e-6)


def test_every_refusal_is_its_whole_line():
    read = random_readout(np.random.default_rng(10))
    codec = XNectLiftingFeatures('coco21')
    cases = [
        (lambda: XNectLiftingFeatures(read_channels='All'),
         "read_channels='All': use 'supervised' or 'all'"),
        (lambda: codec.encode(read['keypoints'][0], read['keypoints_visible'],
                              None, read['samples_3d']),
         'keypoints have shape (17, 2); Stage II needs (M, 17, 2) COCO '
         'keypoints in pixels'),
        (lambda: codec.encode(**dict(
            read, keypoints_visible=read['keypoints_visible'][:, :5])),
         'keypoints_visible has shape (6, 5), expected (M, 17) = (6, 17)'),
        (lambda: codec.encode(**dict(
            read, keypoint_scores=read['keypoint_scores'][:2])),
         'keypoint_scores has shape (2, 17), expected (M, 17) = (6, 17)'),
        (lambda: codec.encode(**dict(read, samples_3d=np.zeros((6, 17, 3)))),
         'samples_3d has shape (6, 17, 3), expected (6, 17, 63) (3 x 21 '
         "joints of joint set 'coco21'); set the codec's joint_set to the "
         "Stage I model's"),
        (lambda: codec.encode(read['keypoints'], None, None, read['samples_3d']
                              ), 'give keypoints_visible or keypoint_scores: '
         'Stage II must know which keypoints were found'),
        (lambda: codec.encode(read['keypoints'], read['keypoints_visible']),
         'samples_3d is missing: decode Stage I with return_samples=True'),
        (lambda: codec.unpack(np.zeros((2, 10))),
         'features have shape (2, 10); this layout has (M, 276) values'),
        (lambda: codec.unpack(np.zeros(codec.input_dim)),
         'features have shape (276,); this layout has (M, 276) values'),
    ]
    assert_refusals(cases, ValueError)


def mirrored_readout(read, joint_set):
    """The people's mirror image, built from the read-out itself: pixels
    reflected about x = 0, keypoints and 3D joints relabelled left/right by
    name, the reads' x negated."""

    def flip(names):
        other = {'left_': 'right_', 'right_': 'left_'}
        swapped = [
            next((other[p] + n[len(p):] for p in other if n.startswith(p)), n)
            for n in names
        ]
        return [list(names).index(n) for n in swapped]

    kp_flip, j_flip = flip(COCO_KEYPOINTS), flip(joint_set.names)
    m = len(read['keypoints'])
    kpts = read['keypoints'][:, kp_flip] * [-1, 1]
    samples = read['samples_3d'].reshape(m, 17, -1, 3)[:, kp_flip][:, :,
                                                                   j_flip]
    return dict(
        keypoints=kpts,
        keypoints_visible=read['keypoints_visible'][:, kp_flip],
        keypoint_scores=read['keypoint_scores'][:, kp_flip],
        samples_3d=(samples * [-1, 1, 1]).reshape(m, 17, -1))


@pytest.mark.parametrize('joint_set', ['coco21', 'muco21'])
@pytest.mark.parametrize('read_channels', ['supervised', 'all'])
def test_flipped_features_are_the_mirror_images(joint_set, read_channels):
    rng = np.random.default_rng(3)
    read = random_readout(rng, joint_set=joint_set)
    read['keypoints_visible'][0, [LS, LH]] = 0  # one-sided necks too
    read['keypoint_scores'][0, [LS, LH]] = 0
    codec = XNectLiftingFeatures(joint_set, read_channels=read_channels)
    features = codec.encode(**read)['lifting_features']
    mirror = codec.encode(
        **mirrored_readout(read, codec.joint_set))['lifting_features']
    np.testing.assert_allclose(
        codec.flip_features(features), mirror, atol=1e-6)
    as_tensor = codec.flip_features(torch.from_numpy(features))
    np.testing.assert_allclose(as_tensor.numpy(), mirror, atol=1e-6)
    # and the pose: mirrored back by name and the sign of x
    pose = rng.normal(0, 300, (6, codec.num_joints, 3))
    back = mirrored_readout(
        dict(
            keypoints=np.zeros((6, 17, 2)),
            keypoints_visible=np.zeros((6, 17)),
            keypoint_scores=np.zeros((6, 17)),
            samples_3d=np.repeat(pose.reshape(6, 1, -1), 17, 1)),
        codec.joint_set)['samples_3d'][:, 0].reshape(pose.shape)
    np.testing.assert_allclose(codec.flip_pose(pose), back)
    np.testing.assert_allclose(
        codec.flip_pose(torch.from_numpy(pose)).numpy(), back)

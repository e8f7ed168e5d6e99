"""Tests of the part-affinity-field codec: target rendering, error handling
and an encode -> decode round trip scored with COCO keypoint AP."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import KEYPOINT_CODECS

from selecsls_mm.pose.codecs import PartAffinityField
from selecsls_mm.pose.codecs.paf_grouping import (find_peaks,
                                                  score_limb_candidates)
from selecsls_mm.pose.codecs.utils import resolve_metainfo_file
from selecsls_mm.pose.synthetic import (crowd_scene, realistic_scene,
                                        synthetic_scene)
from coco_eval import round_trip_ap

COCO_META = dict(from_file='configs/_base_/datasets/coco.py')
INPUT_SIZE = (512, 512)
HEATMAP_SIZE = (128, 128)
MIN_SEPARATION = 16  # input pixels, 4 heatmap pixels

# A standing person facing the camera, COCO keypoint order, unit height,
# centred on the origin (x right, y down; the person's left is image right).
TEMPLATE = np.array([
    [0.00, -0.42],  # nose
    [0.03, -0.45],
    [-0.03, -0.45],  # eyes
    [0.06, -0.43],
    [-0.06, -0.43],  # ears
    [0.13, -0.30],
    [-0.13, -0.30],  # shoulders
    [0.18, -0.12],
    [-0.18, -0.12],  # elbows
    [0.21, 0.04],
    [-0.21, 0.04],  # wrists
    [0.08, 0.02],
    [-0.08, 0.02],  # hips
    [0.10, 0.25],
    [-0.10, 0.25],  # knees
    [0.11, 0.48],
    [-0.11, 0.48],  # ankles
])


@pytest.fixture(scope='module')
def codec():
    return PartAffinityField(
        input_size=INPUT_SIZE,
        heatmap_size=HEATMAP_SIZE,
        skeleton=COCO_META,
        sigma=2.0,
        paf_width=1.0)


def random_person(rng, center, height):
    """The template with random pose jitter, rotation and scale."""
    angle = rng.uniform(-0.35, 0.35)
    rot = np.array([[np.cos(angle), -np.sin(angle)],
                    [np.sin(angle), np.cos(angle)]])
    pose = TEMPLATE + rng.normal(0, 0.015, TEMPLATE.shape)
    return (pose @ rot.T) * height + np.asarray(center)


def connected_after_removal(skeleton, labelled):
    """Whether the labelled keypoints form one connected skeleton piece."""
    ids = set(np.nonzero(labelled)[0].tolist())
    if not ids:
        return False
    seen, todo = set(), [min(ids)]
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        todo += [
            b if a == k else a for a, b in skeleton
            if k in (a, b) and a in ids and b in ids
        ]
    return seen == ids


def make_scene(rng,
               num_people,
               skeleton,
               overlap=False,
               border=False,
               occlude=0.0):
    """Random people on a 512x512 image.

    Returns the keypoints and visibility given to the encoder, and the
    keypoint arrays (x, y, v) of the people that a COCO annotation would
    label: keypoints outside the image are unlabelled (v=0) there.
    """
    w, h = INPUT_SIZE
    people, visible = [], []
    for n in range(num_people):
        for _ in range(100):
            height = rng.uniform(120, 280)
            if border and n == 0:
                # cut by the left border
                center = (rng.uniform(-0.05, 0.05) * w,
                          rng.uniform(0.3, 0.7) * h)
            elif overlap and n > 0:
                # a row of people, each close enough to the previous one for
                # their arms to cross
                prev = people[-1].mean(0)
                center = prev + height * np.array(
                    [rng.uniform(0.3, 0.45),
                     rng.uniform(-0.1, 0.1)])
            elif overlap:
                center = (rng.uniform(0.1, 0.2) * w, rng.uniform(0.4, 0.6) * h)
            else:
                center = rng.uniform(0.15, 0.85, 2) * (w, h)
            kpts = random_person(rng, center, height)
            # Same-type keypoints of two people closer than about one NMS
            # window on the heatmap merge into one peak, which no decoder can
            # split: keep them apart (other keypoints and limbs may overlap).
            if all(
                    np.linalg.norm(kpts - p, axis=1).min() >= MIN_SEPARATION
                    for p in people):
                break
        else:
            raise RuntimeError('could not place the people; use fewer')
        vis = np.ones(len(kpts))
        if occlude:
            # hide keypoints without splitting the person into pieces: the
            # decoder cannot join parts that no visible limb links
            for k in rng.permutation(len(kpts)):
                trial = vis.copy()
                trial[k] = 0
                if rng.random() < occlude and connected_after_removal(
                        skeleton, trial):
                    vis = trial
        people.append(kpts)
        visible.append(vis)
    keypoints = np.array(people, dtype=np.float32).reshape(-1, 17, 2)
    keypoints_visible = np.array(visible, dtype=np.float32).reshape(-1, 17)
    inside = ((keypoints >= 0) &
              (keypoints <= np.array(INPUT_SIZE) - 1)).all(-1)
    labels = np.concatenate(
        [keypoints, (keypoints_visible * inside * 2)[..., None]], axis=-1)
    return keypoints, keypoints_visible, labels


def coco_annotations(scenes):
    meta = parse_pose_metainfo(
        dict(from_file=resolve_metainfo_file(COCO_META['from_file'])))
    images, annotations = [], []
    for img_id, (_, _, labels) in enumerate(scenes, start=1):
        images.append(
            dict(
                id=img_id,
                width=INPUT_SIZE[0],
                height=INPUT_SIZE[1],
                file_name=f'{img_id}.jpg'))
        for person in labels:
            labelled = person[:, 2] > 0
            if labelled.sum() == 0:
                continue
            xy = person[labelled, :2]
            x0, y0 = xy.min(0)
            bw, bh = xy.max(0) - xy.min(0)
            person = np.where(labelled[:, None], person, 0)
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=1,
                    keypoints=person.reshape(-1).round(3).tolist(),
                    num_keypoints=int(labelled.sum()),
                    bbox=[float(x0),
                          float(y0),
                          float(bw),
                          float(bh)],
                    area=float(bw * bh),
                    iscrowd=0))
    names = [meta['keypoint_id2name'][k] for k in range(17)]
    categories = [
        dict(
            id=1,
            name='person',
            keypoints=names,
            skeleton=[[a + 1, b + 1] for a, b in meta['skeleton_links']])
    ]
    return dict(
        images=images, annotations=annotations, categories=categories), meta


def test_coco_skeleton_from_metainfo():
    import mmpose
    mim_file = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets',
        'coco.py')
    for source in ('configs/_base_/datasets/coco.py',
                   'mmpose::_base_/datasets/coco.py', mim_file):
        codec = PartAffinityField(
            INPUT_SIZE, HEATMAP_SIZE, skeleton=dict(from_file=source))
        assert codec.num_keypoints == 17
        assert codec.num_limbs == 19
        assert (15, 13) in codec.skeleton
    with pytest.raises(FileNotFoundError, match='not found'):
        PartAffinityField(
            INPUT_SIZE,
            HEATMAP_SIZE,
            skeleton=dict(from_file='no/such/file.py'))


def test_built_from_registry():
    codec = KEYPOINT_CODECS.build(
        dict(
            type='PartAffinityField',
            input_size=INPUT_SIZE,
            heatmap_size=HEATMAP_SIZE,
            skeleton=[(0, 1), (1, 2)]))
    assert isinstance(codec, PartAffinityField)
    assert codec.field_mapping_table['pafs'] == 'pafs'


def test_empty_skeleton_raises():
    with pytest.raises(ValueError, match='no limbs'):
        PartAffinityField(INPUT_SIZE, HEATMAP_SIZE, skeleton=[])
    from mmengine import Config
    meta = Config.fromfile(resolve_metainfo_file(
        COCO_META['from_file'])).dataset_info
    meta['skeleton_info'] = {}
    with pytest.raises(ValueError, match='no limbs'):
        PartAffinityField(INPUT_SIZE, HEATMAP_SIZE, skeleton=meta.to_dict())
    with pytest.raises(ValueError, match='distinct'):
        PartAffinityField(INPUT_SIZE, HEATMAP_SIZE, skeleton=[(1, 1)])


def test_encode_shapes_and_dtypes(codec):
    rng = np.random.default_rng(0)
    keypoints, visible, _ = make_scene(rng, 3, codec.skeleton)
    encoded = codec.encode(keypoints, visible)
    W, H = HEATMAP_SIZE
    expected = dict(
        heatmaps=(17, H, W),
        pafs=(38, H, W),
        keypoint_weights=(3, 17),
        limb_weights=(3, 19),
        heatmap_weights=(17, H, W),
        paf_weights=(38, H, W))
    for key, shape in expected.items():
        assert encoded[key].shape == shape, key
        assert encoded[key].dtype == np.float32, key
    assert np.isclose(encoded['heatmaps'].max(), 1, atol=0.05)
    assert encoded['heatmaps'].min() >= 0


def test_heatmap_is_gaussian_at_keypoint():
    codec = PartAffinityField((64, 64), (32, 32), skeleton=[(0, 1)], sigma=1.5)
    keypoints = np.array([[[20.6, 30.2], [40.0, 10.0]]])
    heatmaps = codec.encode(keypoints)['heatmaps']
    cx, cy = 20.6 / 2, 30.2 / 2
    ys, xs = np.mgrid[:32, :32]
    expected = np.exp(-((xs - cx)**2 + (ys - cy)**2) / (2 * 1.5**2))
    near = (np.abs(xs - cx) <= 4) & (np.abs(ys - cy) <= 4)
    np.testing.assert_allclose(heatmaps[0][near], expected[near], atol=1e-5)
    # nothing drawn beyond the 3-sigma window
    assert heatmaps[0][(np.abs(xs - cx) > 5.5) |
                       (np.abs(ys - cy) > 5.5)].max() == 0


def test_paf_unit_inside_band_and_zero_outside():
    width = 1.5
    codec = PartAffinityField((64, 64), (64, 64),
                              skeleton=[(0, 1)],
                              paf_width=width)
    a, b = np.array([10.3, 12.1]), np.array([50.2, 40.7])
    pafs = codec.encode(np.array([[a, b]]))['pafs']
    unit = (b - a) / np.linalg.norm(b - a)
    ys, xs = np.mgrid[:64, :64]
    # distance of each pixel to the segment, computed independently
    t = np.clip(((xs - a[0]) * (b - a)[0] + (ys - a[1]) * (b - a)[1]) / np.sum(
        (b - a)**2), 0, 1)
    dist = np.hypot(xs - a[0] - t * (b - a)[0], ys - a[1] - t * (b - a)[1])
    eps = 1e-3
    inside, outside = dist < width - eps, dist > width + eps
    assert inside.sum() > 100
    np.testing.assert_allclose(pafs[0][inside], unit[0], atol=1e-6)
    np.testing.assert_allclose(pafs[1][inside], unit[1], atol=1e-6)
    norms = np.hypot(pafs[0], pafs[1])
    np.testing.assert_allclose(norms[inside], 1, atol=1e-6)
    assert np.all(norms[outside] == 0)


def test_paf_averages_overlapping_people_and_skips_unlabelled_ends():
    codec = PartAffinityField((64, 64), (64, 64), skeleton=[(0, 1)])
    # two limbs on the same line, opposite directions: they cancel
    keypoints = np.array([[[10, 20], [50, 20]], [[50, 20], [10, 20]],
                          [[10, 40], [50, 40]]],
                         dtype=np.float32)
    visible = np.array([[1, 1], [1, 1], [1, 0]])
    encoded = codec.encode(keypoints, visible)
    assert np.abs(encoded['pafs'][:, 20, 15:45]).max() < 1e-6
    assert np.all(encoded['pafs'][:, 38:43, :] == 0)  # end unlabelled
    np.testing.assert_array_equal(encoded['limb_weights'], [[1], [1], [0]])


def test_keypoints_outside_image_do_not_crash(codec):
    keypoints = np.array([[[-1000., -1000.], [2000., 5000.]] + [[-6., 250.]] +
                          [[256., 256.]] * 13 + [[np.nan, np.nan]]],
                         dtype=np.float32)
    encoded = codec.encode(keypoints)
    w = encoded['keypoint_weights'][0]
    assert w[0] == 0 and w[1] == 0 and w[16] == 0  # far outside or NaN
    assert np.isfinite(encoded['pafs']).all()
    assert w[2] == 1  # just outside: clipped Gaussian tail on the border
    assert encoded['heatmaps'][0].max() == 0
    assert encoded['heatmaps'][1].max() == 0
    assert 0 < encoded['heatmaps'][2, :, 0].max() < 1
    # a limb crossing the whole image from far outside is still drawn
    far = np.zeros((1, 17, 2), dtype=np.float32)
    far[0, 15], far[0, 13] = (-600, 256), (1200, 256)
    limb = codec.skeleton.index((15, 13))
    pafs = codec.encode(far)['pafs']
    assert np.allclose(pafs[2 * limb, 64, :], 1)
    codec.decode(encoded['heatmaps'], encoded['pafs'])


def test_decode_empty_image(codec):
    encoded = codec.encode(np.zeros((0, 17, 2)), np.zeros((0, 17)))
    assert encoded['heatmaps'].max() == 0 and encoded['pafs'].max() == 0
    assert encoded['keypoint_weights'].shape == (0, 17)
    keypoints, scores, inst = codec.decode(
        encoded['heatmaps'], encoded['pafs'], return_instance_scores=True)
    assert keypoints.shape == (0, 17, 2) and scores.shape == (0, 17)
    assert inst.shape == (0, )


def _error(call, *args):
    with pytest.raises(ValueError) as info:
        call(*args)
    return str(info.value)


def test_decode_rejects_mismatched_inputs(codec):
    """Each bad input is one whole line naming the shapes."""
    heatmaps = np.zeros((17, 128, 128), np.float32)
    pafs = np.zeros((38, 128, 128), np.float32)
    assert _error(codec.decode, heatmaps, pafs[:, :64, :64]) == (
        'heatmaps (17, 128, 128) and pafs (38, 64, 64) must have the same '
        'spatial size (H, W).')
    assert _error(
        codec.decode, heatmaps,
        pafs[:36]) == ('pafs has 36 channels, expected 2 * 19 limbs = 38.')
    assert _error(
        codec.decode, heatmaps[:10],
        pafs) == ('heatmaps has 10 keypoints but the skeleton needs 17.')
    for bad in ((heatmaps[None], pafs[None]), (heatmaps, pafs[None])):
        assert _error(codec.decode, *bad) == (
            'decode expects heatmaps (K, H, W) and pafs (2L, H, W) of one '
            f'image, got {bad[0].shape} and {bad[1].shape}; use '
            'batch_decode for batches.')
    assert _error(codec.encode, np.zeros(
        (1, 5, 2))) == ('keypoints has 5 keypoints but the skeleton needs 17.')
    for shape in ((1, 17), (1, 17, 1)):
        assert _error(codec.encode, np.zeros(shape)) == (
            f'keypoints must have shape (N, K, D>=2), got {shape}.')
    # a skeleton of plain pairs knows only the smallest K it can take
    pairs = PartAffinityField(
        input_size=(64, 64), heatmap_size=(16, 16), skeleton=[[0, 1], [1, 2]])
    assert _error(pairs.decode, np.zeros((2, 16, 16)), np.zeros(
        (4, 16, 16))) == ('heatmaps has 2 keypoints but the skeleton needs at '
                          'least 3.')


def test_decode_and_encode_return_float32(codec):
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(100, 400, (2, 17, 2))  # float64 in
    encoded = codec.encode(keypoints, np.ones((2, 17)))
    assert encoded['heatmaps'].dtype == encoded['pafs'].dtype == np.float32
    out = codec.decode(
        encoded['heatmaps'].astype(np.float64),
        encoded['pafs'].astype(np.float64),
        return_instance_scores=True)
    assert len(out[0]) == 2
    assert all(o.dtype == np.float32 for o in out)
    empty = codec.decode(
        np.zeros_like(encoded['heatmaps']),
        encoded['pafs'],
        return_instance_scores=True)
    assert [o.shape[0] for o in empty] == [0, 0, 0]
    assert all(o.dtype == np.float32 for o in empty)


def test_round_trip_recovers_keypoints(codec):
    # two people side by side, arms crossing, all keypoints in the image
    rng = np.random.default_rng(1)
    keypoints = np.stack([
        random_person(rng, (230, 260), 250),
        random_person(rng, (310, 250), 220)
    ])
    encoded = codec.encode(keypoints)
    pred, scores, inst = codec.decode(
        encoded['heatmaps'], encoded['pafs'], return_instance_scores=True)
    assert pred.shape == (2, 17, 2)
    assert np.all(inst > 0.9)
    # match people by their mean position
    order = [
        np.argmin(np.linalg.norm(pred.mean(1) - k.mean(0), axis=1))
        for k in keypoints
    ]
    assert sorted(order) == [0, 1]
    err = np.linalg.norm(pred[order] - keypoints, axis=-1)
    assert err.max() < 0.5  # input pixels (the heatmap stride is 4)
    np.testing.assert_allclose(scores, 1, atol=0.05)


def test_batch_decode_matches_decode(codec):
    rng = np.random.default_rng(2)
    batch = [
        codec.encode(*make_scene(rng, n, codec.skeleton)[:2]) for n in (0, 3)
    ]
    heatmaps = torch.from_numpy(np.stack([e['heatmaps'] for e in batch]))
    pafs = torch.from_numpy(np.stack([e['pafs'] for e in batch]))
    assert codec.support_batch_decoding
    kpts, scores = codec.batch_decode(heatmaps, pafs)
    assert len(kpts) == len(scores) == 2
    for i, e in enumerate(batch):
        ref_k, ref_s = codec.decode(e['heatmaps'], e['pafs'])
        np.testing.assert_array_equal(kpts[i], ref_k)
        np.testing.assert_array_equal(scores[i], ref_s)


# ---------------------------------------------------------------- limb set
CONFIG_CODEC = dict(input_size=(512, 512), heatmap_size=(64, 64))


def _connected(limbs, ids):
    ids = set(ids)
    seen, todo = set(), [min(ids)]
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo += [
                b if a == k else a for a, b in limbs
                if k in (a, b) and a in ids and b in ids
            ]
    return seen == ids


def test_default_limb_set_survives_any_missing_keypoint():
    codec = PartAffinityField(**CONFIG_CODEC)  # default limb set
    assert codec.num_limbs == 28 and codec.num_keypoints == 17
    for k in range(17):
        assert _connected(codec.skeleton, set(range(17)) - {k}), k
    # COCO's own skeleton is not: e.g. a missing shoulder cuts off the arm
    coco = PartAffinityField(skeleton=COCO_META, **CONFIG_CODEC)
    assert not _connected(coco.skeleton, set(range(17)) - {5})
    # every limb has its mirror (flip test needs it)
    flip = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    limbs = {frozenset(limb) for limb in codec.skeleton}
    assert all(
        frozenset((flip[a], flip[b])) in limbs for a, b in codec.skeleton)


def test_limb_set_by_names_and_indices():
    meta = dict(COCO_META, limbs='coco')
    assert PartAffinityField(skeleton=meta, **CONFIG_CODEC).skeleton == \
        PartAffinityField(skeleton=COCO_META, **CONFIG_CODEC).skeleton
    names = PartAffinityField(
        skeleton=dict(COCO_META, limbs='coco_redundant'),
        **CONFIG_CODEC).skeleton
    mixed = [(a, 'nose') if b == 0 else (a, b) for a, b in names]
    assert PartAffinityField(
        skeleton=dict(COCO_META, limbs=mixed),
        **CONFIG_CODEC).skeleton == names


@pytest.mark.parametrize('limbs, match', [
    ('coco_typo', "Unknown limb set 'coco_typo'"),
    ([('nose', 'left_toe')], "unknown keypoint 'left_toe'"),
    ([(0, 17)], 'below the number of keypoints'),
    ([(0, 1)], r'Keypoints \[2, 3, .*\] are in no limb'),
    ([(0, 1), (1, 0)], 'listed twice'),
    ([(0, )], 'must be a \\(start, end\\) pair'),
])
def test_bad_limb_sets_name_the_problem(limbs, match):
    with pytest.raises(ValueError, match=match):
        PartAffinityField(
            skeleton=dict(COCO_META, limbs=limbs), **CONFIG_CODEC)


def test_unconnected_keypoint_of_plain_pairs_is_an_error():
    codec = PartAffinityField((64, 64), (64, 64), skeleton=[(0, 1), (1, 2)])
    with pytest.raises(ValueError, match=r'Keypoints \[3\] are in no limb'):
        codec.encode(np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match='in no limb'):
        codec.decode(np.zeros((4, 64, 64)), np.zeros((4, 64, 64)))


def test_paf_channel_mismatch_names_the_limb_count():
    codec = PartAffinityField(**CONFIG_CODEC)
    with pytest.raises(ValueError, match='expected 2 \\* 28 limbs = 56'):
        codec.decode(np.zeros((17, 64, 64)), np.zeros((38, 64, 64)))


# ------------------------------------------------------- targets and peaks
def test_heatmaps_are_the_max_over_people_not_the_sum():
    codec = PartAffinityField((64, 64), (64, 64), skeleton=[(0, 1)], sigma=2.0)
    a = np.array([[[20.0, 20.0], [40.0, 40.0]]])
    b = np.array([[[21.5, 20.5], [10.0, 50.0]]])  # same type 1.6 px away
    both = codec.encode(np.concatenate([a, b]))['heatmaps']
    expected = np.maximum(
        codec.encode(a)['heatmaps'],
        codec.encode(b)['heatmaps'])
    np.testing.assert_array_equal(both, expected)
    assert both.max() <= 1.0


@pytest.mark.parametrize('x', [0.0, 0.3, -0.4, 63.0, 62.8, 63.45])
def test_subpixel_refinement_on_the_border(x):
    # keypoints on (or just past) the left/right map border, one inside
    codec = PartAffinityField((64, 64), (64, 64), skeleton=[(0, 1)], sigma=2.0)
    kpts = np.array([[[x, 30.3], [30.0, 30.0]]], dtype=np.float32)
    heatmaps = codec.encode(kpts)['heatmaps']
    coords, _, types = find_peaks(heatmaps, 0.1, 3, 5)
    found = coords[types == 0]
    assert len(found) == 1
    np.testing.assert_allclose(found[0], kpts[0, 0], atol=0.02)


def test_peaks_of_people_two_map_pixels_apart_stay_apart():
    codec = PartAffinityField((64, 64), (64, 64), skeleton=[(0, 1)], sigma=2.0)
    kpts = np.array([[[20.2, 30.0], [20.0, 50.0]], [[22.4, 30.3], [40.0, 50.0]]
                     ],
                    dtype=np.float32)
    coords, _, types = find_peaks(
        codec.encode(kpts)['heatmaps'], 0.1, codec.decode_nms_kernel, 5)
    found = coords[types == 0][np.argsort(coords[types == 0, 0])]
    np.testing.assert_allclose(found, kpts[:, 0], atol=0.3)


# ------------------------------------------------------------ limb scores
def _uniform_x_field(size=64):
    pafs = np.zeros((2, size, size), np.float32)
    pafs[0] = 1.0  # unit vectors pointing +x everywhere
    return pafs


def test_min_fraction_rule_rejects_half_supported_limbs():
    pafs = _uniform_x_field()
    pafs[0, :, 20:] = 0  # the field stops halfway along the candidate
    coords = np.array([[10., 30.], [30., 30.]])
    types = np.array([0, 1])
    args = (pafs, [(0, 1)], coords, types, 10, 0.05)
    limbs, _, _, scores = score_limb_candidates(*args, 0.8, 100.)
    assert len(limbs) == 0  # mean agreement 0.5 > 0, but half the samples
    limbs, _, _, scores = score_limb_candidates(*args, 0.4, 100.)
    np.testing.assert_allclose(scores, [0.5])


def test_long_limb_penalty():
    pafs = _uniform_x_field()
    coords = np.array([[2., 10.], [12., 10.], [2., 20.], [62., 20.], [2., 40.],
                       [42., 40.]])
    types = np.array([0, 1, 0, 1, 0, 1])
    limbs, starts, ends, scores = score_limb_candidates(
        pafs, [(0, 1)], coords, types, 10, 0.05, 0.8, 20.)
    got = {(s, e): sc for s, e, sc in zip(starts, ends, scores)}
    # full agreement (1) plus min(0, 20 / length - 1)
    assert got[(0, 1)] == pytest.approx(1.0)  # 10 px: no penalty
    assert got[(4, 5)] == pytest.approx(20 / 40)
    assert got[(2, 3)] == pytest.approx(20 / 60)


# --------------------------------------------------------------- decoding
def test_missing_keypoints_stay_with_their_person():
    codec = PartAffinityField(**CONFIG_CODEC)
    rng = np.random.default_rng(3)
    kpts, _ = synthetic_scene(rng, (512, 512), 1, (250, 300))
    visible = np.ones((1, 17), np.float32)
    visible[0, [9, 10, 15, 16]] = 0  # wrists and ankles unlabelled
    encoded = codec.encode(kpts, visible)
    pred, scores = codec.decode(encoded['heatmaps'], encoded['pafs'])
    assert pred.shape == (1, 17, 2)
    assert (scores[0, [9, 10, 15, 16]] == 0).all()
    found = pred[0, scores[0] > 0]
    lo, hi = found.min(0), found.max(0)
    missing = pred[0, scores[0] == 0]
    assert ((missing >= lo) & (missing <= hi)).all()
    np.testing.assert_allclose(
        missing, found.mean(0)[None].repeat(4, 0), atol=1e-3)


def test_instance_scores_rank_people_by_their_evidence():
    codec = PartAffinityField(**CONFIG_CODEC)
    rng = np.random.default_rng(4)
    kpts, _ = synthetic_scene(
        rng, (512, 512), 2, (200, 240), min_separation=40)
    visible = np.ones((2, 17), np.float32)
    visible[1, :7] = 0  # the second person has no face or shoulders
    encoded = codec.encode(kpts, visible)
    pred, scores, inst = codec.decode(
        encoded['heatmaps'], encoded['pafs'], return_instance_scores=True)
    assert len(pred) == 2
    np.testing.assert_allclose(inst, scores.sum(1) / 17, rtol=1e-6)
    assert inst[0] > inst[1] + 0.3
    assert (scores[0] > 0).sum() == 17 and (scores[1] > 0).sum() == 10


@pytest.mark.parametrize(
    'size, heatmap, min_ap',
    [
        ((512, 512), (64, 64), 0.955),  # 0.957 measured (seed 1, 60 scenes)
        ((512, 320), (64, 40), 0.965),  # 0.969 measured; XNect real-time input
    ])
def test_round_trip_realistic_scenes(size, heatmap, min_ap):
    """1-10 people, rotated up to 30 degrees, 40% cut by the border, 15% of
    keypoints unlabelled: perfect maps must give the people back whole."""
    codec = PartAffinityField(size, heatmap)
    rng = np.random.default_rng(1)
    scenes = [realistic_scene(rng, size) for _ in range(60)]
    truncated = sum(((k < 0) | (k > np.array(size) - 1)).any(-1).any(-1).sum()
                    for k, _ in scenes)
    assert truncated >= 60  # the scenes do hold people cut by the border
    result, labelled, decoded = round_trip_ap(codec, scenes, size)
    print(result, labelled, decoded)
    assert result['AP'] >= min_ap, result
    assert abs(decoded - labelled) <= 0.05 * labelled, (decoded, labelled)


@pytest.mark.parametrize(
    'decoder, min_ap',
    [
        ({}, 0.995),  # 0.999 measured: peaks searched on 2x upsampled maps
        (dict(decode_upsample=1), 0.985),  # 0.989 measured (seed 1, 6 crowds)
        # 0.996 measured: OpenPose's greedy matching per limb
        (dict(decode_grouping='greedy'), 0.99),
    ])
def test_round_trip_crowds_of_small_people(decoder, min_ap):
    """15-25 people 40-80 px tall in 512x512 at the configs' stride 8."""
    codec = PartAffinityField(**CONFIG_CODEC, **decoder)
    rng = np.random.default_rng(1)
    scenes = [crowd_scene(rng) for _ in range(6)]
    assert max(len(k) for k, _ in scenes) > 20
    # COCO counts 20 detections per image; crowds here hold up to 25
    result, labelled, decoded = round_trip_ap(
        codec, scenes, (512, 512), max_dets=30)
    print(result, labelled, decoded)
    assert result['AP'] >= min_ap, result
    assert decoded == labelled


def test_decode_timing_for_the_benchmark():
    from selecsls_mm.benchmark.paf_decode import time_paf_decode
    result = time_paf_decode(num_people=(1, 6), scenes=2, repeats=1)
    assert set(result) == {1, 6}
    for n, row in result.items():
        assert 0 < row['people'] <= 2 * n  # labelled people in 2 scenes
        assert abs(row['found'] - row['people']) <= 1
        assert 0 < row['min_ms'] <= row['ms']


def test_assembly_attaches_small_fragments_through_spare_limbs():
    from selecsls_mm.pose.codecs.paf_grouping import assemble_people
    types = np.array([0, 1, 2, 3, 0, 4, 5])
    accepted = (np.array([0, 1, 5]), np.array([1, 2, 6]))  # 0-1-2 and 5-6
    # spare candidates: peak 3 (type 3) to peak 2; peak 4 (type 0, a type
    # the person has) to peak 1; the pair 5-6 to peak 0
    spare = (np.array([2, 4, 0]), np.array([3, 1, 5]))
    people = assemble_people(*accepted, types, 6, 3, *spare, attach_below=3)
    assert people.tolist() == [[0, 1, 2, 3, 5, 6]]
    # without the spare pass the fragments are dropped
    people = assemble_people(*accepted, types, 6, 3)
    assert people.tolist() == [[0, 1, 2, -1, -1, -1]]


def test_upsampled_peak_search_splits_joints_a_map_pixel_apart():
    from selecsls_mm.pose.codecs.paf_grouping import find_peaks_upsampled
    codec = PartAffinityField((64, 64), (64, 64), skeleton=[(0, 1)], sigma=2.0)
    kpts = np.array([[[20.3, 30.0], [20.0, 50.0]], [[21.4, 30.2], [40.0, 50.0]]
                     ],
                    dtype=np.float32)
    heatmaps = codec.encode(kpts)['heatmaps']
    _, _, types = find_peaks(heatmaps, 0.1, 3, 5)
    assert (types == 0).sum() == 1  # one peak on the map itself
    coords, _, types = find_peaks_upsampled(heatmaps, 0.1, 3, 5, 2)
    found = coords[types == 0][np.argsort(coords[types == 0, 0])]
    np.testing.assert_allclose(found, kpts[:, 0], atol=0.25)
    # a clean single peak is refined on the original map: exact
    alone = coords[types == 1]
    np.testing.assert_allclose(np.sort(alone[:, 0]), [20.0, 40.0], atol=0.02)


def test_batch_decode_with_instance_scores_and_empty_batches(codec):
    rng = np.random.default_rng(3)
    e = codec.encode(*make_scene(rng, 3, codec.skeleton)[:2])
    kpts, scores, inst = codec.batch_decode(e['heatmaps'][None],
                                            e['pafs'][None], True)
    ref = codec.decode(e['heatmaps'], e['pafs'], return_instance_scores=True)
    for got, expected in zip((kpts[0], scores[0], inst[0]), ref):
        np.testing.assert_array_equal(got, expected)
    assert len(inst[0]) == 3
    empty_h = np.zeros((0, 17) + e['heatmaps'].shape[1:], np.float32)
    empty_p = np.zeros((0, 38) + e['pafs'].shape[1:], np.float32)
    assert codec.batch_decode(empty_h, empty_p) == ([], [])
    assert codec.batch_decode(empty_h, empty_p, True) == ([], [], [])
    with pytest.raises(ValueError) as info:
        codec.batch_decode(e['heatmaps'][None], np.stack([e['pafs']] * 2))
    assert str(
        info.value) == ('Batch sizes differ: heatmaps (1, 17, 128, 128), pafs '
                        '(2, 38, 128, 128).')


def test_greedy_grouping_passes_every_candidate_as_a_spare(monkeypatch):
    """The greedy grouping keeps single peaks (min_keypoints 1) and gives
    every valid candidate, by decreasing score (ties in their order), as a
    spare limb for fragments below ``decode_min_keypoints``."""
    import selecsls_mm.pose.codecs.part_affinity_field as paf
    calls = []
    monkeypatch.setattr(paf, 'assemble_people',
                        lambda *args, **kwargs: calls.append((args, kwargs)))
    codec = PartAffinityField(
        input_size=INPUT_SIZE,
        heatmap_size=HEATMAP_SIZE,
        skeleton=COCO_META,
        decode_grouping='greedy',
        decode_min_keypoints=2)
    rng = np.random.default_rng(0)
    n = 30
    starts, ends = rng.permutation(n), rng.permutation(n) + n
    scores = rng.choice([0.4, 0.6, 0.8], n)
    limbs = rng.integers(0, codec.num_limbs, n)
    codec._group_greedy(limbs, starts, ends, scores, np.zeros(2 * n, int), 17)
    (args, kwargs), = calls
    order = sorted(range(n), key=lambda c: -scores[c])  # stable
    assert args[4] == 1
    np.testing.assert_array_equal(args[5], starts[order])
    np.testing.assert_array_equal(args[6], ends[order])
    assert kwargs == dict(attach_below=2)


def test_decode_takes_tensors_that_require_grad(codec):
    """A head's raw output (a tensor in the graph) decodes as its numpy
    copy does."""
    rng = np.random.default_rng(0)
    encoded = codec.encode(rng.uniform(100, 400, (2, 17, 2)), np.ones((2, 17)))
    heatmaps = torch.tensor(encoded['heatmaps'], requires_grad=True)
    pafs = torch.tensor(encoded['pafs'], requires_grad=True)
    got = codec.decode(heatmaps * 1, pafs * 1)
    expected = codec.decode(encoded['heatmaps'], encoded['pafs'])
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)

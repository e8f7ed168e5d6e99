"""Tests of the part-affinity-field codec: target rendering, error handling
and an encode -> decode round trip scored with COCO keypoint AP."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.evaluation.metrics import CocoMetric
from mmpose.registry import KEYPOINT_CODECS

from selecsls_mm.pose.codecs import PartAffinityField
from selecsls_mm.pose.codecs.part_affinity_field import _resolve_metainfo_file

COCO_META = dict(from_file='configs/_base_/datasets/coco.py')
INPUT_SIZE = (512, 512)
HEATMAP_SIZE = (128, 128)
MIN_SEPARATION = 16  # input pixels, 4 heatmap pixels

# A standing person facing the camera, COCO keypoint order, unit height,
# centred on the origin (x right, y down; the person's left is image right).
TEMPLATE = np.array([
    [0.00, -0.42],  # nose
    [0.03, -0.45], [-0.03, -0.45],  # eyes
    [0.06, -0.43], [-0.06, -0.43],  # ears
    [0.13, -0.30], [-0.13, -0.30],  # shoulders
    [0.18, -0.12], [-0.18, -0.12],  # elbows
    [0.21, 0.04], [-0.21, 0.04],  # wrists
    [0.08, 0.02], [-0.08, 0.02],  # hips
    [0.10, 0.25], [-0.10, 0.25],  # knees
    [0.11, 0.48], [-0.11, 0.48],  # ankles
])


@pytest.fixture(scope='module')
def codec():
    return PartAffinityField(
        input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE, skeleton=COCO_META,
        sigma=2.0, paf_width=1.0)


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
        todo += [b if a == k else a for a, b in skeleton
                 if k in (a, b) and a in ids and b in ids]
    return seen == ids


def make_scene(rng, num_people, skeleton, overlap=False, border=False,
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
                    [rng.uniform(0.3, 0.45), rng.uniform(-0.1, 0.1)])
            elif overlap:
                center = (rng.uniform(0.1, 0.2) * w, rng.uniform(0.4, 0.6) * h)
            else:
                center = rng.uniform(0.15, 0.85, 2) * (w, h)
            kpts = random_person(rng, center, height)
            # Same-type keypoints of two people closer than about one NMS
            # window on the heatmap merge into one peak, which no decoder can
            # split: keep them apart (other keypoints and limbs may overlap).
            if all(np.linalg.norm(kpts - p, axis=1).min() >= MIN_SEPARATION
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
    inside = ((keypoints >= 0) & (keypoints <= np.array(INPUT_SIZE) - 1)).all(
        -1)
    labels = np.concatenate(
        [keypoints, (keypoints_visible * inside * 2)[..., None]], axis=-1)
    return keypoints, keypoints_visible, labels


def coco_annotations(scenes):
    meta = parse_pose_metainfo(
        dict(from_file=_resolve_metainfo_file(COCO_META['from_file'])))
    images, annotations = [], []
    for img_id, (_, _, labels) in enumerate(scenes, start=1):
        images.append(dict(id=img_id, width=INPUT_SIZE[0],
                           height=INPUT_SIZE[1], file_name=f'{img_id}.jpg'))
        for person in labels:
            labelled = person[:, 2] > 0
            if labelled.sum() == 0:
                continue
            xy = person[labelled, :2]
            x0, y0 = xy.min(0)
            bw, bh = xy.max(0) - xy.min(0)
            person = np.where(labelled[:, None], person, 0)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id, category_id=1,
                keypoints=person.reshape(-1).round(3).tolist(),
                num_keypoints=int(labelled.sum()),
                bbox=[float(x0), float(y0), float(bw), float(bh)],
                area=float(bw * bh), iscrowd=0))
    names = [meta['keypoint_id2name'][k] for k in range(17)]
    categories = [dict(id=1, name='person', keypoints=names,
                       skeleton=[[a + 1, b + 1]
                                 for a, b in meta['skeleton_links']])]
    return dict(images=images, annotations=annotations,
                categories=categories), meta


def test_coco_skeleton_from_metainfo():
    import mmpose
    mim_file = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_',
        'datasets', 'coco.py')
    for source in ('configs/_base_/datasets/coco.py',
                   'mmpose::_base_/datasets/coco.py', mim_file):
        codec = PartAffinityField(INPUT_SIZE, HEATMAP_SIZE,
                                  skeleton=dict(from_file=source))
        assert codec.num_keypoints == 17
        assert codec.num_limbs == 19
        assert (15, 13) in codec.skeleton
    with pytest.raises(FileNotFoundError, match='not found'):
        PartAffinityField(INPUT_SIZE, HEATMAP_SIZE,
                          skeleton=dict(from_file='no/such/file.py'))


def test_built_from_registry():
    codec = KEYPOINT_CODECS.build(dict(
        type='PartAffinityField', input_size=INPUT_SIZE,
        heatmap_size=HEATMAP_SIZE, skeleton=[(0, 1), (1, 2)]))
    assert isinstance(codec, PartAffinityField)
    assert codec.field_mapping_table['pafs'] == 'pafs'


def test_empty_skeleton_raises():
    with pytest.raises(ValueError, match='no limbs'):
        PartAffinityField(INPUT_SIZE, HEATMAP_SIZE, skeleton=[])
    from mmengine import Config
    meta = Config.fromfile(
        _resolve_metainfo_file(COCO_META['from_file'])).dataset_info
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
    expected = dict(heatmaps=(17, H, W), pafs=(38, H, W),
                    keypoint_weights=(3, 17), limb_weights=(3, 19),
                    heatmap_weights=(17, H, W), paf_weights=(38, H, W))
    for key, shape in expected.items():
        assert encoded[key].shape == shape, key
        assert encoded[key].dtype == np.float32, key
    assert np.isclose(encoded['heatmaps'].max(), 1, atol=0.05)
    assert encoded['heatmaps'].min() >= 0


def test_heatmap_is_gaussian_at_keypoint():
    codec = PartAffinityField((64, 64), (32, 32), skeleton=[(0, 1)],
                              sigma=1.5)
    keypoints = np.array([[[20.6, 30.2], [40.0, 10.0]]])
    heatmaps = codec.encode(keypoints)['heatmaps']
    cx, cy = 20.6 / 2, 30.2 / 2
    ys, xs = np.mgrid[:32, :32]
    expected = np.exp(-((xs - cx)**2 + (ys - cy)**2) / (2 * 1.5**2))
    near = (np.abs(xs - cx) <= 4) & (np.abs(ys - cy) <= 4)
    np.testing.assert_allclose(heatmaps[0][near], expected[near], atol=1e-5)
    # nothing drawn beyond the 3-sigma window
    assert heatmaps[0][(np.abs(xs - cx) > 5.5) | (np.abs(ys - cy) > 5.5)].max(
    ) == 0


def test_paf_unit_inside_band_and_zero_outside():
    width = 1.5
    codec = PartAffinityField((64, 64), (64, 64), skeleton=[(0, 1)],
                              paf_width=width)
    a, b = np.array([10.3, 12.1]), np.array([50.2, 40.7])
    pafs = codec.encode(np.array([[a, b]]))['pafs']
    unit = (b - a) / np.linalg.norm(b - a)
    ys, xs = np.mgrid[:64, :64]
    # distance of each pixel to the segment, computed independently
    t = np.clip(((xs - a[0]) * (b - a)[0] + (ys - a[1]) * (b - a)[1]) /
                np.sum((b - a)**2), 0, 1)
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
                          [[10, 40], [50, 40]]], dtype=np.float32)
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


def test_decode_rejects_mismatched_inputs(codec):
    heatmaps = np.zeros((17, 128, 128), np.float32)
    with pytest.raises(ValueError, match='same spatial size'):
        codec.decode(heatmaps, np.zeros((38, 64, 64), np.float32))
    with pytest.raises(ValueError, match='channels'):
        codec.decode(heatmaps, np.zeros((36, 128, 128), np.float32))
    with pytest.raises(ValueError, match='keypoints'):
        codec.decode(heatmaps[:10], np.zeros((38, 128, 128), np.float32))
    with pytest.raises(ValueError, match='keypoints'):
        codec.encode(np.zeros((1, 5, 2)))


def test_round_trip_recovers_keypoints(codec):
    # two people side by side, arms crossing, all keypoints in the image
    rng = np.random.default_rng(1)
    keypoints = np.stack([random_person(rng, (230, 260), 250),
                          random_person(rng, (310, 250), 220)])
    encoded = codec.encode(keypoints)
    pred, scores, inst = codec.decode(
        encoded['heatmaps'], encoded['pafs'], return_instance_scores=True)
    assert pred.shape == (2, 17, 2)
    assert np.all(inst > 0.9)
    # match people by their mean position
    order = [np.argmin(np.linalg.norm(pred.mean(1) - k.mean(0), axis=1))
             for k in keypoints]
    assert sorted(order) == [0, 1]
    err = np.linalg.norm(pred[order] - keypoints, axis=-1)
    assert err.max() < 0.5  # input pixels (the heatmap stride is 4)
    np.testing.assert_allclose(scores, 1, atol=0.05)


def test_batch_decode_matches_decode(codec):
    rng = np.random.default_rng(2)
    batch = [codec.encode(*make_scene(rng, n, codec.skeleton)[:2])
             for n in (0, 3)]
    heatmaps = torch.from_numpy(np.stack([e['heatmaps'] for e in batch]))
    pafs = torch.from_numpy(np.stack([e['pafs'] for e in batch]))
    assert codec.support_batch_decoding
    kpts, scores = codec.batch_decode(heatmaps, pafs)
    assert len(kpts) == len(scores) == 2
    for i, e in enumerate(batch):
        ref_k, ref_s = codec.decode(e['heatmaps'], e['pafs'])
        np.testing.assert_array_equal(kpts[i], ref_k)
        np.testing.assert_array_equal(scores[i], ref_s)


def test_round_trip_coco_ap(codec, tmp_path):
    """Encode random crowded scenes, decode them and score COCO keypoint AP
    against the same annotations."""
    rng = np.random.default_rng(2024)
    skeleton = codec.skeleton
    scenes = [make_scene(rng, 0, skeleton)]  # nobody
    scenes += [make_scene(rng, n, skeleton) for n in (1, 4, 10)]
    scenes += [make_scene(rng, n, skeleton, overlap=True) for n in (2, 3, 5)]
    scenes += [make_scene(rng, n, skeleton, occlude=0.15) for n in (3, 6)]
    scenes += [make_scene(rng, n, skeleton, border=True) for n in (1, 3)]
    scenes += [make_scene(rng, 6, skeleton, overlap=True, border=True,
                          occlude=0.1)]

    coco, meta = coco_annotations(scenes)
    assert len(coco['annotations']) >= 35
    ann_file = str(tmp_path / 'gt.json')
    with open(ann_file, 'w') as f:
        json.dump(coco, f)

    metric = CocoMetric(ann_file=ann_file, score_mode='bbox')
    metric.dataset_meta = meta
    samples = []
    for img_id, (keypoints, visible, _) in enumerate(scenes, start=1):
        encoded = codec.encode(keypoints, visible)
        pred, scores, inst = codec.decode(
            encoded['heatmaps'], encoded['pafs'], return_instance_scores=True)
        # bottom-up samples carry the list of their annotation ids as `id`
        # (CocoMetric de-duplicates predictions by a scalar id)
        ann_ids = [a['id'] for a in coco['annotations']
                   if a['image_id'] == img_id]
        samples.append(dict(
            id=ann_ids, img_id=img_id, gt_instances={},
            pred_instances=dict(keypoints=pred, keypoint_scores=scores,
                                bbox_scores=inst)))
    assert samples[0]['pred_instances']['keypoints'].shape == (0, 17, 2)
    metric.process([], samples)
    results = metric.evaluate(size=len(samples))
    assert results['coco/AP'] >= 0.95, results

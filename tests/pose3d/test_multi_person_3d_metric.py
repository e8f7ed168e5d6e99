"""MultiPerson3DMetric inside mmengine's evaluator, on a fake model output
built from a real-motion scene's ground truth with known errors: every
number has a value worked out by hand below."""
import re
import warnings

import numpy as np
import pytest
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.structures import PoseDataSample
from scene_fixtures import mmpose_scope  # noqa: F401  (autouse fixture)
from scene_fixtures import SIZE
from scipy.linalg import orthogonal_procrustes
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from selecsls_mm.pose3d.joint_sets import get_joint_set
from selecsls_mm.pose3d.metrics.functional import (auc3d, mpjpe, pa_mpjpe,
                                                   pck3d, procrustes_align)
from selecsls_mm.pose3d.metrics.matching import greedy_match, keypoint_oks
from selecsls_mm.pose3d.scenes import SceneGenerator

JS = get_joint_set('coco21')
J = JS.num_joints
ROOT = JS.root
FACE = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear')
COCO_META = parse_pose_metainfo(
    dict(from_file='configs/_base_/datasets/coco.py'))
# AUC: thresholds 0, 5, ..., 150 mm; an error of e mm passes those >= e
STEPS = 31


def idx(*names):
    return [JS.names.index(n) for n in names]


@pytest.fixture(scope='module')
def scene():
    """Five people of a held-out real-motion scene."""
    generator = SceneGenerator(
        split='held_out', image_size=SIZE, num_people=(5, 5))
    scene = generator(np.random.default_rng(11))
    assert len(scene.points_cam) == 5
    return scene


def ground_truth(scene):
    """Per person: 2D (all labelled), 3D (face unlabelled for person 1,
    person 4 hidden in 2D) and the box of its points."""
    kpts, _ = scene.keypoints_2d()
    pts = scene.points_img
    boxes = np.concatenate([pts.min(1), pts.max(1)], axis=1)
    vis3d = np.ones((5, J))
    vis3d[1, idx(*FACE)] = 0
    vis2d = np.ones((5, 17))
    vis2d[4] = 0  # nothing of person 4 is seen: not evaluated
    k3d = scene.keypoints_3d(JS).astype(np.float64)
    return dict(
        keypoints=kpts.astype(np.float64),
        keypoints_visible=vis2d,
        keypoints_3d=k3d,
        keypoints_3d_visible=vis3d,
        bboxes=boxes,
        rel=k3d - k3d[:, ROOT:ROOT + 1])


def prediction(gt, person, shift=None, unread=(), kpt_offset=0.):
    """A predicted person from the ground truth: 2D moved by kpt_offset
    px, 3D root-relative with ``shift`` {joint index: vector} added."""
    k3d = gt['rel'][person].copy()
    for j, v in (shift or {}).items():
        k3d[j] += v
    read = np.ones(J, bool)
    read[list(unread)] = False
    return dict(
        keypoints=gt['keypoints'][person] + kpt_offset,
        keypoint_scores=np.ones(17),
        keypoints_3d=k3d,
        keypoints_3d_read=read)


def sample(gt, people, preds):
    data = PoseDataSample()
    data.gt_instances = InstanceData(**{
        k: v[people]
        for k, v in gt.items() if k != 'rel'
    })
    data.pred_instances = InstanceData(
        **{k: np.stack([p[k] for p in preds])
           for k in preds[0]})
    return data


def evaluate(samples, **cfg):
    evaluator = Evaluator(dict(type='MultiPerson3DMetric', **cfg))
    evaluator.dataset_meta = COCO_META
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))


def known_errors_person1(gt):
    """Person 1's predicted 3D (J, 3) and prediction: both wrists and the
    left ankle 200 mm off, both knees 102 mm off, face (unlabelled)
    predicted as garbage."""
    far = dict(
        zip(
            idx('left_wrist', 'right_wrist', 'left_ankle'),
            [np.array([200., 0, 0])] * 3))
    near = dict(
        zip(
            idx('left_knee', 'right_knee'),
            [np.array([0, 60., 80.]) * 1.02] * 2))
    garbage = {j: np.array([1e4, 0, 0]) for j in idx(*FACE)}
    p1 = prediction(gt, 1, {**far, **near, **garbage})
    return p1['keypoints_3d'], p1


def known_errors(gt):
    """Two images. Person 0 exact; person 1 (16 labelled joints) as
    :func:`known_errors_person1`; person 2 not predicted; person 3
    exact but both elbows not read out; person 4 hidden; one false
    positive 300 px away. Predictions in shuffled order."""
    _, p1 = known_errors_person1(gt)
    p3 = prediction(
        gt, 3, unread=idx('left_elbow', 'right_elbow'), kpt_offset=2.)
    fp = prediction(gt, 0, kpt_offset=300.)
    image_a = sample(gt, [0, 1], [p1, fp, prediction(gt, 0)])
    image_b = sample(gt, [2, 3, 4], [prediction(gt, 4), p3])
    return [image_a, image_b]


def test_known_errors(scene):
    gt = ground_truth(scene)
    result = evaluate(known_errors(gt))
    # scored joints: 21 (p0) + 16 (p1) + 21 (p2) + 21 (p3); matched 58
    # 3DPCK@150 hits: 21 + 13 + 0 + 19; AUC: exact joints 1, 102 mm -> the
    # 10 thresholds 105..150 of 31, 200 mm and not read out -> 0
    auc_hits = 21 + 11 + 2 * 10 / STEPS + 19
    expected = {
        'pose3d/num_gt': 4,
        'pose3d/num_matched': 3,
        'pose3d/detection_rate': 3 / 4,
        'pose3d/pck3d_all': 53 / 79,
        'pose3d/pck3d_matched': 53 / 58,
        'pose3d/auc_all': auc_hits / 79,
        'pose3d/auc_matched': auc_hits / 58,
        # read joints of matched people: 21 + 16 + 19
        'pose3d/mpjpe_matched': (3 * 200 + 2 * 102) / 56,
        'pose3d/read_rate_matched': 56 / 58,
    }
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-9), key
    # mean-pose baseline: the mean of people 0-3's labelled joints, scored
    # on the matched people's read joints
    rel = gt['rel'][:4]
    labelled = gt['keypoints_3d_visible'][:4] > 0
    mean = np.stack([rel[labelled[:, j], j].mean(0) for j in range(J)])
    errors = [
        np.linalg.norm(mean - rel[n], axis=-1)[labelled[n]] for n in (0, 1)
    ]
    errors.append(
        np.delete(
            np.linalg.norm(mean - rel[3], axis=-1),
            idx('left_elbow', 'right_elbow')))
    assert result['pose3d/mpjpe_mean_pose_matched'] == pytest.approx(
        np.concatenate(errors).mean(), rel=1e-9)
    # PA-MPJPE: persons 0 and 3 align exactly; person 1 against scipy's
    # orthogonal Procrustes (rotation, then the least-squares scale)
    pred1, _ = known_errors_person1(gt)
    mask = np.ones(J, bool)
    mask[idx(*FACE)] = False
    a, b = pred1[mask], gt['rel'][1][mask]
    a0, b0 = a - a.mean(0), b - b.mean(0)
    rot, singular_sum = orthogonal_procrustes(a0, b0)
    aligned = singular_sum / (a0**2).sum() * a0 @ rot + b.mean(0)
    pa1 = np.linalg.norm(aligned - b, axis=-1).sum()
    assert result['pose3d/pa_mpjpe_matched'] == pytest.approx(
        pa1 / 56, rel=1e-6)


def test_eval_joints(scene):
    gt = ground_truth(scene)
    result = evaluate(
        known_errors(gt),
        eval_joints=['L_Wrist', 'right_wrist', 'left_ankle', 'nose'])
    # scored: 4 + 3 (no nose label) + 4 + 4; hits: 4 + 0 + 0 + 4
    assert result['pose3d/pck3d_all'] == pytest.approx(8 / 15)
    assert result['pose3d/pck3d_matched'] == pytest.approx(8 / 11)
    assert result['pose3d/mpjpe_matched'] == pytest.approx(3 * 200 / 11)


def test_pa_mpjpe_removes_a_similarity_transform(scene):
    gt = ground_truth(scene)
    a = np.deg2rad(30.)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0],
                    [-np.sin(a), 0, np.cos(a)]])
    preds = []
    for person in (0, 2):
        p = prediction(gt, person)
        p['keypoints_3d'] = 1.1 * gt['rel'][person] @ rot.T + [10., 20, 30]
        preds.append(p)
    result = evaluate([sample(gt, [0, 2], preds)])
    moved = np.concatenate([p['keypoints_3d'] for p in preds])
    true = np.concatenate([gt['rel'][0], gt['rel'][2]])
    assert result['pose3d/pa_mpjpe_matched'] == pytest.approx(0., abs=1e-6)
    assert result['pose3d/mpjpe_matched'] == pytest.approx(
        np.linalg.norm(moved - true, axis=-1).mean())
    assert result['pose3d/mpjpe_matched'] > 50


def test_without_gt_boxes_and_without_read_flags(scene):
    gt = ground_truth(scene)
    gt.pop('bboxes')  # OKS scaled by the box of the visible keypoints
    preds = [prediction(gt, 0), prediction(gt, 1, kpt_offset=1.)]
    for p in preds:
        p.pop('keypoints_3d_read')  # all read
    result = evaluate([sample(gt, [0, 1], preds)])
    assert result['pose3d/detection_rate'] == 1.0
    assert result['pose3d/pck3d_all'] == 1.0
    assert result['pose3d/read_rate_matched'] == 1.0


def test_one_prediction_for_two_close_people(scene):
    # a second person 3 px beside person 0: its OKS with person 0's
    # prediction is high, but a prediction matches one person only
    gt = ground_truth(scene)
    for key in gt:
        twin = gt[key][0] + (3. if key in ('keypoints', 'bboxes') else 0.)
        gt[key] = np.concatenate([gt[key], twin[None]])
    result = evaluate([sample(gt, [0, 5], [prediction(gt, 0)])])
    assert result['pose3d/num_gt'] == 2
    assert result['pose3d/num_matched'] == 1
    assert result['pose3d/pck3d_all'] == pytest.approx(0.5)


def test_keypoints_not_found_do_not_match(scene):
    # exact positions, but only 5 of 17 keypoints found: OKS 5/17 < 0.5
    gt = ground_truth(scene)
    p = prediction(gt, 0)
    p['keypoint_scores'][5:] = 0.
    result = evaluate([sample(gt, [0], [p])])
    assert result['pose3d/num_matched'] == 0
    assert result['pose3d/pck3d_all'] == 0.


def test_no_people_is_nan_not_a_number(scene):
    gt = ground_truth(scene)
    result = evaluate([sample(gt, [4], [prediction(gt, 4)])])
    assert result['pose3d/num_gt'] == 0
    assert np.isnan(result['pose3d/pck3d_all'])
    assert np.isnan(result['pose3d/mpjpe_matched'])


def test_wrong_inputs_say_what_is_wrong(scene):
    gt = ground_truth(scene)
    p = prediction(gt, 0)
    p['keypoints_3d'] = p['keypoints_3d'][:17]
    p['keypoints_3d_read'] = p['keypoints_3d_read'][:17]
    with pytest.raises(ValueError, match="joint set 'coco21' has 21 joints"):
        evaluate([sample(gt, [0], [p])])
    no3d = sample(gt, [0], [prediction(gt, 0)])
    del no3d.gt_instances.keypoints_3d
    with pytest.raises(KeyError, match='gt_instances.keypoints_3d'):
        evaluate([no3d])
    with pytest.raises(ValueError, match="unknown joint name 'R_Hnd'"):
        evaluate([], eval_joints=['R_Hnd'])


def test_oks_equals_cocoeval(scene):
    """keypoint_oks against COCO's own OKS (xtcocotools' COCOeval)."""
    rng = np.random.default_rng(0)
    gt_kpts, _ = scene.keypoints_2d()
    vis = rng.random((5, 17)) < 0.8
    vis[:, 0] = True
    areas = rng.uniform(2000., 9000., 5)
    pred = gt_kpts[rng.permutation(5)] + rng.normal(0, 6., (5, 17, 2))
    gts = [
        dict(
            id=i + 1,
            image_id=1,
            category_id=1,
            iscrowd=0,
            area=float(areas[i]),
            bbox=[0., 0., 10., 10.],
            num_keypoints=int(vis[i].sum()),
            keypoints=np.concatenate([gt_kpts[i], 2. * vis[i][:, None]],
                                     1).reshape(-1).tolist()) for i in range(5)
    ]
    coco = COCO()
    coco.dataset = dict(
        images=[dict(id=1, width=SIZE[0], height=SIZE[1])],
        annotations=gts,
        categories=[dict(id=1, name='person')])
    coco.createIndex()
    dets = coco.loadRes([
        dict(
            image_id=1,
            category_id=1,
            score=1. - 0.1 * i,
            keypoints=np.concatenate([pred[i], np.ones((17, 1))],
                                     1).reshape(-1).tolist()) for i in range(5)
    ])
    ev = COCOeval(coco, dets, 'keypoints', sigmas=COCO_META['sigmas'])
    ev.evaluate()
    ours = keypoint_oks(pred, np.ones((5, 17), bool), gt_kpts, vis, areas,
                        COCO_META['sigmas'])
    np.testing.assert_allclose(ours, ev.ious[(1, 1)], rtol=1e-6)


def test_greedy_match_is_one_to_one_best_first():
    sim = np.array([[0.9, 0.8, 0.0], [0.95, 0.7, 0.0], [0.6, 0.4, 0.3]])
    # (1, 0) first; then (0, 1); row 2's best left is 0.3 < 0.5
    np.testing.assert_array_equal(greedy_match(sim, 0.5), [1, 0, -1])
    np.testing.assert_array_equal(greedy_match(sim, 0.25), [1, 0, 2])
    # one prediction best for both ground truths: matched once
    np.testing.assert_array_equal(
        greedy_match(np.array([[0.9, 0.8], [0.1, 0.2]]), 0.5), [0, -1])
    assert (greedy_match(np.zeros((0, 3)), 0.5) == -1).all()


def test_training_mean_pose_baseline(scene, tmp_path):
    """``baseline_dataset``: the mean root-relative pose of a 3D dataset
    (here a written training scene set, read back from its JSON by hand),
    scored on the matched people's read joints."""
    import json

    from selecsls_mm.pose3d.datasets import write_motion_scenes
    write_motion_scenes(
        str(tmp_path / 'train'), 3, 'train', seed=3, image_size=(160, 128))
    with open(tmp_path / 'train' / 'scenes.json') as f:
        anns = json.load(f)['annotations']
    cam = np.array([a['keypoints_cam'] for a in anns])  # coco21 order
    mean = (cam - cam[:, ROOT:ROOT + 1]).mean(0)
    gt = ground_truth(scene)
    result = evaluate(
        known_errors(gt),
        baseline_dataset=dict(
            type='MuCo3DHPDataset',
            data_root=str(tmp_path / 'train'),
            ann_file='scenes.json',
            data_mode='bottomup'))
    rel = gt['rel']
    labelled = gt['keypoints_3d_visible'] > 0
    errors = [
        np.linalg.norm(mean - rel[n], axis=-1)[labelled[n]] for n in (0, 1)
    ]
    errors.append(
        np.delete(
            np.linalg.norm(mean - rel[3], axis=-1),
            idx('left_elbow', 'right_elbow')))
    assert result['pose3d/mpjpe_train_mean_pose_matched'] == pytest.approx(
        np.concatenate(errors).mean(), rel=1e-9)
    # the oracle baseline is another number
    assert result['pose3d/mpjpe_mean_pose_matched'] != pytest.approx(
        result['pose3d/mpjpe_train_mean_pose_matched'], rel=1e-3)
    with pytest.raises(FileNotFoundError):
        evaluate(
            known_errors(gt),
            baseline_dataset=dict(
                type='MuCo3DHPDataset',
                data_root=str(tmp_path / 'nowhere'),
                ann_file='scenes.json'))


def test_pa_mpjpe_does_not_undo_a_mirror_image(scene):
    """A left-right mirrored pose is a wrong pose: Procrustes alignment
    rotates, scales and shifts but never reflects, so its PA-MPJPE equals
    scipy's best proper rotation (and is far from 0)."""
    from scipy.spatial.transform import Rotation
    gt = scene.keypoints_3d(JS).astype(np.float64)[:1]
    gt = gt - gt[:, ROOT:ROOT + 1]
    mirrored = gt * np.array([-1., 1., 1.])
    p0 = mirrored[0] - mirrored[0].mean(0)
    g0 = gt[0] - gt[0].mean(0)
    rot, _ = Rotation.align_vectors(g0, p0)
    turned = rot.apply(p0)
    scale = (turned * g0).sum() / (p0**2).sum()
    expected = np.linalg.norm(scale * turned - g0, axis=-1).mean()
    assert expected > 20.
    assert pa_mpjpe(mirrored, gt) == pytest.approx(expected, rel=1e-6)


# -- the error functions against brute force --------------------------------


def poses_with_errors(errors):
    """(1, len(errors), 3) predictions at exactly ``errors`` mm (along x)
    from a ground truth at the origin, and that ground truth."""
    gt = np.zeros((1, len(errors), 3))
    pred = gt.copy()
    pred[0, :, 0] = errors
    return pred, gt


# errors on and just off the thresholds of the defaults (150 mm; AUC 0, 5,
# ..., 150 mm) and of a 151-mm or 32-step AUC
EDGE_ERRORS = [0., 0.5, 5., 5.01, 100.2, 150., 150.5, 151., 300.]


def pck_by_hand(errors, threshold):
    return sum(e <= threshold for e in errors) / len(errors)


def test_pck3d_and_auc3d_against_brute_force():
    """3DPCK counts a joint at exactly the threshold as correct; AUC is the
    mean 3DPCK over the thresholds 0, 5, ..., 150 mm (defaults) or over
    ``steps`` even thresholds from 0 to ``max_threshold``."""
    pred, gt = poses_with_errors(EDGE_ERRORS)
    assert pck3d(pred, gt) == pck_by_hand(EDGE_ERRORS, 150.) == 6 / 9
    assert pck3d(pred, gt, threshold=5.) == pck_by_hand(EDGE_ERRORS, 5.)
    default_auc = np.mean(
        [pck_by_hand(EDGE_ERRORS, 5. * k) for k in range(31)])
    assert auc3d(pred, gt) == pytest.approx(default_auc, rel=1e-12)
    # 0, 40, ..., 200 mm
    auc_200 = np.mean([pck_by_hand(EDGE_ERRORS, 40. * k) for k in range(6)])
    auc = auc3d(pred, gt, max_threshold=200., steps=6)
    assert auc == pytest.approx(auc_200, rel=1e-12)


def test_masks_may_be_flags_of_any_dtype():
    """A mask of 0/1 ints or floats (as ``keypoints_3d_visible`` comes)
    scores the same joints as the boolean one; a mask of another shape is
    refused in one line."""
    rng = np.random.default_rng(1)
    gt = rng.normal(0., 300., (2, 6, 3))
    pred = gt + rng.normal(0., 120., (2, 6, 3))
    flags = np.array([[1, 0, 1, 1, 0, 1], [0, 1, 1, 1, 1, 0]])
    errors = np.linalg.norm(pred - gt, axis=-1)[flags > 0]
    auc = np.mean([(errors <= 5. * k).mean() for k in range(31)])
    expected = {
        mpjpe: errors.mean(),
        pck3d: (errors <= 150.).mean(),
        auc3d: auc
    }
    for fn, value in expected.items():
        for mask in (flags > 0, flags, flags.astype(np.float32)):
            assert fn(pred, gt, mask) == pytest.approx(value, rel=1e-12), fn
    for mask in (flags, flags.astype(np.float32)):
        assert pa_mpjpe(pred, gt, mask) == pytest.approx(
            pa_mpjpe(pred, gt, flags > 0), rel=1e-12)
    with pytest.raises(
            ValueError,
            match=re.escape('mask has shape (2, 5), expected (N, J) = '
                            '(2, 6)')):
        mpjpe(pred, gt, flags[:, :5])


BAD_SHAPES = [((2, 4, 2), (2, 4, 2)), ((4, 3), (4, 3)), ((1, 4, 3), (2, 4, 3)),
              ((2, 4, 3), (2, 5, 3))]


@pytest.mark.parametrize('pred_shape, gt_shape', BAD_SHAPES)
def test_joint_errors_refuse_other_shapes(pred_shape, gt_shape):
    """2D points, one pose without the person axis, or a prediction of
    another shape than the ground truth (even one numpy would broadcast):
    one line naming both shapes."""
    with pytest.raises(
            ValueError,
            match=re.escape(f'pred {pred_shape} and gt {gt_shape} must both '
                            'be (N, J, 3)')):
        mpjpe(np.zeros(pred_shape), np.zeros(gt_shape))


def test_nothing_to_score_is_nan_without_warnings(scene):
    """No scored joint: nan, and no numpy warning (an evaluation log of
    "Mean of empty slice" or "invalid value" would look like a bug)."""
    pred, gt = poses_with_errors([10., 20.])
    none = np.zeros((1, 2), bool)
    gt_scene = ground_truth(scene)
    with warnings.catch_warnings():
        warnings.simplefilter('error', RuntimeWarning)
        for fn in (mpjpe, pck3d, auc3d, pa_mpjpe):
            assert np.isnan(fn(pred, gt, none)), fn
        # person 4 is seen nowhere: nobody to evaluate
        result = evaluate([sample(gt_scene, [4], [prediction(gt_scene, 4)])])
    for key in ('detection_rate', 'read_rate_matched', 'pck3d_matched',
                'auc_all', 'pa_mpjpe_matched', 'mpjpe_mean_pose_matched'):
        assert np.isnan(result[f'pose3d/{key}']), key


@pytest.mark.parametrize('scale', [1e-4, 1e-2, 10.])
def test_pa_mpjpe_removes_any_scale(scale):
    """Procrustes alignment undoes any scale, also a prediction given in
    metres (or smaller) against mm: the aligned pose is the truth."""
    rng = np.random.default_rng(2)
    gt = rng.normal(0., 300., (2, 21, 3))
    c, s = np.cos(np.deg2rad(40.)), np.sin(np.deg2rad(40.))
    rot = np.array([[c, -s, 0.], [s, c, 0.], [0., 0., 1.]])
    pred = scale * gt @ rot.T + [5., -3., 2.]
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-6)
    assert pa_mpjpe(pred, gt) == pytest.approx(0., abs=1e-6)


# -- matching ------------------------------------------------------------


def cocoeval_oks(gt_kpts, vis, areas, pred, sigmas):
    """COCO's own OKS (xtcocotools' COCOeval) of every prediction (rows)
    with every ground truth (columns)."""
    n = len(gt_kpts)
    gts = [
        dict(
            id=i + 1,
            image_id=1,
            category_id=1,
            iscrowd=0,
            area=float(areas[i]),
            bbox=[0., 0., 10., 10.],
            num_keypoints=int(vis[i].sum()),
            keypoints=np.concatenate([gt_kpts[i], 2. * vis[i][:, None]],
                                     1).reshape(-1).tolist()) for i in range(n)
    ]
    coco = COCO()
    coco.dataset = dict(
        images=[dict(id=1, width=SIZE[0], height=SIZE[1])],
        annotations=gts,
        categories=[dict(id=1, name='person')])
    coco.createIndex()
    found = np.ones((17, 1))
    dets = coco.loadRes([
        dict(
            image_id=1,
            category_id=1,
            score=1. - 0.1 * i,
            keypoints=np.concatenate([p, found], 1).reshape(-1).tolist())
        for i, p in enumerate(pred)
    ])
    ev = COCOeval(coco, dets, 'keypoints', sigmas=sigmas)
    ev.evaluate()
    return ev.ious[(1, 1)]


def test_oks_equals_cocoeval_for_small_people_and_single_keypoints(scene):
    """People of 1 to 50 px^2 and people with a single visible keypoint
    score as in COCOeval (which divides by the area itself)."""
    rng = np.random.default_rng(3)
    gt_kpts, _ = scene.keypoints_2d()
    vis = rng.random((5, 17)) < 0.8
    vis[:, 0] = True
    vis[1] = vis[3] = False
    vis[1, 4] = vis[3, 9] = True  # one keypoint each
    areas = np.array([1., 1.5, 3., 50., 2000.])
    # off by a share of each person's size: OKS well above 0
    noise = rng.normal(0., 1., (5, 17, 2)) * np.sqrt(areas)[:, None, None]
    pred = gt_kpts + 0.03 * noise
    sigmas = COCO_META['sigmas'].astype(np.float64)
    ours = keypoint_oks(pred, np.ones((5, 17), bool), gt_kpts, vis, areas,
                        sigmas)
    expected = cocoeval_oks(gt_kpts, vis, areas, pred, sigmas)
    assert (np.diag(expected) > 0.3).all()
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_oks_of_a_person_with_no_visible_keypoint_is_zero(scene):
    """Whatever its unlabelled keypoints hold, even NaN."""
    gt_kpts, _ = scene.keypoints_2d()
    gt_kpts = gt_kpts[:3].astype(np.float64)
    vis = np.ones((3, 17), bool)
    vis[1] = False
    gt_kpts[1, ::2] = np.nan
    pred = gt_kpts[[0, 2]].copy()
    pred[:, 1::2] += 2.
    oks = keypoint_oks(pred, np.ones((2, 17), bool), gt_kpts, vis,
                       np.full(3, 5000.), COCO_META['sigmas'])
    np.testing.assert_array_equal(oks[:, 1], [0., 0.])
    assert oks[0, 0] > 0.5 and oks[1, 2] > 0.5


def greedy_by_hand(similarity, threshold):
    """Pairs in order of similarity, ties by prediction then ground truth;
    a pair at the threshold counts."""
    m, n = similarity.shape
    pairs = sorted(
        (-similarity[i, j], i, j) for i in range(m) for j in range(n))
    match, used = [-1] * n, set()
    for neg, i, j in pairs:
        if -neg < threshold:
            break
        if i not in used and match[j] < 0:
            match[j] = i
            used.add(i)
    return match


def test_greedy_match_against_brute_force():
    """Many ties (as OKS of 1 gives for exact predictions) and pairs right
    at the threshold, against a pure-Python greedy matching."""
    rng = np.random.default_rng(4)
    np.testing.assert_array_equal(greedy_match(np.array([[0.5]]), 0.5), [0])
    for _ in range(60):
        m, n = rng.integers(1, 9, 2)
        sim = rng.integers(0, 5, (m, n)) / 4.
        expected = greedy_by_hand(sim, 0.5)
        assert greedy_match(sim, 0.5).tolist() == expected, sim


# -- MultiPerson3DMetric's options, inputs and refusals ---------------------


def test_default_thresholds_at_their_edges(scene):
    """Defaults: 3DPCK at 150 mm (a joint 150.5 mm off misses), AUC over
    0, 5, ..., 150 mm (100.2 mm passes the 10 thresholds 105..150)."""
    gt = ground_truth(scene)
    p0 = prediction(
        gt, 0, {
            JS.names.index('left_wrist'): np.array([150.5, 0., 0.]),
            JS.names.index('right_knee'): np.array([0., 100.2, 0.])
        })
    result = evaluate([sample(gt, [0], [p0])])
    assert result['pose3d/pck3d_all'] == pytest.approx(20 / 21, rel=1e-12)
    assert result['pose3d/auc_all'] == pytest.approx(
        (19 + 10 / STEPS) / 21, rel=1e-12)


def test_options_change_the_numbers(scene):
    """``pck_threshold``, ``auc_max_threshold``, ``auc_steps`` and
    ``prefix`` on the known errors of :func:`test_known_errors` (exact
    joints, 102 mm, 200 mm and unread ones)."""
    from mmengine.registry import METRICS
    gt = ground_truth(scene)
    result = evaluate(
        known_errors(gt),
        pck_threshold=100.,
        auc_max_threshold=210.,
        auc_steps=8,
        prefix='mupots')
    # 3DPCK@100: the 102-mm knees miss too: hits 21 + 11 + 0 + 19
    # AUC over 0, 30, ..., 210: exact 8/8, 102 mm 4/8, 200 mm 1/8
    auc_hits = 21 + 11 + 2 * 4 / 8 + 3 * 1 / 8 + 19
    expected = {
        'mupots/pck3d_all': 51 / 79,
        'mupots/pck3d_matched': 51 / 58,
        'mupots/auc_all': auc_hits / 79,
        'mupots/auc_matched': auc_hits / 58,
        'mupots/num_matched': 3,
    }
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-9), key
    assert not any(key.startswith('pose3d/') for key in result)
    metric = METRICS.build(
        dict(type='MultiPerson3DMetric', collect_device='gpu'))
    assert metric.collect_device == 'gpu'


def test_which_people_are_evaluated(scene):
    """Evaluated: a visible 2D keypoint, a 3D label at the root and at one
    evaluated joint. Person 1 has 3D labels but none at the wrists scored;
    person 2 none at the root."""
    gt = ground_truth(scene)
    gt['keypoints_3d_visible'][1, idx('left_wrist', 'right_wrist')] = 0
    gt['keypoints_3d_visible'][2, ROOT] = 0
    preds = [prediction(gt, n) for n in range(4)]
    result = evaluate([sample(gt, [0, 1, 2, 3], preds)],
                      eval_joints=['left_wrist', 'right_wrist'])
    assert result['pose3d/num_gt'] == 2
    assert result['pose3d/num_matched'] == 2
    assert result['pose3d/pck3d_all'] == 1.


def oks_by_hand(offset, area, visible):
    """OKS of a prediction ``offset`` px off at every keypoint."""
    var = (2 * COCO_META['sigmas'].astype(np.float64)[visible])**2
    return np.mean(np.exp(-offset**2 / (2 * area * var)))


@pytest.mark.parametrize('with_boxes', [True, False])
def test_oks_scale_is_the_box_area(scene, with_boxes):
    """OKS is scaled by the ground-truth box's area or, without boxes, by
    the box of the visible keypoints (unlabelled ones at (0, 0) as in COCO
    left out): a prediction at OKS 0.6 by hand matches, one at 0.4 does
    not. A person seen nowhere (4) has no box and is not evaluated."""
    from scipy.optimize import brentq
    gt = ground_truth(scene)
    visible = np.zeros(17, bool)
    visible[[5, 6, 11, 12, 13, 14, 15, 16]] = True  # body, no face or arms
    gt['keypoints_visible'][0] = visible
    gt['keypoints'][0, ~visible] = 0.
    gt['bboxes'][0] = [250., 50., 360., 290.]
    if with_boxes:
        area = 110. * 240.
    else:
        gt.pop('bboxes')
        span = np.ptp(gt['keypoints'][0, visible], axis=0)
        area = span[0] * span[1]
        assert 1.5 < span[1] / span[0] < 3.
    for target, matched in ((0.6, 1), (0.4, 0)):
        offset = brentq(lambda d: oks_by_hand(d, area, visible) - target, 0.,
                        1e3)
        p = prediction(gt, 0, kpt_offset=np.array([offset, 0.]))
        result = evaluate([sample(gt, [0, 4], [p])])
        assert result['pose3d/num_gt'] == 1
        assert result['pose3d/num_matched'] == matched, target


def test_oks_uses_the_dataset_sigmas_else_cocos(scene):
    """Sigmas come from the dataset's meta information; without any, from
    COCO's. A prediction 3 px off matches with COCO's sigmas, not with
    sigmas ten times smaller."""
    gt = ground_truth(scene)
    samples = [sample(gt, [0], [prediction(gt, 0, kpt_offset=3.)])]
    tight = dict(COCO_META, sigmas=COCO_META['sigmas'] / 10.)
    area = np.prod(gt['bboxes'][0, 2:] - gt['bboxes'][0, :2])
    assert oks_by_hand(3. * np.sqrt(2.), area, slice(None)) > 0.9
    assert oks_by_hand(3. * np.sqrt(2.) * 10., area, slice(None)) < 0.2
    for meta, matched in ((None, 1), (COCO_META, 1), (tight, 0)):
        evaluator = Evaluator(dict(type='MultiPerson3DMetric'))
        if meta is not None:
            evaluator.dataset_meta = meta
        evaluator.process(samples)
        result = evaluator.evaluate(1)
        assert result['pose3d/num_matched'] == matched


def test_mean_pose_baseline_of_joints_labelled_once(scene):
    """The oracle mean pose: person 1 has no face label, so the face of the
    mean pose is person 0's alone."""
    gt = ground_truth(scene)
    result = evaluate(
        [sample(gt, [0, 1],
                [prediction(gt, 0), prediction(gt, 1)])])
    rel = gt['rel']
    mean = (rel[0] + rel[1]) / 2
    mean[idx(*FACE)] = rel[0][idx(*FACE)]
    labelled = gt['keypoints_3d_visible'][:2] > 0
    errors = np.concatenate(
        [np.linalg.norm(mean - rel[n], axis=-1)[labelled[n]] for n in (0, 1)])
    assert result['pose3d/mpjpe_mean_pose_matched'] == pytest.approx(
        errors.mean(), rel=1e-9)


def test_integer_annotations_and_torch_predictions(scene):
    """Ground truth in integers (pixels, mm, 0/1 flags) and predictions as
    torch tensors, the 3D ones still attached to a graph: the numbers of
    :func:`test_known_errors`."""
    import torch
    gt = ground_truth(scene)
    for key in ('keypoints', 'keypoints_visible', 'keypoints_3d',
                'keypoints_3d_visible', 'bboxes'):
        gt[key] = np.round(gt[key]).astype(np.int64)
    k3d = gt['keypoints_3d'].astype(np.float64)
    gt['rel'] = k3d - k3d[:, ROOT:ROOT + 1]
    samples = known_errors(gt)
    for data in samples:
        pred = data.pred_instances
        data.pred_instances = InstanceData(
            **{k: torch.as_tensor(pred.get(k))
               for k in pred.keys()})
        data.pred_instances.keypoints_3d.requires_grad_(True)
    result = evaluate(samples)
    expected = {
        'pose3d/num_matched': 3,
        'pose3d/pck3d_all': 53 / 79,
        'pose3d/mpjpe_matched': (3 * 200 + 2 * 102) / 56,
        'pose3d/read_rate_matched': 56 / 58,
    }
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-9), key


def test_an_image_the_model_found_nobody_in(scene):
    """Predictions of nobody, given as empty arrays of any shape."""
    gt = ground_truth(scene)
    data = sample(gt, [0, 1], [prediction(gt, 0)])
    data.pred_instances = InstanceData(
        keypoints=np.zeros(0),
        keypoint_scores=np.zeros(0),
        keypoints_3d=np.zeros(0))
    result = evaluate([data])
    assert result['pose3d/num_gt'] == 2
    assert result['pose3d/num_matched'] == 0
    assert result['pose3d/pck3d_all'] == 0.


FIELD_HINT = ('the ground truth must come from a 3D dataset (MuCo3DHPDataset, '
              'MuPoTS3DDataset, PanopticDataset) and the prediction from a 3D '
              'model (docs/pose3d.md)')

FIELDS = [('gt_instances', 'keypoints'), ('gt_instances', 'keypoints_visible'),
          ('gt_instances', 'keypoints_3d_visible'),
          ('pred_instances', 'keypoints'),
          ('pred_instances', 'keypoint_scores'),
          ('pred_instances', 'keypoints_3d')]


@pytest.mark.parametrize('where, key', FIELDS)
def test_a_missing_field_is_named_with_its_place(scene, where, key):
    gt = ground_truth(scene)
    data = sample(gt, [0], [prediction(gt, 0)])
    delattr(getattr(data, where), key)
    with pytest.raises(KeyError) as info:
        evaluate([data])
    assert info.value.args[0] == (
        f'MultiPerson3DMetric needs {where}.{key}; {FIELD_HINT}')


def test_a_joint_set_mismatch_says_what_to_set(scene):
    gt = ground_truth(scene)
    p = prediction(gt, 0)
    p['keypoints_3d'] = p['keypoints_3d'][:17]
    p['keypoints_3d_read'] = p['keypoints_3d_read'][:17]
    with pytest.raises(ValueError) as info:
        evaluate([sample(gt, [0], [p])])
    assert str(info.value) == (
        'pred_instances.keypoints_3d has shape (1, 17, 3) but joint set '
        "'coco21' has 21 joints; set MultiPerson3DMetric(joint_set=...) to "
        "the model's joint set")


def write_3d_training_set(path, people, valid):
    """A MuCo-style JSON (coco21 joints listed) of one image holding
    ``people`` (N, 21, 3) camera-frame mm with ``keypoints_cam_valid``
    ``valid`` (N, 21)."""
    import json
    anns = [
        dict(
            id=n + 1,
            image_id=1,
            category_id=1,
            bbox=[10., 10., 100., 200.],
            keypoints_img=(100. + people[n, :, :2] / 10.).tolist(),
            keypoints_cam=people[n].tolist(),
            keypoints_cam_valid=valid[n].astype(int).tolist())
        for n in range(len(people))
    ]
    with open(path, 'w') as f:
        json.dump(
            dict(
                images=[
                    dict(
                        id=1,
                        file_name='a.jpg',
                        width=320,
                        height=224,
                        f=[500., 500.],
                        c=[160., 112.])
                ],
                annotations=anns,
                categories=[
                    dict(id=1, name='person', joint_names=list(JS.names))
                ]), f)


def test_training_mean_pose_leaves_out_what_is_not_labelled(scene, tmp_path):
    """The training mean pose uses a joint only where it and the person's
    root have 3D labels (what the file holds elsewhere is garbage here),
    also a joint labelled in one person only; the dataset's pipeline is
    neither built nor run. A set without 3D labels is refused in one
    line."""
    rng = np.random.default_rng(5)
    people = rng.normal(0., 300., (4, J, 3)) + [0., 0., 4000.]
    valid = np.ones((4, J), bool)
    valid[1, idx('left_knee', 'nose')] = False
    valid[2, ROOT] = False
    valid[1:, JS.names.index('head_top')] = False  # person 0's only
    written = np.where(valid[..., None], people, 1e5)
    write_3d_training_set(tmp_path / 'train.json', written, valid)
    used = valid & valid[:, ROOT:ROOT + 1]
    rel = people - people[:, ROOT:ROOT + 1]
    mean = np.stack([rel[used[:, j], j].mean(0) for j in range(J)])
    gt = ground_truth(scene)
    train = dict(
        type='MuCo3DHPDataset',
        data_root=str(tmp_path),
        ann_file='train.json',
        pipeline=[dict(type='ATransformOfAnotherScope')])
    result = evaluate([sample(gt, [0], [prediction(gt, 0)])],
                      baseline_dataset=train)
    assert result['pose3d/mpjpe_train_mean_pose_matched'] == pytest.approx(
        np.linalg.norm(mean - gt['rel'][0], axis=-1).mean(), rel=1e-6)
    write_3d_training_set(tmp_path / 'no3d.json', people, valid & False)
    with pytest.raises(ValueError) as info:
        evaluate([sample(gt, [0], [prediction(gt, 0)])],
                 baseline_dataset=dict(
                     type='MuCo3DHPDataset',
                     data_root=str(tmp_path),
                     ann_file='no3d.json'))
    assert str(info.value) == (
        'MultiPerson3DMetric.baseline_dataset (MuCo3DHPDataset, '
        'no3d.json) has no 3D labels; give it a 3D training set')

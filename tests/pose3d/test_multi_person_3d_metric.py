"""MultiPerson3DMetric inside mmengine's evaluator, on a fake model output
built from a real-motion scene's ground truth with known errors: every
number has a value worked out by hand below."""
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

    from selecsls_mm.pose3d.metrics.functional import pa_mpjpe
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

"""Perfect maps through the bottom-up configs' own test path: COCO json ->
CocoDataset -> val pipeline (resize, pad) -> model.test_step with flip test
-> CocoMetric. Only the network is replaced, by the codec's targets for the
image it is given, so any error is in the geometry of resizing, flipping,
decoding or mapping back to the original image."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmpose.datasets import CocoDataset
from mmpose.registry import KEYPOINT_CODECS, MODELS
from sklearn.datasets import load_sample_image

from selecsls_mm.pose.models.bottomup_estimator import keypoint_boxes
from selecsls_mm.pose.synthetic import (flip_people, scenes_to_coco,
                                        synthetic_scene)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = [
    'configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-512x512.py',
    'configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-512x320.py',
]


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """Real photos of three shapes with people on them, as COCO json."""
    root = tmp_path_factory.mktemp('predict')
    china = load_sample_image('china.jpg')
    flower = load_sample_image('flower.jpg')
    images = [
        china,
        np.ascontiguousarray(china.transpose(1, 0, 2)),
        cv2.resize(flower, (300, 200)), flower[:, :400]
    ]
    rng = np.random.default_rng(0)
    scenes, sizes, names = [], [], []
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        for j in range(2):
            n = int(rng.integers(1, 5))
            scenes.append(
                synthetic_scene(
                    rng, (w, h),
                    n, (0.35 * h, 0.8 * h),
                    max_rotation=30,
                    min_separation=0.1 * h))
            sizes.append((w, h))
            names.append(f'{i}.png')
        cv2.imwrite(str(root / f'{i}.png'), img[..., ::-1])
    coco = scenes_to_coco(scenes, sizes, file_names=names)
    ann_file = str(root / 'ann.json')
    with open(ann_file, 'w') as f:
        json.dump(coco, f)
    return dict(root=str(root), ann_file=ann_file, coco=coco)


def perfect_network(model, codec_cfg):
    """Make ``model`` output the codec's targets of the current image:
    ``extract_feat`` returns a tag (original or flipped input, in the order
    BottomupPoseEstimator calls it) and the head's forward encodes the
    ground truth mapped into that input."""
    state = {}

    def extract_feat(inputs):
        state['calls'] += 1
        return 'orig' if state['calls'] % 2 else 'flip'

    def forward(tag):
        meta = state['meta']
        w, h = meta['input_size']
        cfg = dict(codec_cfg, input_size=(w, h), heatmap_size=(w // 8, h // 8))
        codec = KEYPOINT_CODECS.build(cfg)
        scale, centre = (
            np.asarray(meta[k], np.float32)
            for k in ('input_scale', 'input_center'))
        kpts = (state['keypoints'] - (centre - scale / 2)) / scale * (w, h)
        vis = state['visible']
        if tag == 'flip':
            kpts, vis = flip_people(kpts, vis, w)
        enc = codec.encode(kpts, vis)
        return tuple(
            torch.from_numpy(enc[k])[None] for k in ('heatmaps', 'pafs'))

    model.extract_feat = extract_feat
    model.head.forward = forward
    return state


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_perfect_maps_give_coco_ap_one_and_image_boxes(photos, config):
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.model.backbone.init_cfg = None
    assert cfg.model.test_cfg.flip_test
    model = MODELS.build(cfg.model).eval()
    state = perfect_network(model, cfg.codec)
    ds = CocoDataset(
        data_root='',
        ann_file=photos['ann_file'],
        data_prefix=dict(img=photos['root'] + '/'),
        data_mode='bottomup',
        test_mode=True,
        pipeline=cfg.val_pipeline)
    evaluator = Evaluator(dict(cfg.val_evaluator, ann_file=photos['ann_file']))
    evaluator.dataset_meta = ds.metainfo
    anns = photos['coco']['annotations']
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        data = pseudo_collate([ds[i]])
        gt = [a for a in anns if a['image_id'] == info['img_id']]
        kpts = np.array([a['keypoints'] for a in gt]).reshape(-1, 17, 3)
        state.update(
            calls=0,
            keypoints=kpts[..., :2],
            visible=(kpts[..., 2] > 0).astype(np.float32),
            meta=data['data_samples'][0].metainfo)
        (result, ) = model.test_step(data)
        assert state['calls'] == 2  # original and flipped input
        pred = result.pred_instances
        assert len(pred.keypoints) == len(gt)
        # boxes in original image coordinates: each holds its person's
        # found keypoints and matches the box of a labelled person
        for box, k, s in zip(pred.bboxes, pred.keypoints,
                             pred.keypoint_scores):
            found = k[s > 0]
            assert (found >= box[:2] - 1e-3).all()
            assert (found <= box[2:] + 1e-3).all()
            gt_boxes = [
                np.r_[p[p[:, 2] > 0, :2].min(0), p[p[:, 2] > 0, :2].max(0)]
                for p in kpts
            ]
            assert min(np.abs(box - g).max() for g in gt_boxes) < 3.0
        evaluator.process(data_samples=[result], data_batch=data)
    metrics = evaluator.evaluate(len(ds))
    assert metrics['coco/AP'] >= 0.995, metrics  # 1.0 measured


def test_keypoint_boxes_hold_the_found_keypoints():
    """A box spans a person's found keypoints (score > 0, however low);
    a person with none found gets the box of all their keypoints rather
    than an infinite one. Boxes are float32 whatever the input."""
    keypoints = np.array([[[10., 20.], [30., 5.], [99., 99.]],
                          [[1., 2.], [3., 4.], [5., 6.]]])
    scores = np.array([[0.5, 0.2, 0.], [0., 0., 0.]])
    boxes = keypoint_boxes(keypoints, scores)
    assert boxes.dtype == np.float32
    np.testing.assert_array_equal(boxes, [[10, 5, 30, 20], [1, 2, 5, 6]])


def test_predictions_keep_fields_and_box_only_scored_keypoints():
    """add_pred_to_datasample maps keypoints to the image, boxes them there
    and keeps the predicted maps (test_cfg.output_heatmaps); instances
    without keypoint scores get no boxes instead of an error."""
    from mmengine.structures import InstanceData, PixelData
    from mmpose.structures import PoseDataSample
    cfg = Config.fromfile(osp.join(REPO, CONFIGS[0]))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    meta = dict(
        input_size=(100, 50),
        input_center=np.array([100., 50.]),
        input_scale=np.array([200., 100.]))
    scored = InstanceData(
        keypoints=np.array([[[10., 5.], [50., 40.], [90., 45.]]]),
        keypoint_scores=np.array([[0.9, 0.1, 0.]]))
    # (mmpose >= 1.3 takes keypoints_visible from keypoint_scores unless
    # an instance has them)
    unscored = InstanceData(
        keypoints=np.array([[[10., 5.]]]), keypoints_visible=np.ones((1, 1)))
    fields = PixelData(heatmaps=torch.zeros(3, 50, 100))
    samples = model.add_pred_to_datasample(
        [scored, unscored], [fields],
        [PoseDataSample(metainfo=meta),
         PoseDataSample(metainfo=meta)])
    # input (100x50) -> image: x * 2, y * 2 (scale 200x100 from 0, 0)
    np.testing.assert_allclose(samples[0].pred_instances.bboxes,
                               [[20, 10, 100, 80]])
    assert samples[0].pred_fields is fields
    assert 'bboxes' not in samples[1].pred_instances

"""COCO keypoint AP of decoded people with xtcocotools' COCOeval (what
mmpose's CocoMetric runs underneath), for the pose tests."""
import contextlib
import io

import numpy as np
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from selecsls_mm.pose.codecs.utils import resolve_metainfo_file

COCO_META = parse_pose_metainfo(
    dict(from_file=resolve_metainfo_file('configs/_base_/datasets/coco.py')))


def coco_ap(coco: dict, predictions: list, max_dets: int = 20) -> dict:
    """Score predictions against COCO ground truth with OKS AP.

    Args:
        coco (dict): Ground truth in COCO keypoint json layout.
        predictions (list): Per image (in ``coco['images']`` order) a tuple
            (keypoints (M, K, 2), keypoint scores (M, K), instance scores
            (M, )); the instance score ranks the people.
        max_dets (int): Detections per image that count. COCO's keypoint
            evaluation uses 20 (its images rarely hold more annotated
            people); crowds of up to 25 need more, or correct detections
            beyond the 20th count as misses. Defaults to 20.

    Returns:
        dict: ``AP``, ``AP50``, ``AP75``, ``AR`` (COCOeval's stats).
    """
    gt = COCO()
    gt.dataset = coco
    results = []
    for image, (kpts, scores, inst) in zip(coco['images'], predictions):
        for k, s, i in zip(kpts, scores, inst):
            results.append(
                dict(
                    image_id=image['id'],
                    category_id=1,
                    score=float(i),
                    keypoints=np.concatenate([k, s[:, None]],
                                             1).ravel().tolist()))
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        if not results:
            return dict(AP=0., AP50=0., AP75=0., AR=0.)
        dt = gt.loadRes(results)
        ev = COCOeval(
            gt, dt, 'keypoints', np.array(COCO_META['sigmas']), use_area=True)
        ev.params.useSegm = None
        ev.params.maxDets = [max_dets]
        ev.evaluate()
        ev.accumulate()
    # COCOeval.summarize hard-codes maxDets=20 for keypoints; read the same
    # averages from its accumulated tables (area 'all', our maxDets)
    precision = ev.eval['precision'][:, :, 0, 0, 0]  # (IoU thr, recall)
    recall = ev.eval['recall'][:, 0, 0, 0]
    thrs = list(np.round(ev.params.iouThrs, 2))

    def mean(x):
        x = x[x > -1]
        return float(x.mean()) if x.size else -1.

    return dict(
        AP=mean(precision),
        AP50=mean(precision[thrs.index(0.5)]),
        AP75=mean(precision[thrs.index(0.75)]),
        AR=mean(recall))


def round_trip_ap(codec, scenes, image_size, max_dets: int = 20) -> tuple:
    """Encode each scene with ``codec``, decode the perfect maps and score
    the people found with :func:`coco_ap`.

    Args:
        codec (PartAffinityField): The codec.
        scenes (list): (keypoints (N, 17, 2), visible (N, 17)) per image.
        image_size (tuple): [w, h] of every image.
        max_dets (int): Detections per image that count. Defaults to 20.

    Returns:
        tuple: COCOeval's stats (dict), the number of labelled people and
        the number of decoded people.
    """
    return pooled_round_trip_ap(codec, [scenes], image_size, max_dets)[:3]


def pooled_round_trip_ap(codec,
                         scene_sets: list,
                         image_size,
                         max_dets: int = 20) -> tuple:
    """:func:`round_trip_ap` of several scene sets scored as one, and of
    each alone: a set of a dozen crowd images varies by about +-0.02 AP,
    more than the differences worth measuring.

    Returns:
        tuple: the pooled stats (dict), labelled and decoded people (all
        sets), and the AP of each set (list).
    """
    from selecsls_mm.pose.synthetic import scenes_to_coco
    scenes, preds, per_set = [], [], []
    for subset in scene_sets:
        decoded = []
        for kpts, vis in subset:
            encoded = codec.encode(kpts, vis)
            decoded.append(
                codec.decode(
                    encoded['heatmaps'],
                    encoded['pafs'],
                    return_instance_scores=True))
        coco = scenes_to_coco(subset, [image_size] * len(subset))
        per_set.append(coco_ap(coco, decoded, max_dets))
        scenes += subset
        preds += decoded
    coco = scenes_to_coco(scenes, [image_size] * len(scenes))
    labelled = sum(a['num_keypoints'] > 0 for a in coco['annotations'])
    decoded = sum(len(p[0]) for p in preds)
    pooled = per_set[0] if len(per_set) == 1 else coco_ap(
        coco, preds, max_dets)
    return pooled, labelled, decoded, [r['AP'] for r in per_set]

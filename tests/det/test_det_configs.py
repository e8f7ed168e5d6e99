"""SelecSLS-60 in mmdet's RetinaNet and Faster R-CNN R-50-FPN COCO configs
(configs/det, issue 9). Full stack only (mmdet needs mmcv's compiled ops).

The end-to-end test converts a (random) timm SelecSLS-60 with the conversion
tool, trains a few iterations from it with tools/train.py on a small
COCO-format set drawn here, then runs tools/test.py to a COCO bbox mAP line.
"""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from full_stack import require_full_stack

require_full_stack()

from helpers import REPO_ROOT, run_tool  # noqa: E402

CLASSES = ('rectangle', 'ellipse', 'triangle')
# 3 classes; keep every detection (score_thr 0): a model trained for a few
# iterations scores below mmdet's 0.05, and COCO evaluation needs results.
CONFIGS = {
    'retinanet_selecsls60_fpn_1x_coco.py':
    dict(bbox_head=dict(num_classes=3), test_cfg=dict(score_thr=0.0)),
    'faster-rcnn_selecsls60_fpn_1x_coco.py':
    dict(
        roi_head=dict(bbox_head=dict(num_classes=3)),
        test_cfg=dict(rcnn=dict(score_thr=0.0))),
}
SIZES = [(180, 260), (240, 200), (200, 300), (256, 192)]  # (h, w), none square


def draw_object(shape: np.ndarray, kind: int, rng) -> None:
    """Draw one filled shape of class ``kind`` into the boolean mask ``shape``
    (centre anywhere up to 15% outside the frame: some are cut by it)."""
    import cv2
    h, w = shape.shape
    cx = int(rng.uniform(-0.15, 1.15) * w)
    cy = int(rng.uniform(-0.15, 1.15) * h)
    rx = int(rng.uniform(0.12, 0.3) * min(h, w))
    ry = int(rng.uniform(0.12, 0.3) * min(h, w))
    canvas = np.zeros((h, w), np.uint8)
    if kind == 0:
        cv2.rectangle(canvas, (cx - rx, cy - ry), (cx + rx, cy + ry), 1, -1)
    elif kind == 1:
        cv2.ellipse(canvas, (cx, cy), (rx, ry), float(rng.uniform(0, 180)), 0,
                    360, 1, -1)
    else:
        pts = np.array([[cx, cy - ry], [cx - rx, cy + ry], [cx + rx, cy + ry]])
        cv2.fillPoly(canvas, [pts.astype(np.int32)], 1)
    shape |= canvas.astype(bool)


def make_coco_set(root: str, name: str, n_images: int, seed: int) -> str:
    """Write ``n_images`` crops of scikit-learn's sample photos with 2-6
    drawn shapes each (overlapping, some cut by the frame) and their COCO
    instances json; boxes are those of the visible pixels."""
    import cv2
    from sklearn.datasets import load_sample_image
    photos = [load_sample_image(f) for f in ('china.jpg', 'flower.jpg')]
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    images, annotations = [], []
    for i in range(n_images):
        h, w = SIZES[i % len(SIZES)]
        photo = photos[i % 2]
        y0 = rng.integers(0, photo.shape[0] - h)
        x0 = rng.integers(0, photo.shape[1] - w)
        img = cv2.cvtColor(photo[y0:y0 + h, x0:x0 + w], cv2.COLOR_RGB2BGR)
        owner = np.full((h, w), -1)  # which object each pixel shows
        kinds = rng.integers(0, len(CLASSES), rng.integers(2, 7))
        for j, kind in enumerate(kinds):
            mask = np.zeros((h, w), bool)
            draw_object(mask, int(kind), rng)
            img[mask] = rng.integers(0, 256, 3)
            owner[mask] = j  # later shapes occlude earlier ones
        file_name = f'{name}_{i}.jpg'
        cv2.imwrite(osp.join(root, 'images', file_name), img)
        images.append(dict(id=i + 1, file_name=file_name, width=w, height=h))
        for j, kind in enumerate(kinds):
            ys, xs = np.nonzero(owner == j)
            if len(xs) < 64:  # hidden or outside the frame
                continue
            x, y = int(xs.min()), int(ys.min())
            bw, bh = int(xs.max()) - x + 1, int(ys.max()) - y + 1
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=i + 1,
                    category_id=int(kind) + 1,
                    bbox=[x, y, bw, bh],
                    area=float(len(xs)),
                    iscrowd=0))
    ann_file = osp.join(root, f'{name}.json')
    with open(ann_file + '.tmp', 'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=annotations,
                categories=[
                    dict(id=k + 1, name=c) for k, c in enumerate(CLASSES)
                ]), f)
    os.replace(ann_file + '.tmp', ann_file)
    return ann_file


def converted_imagenet_checkpoint(tmp_path) -> str:
    """A timm SelecSLS-60 (random weights: no download) converted by the
    conversion tool, as a user would create checkpoints/selecsls60_*.pth."""
    import timm
    from safetensors.torch import save_file
    torch.manual_seed(0)
    model = timm.create_model('selecsls60', pretrained=False)
    src = str(tmp_path / 'selecsls60.safetensors')
    save_file(model.state_dict(), src)
    dst = str(tmp_path / 'selecsls60_in1k.pth')
    run_tool('tools/model_converters/convert_weights.py', src, dst)
    return dst


def small_config(tmp_path, name: str, checkpoint: str) -> str:
    """configs/det/``name`` on the drawn set: small images, a few
    iterations."""
    root = str(tmp_path / 'data')
    make_coco_set(root, 'train', 6, seed=1)
    make_coco_set(root, 'val', 4, seed=2)
    model = dict(CONFIGS[name])
    model['backbone'] = dict(init_cfg=dict(checkpoint=checkpoint))
    resize = dict(type='Resize', scale=(320, 256), keep_ratio=True)
    text = f'''
_base_ = [{osp.join(REPO_ROOT, 'configs', 'det', name)!r}]
model = {model!r}
data_root = {root + '/'!r}
metainfo = dict(classes={CLASSES!r})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    {resize!r},
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    {resize!r},
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='train.json',
                 data_prefix=dict(img='images/'), pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='val.json',
                 data_prefix=dict(img='images/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1))
'''
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_config_builds_fpn_on_selecsls60(name):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    from selecsls_mm.stack import load_config
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'det', name))
    # only the backbone and the FPN's input channels differ from mmdet's R-50
    assert cfg.model.backbone.type == 'SelecSLS'
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None  # no converted checkpoint here
    model = MODELS.build(cfg.model).eval()
    x = torch.rand(1, 3, 224, 320)  # not square
    with torch.no_grad():
        levels = model.backbone(x)
        outs = model.neck(levels)
    assert [f.shape[1] for f in levels] == cfg.model.neck.in_channels
    strides = [224 // f.shape[2] for f in levels]
    assert strides == [4, 8, 16, 32]
    assert len(outs) == cfg.model.neck.num_outs
    assert all(o.shape[1] == cfg.model.neck.out_channels for o in outs)


@pytest.mark.slow
@pytest.mark.parametrize('name', list(CONFIGS))
def test_train_then_test_to_bbox_map(tmp_path, name):
    checkpoint = converted_imagenet_checkpoint(tmp_path)
    config = small_config(tmp_path, name, checkpoint)
    work_dir = str(tmp_path / 'work')
    out = run_tool('tools/train.py', config, '--work-dir', work_dir,
                   '--no-validate')
    assert re.search(r'Epoch\(train\)\s+\[2\]\[3/3\].*loss: \d',
                     out), out[-3000:]

    # the ImageNet weights were loaded: frozen stem + stage1 still hold
    # them after training, a trained stage does not
    imagenet = torch.load(checkpoint, map_location='cpu')['state_dict']
    trained = torch.load(
        osp.join(work_dir, 'epoch_2.pth'), map_location='cpu')['state_dict']
    for key in ('backbone.stem.conv.weight', ):
        assert torch.equal(trained[key], imagenet[key]), key
    stage1 = [k for k in imagenet if k.startswith('backbone.stage1.')]
    assert stage1 and all(torch.equal(trained[k], imagenet[k]) for k in stage1)
    stage3 = [
        k for k in imagenet
        if k.startswith('backbone.stage3.') and k.endswith('conv.weight')
    ]
    assert stage3 and not all(
        torch.equal(trained[k], imagenet[k]) for k in stage3)

    out = run_tool('tools/test.py', config, osp.join(work_dir, 'epoch_2.pth'),
                   '--work-dir', work_dir)
    found = re.search(r'coco/bbox_mAP: (-?\d+\.\d+)', out)
    assert found, out[-3000:]
    assert 0.0 <= float(found.group(1)) <= 1.0

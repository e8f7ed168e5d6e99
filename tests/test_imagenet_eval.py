"""``tools/test.py configs/selecsls60_imagenet.py CKPT`` against timm.

A timm ``selecsls60`` with random weights is saved, converted with
``tools/model_converters/convert_weights.py`` and evaluated by
``tools/test.py`` on a small
ImageNet-layout folder. The reference is computed independently: the timm
model on timm's own evaluation transform (PIL decoding, bicubic resize,
centre crop). Labels are chosen from timm's ranking so that top-1 and top-5
are neither 0 nor 100%.
"""
import os.path as osp
import re

import mmengine
import numpy as np
import pytest
import timm  # the independent reference (requirements/tests.txt)
import torch
from PIL import Image

from helpers import run_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Different sizes and aspect ratios: both orientations, square, odd sizes.
SIZES = [(300, 260), (260, 300), (320, 240), (250, 250), (401, 211),
         (213, 333)]
# Rank of the true label in timm's prediction for each image: two top-1
# hits, two more top-5 hits, two misses.
LABEL_RANKS = [0, 0, 2, 4, 10, 500]


def make_images(folder, seed=0):
    """Write smooth random colour JPEGs; return their file names."""
    rng = np.random.default_rng(seed)
    names = []
    for i, (w, h) in enumerate(SIZES):
        small = rng.integers(0, 256, (h // 16 + 2, w // 16 + 2, 3), np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BILINEAR)
        name = f'ILSVRC2012_val_{i:08d}.JPEG'
        img.save(osp.join(folder, name), quality=90)
        names.append(name)
    return names


@pytest.mark.slow
def test_selecsls60_imagenet_test_tool_matches_timm(tmp_path):
    from timm.data import create_transform, resolve_data_config

    torch.manual_seed(0)
    ref = timm.create_model('selecsls60', pretrained=False)
    # Non-trivial BN statistics, so that their conversion matters too.
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    # Logits of O(1) keep the softmax scores compared below informative
    # (random weights otherwise give logits of O(100), a one-hot softmax).
    with torch.no_grad():
        ref.fc.weight.mul_(0.01)
    ref.eval()
    timm_file = str(tmp_path / 'selecsls60_timm.pth')
    ckpt = str(tmp_path / 'selecsls60_mm.pth')
    torch.save(ref.state_dict(), timm_file)
    run_tool('tools/model_converters/convert_weights.py', timm_file, ckpt)

    data_root = tmp_path / 'imagenet'
    (data_root / 'val').mkdir(parents=True)
    (data_root / 'meta').mkdir()
    names = make_images(str(data_root / 'val'))

    # Independent reference: timm's transform for these weights.
    transform = create_transform(**resolve_data_config({}, model=ref))
    with torch.no_grad():
        logits = torch.cat([
            ref(
                transform(Image.open(data_root / 'val' /
                                     n).convert('RGB'))[None]) for n in names
        ])
    assert logits.softmax(1).max() < 0.5
    order = logits.argsort(dim=1, descending=True)
    labels = [int(order[i, r]) for i, r in enumerate(LABEL_RANKS)]
    (data_root / 'meta' /
     'val.txt').write_text(''.join(f'{n} {label}\n'
                                   for n, label in zip(names, labels)))
    top1 = 100 * np.mean(
        [int(order[i, 0]) == lb for i, lb in enumerate(labels)])
    top5 = 100 * np.mean(
        [lb in order[i, :5].tolist() for i, lb in enumerate(labels)])
    assert 0 < top1 < top5 < 100

    preds_file = str(tmp_path / 'preds.pkl')
    out = run_tool('tools/test.py', 'configs/selecsls60_imagenet.py', ckpt,
                   '--work-dir', str(tmp_path / 'work'), '--out', preds_file,
                   '--cfg-options',
                   f'test_dataloader.dataset.data_root={data_root}',
                   'test_dataloader.num_workers=0',
                   'test_dataloader.batch_size=4')

    # The metrics as tools/test.py reports them (4 decimals).
    found = re.search(r'accuracy/top1: ([\d.]+)\s+accuracy/top5: ([\d.]+)',
                      out)
    assert found, out[-2000:]
    assert float(found[1]) == pytest.approx(top1, abs=1e-4)
    assert float(found[2]) == pytest.approx(top5, abs=1e-4)

    # Per-image predictions dumped by --out: same scores as timm.
    preds = {osp.basename(p['img_path']): p for p in mmengine.load(preds_file)}
    assert sorted(preds) == sorted(names)
    for i, name in enumerate(names):
        pred = preds[name]
        assert int(pred['gt_label']) == labels[i]
        assert int(pred['pred_label']) == int(order[i, 0])
        score = pred['pred_score'].float()
        assert score.topk(5).indices.tolist() == order[i, :5].tolist()
        torch.testing.assert_close(
            score, logits[i].softmax(0), rtol=1e-3, atol=1e-7)

"""tools/train.py and tools/test.py: argument handling and a tiny real run."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import mmengine
import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from helpers import load_tool, run_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DIGITS_CFG = osp.join(ROOT, 'configs', 'selecsls42_digits.py')


def parse(tool, argv, monkeypatch):
    monkeypatch.setattr(sys, 'argv', [f'{tool.__name__}.py', *argv])
    args = tool.parse_args()
    return tool.merge_args(Config.fromfile(args.config), args)


def make_digits(root, num_train=16, num_val=8):
    """A tiny ImageNet-layout dataset of real 32x32 digits."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    start = 0
    for split, num in (('train', num_train), ('val', num_val)):
        (root / split).mkdir(parents=True)
        lines = []
        for i in range(start, start + num):
            img = (digits.images[i] * 255 / 16).astype(np.uint8)
            Image.fromarray(img).resize(
                (32, 32), Image.BICUBIC).save(root / split / f'{i}.png')
            lines.append(f'{i}.png {digits.target[i]}\n')
        (root / 'meta').mkdir(exist_ok=True)
        (root / 'meta' / f'{split}.txt').write_text(''.join(lines))
        start += num
    return root


def data_options(root):
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.dataset.data_root={root}', f'{loader}.batch_size=4'
        ]
    return opts


def test_train_merge_args(monkeypatch, tmp_path):
    train = load_tool('train')
    cfg = parse(train, [DIGITS_CFG], monkeypatch)
    assert cfg.work_dir == osp.join('./work_dirs', 'selecsls42_digits')
    assert cfg.launcher == 'none' and not cfg.resume
    assert cfg.train_dataloader.persistent_workers is False

    cfg = parse(train, [
        DIGITS_CFG, '--work-dir',
        str(tmp_path), '--amp', '--resume', 'ckpt.pth', '--no-validate',
        '--auto-scale-lr', '--launcher', 'pytorch', '--cfg-options',
        'train_dataloader.num_workers=2', 'train_cfg.max_epochs=3'
    ], monkeypatch)
    assert cfg.work_dir == str(tmp_path)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.resume and cfg.load_from == 'ckpt.pth'
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.auto_scale_lr.enable
    assert cfg.launcher == 'pytorch'
    assert cfg.train_cfg.max_epochs == 3

    # The usual persistent-workers default, unless there are no workers
    # (DataLoader refuses persistent workers then).
    imagenet_cfg = osp.join(ROOT, 'configs', 'selecsls60_imagenet.py')
    cfg = parse(train, [imagenet_cfg], monkeypatch)
    assert cfg.train_dataloader.persistent_workers is True
    cfg = parse(train, [
        imagenet_cfg, '--cfg-options', 'train_dataloader.num_workers=0'
    ], monkeypatch)
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True

    cfg = parse(train, [DIGITS_CFG, '--resume'], monkeypatch)
    assert cfg.resume and cfg.load_from is None  # latest in work_dir


def test_auto_scale_lr_without_its_setting_is_one_line(tmp_path, capsys):
    """--auto-scale-lr on a config that has no ``auto_scale_lr`` says what
    to add (exit 1, one line), instead of an AttributeError traceback."""
    config = tmp_path / 'no_scaling.py'
    config.write_text(f'_base_ = [{DIGITS_CFG!r}]\n'
                      'auto_scale_lr = None\n')
    train = load_tool('train')
    work_dir = tmp_path / 'work'
    code = train.main(
        [str(config), '--auto-scale-lr', '--work-dir',
         str(work_dir)])
    assert code == 1
    assert capsys.readouterr().err == (
        '--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` '
        f'in the config {config}\n').join(['error: ', ''])
    assert not work_dir.exists()


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_config_syntax_error_is_one_line(tool, tmp_path, capsys):
    """A config with a Python syntax error, in itself or in a file it
    inherits: one line naming that file and the line, no traceback."""
    base = tmp_path / 'base.py'
    base.write_text('model = dict(\n    type=1,,\n)\n')
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./base.py']\n")
    main = load_tool(tool).main
    ckpt = tmp_path / 'x.pth'
    torch.save({}, ckpt)
    for config, where in ((base, f'{base} line 2'),
                          (child, f'{base} (inherited by {child}) line 2')):
        args = [str(config), str(ckpt)] if tool == 'test' else [str(config)]
        assert main(args + ['--work-dir', str(tmp_path / 'work')]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f'error: config {where}: invalid syntax')
        assert err.endswith('(a Python syntax error); fix the file\n')
        assert err.count('\n') == 1
    assert not (tmp_path / 'work').exists()


def test_data_root_option_moves_every_dataset_path(monkeypatch):
    """mmpretrain's ImageNet base spells 'data/imagenet' into each loader;
    --cfg-options data_root=PATH moves them all, and a more specific
    option still wins."""
    train = load_tool('train')
    imagenet_cfg = osp.join(ROOT, 'configs', 'selecsls60_imagenet.py')
    cfg = parse(train, [imagenet_cfg], monkeypatch)
    assert cfg.train_dataloader.dataset.data_root == 'data/imagenet'
    cfg = parse(train, [
        imagenet_cfg, '--cfg-options', 'data_root=/data/in1k',
        'val_dataloader.dataset.data_root=/fast/in1k'
    ], monkeypatch)
    assert cfg.data_root == '/data/in1k'
    assert cfg.train_dataloader.dataset.data_root == '/data/in1k'
    assert cfg.test_dataloader.dataset.data_root == '/data/in1k'
    assert cfg.val_dataloader.dataset.data_root == '/fast/in1k'


@pytest.mark.slow
def test_missing_dataset_is_one_line(tmp_path):
    imagenet_cfg = osp.join(ROOT, 'configs', 'selecsls60_imagenet.py')
    proc = subprocess.run([
        sys.executable, 'tools/train.py', imagenet_cfg, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'data_root={tmp_path}/imagenet'
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f'error: {tmp_path}/imagenet does not exist: the config expects it '
        f"as train_dataloader.dataset.data_root (data_root '{tmp_path}/"
        "imagenet'); put the dataset there, or point the config at it with "
        '--cfg-options data_root=/path/to/dataset/ (or '
        'train_dataloader.dataset.data_root=...)'
    ]


def test_test_merge_args(monkeypatch, tmp_path):
    test = load_tool('test')
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    cfg = parse(test, [
        DIGITS_CFG,
        str(ckpt), '--amp', '--show-dir', 'vis', '--interval', '3',
        '--cfg-options', 'test_dataloader.batch_size=2'
    ], monkeypatch)
    assert cfg.load_from == str(ckpt)
    assert cfg.test_cfg.fp16
    vis = cfg.default_hooks.visualization
    assert vis.enable and vis.out_dir == 'vis' and vis.interval == 3
    assert cfg.test_dataloader.batch_size == 2
    assert cfg.test_dataloader.persistent_workers is False

    for bad in ([DIGITS_CFG, str(ckpt), '--out', 'preds.json'],
                [DIGITS_CFG, str(ckpt), '--out-item',
                 'metrics'], [DIGITS_CFG,
                              str(tmp_path / 'missing.pth')]):
        with pytest.raises(SystemExit):
            parse(test, bad, monkeypatch)


@pytest.mark.slow
def test_train_resume_and_test(tmp_path):
    data = make_digits(tmp_path / 'digits')
    work = tmp_path / 'work'
    opts = data_options(data)
    one_epoch = [
        'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1'
    ]
    out = run_tool('tools/train.py', DIGITS_CFG, '--work-dir', str(work),
                   '--cfg-options', *opts, *one_epoch)
    assert 'Epoch(train) [1][4/4]' in out
    first = torch.load(work / 'epoch_1.pth', map_location='cpu')

    # --resume picks up epoch_1.pth and trains only the second epoch.
    out = run_tool('tools/train.py', DIGITS_CFG, '--work-dir', str(work),
                   '--resume', '--cfg-options', *opts,
                   'train_cfg.max_epochs=2',
                   'default_hooks.checkpoint.interval=1')
    assert 'resumed epoch: 1' in out
    assert 'Epoch(train) [1]' not in out
    assert 'Epoch(train) [2][4/4]' in out
    assert (work / 'epoch_2.pth').is_file()
    # The iteration count went on from epoch 1's (4 + 4), and the weights
    # changed in the second epoch.
    second = torch.load(work / 'epoch_2.pth', map_location='cpu')
    assert first['meta']['iter'] == 4
    assert second['meta']['epoch'] == 2 and second['meta']['iter'] == 8
    name = 'backbone.stem.conv.weight'
    assert not torch.equal(first['state_dict'][name],
                           second['state_dict'][name])

    preds_file = tmp_path / 'preds.pkl'
    out = run_tool('tools/test.py', DIGITS_CFG,
                   str(work / 'epoch_2.pth'), '--work-dir', str(work), '--out',
                   str(preds_file), '--cfg-options', *opts)
    top1 = float(re.search(r'accuracy/top1: ([\d.]+)', out)[1])
    preds = mmengine.load(str(preds_file))
    assert len(preds) == 8
    hits = [int(p['pred_label']) == int(p['gt_label']) for p in preds]
    assert top1 == pytest.approx(100 * np.mean(hits), abs=1e-4)
    assert all(p['pred_score'].shape == (10, ) for p in preds)

    # --out FILE --out-item metrics: the metrics, in the format of FILE.
    metrics_file = tmp_path / 'metrics.json'
    run_tool('tools/test.py', DIGITS_CFG,
             str(work / 'epoch_2.pth'), '--work-dir', str(work), '--out',
             str(metrics_file), '--out-item', 'metrics', '--cfg-options',
             *opts)
    metrics = json.loads(metrics_file.read_text())
    assert metrics['accuracy/top1'] == pytest.approx(top1, abs=1e-4)


@pytest.mark.slow
def test_train_amp_on_cpu_is_refused(tmp_path):
    # The CPU case even where a GPU is visible.
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([
        sys.executable, 'tools/train.py', DIGITS_CFG, '--amp', '--work-dir',
        str(tmp_path)
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: --amp needs a GPU (or NPU/MLU): mmengine's AmpOptimWrapper "
        'does not run on CPU; drop --amp'
    ]
    assert list(tmp_path.iterdir()) == []

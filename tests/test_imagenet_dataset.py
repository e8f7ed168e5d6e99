"""CheckedImageNet: ImageNet layout whose format errors name file and line."""
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from selecsls_mm.datasets import CheckedImageNet

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def make_root(tmp_path, lines, images=('a.JPEG', 'b.JPEG', 'c.JPEG')):
    root = tmp_path / 'imagenet'
    (root / 'val').mkdir(parents=True)
    (root / 'meta').mkdir()
    for name in images:
        Image.fromarray(np.full((40, 48, 3), 128,
                                np.uint8)).save(root / 'val' / name)
    if lines is not None:
        (root / 'meta' / 'val.txt').write_text(''.join(line + '\n'
                                                       for line in lines))
    return root


def build(root, **kwargs):
    return CheckedImageNet(
        data_root=str(root), split='val', pipeline=PIPELINE, **kwargs)


def test_valid_dataset_loads(tmp_path):
    root = make_root(tmp_path, ['a.JPEG 0', '', 'b.JPEG 999', 'c.JPEG 5'])
    dataset = build(root)
    assert len(dataset) == 3
    assert [dataset.get_data_info(i)['gt_label'] for i in range(3)] == \
        [0, 999, 5]
    sample = dataset[1]
    assert tuple(sample['inputs'].shape) == (3, 40, 48)
    assert int(sample['data_samples'].gt_label) == 999


def test_missing_annotation_file(tmp_path):
    root = make_root(tmp_path, None)
    # The message names the file and says what it must hold.
    with pytest.raises(
            FileNotFoundError,
            match=re.escape(f'annotation file '
                            f'{root / "meta" / "val.txt"} does '
                            'not exist: write one line per image')):
        build(root)


@pytest.mark.parametrize('bad', ['b.JPEG', 'b.JPEG cat', 'b.JPEG 1.5'])
def test_malformed_line(tmp_path, bad):
    root = make_root(tmp_path, ['a.JPEG 0', bad])
    with pytest.raises(ValueError, match=r'val\.txt, line 2: expected'):
        build(root)


@pytest.mark.parametrize('label', [1000, -1])
def test_class_index_outside_head(tmp_path, label):
    root = make_root(tmp_path, ['a.JPEG 0', 'b.JPEG 1', f'c.JPEG {label}'])
    with pytest.raises(
            ValueError,
            match=rf'val\.txt, line 3: class index {label} is '
            r'outside the 1000 classes'):
        build(root)


def test_class_index_outside_custom_classes(tmp_path):
    root = make_root(tmp_path, ['a.JPEG 9', 'b.JPEG 10'])
    classes = dict(classes=tuple(str(i) for i in range(10)))
    with pytest.raises(
            ValueError,
            match=r'line 2: class index 10 is '
            r'outside the 10 classes'):
        build(root, metainfo=classes)


def test_missing_image(tmp_path):
    root = make_root(tmp_path, ['a.JPEG 0', 'missing.JPEG 1'])
    with pytest.raises(
            FileNotFoundError,
            match=r'val\.txt, line 2: image .*missing\.JPEG'):
        build(root)


def test_unreadable_image(tmp_path):
    root = make_root(tmp_path, ['a.JPEG 0', 'b.JPEG 1'])
    (root / 'val' / 'b.JPEG').write_bytes(b'not a jpeg at all')
    dataset = build(root)
    dataset[0]
    with pytest.raises(
            RuntimeError,
            match=r'b\.JPEG \(.*val\.txt, line 2\) could not be '
            r'loaded'):
        dataset[1]


@pytest.mark.slow
def test_test_tool_reports_file_and_line(tmp_path):
    """The message reaches the user of tools/test.py unchanged."""
    root = make_root(tmp_path, ['a.JPEG 0', 'b.JPEG 1000'])
    ckpt = tmp_path / 'dummy.pth'
    ckpt.write_bytes(b'')  # never read: the dataset fails first
    proc = subprocess.run([
        sys.executable, 'tools/test.py',
        'configs/selecsls/selecsls42_8xb32_in1k.py',
        str(ckpt), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'test_dataloader.dataset.data_root={root}',
        'test_dataloader.num_workers=0'
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert re.search(r'val\.txt, line 2: class index 1000 is outside',
                     proc.stderr), proc.stderr[-3000:]

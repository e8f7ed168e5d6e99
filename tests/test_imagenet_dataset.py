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


def test_file_names_with_spaces(tmp_path):
    """Only the last field of a line is the label: a file name with spaces
    (common in user datasets) loads as one path."""
    root = make_root(
        tmp_path, ['my photo 1.JPEG 3', '  b.JPEG\t7  '],
        images=('my photo 1.JPEG', 'b.JPEG'))
    dataset = build(root)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(osp.basename(i['img_path']), i['gt_label']) for i in infos] == \
        [('my photo 1.JPEG', 3), ('b.JPEG', 7)]
    assert int(dataset[0]['data_samples'].gt_label) == 3


def test_missing_annotation_file(tmp_path):
    root = make_root(tmp_path, None)
    # The message names the file and says what it must hold.
    with pytest.raises(
            FileNotFoundError,
            match=re.escape(f'annotation file '
                            f'{root / "meta" / "val.txt"} does '
                            'not exist: write one line per image')):
        build(root)


@pytest.mark.parametrize('bad',
                         ['b.JPEG', 'b.JPEG cat', 'b.JPEG 1.5', 'b.JPEG X1'])
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


def test_needs_a_split_or_an_annotation_file():
    with pytest.raises(ValueError) as err:
        CheckedImageNet(data_root='x', pipeline=PIPELINE)
    assert str(err.value) == (
        'CheckedImageNet needs `split` or `ann_file` (a list of "relative/'
        'path/to/image.JPEG CLASS_INDEX" (path relative to the split folder,'
        " 0-based class index)); for class-per-folder data without an "
        "annotation file use type='ImageNet'")


def test_missing_annotation_file_message_in_full(tmp_path):
    root = make_root(tmp_path, None)
    with pytest.raises(FileNotFoundError) as err:
        build(root)
    ann = root / 'meta' / 'val.txt'
    assert str(err.value) == (
        f'annotation file {ann} does not exist: write one line per image, '
        '"relative/path/to/image.JPEG CLASS_INDEX" (path relative to the '
        'split folder, 0-based class index), or point `data_root`/'
        '`ann_file` of the dataset config at the right place')


def test_explicit_paths_win_over_the_split(tmp_path):
    """``ann_file`` and ``data_prefix`` given with ``split`` are used as
    given; without ``data_root`` they are plain paths."""
    root = make_root(tmp_path, ['a.JPEG 0'])
    (root / 'meta' / 'subset.txt').write_text('b.JPEG 4\nc.JPEG 2\n')
    dataset = CheckedImageNet(
        data_root=str(root),
        split='val',
        ann_file='meta/subset.txt',
        pipeline=PIPELINE)
    assert [i['gt_label'] for i in dataset.load_data_list()] == [4, 2]
    (root / 'other').mkdir()
    Image.fromarray(np.zeros((8, 8, 3),
                             np.uint8)).save(root / 'other' / 'a.JPEG')
    dataset = CheckedImageNet(
        data_root=str(root),
        split='val',
        data_prefix='other',
        pipeline=PIPELINE)
    assert dataset.get_data_info(0)['img_path'] == str(root / 'other' /
                                                       'a.JPEG')
    plain = CheckedImageNet(
        ann_file=str(root / 'meta' / 'subset.txt'),
        data_prefix=str(root / 'val'),
        pipeline=PIPELINE)
    assert [
        osp.basename(plain.get_data_info(i)['img_path']) for i in range(2)
    ] == ['b.JPEG', 'c.JPEG']


def test_num_classes_of_the_head(tmp_path):
    root = make_root(tmp_path, ['a.JPEG 4', 'b.JPEG 5'])
    with pytest.raises(ValueError) as err:
        build(root, num_classes=5)
    assert str(err.value).endswith(
        'val.txt, line 2: class index 5 is outside the 5 classes of the head '
        '(0..4); fix the label or set the classes (`metainfo=dict(classes='
        "...)`) and the head's num_classes to match the data")


def test_test_split_without_labels(tmp_path):
    root = make_root(tmp_path, None)
    (root / 'test').mkdir()
    Image.fromarray(np.zeros((8, 8, 3),
                             np.uint8)).save(root / 'test' / 'x 1.JPEG')
    (root / 'meta' / 'test.txt').write_text('x 1.JPEG\n')
    dataset = CheckedImageNet(
        data_root=str(root), split='test', pipeline=PIPELINE)
    info = dataset.get_data_info(0)
    assert osp.basename(info['img_path']) == 'x 1.JPEG'
    assert 'gt_label' not in info


def test_empty_annotation_file(tmp_path):
    root = make_root(tmp_path, ['', '  '])
    with pytest.raises(ValueError) as err:
        build(root)
    assert str(err.value) == f"{root / 'meta' / 'val.txt'} lists no images"


def test_unreadable_image_message_in_full(tmp_path):
    root = make_root(tmp_path, ['a.JPEG 0'])
    (root / 'val' / 'a.JPEG').write_bytes(b'not a jpeg at all')
    with pytest.raises(RuntimeError) as err:
        build(root)[0]
    message = str(err.value)
    img, ann = root / 'val' / 'a.JPEG', root / 'meta' / 'val.txt'
    assert message.startswith(f'{img} ({ann}, line 1) could not be loaded '
                              'or transformed: ')
    cause = err.value.__cause__
    assert message.endswith(f'{type(cause).__name__}: {cause}. Replace the '
                            'image or remove its line')

"""A 3D config must train on data with 3D labels: one line otherwise."""
import os.path as osp

import pytest

from selecsls_mm.stack import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REAL = osp.join(REPO, 'configs', 'pose3d',
                'xnect3d_selecsls60_8xb32-140e_muco-coco-512x320.py')
TINY = osp.join(REPO, 'configs', 'pose3d',
                'xnect3d_selecsls-tiny_1xb8-40e_motion-192x128.py')
COCO = "dict(type='CocoDataset', data_root='data/coco/', ann_file='a.json')"


def child(tmp_path, base, body):
    path = tmp_path / 'child.py'
    path.write_text(f'_base_ = [{base!r}]\n{body}\n')
    return str(path)


def test_real_and_tiny_configs_pass():
    load_config(REAL)
    load_config(TINY)


def test_3d_model_on_coco_alone_is_refused(tmp_path):
    path = child(tmp_path, REAL,
                 f'train_dataloader = dict(dataset=dict(datasets=[{COCO}]))')
    with pytest.raises(ValueError, match=r'\(CocoDataset\) has no 3D labels'):
        load_config(path)


def test_wrapped_datasets_are_opened(tmp_path):
    path = child(
        tmp_path, TINY, 'train_dataloader = dict(dataset=dict(_delete_=True,'
        f" type='RepeatDataset', times=2, dataset={COCO}))")
    with pytest.raises(ValueError, match='has no 3D labels'):
        load_config(path)
    ok = child(
        tmp_path, TINY, 'train_dataloader = dict(dataset=dict(_delete_=True,'
        " type='RepeatDataset', times=2, dataset=dict(type="
        "'MuCo3DHPDataset', ann_file='a.json')))")
    load_config(ok)


def test_2d_model_on_coco_is_not_checked(tmp_path):
    path = child(
        tmp_path, REAL,
        f'train_dataloader = dict(dataset=dict(datasets=[{COCO}]))\n'
        "model = dict(head=dict(_delete_=True, type='XNectPAFHead', "
        'in_channels=416, num_keypoints=17, num_limbs=28))')
    load_config(path)

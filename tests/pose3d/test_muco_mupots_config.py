"""The real recipe (configs/pose3d/xnect3d_selecsls60_*_muco-coco-*.py)
builds its datasets and metric on tiny files in the exact MuCo-3DHP /
MuPoTS-3D layouts (and a COCO-keypoints file), and MuCo and COCO samples
batch together."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpose.registry import DATASETS, METRICS, TRANSFORMS
from scene_fixtures import mmpose_scope  # noqa: F401  (autouse fixture)
from scene_fixtures import write_default, write_muco, write_mupots

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'pose3d',
                  'xnect3d_selecsls60_8xb32-140e_muco-coco-512x320.py')


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    muco = write_muco(root / 'MuCo' / 'data', num=3, seed=0)
    mupots = write_mupots(root / 'MuPoTS' / 'data', num=2, seed=1)
    coco = write_default(root / 'coco', num=2, seed=2)
    cfg = Config.fromfile(CONFIG)
    muco_cfg, coco_cfg = cfg.train_dataloader.dataset.datasets
    muco_cfg.data_root = str(root / 'MuCo' / 'data')
    coco_cfg.update(
        data_root=coco['img_dir'],
        ann_file='scenes.json',
        data_prefix=dict(img=''))
    cfg.val_dataloader.dataset.update(
        data_root=str(root / 'MuPoTS' / 'data'), data_prefix=dict(img=''))
    return cfg, dict(muco=muco, mupots=mupots, coco=coco)


def test_train_set_mixes_muco_and_coco(config):
    cfg, data = config
    pipeline = [dict(type='LoadImage')]
    cfg.train_dataloader.dataset.pipeline = pipeline
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    num_muco, num_coco = dataset._lens
    assert (num_muco, num_coco) == (3, 2)
    samples = [dataset[i] for i in range(len(dataset))]
    for i, sample in enumerate(samples):
        n = len(sample['keypoints'])
        assert sample['img'].ndim == 3
        assert sample['keypoints_3d'].shape == (n, 21, 3)
        assert sample['keypoints_3d_visible'].shape == (n, 21)
        assert len(sample['flip_indices_3d']) == 21
        if i < num_muco:  # MuCo: 3D labels (not the face) and a camera
            assert set(sample['camera_param']) == {'f', 'c'}
            assert (sample['keypoints_3d_visible'][:, 5:] > 0).all()
            assert sample['keypoints_3d'][:, 17, 2].min() > 1000  # pelvis
        else:  # COCO: the 2D branch only
            assert 'camera_param' not in sample
            assert not sample['keypoints_3d'].any()
            assert not sample['keypoints_3d_visible'].any()
            assert (sample['keypoints_visible'] > 0).any()
    # mixed batches go through MMPose's packing and collate
    pack = DATASETS.build(
        dict(
            type='CombinedDataset',
            metainfo=cfg.coco_metainfo,
            datasets=cfg.train_dataloader.dataset.datasets,
            pipeline=pipeline + [dict(type='PackPoseInputs')]))
    batch = pseudo_collate([pack[0], pack[num_muco]])
    assert len(batch['inputs']) == 2


def test_mupots_test_set_and_metric(config):
    cfg, data = config
    packed = DATASETS.build(cfg.val_dataloader.dataset)[0]['data_samples']
    assert set(packed.metainfo['camera_param']) == {'f', 'c'}
    assert packed.gt_instances.keypoints_3d.shape[1:] == (21, 3)
    dataset = DATASETS.build(dict(cfg.val_dataloader.dataset, pipeline=[]))
    assert type(dataset).__name__ == 'MuPoTS3DDataset'
    assert len(dataset) == 2
    people = 0
    for i in range(len(dataset)):
        info = dataset[i]
        assert set(info['camera_param']) == {'f', 'c'}
        assert info['keypoints_3d'].shape[1:] == (21, 3)
        people += len(info['keypoints_3d'])
    assert people == data['mupots']['num_people']
    metric = METRICS.build(cfg.val_evaluator)
    assert metric.eval_mask.sum() == 14
    assert not metric.eval_mask[[17, 18]].any()  # pelvis, spine
    np.testing.assert_array_equal(metric.eval_mask,
                                  METRICS.build(cfg.test_evaluator).eval_mask)


def test_placeholders_refuse_3d_samples():
    add = TRANSFORMS.build(dict(type='Add3DPlaceholders'))
    sample = add(dict(keypoints=np.zeros((2, 17, 2))))
    assert sample['keypoints_3d'].shape == (2, 21, 3)
    with pytest.raises(
            ValueError, match='use it only in the pipeline of '
            '2D-only datasets'):
        add(sample)

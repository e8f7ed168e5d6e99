"""Bottom-up training pipeline: targets, crowd masks and packing of PAFs."""
import copy

import numpy as np
import pytest
import xtcocotools.mask as cocomask
from mmengine.dataset import Compose
from mmpose.datasets import CocoDataset
from mmpose.datasets.transforms import PackPoseInputs

from selecsls_mm.pose.transforms import (NumpyBottomupGetHeatmapMask,
                                         PackPAFInputs)
from selecsls_mm.pose.transforms.bottomup_mask import rle_to_mask
from tiny_coco import make_tiny_coco

CODEC = dict(
    type='PartAffinityField',
    input_size=(128, 128),
    heatmap_size=(16, 16),
    sigma=1,
    paf_width=1,
    skeleton=dict(from_file='configs/_base_/datasets/coco.py'))


def pipeline(flip_prob=0.):
    return [
        dict(type='LoadImage'),
        dict(
            type='BottomupRandomAffine',
            input_size=CODEC['input_size'],
            shift_factor=0.,
            scale_factor=(1., 1.),
            rotate_factor=0.),
        dict(type='RandomFlip', direction='horizontal', prob=flip_prob),
        dict(type='GenerateTarget', encoder=CODEC),
        dict(type='NumpyBottomupGetHeatmapMask'),
        dict(type='PackPAFInputs'),
    ]


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return make_tiny_coco(str(tmp_path_factory.mktemp('coco')))


def dataset(tiny, flip_prob=0., **kwargs):
    return CocoDataset(
        data_root='',
        ann_file=tiny['ann_file'],
        data_prefix=dict(img=tiny['img_dir'] + '/'),
        data_mode='bottomup',
        pipeline=pipeline(flip_prob),
        **kwargs)


def test_rle_decode_matches_xtcocotools_encode():
    rng = np.random.default_rng(0)
    for _ in range(10):
        h, w = rng.integers(1, 120, size=2)
        mask = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        rle = cocomask.encode(np.asfortranarray(mask))
        np.testing.assert_array_equal(rle_to_mask(rle), mask)
    uncompressed = dict(size=[3, 4], counts=[2, 3, 7])
    assert rle_to_mask(uncompressed).sum() == 3
    with pytest.raises(ValueError, match='pixels'):
        rle_to_mask(dict(size=[3, 4], counts=[2, 3]))


@pytest.mark.parametrize('flip_prob', [0., 1.])
def test_targets_are_packed_with_crowd_mask(tiny, flip_prob):
    ds = dataset(tiny, flip_prob)
    assert len(ds) == 4  # the image with nobody is not used for training
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        fields = sample.gt_fields
        assert fields.heatmaps.shape == (17, 16, 16)
        assert fields.pafs.shape == (38, 16, 16)
        assert fields.heatmap_mask.shape == (1, 16, 16)
        assert fields.heatmaps.max() > 0.5 and fields.pafs.abs().max() > 0.5
        crowd = ds.get_data_info(i)['invalid_segs']
        if crowd:
            # crowd box spans x in [0.6, 0.98] of the (possibly flipped) image
            mask = fields.heatmap_mask[0].numpy()
            cols = slice(1, 5) if flip_prob else slice(11, 15)
            assert not mask[4:12, cols].any()
            assert mask.mean() > 0.5
        else:
            assert fields.heatmap_mask.all()


def test_mmpose_pack_drops_pafs(tiny):
    # why PackPAFInputs exists: mmpose 1.1 packs a fixed table of fields
    assert 'pafs' not in PackPoseInputs.field_mapping_table
    assert PackPAFInputs.field_mapping_table['pafs'] == 'pafs'
    assert PackPAFInputs().field_mapping_table['paf_weights'] == 'paf_weights'


def test_keypoints_outside_the_image_are_ignored(tiny):
    ds = dataset(tiny)
    info = copy.deepcopy(ds.get_data_info(0))
    kpts = info['keypoints']
    kpts[0, 9] = (-40., 60.)  # labelled (visible) but left of the image
    kpts[0, 10] = (500., 1e4)  # far outside
    info['keypoints_visible'][0, 9:11] = 1
    packed = Compose(pipeline())(info)
    fields = packed['data_samples'].gt_fields
    assert np.isfinite(fields.heatmaps.numpy()).all()
    assert np.isfinite(fields.pafs.numpy()).all()
    weights = packed['data_samples'].gt_instance_labels.keypoint_weights
    assert weights[0, 9] == 0 and weights[0, 10] == 0
    assert weights[0, :9].all()
    # the wrists' heatmaps are empty, the other keypoints are drawn
    assert fields.heatmaps[9:11].max() < 1e-3
    assert fields.heatmaps[:9].amax(dim=(1, 2)).min() > 0.5


def test_pack_merges_mmpose13_mapping_tables(tiny, monkeypatch):
    # mmpose >= 1.3: GenerateTarget stores the codec's tables in the results
    # and PackPoseInputs packs with them *instead of* its own tables
    seen = {}
    original = PackPoseInputs.transform

    def packs_with_results_tables(self, results):
        seen.update(results)
        return original(self, results)

    monkeypatch.setattr(PackPoseInputs, 'transform', packs_with_results_tables)
    ds = dataset(tiny)
    results = Compose(pipeline()[:-1])(copy.deepcopy(ds.get_data_info(2)))
    results['field_mapping_table'] = dict(heatmaps='heatmaps', pafs='pafs')
    results['instance_mapping_table'] = dict()
    results['label_mapping_table'] = dict()
    packed = PackPAFInputs().transform(results)['data_samples']
    assert 'heatmap_mask' in seen['field_mapping_table']
    assert seen['field_mapping_table']['pafs'] == 'pafs'
    assert 'keypoints' in seen['instance_mapping_table']
    assert 'keypoint_weights' in seen['label_mapping_table']
    assert 'heatmap_mask' in packed.gt_fields


def test_rle_counts_as_text_and_the_size_error():
    """COCO json gives compressed counts as str, xtcocotools as bytes; a
    size that does not fit the counts is one line with both numbers."""
    mask = np.zeros((3, 4), np.uint8)
    mask[1:, 2] = 1
    rle = cocomask.encode(np.asfortranarray(mask))
    as_text = dict(rle, counts=rle['counts'].decode('ascii'))
    np.testing.assert_array_equal(rle_to_mask(as_text), mask)
    with pytest.raises(ValueError) as info:
        rle_to_mask(dict(size=[3, 4], counts=[2, 3]))
    assert str(info.value) == ('RLE counts sum to 5, expected the 3x4 = 12 '
                               'pixels given by its size.')


def test_crowd_mask_is_the_union_of_all_segmentations():
    """Polygons (one person may have several), RLE dicts, and missing
    segmentations (None or empty, skipped wherever they come) together."""
    h, w = 6, 8
    left = [[0, 0, 2, 0, 2, 2, 0, 2], [0, 4, 1, 4, 1, 5, 0, 5]]
    right = np.zeros((h, w), np.uint8)
    right[3:5, 6:] = 1
    # crowd regions come as uncompressed RLE: run lengths, column-major
    flat = right.flatten(order='F')
    edges = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]]))
    right_rle = dict(size=[h, w], counts=np.diff(np.r_[0, edges]).tolist())
    get_mask = NumpyBottomupGetHeatmapMask()
    mask = get_mask._segs_to_mask([None, left, [], right_rle], (h, w))
    expected = np.zeros((h, w), np.uint8)
    for rle in cocomask.frPyObjects(left, h, w):
        expected |= rle_to_mask(rle)
    assert expected.sum() > 0 and (expected & right).sum() == 0
    np.testing.assert_array_equal(mask, expected | right)
    empty = get_mask._segs_to_mask([None, []], (h, w))
    assert empty.dtype == mask.dtype == np.uint8 and not empty.any()


def test_pack_takes_meta_keys_by_position_and_by_name(tiny):
    ds = dataset(tiny)
    results = Compose(pipeline()[:-1])(copy.deepcopy(ds.get_data_info(2)))
    keys = ('img_id', 'flip')
    for pack in (PackPAFInputs(keys), PackPAFInputs(meta_keys=keys)):
        sample = pack.transform(copy.deepcopy(results))['data_samples']
        assert set(sample.metainfo) == {'img_id', 'flip'}
        assert 'pafs' in sample.gt_fields

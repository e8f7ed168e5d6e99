"""XNect3DHead: XNect's 3D branch, the masked 3D loss, flip test of the 3D
maps, predictions and configuration errors."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

from selecsls_mm.pose3d.scenes import SceneGenerator

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def codec_cfg(**kwargs):
    cfg = dict(
        type='PartAffinityField3D',
        input_size=(128, 96),
        heatmap_size=(16, 12),
        sigma=1,
        skeleton=dict(
            from_file='configs/_base_/datasets/coco.py',
            limbs='coco_redundant'))
    cfg.update(kwargs)
    return cfg


def build_head(**kwargs):
    cfg = dict(
        type='XNect3DHead',
        in_channels=32,
        num_keypoints=17,
        reduce_channels=16,
        deconv_channels=16,
        conv_channels=(12, 10),
        reduce_channels_3d=16,
        deconv_channels_3d=14,
        conv_channels_3d=12,
        fuse_channels_3d=(12, 10),
        decoder=codec_cfg())
    cfg.update(kwargs)
    return MODELS.build(cfg)


def sample_of(encoded: dict) -> PoseDataSample:
    sample = PoseDataSample()
    sample.gt_fields = PixelData(
        **{
            k: torch.from_numpy(encoded[k])
            for k in ('heatmaps', 'pafs', 'heatmap_weights', 'paf_weights',
                      'maps_3d', 'maps_3d_weights')
        })
    sample.set_metainfo(dict(flip_indices=COCO_FLIP))
    return sample


@pytest.fixture(scope='module')
def scenes():
    gen = SceneGenerator('train', image_size=(128, 96), num_people=(1, 3))
    rng = np.random.default_rng(7)
    return [gen(rng) for _ in range(2)]


def test_xnect_branch_layout():
    # the released model's 3D branch on SelecSLS-60's 416 channels
    head = MODELS.build(
        dict(
            type='XNect3DHead',
            in_channels=416,
            num_keypoints=17,
            decoder=codec_cfg(input_size=(512, 320), heatmap_size=(64, 40))))
    convs = [
        m for m in head.branch_3d.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0])
            for c in convs] == [(416, 256, 1), (256, 192, 4), (192, 160, 3)]
    fuse = [
        m for m in head.fuse_3d.modules() if isinstance(m, torch.nn.Conv2d)
    ]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0])
            for c in fuse] == [(160 + 128, 160, 1), (160, 128, 3)]
    assert head.final_layer_3d.out_channels == 63  # 21 joints x (x, y, z)
    heatmaps, pafs, maps_3d = head((torch.rand(1, 416, 20, 32), ))
    assert heatmaps.shape == (1, 17, 40, 64)
    assert pafs.shape == (1, 56, 40, 64)
    assert maps_3d.shape == (1, 63, 40, 64)


def test_3d_branch_reads_the_2d_features():
    head = build_head()
    feats = (torch.rand(1, 32, 6, 8), )
    _, _, before = head(feats)
    with torch.no_grad():
        head.layers[4].conv.weight.mul_(2.)  # the 2D conv that is fused
    _, _, after = head(feats)
    assert not torch.allclose(before, after)


def test_loss_counts_supervised_entries_only(scenes):
    head = build_head()
    codec = KEYPOINT_CODECS.build(codec_cfg())
    samples = []
    for scene in scenes:
        kpts, vis = scene.keypoints_2d()
        samples.append(
            sample_of(codec.encode(kpts, vis, scene.keypoints_3d())))
    feats = (torch.rand(2, 32, 6, 8), )
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_kpt', 'loss_paf', 'loss_3d'}
    pred = head(feats)[2].detach()
    gt = torch.stack([s.gt_fields.maps_3d for s in samples])
    w = torch.stack([s.gt_fields.maps_3d_weights for s in samples])
    expected = (((pred - gt)**2) * w).sum() / w.sum()
    assert torch.allclose(losses['loss_3d'], expected, rtol=1e-5)
    # images without 3D labels add nothing (COCO mixed in)
    empty = [
        sample_of(codec.encode(*scene.keypoints_2d())) for scene in scenes
    ]
    assert head.loss(feats, empty)['loss_3d'].item() == 0.


def test_flip_maps_3d_mirrors_the_people():
    """Maps of the mirrored image, flipped back, equal the original maps
    (people mirrored on the map grid, so the mirror is exact)."""
    head = build_head()
    codec = KEYPOINT_CODECS.build(codec_cfg())
    rng = np.random.default_rng(0)
    map_kpts = rng.uniform([1, 1], [14, 10], (2, 17, 2)).round()
    joints = rng.normal(0, 300, (2, 21, 3))
    vis = np.ones((2, 17))
    enc = codec.encode(map_kpts * 8, vis, joints)
    flip_3d = codec.joint_set.flip_indices
    mirrored = map_kpts[:, COCO_FLIP].copy()
    mirrored[..., 0] = 15 - mirrored[..., 0]
    mirrored_joints = joints[:, flip_3d] * [-1, 1, 1]
    enc_m = codec.encode(mirrored * 8, vis, mirrored_joints)
    back = head.flip_maps_3d(
        torch.from_numpy(enc_m['maps_3d'])[None], flip_3d)[0].numpy()
    back_w = head.flip_maps_3d(
        torch.from_numpy(enc_m['maps_3d_weights'])[None], flip_3d)[0].numpy()
    assert np.allclose(np.abs(back_w), enc['maps_3d_weights'])
    assert np.allclose(back, enc['maps_3d'], atol=1e-6)


def test_predict_packs_3d_fields(scenes):
    head = build_head()
    head.eval()
    feats = (torch.rand(1, 32, 6, 8), )
    samples = [PoseDataSample(metainfo=dict(flip_indices=COCO_FLIP))]
    preds = head.predict([feats, feats], samples,
                         dict(
                             flip_test=True,
                             shift_heatmap=True,
                             output_samples_3d=True))
    pred = preds[0]
    M = len(pred.keypoints)
    assert pred.keypoints_3d.shape == (M, 21, 3)
    assert pred.keypoints_3d_read.shape == (M, 21)
    assert pred.keypoints_3d_read.dtype == bool
    assert pred.samples_3d.shape == (M, 17, 63)
    plain = head.predict(feats, samples, {})[0]
    assert 'samples_3d' not in plain


def test_configuration_errors_are_one_line():
    with pytest.raises(ValueError, match='has 20 3D joints'):
        build_head(num_joints_3d=20)
    with pytest.raises(ValueError, match='PartAffinityField3D'):
        build_head(
            decoder=dict(
                type='PartAffinityField',
                input_size=(128, 96),
                heatmap_size=(16, 12),
                skeleton=dict(from_file='configs/_base_/datasets/coco.py')))
    with pytest.raises(ValueError, match='fuse_from=2'):
        build_head(fuse_from=2)

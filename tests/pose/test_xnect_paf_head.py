"""XNectPAFHead: shapes, masked losses, flip test, decoding and bad input."""
import os.path as osp

import mmpose
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

from tiny_coco import figure_keypoints

COCO_FILE = osp.join(
    osp.dirname(mmpose.__file__), '.mim/configs/_base_/datasets/coco.py')
COCO_META = parse_pose_metainfo(dict(from_file=COCO_FILE))
FLIP = COCO_META['flip_indices']


def codec_cfg(size=64, stride=1, **kwargs):
    return dict(
        type='PartAffinityField',
        input_size=(size, size),
        heatmap_size=(size // stride, size // stride),
        sigma=1.5,
        paf_width=1,
        skeleton=dict(from_file='configs/_base_/datasets/coco.py'),
        **kwargs)


def build_head(decoder=None, **kwargs):
    cfg = dict(
        type='XNectPAFHead',
        in_channels=32,
        num_keypoints=17,
        reduce_channels=24,
        deconv_channels=20,
        conv_channels=(16, 12),
        decoder=decoder)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def two_people(size=64):
    rng = np.random.default_rng(1)
    kpts = np.stack([
        figure_keypoints(size * 0.27, size * 0.1, size * 0.75, rng),
        figure_keypoints(size * 0.7, size * 0.15, size * 0.7, rng)
    ])
    return kpts, np.ones(kpts.shape[:2], dtype=np.float32)


def flip_people(kpts, vis, width):
    """Mirror the image (x -> W - 1 - x) and swap left/right labels."""
    flipped = kpts[:, FLIP].copy()
    flipped[..., 0] = width - 1 - flipped[..., 0]
    return flipped, vis[:, FLIP]


def test_forward_shapes_and_widths():
    head = build_head(decoder=codec_cfg())
    assert head.num_limbs == 19  # COCO skeleton from the codec
    heatmaps, pafs = head((torch.rand(2, 32, 5, 7), ))
    assert heatmaps.shape == (2, 17, 10, 14)  # stride 2 over the features
    assert pafs.shape == (2, 38, 10, 14)
    convs = [
        m for m in head.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]
    assert [c.out_channels for c in convs] == [24, 20, 16, 12, 17 + 38]
    assert isinstance(head.layers[1], torch.nn.ConvTranspose2d)
    assert head.layers[1].kernel_size == (4, 4)


def test_num_limbs_checks():
    with pytest.raises(ValueError, match='at least one limb'):
        build_head(num_limbs=0)
    with pytest.raises(ValueError, match='number of limbs'):
        build_head()
    with pytest.raises(ValueError, match='19 limbs'):
        build_head(decoder=codec_cfg(), num_limbs=5)
    assert build_head(num_limbs=3).num_limbs == 3


def test_codec_without_limbs_is_rejected():
    # a dataset whose skeleton has no limbs
    with pytest.raises(ValueError, match='no limbs'):
        build_head(decoder=dict(codec_cfg(), skeleton=[]))


def _samples(targets, mask=None, pack_pafs=True):
    samples = []
    for t in targets:
        fields = dict(heatmaps=torch.as_tensor(t['heatmaps']))
        if pack_pafs:
            fields['pafs'] = torch.as_tensor(t['pafs'])
        if mask is not None:
            fields['heatmap_mask'] = torch.as_tensor(mask)
        s = PoseDataSample()
        s.gt_fields = PixelData(**fields)
        samples.append(s)
    return samples


def test_loss_is_masked_like_mmpose_bottomup_heads():
    codec = KEYPOINT_CODECS.build(codec_cfg(32, stride=2))
    kpts, vis = two_people(32)
    target = codec.encode(kpts, vis)
    head = build_head(decoder=codec_cfg(32, stride=2))
    gt_h = torch.as_tensor(target['heatmaps'])[None]
    gt_p = torch.as_tensor(target['pafs'])[None]
    noise = torch.zeros(1, 1, 16, 16)
    noise[..., :, 8:] = 1.  # wrong predictions only in the right half
    head.forward = lambda feats: (gt_h + noise, gt_p + noise)

    mask = torch.ones(1, 16, 16, dtype=torch.bool)
    losses = head.loss((None, ), _samples([target], mask))
    assert losses['loss_kpt'] > 0.1 and losses['loss_paf'] > 0.1
    mask[..., 8:] = False  # e.g. a crowd region: ignored
    losses = head.loss((None, ), _samples([target], mask))
    assert losses['loss_kpt'] == 0 and losses['loss_paf'] == 0


def test_loss_errors_name_the_fix():
    codec = KEYPOINT_CODECS.build(codec_cfg(32, stride=2))
    target = codec.encode(*two_people(32))
    head = build_head(decoder=codec_cfg(32, stride=2))
    feats = (torch.rand(1, 32, 8, 8), )
    with pytest.raises(KeyError, match='PackPAFInputs'):
        head.loss(feats, _samples([target], pack_pafs=False))
    # targets at the wrong stride (heatmap_size != input_size / 8)
    with pytest.raises(ValueError, match='heatmap_size'):
        head.loss((torch.rand(1, 32, 4, 4), ), _samples([target]))
    assert set(head.loss(feats,
                         _samples([target]))) == {'loss_kpt', 'loss_paf'}


def test_flip_pafs_matches_targets_of_flipped_image():
    # stride 1, so mirroring the map is exactly mirroring the image
    size = 64
    codec = KEYPOINT_CODECS.build(codec_cfg(size))
    head = build_head(decoder=codec_cfg(size))
    kpts, vis = two_people(size)
    orig = codec.encode(kpts, vis)
    flipped = codec.encode(*flip_people(kpts, vis, size))
    restored = head.flip_pafs(torch.as_tensor(flipped['pafs'])[None],
                              FLIP)[0].numpy()
    assert np.abs(orig['pafs']).max() > 0.9
    # band edges may differ by float rounding of the mirrored coordinates
    close = np.isclose(restored, orig['pafs'], atol=1e-4)
    assert close.mean() > 0.995
    # without the limb swap and sign flips the fields would not match
    naive = torch.as_tensor(flipped['pafs']).flip(-1).numpy()
    assert np.isclose(naive, orig['pafs'], atol=1e-4).mean() < close.mean()


def test_flip_pafs_rejects_asymmetric_skeleton():
    head = build_head(decoder=dict(codec_cfg(), skeleton=[(5, 7), (7, 9)]))
    with pytest.raises(ValueError, match='flip_test=False'):
        head.flip_pafs(torch.zeros(1, 4, 8, 8), FLIP)


def _serve_maps(head, targets):
    """Make ``head``'s "network" return ``targets[feats]`` (encoded maps for
    the feature names 'orig' and 'flip'); returns a sample with COCO's flip
    indices."""
    head.forward = lambda feats: (
        torch.as_tensor(targets[feats][f])[None] for f in ('heatmaps', 'pafs'))
    return PoseDataSample(metainfo=dict(flip_indices=FLIP))


def _predict_with_targets(test_cfg, size=64, stride=2):
    """Run ``predict`` with a head whose "network" outputs encoded targets."""
    codec = KEYPOINT_CODECS.build(codec_cfg(size, stride))
    head = build_head(decoder=codec_cfg(size, stride))
    kpts, vis = two_people(size)
    width = size // stride
    targets = {
        'orig': codec.encode(kpts, vis),
        # flipping the input mirrors the maps (up to the half-pixel shift)
        'flip': codec.encode(*flip_people(kpts, vis, size)),
    }
    sample = _serve_maps(head, targets)
    feats = ['orig', 'flip'] if test_cfg.get('flip_test') else 'orig'
    preds = head.predict(feats, [sample], test_cfg=test_cfg)
    assert width == targets['orig']['heatmaps'].shape[-1]
    return kpts, preds


@pytest.mark.parametrize('flip_test', [False, True])
def test_predict_finds_the_people(flip_test):
    kpts, preds = _predict_with_targets(
        dict(flip_test=flip_test, shift_heatmap=flip_test))
    assert len(preds) == 1
    pred = preds[0]
    assert isinstance(pred, InstanceData)
    assert pred.keypoints.shape == (2, 17, 2)
    assert pred.keypoint_scores.shape == (2, 17)
    assert pred.bbox_scores.shape == (2, )
    assert pred.bboxes.shape == (2, 4)
    # match predicted people to the ground truth by their mean position
    order = np.argsort(pred.keypoints[:, :, 0].mean(1))
    err = np.linalg.norm(pred.keypoints[order] - kpts, axis=-1)
    assert err.max() < 1.5, err.max()
    assert (pred.keypoint_scores > 0.5).all()


def test_predict_output_heatmaps_and_multiscale_error():
    codec = codec_cfg(32, 2)
    head = build_head(decoder=codec)
    feats = (torch.rand(1, 32, 8, 8), )
    sample = PoseDataSample(metainfo=dict(flip_indices=FLIP))
    preds, fields = head.predict(
        feats, [sample], test_cfg=dict(output_heatmaps=True))
    assert fields[0].heatmaps.shape == (17, 16, 16)
    assert fields[0].pafs.shape == (38, 16, 16)
    with pytest.raises(NotImplementedError, match='multiscale_test'):
        head.predict(feats, [sample], test_cfg=dict(multiscale_test=True))


def test_decode_rejects_mismatched_heatmaps_and_pafs():
    head = build_head(decoder=codec_cfg(32, 2))
    with pytest.raises(ValueError, match='spatial size'):
        head.decode((torch.rand(1, 17, 16, 16), torch.rand(1, 38, 8, 8)))
    with pytest.raises(ValueError, match='38 PAF channels'):
        head.decode((torch.rand(1, 17, 16, 16), torch.rand(1, 36, 16, 16)))
    with pytest.raises(RuntimeError, match='no decoder'):
        build_head(num_limbs=19).decode(
            (torch.rand(1, 17, 8, 8), torch.rand(1, 38, 8, 8)))


def test_flip_test_averages_both_halves_with_mirrored_pafs():
    """The original maps show one person, the maps of the flipped image
    show two: the second person must come back from the flipped half alone,
    at half score, in the right place (so the flipped PAFs are mirrored
    with the right signs and the flipped half is used)."""
    size, stride = 64, 2
    codec = KEYPOINT_CODECS.build(codec_cfg(size, stride))
    head = build_head(decoder=codec_cfg(size, stride))
    kpts, vis = two_people(size)
    only_first = vis.copy()
    only_first[1] = 0
    targets = {
        'orig': codec.encode(kpts, only_first),
        'flip': codec.encode(*flip_people(kpts, vis, size)),
    }
    sample = _serve_maps(head, targets)
    pred = head.predict(['orig', 'flip'], [sample],
                        test_cfg=dict(flip_test=True, shift_heatmap=True))[0]
    assert len(pred.keypoints) == 2
    order = np.argsort(-pred.bbox_scores)
    first, second = pred.keypoints[order]
    scores = pred.keypoint_scores[order]
    assert np.abs(first - kpts[0]).max() < 1.5
    assert np.abs(second - kpts[1]).max() < 1.5
    # (peaks of the two halves are up to half a map pixel apart)
    assert (scores[0] > 0.8).all() and (scores[0] <= 1).all()
    assert (scores[1] > 0.35).all() and (scores[1] < 0.55).all()


@pytest.mark.parametrize('shift', [False, True])
def test_flip_test_shifts_only_when_asked(shift):
    """With ``shift_heatmap=False`` the flipped maps are mirrored and not
    moved; with True both heatmaps and PAFs move one pixel right."""
    head = build_head(decoder=codec_cfg(32, 2))
    width = 16
    orig = dict(
        heatmaps=np.zeros((17, 16, width), np.float32),
        pafs=np.zeros((38, 16, width), np.float32))
    flip = {k: v.copy() for k, v in orig.items()}
    flip['heatmaps'][0, 8, 3] = 1.  # the nose, 3 px from the left
    flip['pafs'][1, 8, 3] = 1.  # y component of limb 0
    sample = _serve_maps(head, dict(orig=orig, flip=flip))
    _, fields = head.predict(['orig', 'flip'], [sample],
                             test_cfg=dict(
                                 flip_test=True,
                                 shift_heatmap=shift,
                                 output_heatmaps=True))
    column = width - 1 - 3 + int(shift)  # mirrored (and shifted)
    for maps in (fields[0].heatmaps, fields[0].pafs):
        ys, xs = np.nonzero(maps.abs().sum(0).numpy())
        assert (ys.tolist(), xs.tolist()) == ([8], [column])

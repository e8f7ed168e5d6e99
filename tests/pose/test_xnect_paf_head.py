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
    # judged where a field is (most of the map is zero either way)
    field = (np.abs(orig['pafs']) > 0.1) | (np.abs(restored) > 0.1)
    assert close[field].mean() > 0.99
    # without the limb swap and sign flips the fields would not match
    naive = torch.as_tensor(flipped['pafs']).flip(-1).numpy()
    assert np.isclose(naive, orig['pafs'], atol=1e-4)[field].mean() < 0.6


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


def reference_flip_pafs(pafs, flip, skeleton, shift):
    """PAFs of the flipped image back in the original image, limb by limb
    and pixel by pixel (an independent reading of XNectPAFHead.flip_pafs's
    docstring)."""
    C, H, W = pafs.shape
    out = np.zeros_like(pafs)
    for limb, (a, b) in enumerate(skeleton):
        mirror = (flip[a], flip[b])
        sign = 1. if mirror in skeleton else -1.
        src = skeleton.index(mirror if sign > 0 else mirror[::-1])
        for x in range(W):
            vx, vy = pafs[2 * src:2 * src + 2, :, W - 1 - x]
            out[2 * limb, :, x] = -sign * vx
            out[2 * limb + 1, :, x] = sign * vy
    if shift:
        out[..., 1:] = out[..., :-1].copy()
    return out


COCO_SKELETON = [
    tuple(int(i) for i in limb)
    for limb in KEYPOINT_CODECS.build(codec_cfg()).skeleton
]


@pytest.mark.parametrize('shift', [False, True])
def test_flip_pafs_matches_a_pixel_by_pixel_reference(shift):
    """Random fields, COCO's flip indices, then a second flip table (each
    keypoint its own mirror) on the same head: the result follows the
    table of each call."""
    head = build_head(decoder=codec_cfg(32, 2))
    pafs = torch.randn(2, 38, 5, 7)
    identity = list(range(17))
    for flip in (FLIP, identity, FLIP):
        got = head.flip_pafs(pafs.clone(), flip, shift).numpy()
        for image in range(2):
            expected = reference_flip_pafs(pafs[image].numpy(), list(flip),
                                           COCO_SKELETON, shift)
            np.testing.assert_allclose(got[image], expected, atol=1e-6)


def test_flip_test_feeds_the_decoder_the_mean_of_both_halves():
    """What the decoder gets under flip test: the mean of the original
    maps and the flipped ones brought back (heatmaps as mmpose flips them,
    PAFs by the reference); ``shift_heatmap`` defaults to False."""
    from mmpose.models.utils.tta import flip_heatmaps
    head = build_head(decoder=codec_cfg(32, 2))
    rng = np.random.default_rng(0)
    maps = {
        name:
        dict(
            heatmaps=rng.random((17, 6, 8), dtype=np.float32),
            pafs=rng.standard_normal((38, 6, 8)).astype(np.float32))
        for name in ('orig', 'flip')
    }
    sample = _serve_maps(head, maps)
    seen = []
    head.decode = lambda outputs: seen.append(outputs) or []
    for test_cfg in (dict(flip_test=True),
                     dict(flip_test=True, shift_heatmap=True)):
        head.predict(['orig', 'flip'], [sample], test_cfg=test_cfg)
        shift = test_cfg.get('shift_heatmap', False)
        heatmaps, pafs = seen.pop()
        flipped = flip_heatmaps(
            torch.as_tensor(maps['flip']['heatmaps'])[None],
            flip_mode='heatmap',
            flip_indices=FLIP,
            shift_heatmap=shift)[0].numpy()
        np.testing.assert_allclose(
            heatmaps[0].numpy(), (maps['orig']['heatmaps'] + flipped) / 2,
            atol=1e-6)
        expected = (maps['orig']['pafs'] + reference_flip_pafs(
            maps['flip']['pafs'], FLIP, COCO_SKELETON, shift)) / 2
        np.testing.assert_allclose(pafs[0].numpy(), expected, atol=1e-6)


class _FixedDecoder:
    """A decoder that returns given people (the head packs them)."""

    def __init__(self, keypoints, scores, instance_scores):
        self.people = (keypoints, scores, instance_scores)
        self.skeleton = COCO_SKELETON
        self.num_keypoints = 17

    def decode(self, heatmaps, pafs, return_instance_scores):
        assert return_instance_scores
        return self.people


def test_predictions_are_float32_with_boxes_around_found_keypoints():
    head = build_head(num_limbs=19)
    kpts = np.arange(2 * 17 * 2, dtype=np.float64).reshape(2, 17, 2)
    scores = np.zeros((2, 17))
    scores[0, [3, 5]] = [0.5, 0.9]  # person 0: two keypoints found
    head.decoder = _FixedDecoder(kpts.tolist(), scores, np.array([[.7], [.2]]))
    pred = head.decode((torch.zeros(1, 17, 4, 4), torch.zeros(1, 38, 4, 4)))[0]
    for key in ('keypoints', 'keypoint_scores', 'bbox_scores', 'bboxes'):
        assert pred[key].dtype == np.float32, key
    np.testing.assert_array_equal(pred.keypoints, kpts)
    np.testing.assert_allclose(pred.keypoint_scores, scores, rtol=1e-6)
    np.testing.assert_allclose(pred.bbox_scores, [0.7, 0.2])
    # person 0: the box of its found keypoints; person 1 (none found): of all
    np.testing.assert_array_equal(pred.bboxes,
                                  [[6, 7, 10, 11], [34, 35, 66, 67]])
    head.decoder = _FixedDecoder(
        np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros(0))
    pred = head.decode((torch.zeros(1, 17, 4, 4), torch.zeros(1, 38, 4, 4)))[0]
    assert pred.keypoints.shape == (0, 17, 2) and pred.bboxes.shape == (0, 4)


def test_loss_uses_the_target_weights_and_mask():
    """With use_target_weight (the configs' setting) a keypoint or limb of
    weight 0 does not count; the loss is mmpose's mean of the weighted,
    masked squared error, computed here by hand."""
    head = build_head(
        num_limbs=19,
        heatmap_loss=dict(type='KeypointMSELoss', use_target_weight=True),
        paf_loss=dict(type='KeypointMSELoss', use_target_weight=True))
    rng = np.random.default_rng(3)
    pred_h, pred_p = (
        torch.as_tensor(rng.random((2, c, 4, 4)), dtype=torch.float32)
        for c in (17, 38))
    samples, gts = [], []
    for _ in range(2):
        gt = dict(
            heatmaps=torch.as_tensor(
                rng.random((17, 4, 4)), dtype=torch.float32),
            pafs=torch.as_tensor(rng.random((38, 4, 4)), dtype=torch.float32),
            heatmap_mask=torch.as_tensor(rng.random((1, 4, 4)) > 0.3),
            heatmap_weights=torch.as_tensor(rng.random(17) > 0.5),
            paf_weights=torch.as_tensor(rng.random(38) > 0.5))
        s = PoseDataSample()
        s.gt_fields = PixelData(**{
            k: v
            for k, v in gt.items() if 'weights' not in k
        })
        # weights are per channel, not pixel data
        s.gt_fields.set_field(gt['heatmap_weights'], 'heatmap_weights')
        s.gt_fields.set_field(gt['paf_weights'], 'paf_weights')
        samples.append(s)
        gts.append(gt)
    losses = head.losses_2d(pred_h, pred_p, samples)
    for key, pred, name in (('loss_kpt', pred_h, 'heatmaps'),
                            ('loss_paf', pred_p, 'pafs')):
        gt = torch.stack([g[name] for g in gts]).numpy()
        weights = torch.stack([
            g['heatmap_weights' if name == 'heatmaps' else 'paf_weights']
            for g in gts
        ]).numpy()[..., None, None]
        mask = torch.stack([g['heatmap_mask'] for g in gts]).numpy()
        expected = ((pred.numpy() - gt)**2 * weights * mask).mean()
        assert float(losses[key]) == pytest.approx(expected, rel=1e-5), key


def _modules(head, kind):
    return [m for m in head.modules() if isinstance(m, kind)]


def test_defaults_are_the_documented_head():
    """The docstring's defaults: 1x1 conv to 256, 4x4 stride-2 transposed
    conv to 192 (no bias: BN follows), 3x3 convs to 128 and 96, each
    followed by BN and ReLU, then a 1x1 output conv; norm, activation and
    the output kernel follow their arguments."""
    head = MODELS.build(
        dict(
            type='XNectPAFHead',
            in_channels=416,
            num_keypoints=17,
            num_limbs=19))
    convs = _modules(head, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    assert [c.out_channels for c in convs] == [256, 192, 128, 96, 55]
    assert convs[1].bias is None and convs[-1].kernel_size == (1, 1)
    assert len(_modules(head, torch.nn.BatchNorm2d)) == 4
    assert len(_modules(head, torch.nn.ReLU)) == 4
    head = build_head(
        num_limbs=19,
        norm_cfg=dict(type='GN', num_groups=4),
        act_cfg=dict(type='LeakyReLU'),
        final_kernel_size=5)
    assert len(_modules(head, torch.nn.GroupNorm)) == 4
    assert len(_modules(head, torch.nn.LeakyReLU)) == 4
    assert not _modules(head, torch.nn.BatchNorm2d)
    # the output conv keeps the map size whatever its kernel
    assert head((torch.rand(1, 32, 5, 7), ))[0].shape == (1, 17, 10, 14)


def test_init_weights():
    """Default init as mmpose's heatmap heads (normal, std 0.001; BN weight
    1); a given ``init_cfg`` replaces it."""
    head = build_head(
        num_limbs=19,
        in_channels=64,
        reduce_channels=64,
        deconv_channels=64,
        conv_channels=(64, 64))
    for bn in _modules(head, torch.nn.BatchNorm2d):
        bn.weight.data.fill_(5.)
    head.init_weights()
    for conv in _modules(head, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        assert 0.0008 < conv.weight.std() < 0.0012, conv
    for bn in _modules(head, torch.nn.BatchNorm2d):
        assert (bn.weight == 1).all()
    head = build_head(
        num_limbs=19, init_cfg=dict(type='Constant', layer='Conv2d', val=.5))
    head.init_weights()
    assert all((c.weight == .5).all() for c in _modules(head, torch.nn.Conv2d))


def test_one_limb_and_one_keypoint_are_enough():
    head = build_head(num_limbs=1, num_keypoints=1)
    heatmaps, pafs = head((torch.rand(1, 32, 2, 2), ))
    assert heatmaps.shape[1] == 1 and pafs.shape[1] == 2


def _head_with_decoder():
    return build_head(decoder=codec_cfg(32, 2))


# (what is done, the error, its whole line)
_ERRORS = {
    'no limb count': (lambda: build_head(), ValueError,
                      'XNectPAFHead needs the number of limbs: pass '
                      '`num_limbs` or a `decoder` whose skeleton defines '
                      'them.'),
    'limbs differ':
    (lambda: build_head(decoder=codec_cfg(), num_limbs=5), ValueError,
     'XNectPAFHead has num_limbs=5 but its decoder skeleton '
     'has 19 limbs; drop `num_limbs` to take it from the '
     'decoder.'),
    'no limbs': (lambda: build_head(num_limbs=0), ValueError,
                 'XNectPAFHead needs at least one limb to predict part '
                 'affinity fields, got a skeleton with none: check the '
                 "dataset metainfo's `skeleton_info` (or the codec's "
                 '`skeleton`).'),
    'no keypoints': (lambda: build_head(num_limbs=2, num_keypoints=0),
                     ValueError, 'num_keypoints must be positive, got 0.'),
    'keypoints differ':
    (lambda: build_head(decoder=codec_cfg(), num_keypoints=16), ValueError,
     'XNectPAFHead has num_keypoints=16 but its decoder '
     'has 17.'),
    'maps not 4D': (lambda: _head_with_decoder().decode(
        (torch.rand(1, 17, 8, 8), torch.rand(38, 8, 8))), ValueError,
                    'heatmaps and pafs must be (B, C, H, W), got '
                    '(1, 17, 8, 8) and (38, 8, 8)'),
    'batch differs': (lambda: _head_with_decoder().decode(
        (torch.rand(1, 17, 8, 8), torch.rand(2, 38, 8, 8))), ValueError,
                      'heatmaps (1, 17, 8, 8) and pafs (2, 38, 8, 8) must '
                      'share batch size and spatial size (both are the '
                      'stride-8 outputs of one image).'),
    'channels differ': (lambda: _head_with_decoder().decode(
        (torch.rand(1, 16, 8, 9), torch.rand(1, 36, 8, 9))), ValueError,
                        'Expected 17 heatmap and 38 PAF channels (19 '
                        'limbs), got 16 and 36.'),
    'no decoder': (lambda: build_head(num_limbs=19).decode(
        (torch.rand(1, 17, 8, 8), torch.rand(1, 38, 8, 8))), RuntimeError,
                   'XNectPAFHead has no decoder: set `decoder` (the '
                   'PartAffinityField codec) in the head config to '
                   'predict.'),
    'multiscale': (lambda: _head_with_decoder().predict(
        (torch.rand(1, 32, 8, 8), ), [PoseDataSample()],
        test_cfg=dict(multiscale_test=True)), NotImplementedError,
                   'XNectPAFHead does not support multiscale_test; set '
                   'model.test_cfg.multiscale_test=False.'),
    'flip of one image': (lambda: _head_with_decoder().predict(
        [(torch.rand(1, 32, 8, 8), )], [PoseDataSample()],
        test_cfg=dict(flip_test=True)), ValueError,
                          'flip_test expects features as [orig, flipped] '
                          'from BottomupPoseEstimator'),
    'flip without skeleton': (lambda: build_head(num_limbs=19).flip_pafs(
        torch.zeros(1, 38, 4, 4), FLIP), RuntimeError,
                              'flip_test needs the skeleton of the decoder '
                              'to swap left and right limbs.'),
    'flip table length': (lambda: _head_with_decoder().flip_pafs(
        torch.zeros(1, 38, 4, 4), FLIP[:5]), ValueError,
                          'flip_indices has 5 entries, expected 17.'),
    'asymmetric skeleton':
    (lambda: build_head(decoder=dict(codec_cfg(), skeleton=[(5, 7), (7, 9)])
                        ).flip_pafs(torch.zeros(1, 4, 8, 8), FLIP), ValueError,
     'Limb (5, 7) has no mirror (6, 8) in the '
     'skeleton, so flipped PAFs cannot be aligned; '
     'set model.test_cfg.flip_test=False or use a '
     'skeleton that is symmetric under flip_indices.'),
}


@pytest.mark.parametrize('case', list(_ERRORS))
def test_error_lines(case):
    action, error, line = _ERRORS[case]
    with pytest.raises(error) as info:
        action()
    assert str(info.value) == line


def test_loss_error_lines():
    codec = KEYPOINT_CODECS.build(codec_cfg(32, stride=2))
    target = codec.encode(*two_people(32))
    head = build_head(decoder=codec_cfg(32, stride=2))
    with pytest.raises(KeyError) as info:
        head.loss((torch.rand(1, 32, 8, 8), ),
                  _samples([target], pack_pafs=False))
    assert info.value.args[0] == (
        'XNectPAFHead.loss needs `pafs` in gt_fields: encode targets with '
        "`dict(type='GenerateTarget', encoder=dict(type='PartAffinityField',"
        " ...))` and pack them with `dict(type='PackPAFInputs')` (mmpose's "
        'PackPoseInputs drops `pafs`).')
    with pytest.raises(ValueError) as info:
        head.loss((torch.rand(1, 32, 4, 4), ), _samples([target]))
    assert str(info.value) == (
        'Predicted heatmaps (1, 17, 8, 8) and targets (1, 17, 16, 16) '
        'differ: the codec must use `heatmap_size` = `input_size` / 8 (the '
        'head outputs at stride 8 of a stride-16 feature map) and the same '
        'keypoints and skeleton as the head.')
    head.forward = lambda feats: (torch.as_tensor(target['heatmaps'])[None],
                                  torch.zeros(1, 38, 8, 8))
    with pytest.raises(ValueError, match='^Predicted pafs '):
        head.loss(None, _samples([target]))

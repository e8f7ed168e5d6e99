"""The PAF decoder where people overlap (issue 17): perfect maps of people
placed independently of each other, so that they often stand in front of
each other, must come back whole.

The decoder was tuned on seeds 1-6 of these scene sets (seeds 2017-2018,
9001 and 9002 were looked at on the way); the bounds below are measured on
seed 9003, drawn only after the decoder was final. Crowds are drawn from two
generators: the project's synthetic people and real motion capture
(DeepMimic clips vendored in selecsls_mm/pose3d/data/deepmimic, see
``motion_poses.py``).
"""
import numpy as np
import pytest
from motion_poses import MotionPoseSampler, clip_names, load_clips

from selecsls_mm.pose.codecs import PartAffinityField
from selecsls_mm.pose.codecs.paf_grouping import (assemble_people,
                                                  find_peaks_upsampled,
                                                  match_limbs,
                                                  single_gaussian_channels)
from selecsls_mm.pose.codecs.utils.people_clustering import cluster_people
from selecsls_mm.pose.synthetic import (crowd_scene, random_pose,
                                        realistic_scene, synthetic_scene)
from coco_eval import pooled_round_trip_ap, round_trip_ap

HELD_OUT_SEED = 9003
# Ten more held-out scene sets, drawn on 2026-12-01 after the decoder was
# final, scored as one: a single set of 12 crowd images varies by +-0.02 AP
POOLED_SEEDS = tuple(range(9101, 9111))
CONFIG_512 = dict(input_size=(512, 512), heatmap_size=(64, 64))
CONFIG_320 = dict(input_size=(512, 320), heatmap_size=(64, 40))


def motion_sampler():
    return MotionPoseSampler(load_clips(clip_names()))


def issue_scenes(kind: str, seed: int, poses=None) -> list:
    """The scene sets of issue 17, people placed independently
    (``min_separation=0``); ``poses`` draws the people (default the
    synthetic generator; real poses are not rotated)."""
    rng = np.random.default_rng(seed)
    real = dict(pose_sampler=poses, max_rotation=0.) if poses else {}
    if kind == 'realistic':  # 1-10 people, 40% cut, 15% unlabelled
        return [
            realistic_scene(rng, (512, 320), min_separation=0., **real)
            for _ in range(60)
        ]
    if kind == 'crowd':  # 15-25 people 40-80 px tall
        return [crowd_scene(rng, min_separation=0., **real) for _ in range(12)]
    if kind == 'mid':  # 8-16 people 60-120 px tall
        return [
            crowd_scene(
                rng,
                num_people=int(rng.integers(8, 17)),
                height_range=(60., 120.),
                min_separation=0.,
                **real) for _ in range(15)
        ]
    raise KeyError(kind)


def _check(codec, scenes, size, max_dets, min_ap):
    result, labelled, decoded = round_trip_ap(codec, scenes, size, max_dets)
    print(result, labelled, decoded)
    assert result['AP'] >= min_ap, result
    assert abs(decoded - labelled) <= 0.02 * labelled, (decoded, labelled)


# ----------------------------------------------------- held-out round trips
def test_realistic_scenes_placed_independently():
    """512x320 (XNect's real-time input): 1-10 people that may stand in
    front of each other, rotated, cut by the frame, 15% unlabelled."""
    scenes = issue_scenes('realistic', HELD_OUT_SEED)
    # 0.968 measured; the previous decoder (greedy-1x) 0.944
    _check(PartAffinityField(**CONFIG_320), scenes, (512, 320), 20, 0.965)


@pytest.mark.parametrize(
    'kind, max_dets, min_ap',
    [
        ('crowd', 30, 0.965),  # 0.970 measured; the previous decoder 0.955
        ('mid', 30, 0.975),  # 0.978 measured; the previous decoder 0.966
    ])
def test_synthetic_crowds_placed_independently(kind, max_dets, min_ap):
    scenes = issue_scenes(kind, HELD_OUT_SEED)
    _check(
        PartAffinityField(**CONFIG_512), scenes, (512, 512), max_dets, min_ap)


@pytest.mark.parametrize(
    'kind, max_dets, min_ap',
    [
        ('crowd', 30, 0.94),  # 0.945 measured; the previous decoder 0.93x
        ('mid', 30, 0.965),  # 0.974 measured
        ('realistic', 20, 0.955),  # 0.961 measured
    ])
def test_real_motion_poses_placed_independently(kind, max_dets, min_ap):
    """The same scene sets with people from real motion capture."""
    scenes = issue_scenes(kind, HELD_OUT_SEED, motion_sampler())
    size = (512, 320) if kind == 'realistic' else (512, 512)
    config = CONFIG_320 if kind == 'realistic' else CONFIG_512
    _check(PartAffinityField(**config), scenes, size, max_dets, min_ap)


@pytest.mark.slow
@pytest.mark.parametrize('real', [False, True])
def test_crowds_of_ten_held_out_seeds(real):
    """The issue's crowds (15-25 people 40-80 px tall, 30 detections) over
    POOLED_SEEDS: 120 images, about 2400 people, scored as one."""
    poses = motion_sampler() if real else None
    sets = [issue_scenes('crowd', seed, poses) for seed in POOLED_SEEDS]
    result, labelled, decoded, per_seed = pooled_round_trip_ap(
        PartAffinityField(**CONFIG_512), sets, (512, 512), 30)
    print(result, labelled, decoded, np.round(per_seed, 3))
    # measured: synthetic 0.962 (seeds 0.955-0.982), real motion 0.958
    # (0.949-0.976)
    assert result['AP'] >= 0.955, result
    assert min(per_seed) >= 0.94, per_seed
    assert abs(decoded - labelled) <= 0.02 * labelled, (decoded, labelled)


# --------------------------------------------------------- the causes
def _groups(people, names):
    return sorted(''.join(sorted(names[p] for p in row if p >= 0))
                  for row in people)


def test_summed_evidence_keeps_overlapping_people_apart():
    """Where two torsos overlap, the averaged field can make a wrong limb
    outscore the right one on every single limb; the right pairing has more
    limbs that agree. Types: 0 shoulder, 1 elbow, 2 hip, 3 knee; people A
    (peaks 0-3) and B (peaks 4-7); numbers from a decoded crowd."""
    skeleton = [(0, 1), (0, 2), (1, 2), (2, 3)]
    types = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    names = 'SEHKsehk'  # A upper case, B lower case
    cand = [
        (0, 1, 1.0),
        (4, 5, 1.0),
        (2, 3, 1.0),
        (6, 7, 1.0),  # arms, legs
        (0, 2, 0.79),
        (1, 2, 0.86),
        (4, 6, 0.92),
        (5, 6, 0.95),  # torsos
        (5, 2, 0.96),
        (1, 6, 0.94)  # B's elbow - A's hip and A's elbow - B's
    ]  # hip: each beats the right limb, but no shoulder-hip limb backs it
    starts, ends, scores = (np.array(c) for c in zip(*cand))
    people = cluster_people(starts, ends, scores, types, skeleton, 4, 2.0)
    assert _groups(people, names) == ['EHKS', 'ehks']
    # OpenPose's greedy matching takes the best limb first and pairs the
    # wrong halves
    limbs = np.array(
        [skeleton.index(tuple(types[[s, e]])) for s, e in zip(starts, ends)])
    accepted = match_limbs(limbs, starts, ends, scores, 4, 8)
    greedy = assemble_people(starts[accepted], ends[accepted], types, 4)
    assert _groups(greedy, names) == ['EShk', 'HKes']


def _person(rng, height=200.):
    return random_pose(rng, max_rotation=0., articulation=0.5) * height


def test_coincident_keypoints_are_given_to_both_people():
    """Two people whose right wrists touch: one peak, both get it."""
    rng = np.random.default_rng(5)
    a = _person(rng) + (180., 256.)
    b = _person(rng) + (330., 256.)
    b += a[10] - b[10] + (1., 2.)  # right wrists 2.2 px apart
    kpts = np.stack([a, b]).astype(np.float32)
    codec = PartAffinityField(**CONFIG_512)
    enc = codec.encode(kpts)
    for share, found in ((True, [True, True]), (False, [True, False])):
        codec.decode_share_peaks = share
        pred, scores = codec.decode(enc['heatmaps'], enc['pafs'])
        assert len(pred) == 2
        order = [np.argmin(np.abs(pred[:, 0] - k[0]).sum(1)) for k in kpts]
        has = sorted(bool(scores[i, 10] > 0) for i in order)[::-1]
        assert has == found, share
        if share:
            err = np.linalg.norm(pred[order][:, 10] - kpts[:, 10], axis=-1)
            assert err.max() < 4  # half a map pixel of stride 8


def test_nearly_coinciding_people_come_out_as_two():
    """B stands right behind A (upper bodies within 2 px, legs apart): the
    upper body is one set of peaks, B is found from its own legs."""
    rng = np.random.default_rng(6)
    a = _person(rng) + (256., 256.)
    b = a + (1.5, -1.)
    b[11:] = _person(rng)[11:] + (256., 256.) + (40., 0.)  # hips, legs
    kpts = np.stack([a, b]).astype(np.float32)
    codec = PartAffinityField(**CONFIG_512)
    enc = codec.encode(kpts)
    pred, scores = codec.decode(enc['heatmaps'], enc['pafs'])
    assert len(pred) == 2 and (scores > 0).all()
    for k in kpts:
        err = np.linalg.norm(pred - k, axis=-1).max(1).min()
        assert err < 4
    codec.decode_share_peaks = False
    pred, scores = codec.decode(enc['heatmaps'], enc['pafs'])
    assert sorted((scores > 0).sum(1)) != [17, 17]


def test_upsampled_search_only_where_a_peak_is_not_one_gaussian(monkeypatch):
    import selecsls_mm.pose.codecs.paf_grouping as grouping
    codec = PartAffinityField((64, 64), (64, 64), skeleton=[(0, 1)])
    kpts = np.array([[[20.3, 30.0], [40.0, 50.0]], [[21.6, 30.4], [10.0, 10.0]]
                     ],
                    dtype=np.float32)
    heatmaps = codec.encode(kpts)['heatmaps']
    single = single_gaussian_channels(
        heatmaps, np.array([[20., 30.], [40., 50.], [10., 10.]]),
        np.array([0, 1, 1]), 2.0)
    assert single.tolist() == [False, True]  # channel 0: two wrists merged
    gated = find_peaks_upsampled(heatmaps, 0.1, 3, 5, 2, True, sigma=2.0)
    full = find_peaks_upsampled(heatmaps, 0.1, 3, 5, 2, True)
    for coords, _, types in (gated, full):
        found = np.sort(coords[types == 0, 0])
        np.testing.assert_allclose(found, kpts[:, 0, 0], atol=0.25)
    np.testing.assert_allclose(
        gated[0][gated[2] == 1], full[0][full[2] == 1], atol=1e-6)
    # a scene of single Gaussians is never upsampled
    monkeypatch.setattr(grouping, 'upsample2_cubic', None)
    rng = np.random.default_rng(0)
    kpts, vis = synthetic_scene(
        rng, (512, 512), 3, (200, 300), min_separation=60)
    enc = PartAffinityField(**CONFIG_512).encode(kpts, vis)
    PartAffinityField(**CONFIG_512).decode(enc['heatmaps'], enc['pafs'])


# ------------------------------------------------------------ real poses
def test_real_motion_poses_are_human():
    """Forward kinematics of the clips: fixed bone lengths, the walking
    actor upright with the person's left on the image right when seen
    from the front."""
    joints = load_clips(clip_names())
    for a, b, length in ((5, 7, 0.275), (7, 9, 0.259), (11, 13, 0.422),
                         (13, 15, 0.41), (5, 6, 0.366)):
        bone = np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)
        np.testing.assert_allclose(bone, length, atol=2e-3)
    walk = load_clips(['walk'])[0]
    up = walk[:, 1]
    assert up[[1, 2]].min() > up[[5, 6]].max() > up[[11, 12]].max() > \
        up[[13, 14]].max() > up[[15, 16]].max()
    # DeepMimic: x forward, y up, z to the person's right
    assert walk[5, 2] < walk[6, 2] and walk[11, 2] < walk[12, 2]
    sampler = MotionPoseSampler(joints)
    pose = sampler(np.random.default_rng(0))
    assert pose.shape == (17, 2)
    np.testing.assert_allclose(np.ptp(pose, 0).max(), 1.0)


def test_scenes_take_poses_from_a_sampler():
    """synthetic_scene draws people from a pose sampler, rotated."""
    template = random_pose(np.random.default_rng(0), 0.)
    kpts, _ = synthetic_scene(
        np.random.default_rng(1), (512, 512),
        2, (100, 100),
        max_rotation=0.,
        pose_sampler=lambda rng: template)
    for k in kpts:
        np.testing.assert_allclose(
            k - k.mean(0), (template - template.mean(0)) * 100, atol=1e-3)
    kpts, _ = synthetic_scene(
        np.random.default_rng(1), (512, 512),
        2, (100, 100),
        max_rotation=30.,
        pose_sampler=lambda rng: template)
    assert not np.allclose(
        kpts[0] - kpts[0].mean(0), (template - template.mean(0)) * 100, atol=1)


def print_issue_table(seeds) -> None:
    """AP of the configs' decoder and of the previous one (greedy-1x) on
    the issue's scene sets drawn with ``seeds``, scored as one (with each
    seed's range where there are several)."""
    from selecsls_mm.benchmark.paf_decode import DECODER_VARIANTS
    sampler = motion_sampler()
    print('| scenes | poses | greedy-1x: AP, decoded/labelled | '
          'now: AP, decoded/labelled |\n|---|---|---|---|')
    for kind in ('realistic', 'crowd', 'mid'):
        for poses in (None, sampler):
            sets = [issue_scenes(kind, seed, poses) for seed in seeds]
            real = kind == 'realistic'
            size, config = ((512, 320), CONFIG_320) if real else ((512, 512),
                                                                  CONFIG_512)
            cells = []
            for variant in (DECODER_VARIANTS['greedy-1x'], {}):
                result, labelled, decoded, per_seed = pooled_round_trip_ap(
                    PartAffinityField(**config, **variant), sets, size,
                    20 if real else 30)
                below = sum(ap < 0.95 for ap in per_seed)
                spread = (f' ({min(per_seed):.3f}-{max(per_seed):.3f}, '
                          f'{below} below 0.95)' if len(per_seed) > 1 else '')
                cells.append(f"{result['AP']:.3f}{spread}, "
                             f'{decoded}/{labelled}')
            print(f"| {kind} | {'motion' if poses else 'synthetic'} | "
                  f'{cells[0]} | {cells[1]} |')


def _seeds(text: str) -> list:
    """``9003``, ``9101-9110`` or several, comma-separated."""
    seeds = []
    for part in text.split(','):
        first, _, last = part.partition('-')
        seeds += range(int(first), int(last or first) + 1)
    return seeds


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(description=print_issue_table.__doc__)
    parser.add_argument(
        '--seed',
        type=_seeds,
        default=[HELD_OUT_SEED],
        help='a seed (9003), or ranges scored as one (9101-9110 or '
        '101-106,9003-9005)')
    print_issue_table(parser.parse_args().seed)

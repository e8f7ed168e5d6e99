"""PartAffinityField3D: perfect maps of real-motion scenes (people hiding each
other, cut by the frame) encoded and decoded again, on held-out scenes
(clips, cameras and photos never used to develop the codec), and its errors
on bad input."""
import numpy as np
import pytest
from scene_fixtures import match_people

from selecsls_mm.pose3d.codecs import PartAffinityField3D
from selecsls_mm.pose3d.joint_sets import get_joint_set
from selecsls_mm.pose3d.metrics.functional import joint_errors
from selecsls_mm.pose3d.scenes import SceneGenerator

SKELETON = dict(
    from_file='configs/_base_/datasets/coco.py', limbs='coco_redundant')


def make_codec(**kwargs) -> PartAffinityField3D:
    args = dict(
        input_size=(512, 320), heatmap_size=(64, 40), skeleton=SKELETON)
    args.update(kwargs)
    return PartAffinityField3D(**args)


def round_trip(codec, scenes):
    """Encode each scene's people, decode the perfect maps and compare.

    Returns:
        dict: ``exact_errors`` (mm) of read joints all of whose found
        readers lie within 0.5 map px of their person's labelled keypoint,
        ``readable`` (joints with a labelled reader, per matched or missed
        person) and ``pck`` (3DPCK@150 over the readable joints; a joint
        not read or of a missed person counts as wrong).
    """
    js = codec.joint_set
    readers = js.readers
    exact, hits, readable = [], 0, 0
    for scene in scenes:
        kpts, vis = scene.keypoints_2d()
        joints = scene.keypoints_3d(js)
        enc = codec.encode(kpts, vis, joints)
        dec_k, dec_s, dec_j, read = codec.decode(enc['heatmaps'], enc['pafs'],
                                                 enc['maps_3d'])
        truth = joints - joints[:, js.root:js.root + 1]
        has_reader = np.stack([vis[:, list(r)].max(1) > 0 for r in readers],
                              axis=1)
        readable += has_reader.sum()
        for m, n in match_people(dec_k, dec_s, kpts, vis):
            err = joint_errors(dec_j[m:m + 1], truth[n:n + 1])[0]
            hits += ((err <= 150) & read[m] & has_reader[n]).sum()
            # found where the person's labelled keypoint is (else it is
            # someone else's, given to this person by the 2D grouping)
            near = (np.linalg.norm(dec_k[m] - kpts[n], axis=-1) <= 4.) & (
                vis[n] > 0)
            for j in np.nonzero(read[m])[0]:
                found = [k for k in readers[j] if dec_s[m, k] > 0]
                if all(near[k] for k in found):
                    exact.append(err[j])
    return dict(
        exact_errors=np.asarray(exact),
        readable=readable,
        pck=hits / max(readable, 1))


@pytest.fixture(scope='module')
def held_out_scenes():
    gen = SceneGenerator('held_out')
    rng = np.random.default_rng(20261130)
    return [gen(rng) for _ in range(40)]


def test_round_trip_on_held_out_scenes(held_out_scenes):
    result = round_trip(make_codec(), held_out_scenes)
    errors = result['exact_errors']
    print(f"read joints {len(errors)}, max error {errors.max():.3f} mm, "
          f"3DPCK@150 {result['pck']:.4f} over {result['readable']} "
          'readable joints')
    assert len(errors) > 1000
    assert errors.max() <= 5.0
    assert result['pck'] >= 0.95


def test_joints_are_read_at_their_neighbours(held_out_scenes):
    # a person whose wrist is hidden still has the wrist read at the elbow
    codec = make_codec()
    js = codec.joint_set
    scene = held_out_scenes[0]
    kpts, vis = scene.keypoints_2d()
    joints = scene.keypoints_3d()
    vis = vis.copy()
    wrist = js.names.index('left_wrist')
    vis[:, wrist] = 0
    enc = codec.encode(kpts, vis, joints)
    dec_k, dec_s, dec_j, read = codec.decode(enc['heatmaps'], enc['pafs'],
                                             enc['maps_3d'])
    truth = joints - joints[:, js.root:js.root + 1]
    elbow = js.names.index('left_elbow')
    checked = 0
    for m, n in match_people(dec_k, dec_s, kpts, vis):
        assert dec_s[m, wrist] == 0
        if dec_s[m, elbow] > 0:
            assert read[m, wrist]
            assert np.linalg.norm(dec_j[m, wrist] - truth[n, wrist]) < 5
            checked += 1
    assert checked


def test_encode_writes_only_the_neighbourhood():
    codec = make_codec()
    js = codec.joint_set
    kpts = np.zeros((1, 17, 2), np.float32)
    kpts[0, :, 0] = np.arange(17) * 28 + 20  # 3.5 map px apart
    kpts[0, :, 1] = 160
    joints = np.random.default_rng(0).normal(0, 400, (1, 21, 3))
    enc = codec.encode(kpts, np.ones((1, 17)), joints)
    weights = enc['maps_3d_weights'].reshape(21, 3, 40, 64)
    elbow = js.names.index('left_elbow')  # COCO keypoint 7
    x = int(round(kpts[0, elbow, 0] / 8))  # map pixel of the elbow
    at_elbow = weights[:, 0, 20, x]
    expected = {
        js.names.index(n)
        for n in ('left_elbow', 'left_shoulder', 'left_wrist')
    }
    assert set(np.nonzero(at_elbow)[0]) == expected
    maps = enc['maps_3d'].reshape(21, 3, 40, 64)
    root = js.root
    assert np.allclose(
        maps[elbow, :, 20, x] * 1000,
        joints[0, elbow] - joints[0, root],
        atol=1e-3)
    # far from every keypoint nothing is supervised
    assert weights[:, :, 0, :].sum() == 0


def test_no_3d_labels_leave_maps_unsupervised():
    codec = make_codec()
    kpts = np.full((1, 17, 2), 100., np.float32)
    enc = codec.encode(kpts, np.ones((1, 17)))
    assert enc['maps_3d_weights'].sum() == 0
    assert enc['heatmaps'].max() > 0.9


def test_missing_root_label_drops_the_person_3d():
    codec = make_codec()
    js = codec.joint_set
    kpts = np.full((1, 17, 2), 100., np.float32)
    vis3d = np.ones((1, 21))
    vis3d[0, js.root] = 0
    enc = codec.encode(kpts, np.ones((1, 17)), np.ones((1, 21, 3)), vis3d)
    assert enc['maps_3d_weights'].sum() == 0
    assert enc['keypoints_3d_weights'].sum() == 0


def test_bad_input_is_one_line():
    codec = make_codec()
    kpts = np.full((1, 17, 2), 100., np.float32)
    with pytest.raises(ValueError, match="joint set 'coco21' has 21"):
        codec.encode(kpts, np.ones((1, 17)), np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match="has 20 3D joints"):
        codec.decode(
            np.zeros((17, 40, 64)), np.zeros((56, 40, 64)),
            np.zeros((60, 40, 64)))
    with pytest.raises(ValueError, match='unknown 3D joint set'):
        make_codec(joint_set='coco19')
    with pytest.raises(ValueError, match="COCO's 17"):
        make_codec(skeleton=[(0, 1), (1, 2)])


def test_codec_exposes_joint_names_and_root():
    codec = make_codec(joint_set='muco21')
    assert codec.joint_names_3d == get_joint_set('muco21').names
    assert codec.joint_names_3d[codec.root_index] == 'pelvis'
    assert codec.num_joints_3d == 21

"""XNectLifter: the training/test path (dataset, packing, collate, the
model's own encoding) and the deployment path (``lift`` on a frame's
read-outs) agree; the losses are what their docstring says."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS

from selecsls_mm.pose3d.lifting import MotionLiftingDataset
from selecsls_mm.pose3d.lifting.timing import time_lifting
from helpers import assert_refusals

READOUT = ('keypoints', 'keypoints_visible', 'keypoint_scores', 'samples_3d')


@pytest.fixture(autouse=True)
def _mmpose_scope():
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


@pytest.fixture(scope='module')
def people():
    """Eight held-out people, packed as the dataloader packs them, and
    their raw read-outs and targets."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        data = MotionLiftingDataset(
            'held_out',
            num_samples=8,
            test_mode=True,
            pipeline=[dict(type='PackLiftingInputs')])
        batch = pseudo_collate([data[i] for i in range(8)])
    infos = [data.get_data_info(i) for i in range(8)]
    raw = {k: np.concatenate([x[k] for x in infos]) for k in READOUT}
    target = np.concatenate([x['lifting_target'] for x in infos])
    return batch, raw, target


def lifter(**kwargs):
    model = MODELS.build(
        dict(
            type='XNectLifter',
            codec=dict(type='XNectLiftingFeatures'),
            **kwargs))
    # trained-looking BN statistics, so eval mode is not the identity
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_predict_matches_lift(people):
    batch, raw, _ = people
    model = lifter()
    samples = model.test_step(batch)
    pred = np.concatenate([s.pred_instances.keypoints_3d for s in samples])
    assert pred.shape == (8, 21, 3)
    np.testing.assert_allclose(pred, model.lift(raw), rtol=1e-5, atol=1e-3)
    assert not pred[:, model.joint_set.root].any()
    # one person at a time gives the same (no batch statistics in eval)
    one = model.lift({k: v[3:4] for k, v in raw.items()})
    np.testing.assert_allclose(one[0], pred[3], rtol=1e-5, atol=1e-3)


def test_lift_of_a_training_model_is_eval_and_keeps_it_training(people):
    _, raw, _ = people
    model = lifter()
    expected = model.lift(raw)
    stats = [
        m.running_mean.clone() for m in model.modules()
        if isinstance(m, torch.nn.BatchNorm1d)
    ]
    model.train()
    np.testing.assert_allclose(model.lift(raw), expected, rtol=1e-6)
    assert model.training and all(m.training for m in model.modules())
    after = [
        m.running_mean for m in model.modules()
        if isinstance(m, torch.nn.BatchNorm1d)
    ]
    assert all(torch.equal(a, b) for a, b in zip(stats, after))


def _torch_lift(model, raw):
    with torch.no_grad():
        return model.eval().forward_pose(model.features(raw)).numpy()


@pytest.mark.parametrize('skip', [True, False])
def test_lift_on_the_cpu_follows_every_change_of_the_weights(people, skip):
    """lift (numpy on the CPU) against torch's eval-mode forward, after
    in-place changes, a load_state_dict, a replaced layer and a move."""
    _, raw, _ = people
    model = lifter(linear_skip=skip)
    np.testing.assert_allclose(
        model.lift(raw), _torch_lift(model, raw), rtol=1e-5, atol=1e-3)
    before = model.lift(raw)
    with torch.no_grad():
        model.net[0].weight.mul_(1.5)
    model.net[4].running_var.data.mul_(4.)  # bypasses autograd's counters
    changed = model.lift(raw)
    assert np.abs(changed - before).max() > 1.
    np.testing.assert_allclose(
        changed, _torch_lift(model, raw), rtol=1e-5, atol=1e-3)
    other = lifter(linear_skip=skip)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(1.05)
    model.load_state_dict(other.state_dict())
    np.testing.assert_allclose(
        model.lift(raw), other.lift(raw), rtol=1e-5, atol=1e-3)
    layer = torch.nn.Linear(160, 256)
    layer.load_state_dict(model.net[3].state_dict())
    with torch.no_grad():
        layer.weight.mul_(0.9)
    model.net[3] = layer
    assert np.abs(model.lift(raw) - other.lift(raw)).max() > 1.
    np.testing.assert_allclose(
        model.lift(raw), _torch_lift(model, raw), rtol=1e-5, atol=1e-3)
    model.to(torch.float64).to(torch.float32)  # new tensors
    with torch.no_grad():
        model.net[0].weight.mul_(0.5)
    np.testing.assert_allclose(
        model.lift(raw), _torch_lift(model, raw), rtol=1e-5, atol=1e-3)
    model.net[2] = torch.nn.GELU()  # not numpy's: torch runs it
    np.testing.assert_allclose(
        model.lift(raw), _torch_lift(model, raw), rtol=1e-5, atol=1e-3)


def test_lift_leaves_to_torch_what_numpy_does_not_run(people):
    """A hook added after a first lift, weight_norm, another layer type in
    training mode, and a pickled model: lift gives torch's eval output."""
    _, raw, _ = people
    model = lifter()
    model.lift(raw)  # views made
    handle = model.net[9].register_forward_hook(lambda m, i, o: o * 0.5)
    np.testing.assert_allclose(
        model.lift(raw), _torch_lift(model, raw), rtol=1e-5, atol=1e-3)
    assert np.abs(model.lift(raw) - _torch_lift(lifter(), raw)).max() > 1.
    handle.remove()
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: o * 0.5 if m is model.net[9] else None)
    try:  # a global hook: the numpy path is refused as well
        np.testing.assert_allclose(
            model.lift(raw), _torch_lift(model, raw), rtol=1e-5, atol=1e-3)
        assert np.abs(model.lift(raw) - _torch_lift(lifter(), raw)).max() > 1.
    finally:
        handle.remove()
    torch.nn.utils.weight_norm(model.net[3])
    with torch.no_grad():
        model.net[3].weight_g.mul_(1.5)
    np.testing.assert_allclose(
        model.lift(raw), _torch_lift(model, raw), rtol=1e-5, atol=1e-3)
    model = lifter()
    model.net[5] = torch.nn.GELU()
    expected = _torch_lift(model, raw)
    model.train()
    np.testing.assert_allclose(model.lift(raw), expected, rtol=1e-5, atol=1e-3)
    assert model.training
    model = lifter()
    model.lift(raw)
    again = pickle.loads(pickle.dumps(model))
    with torch.no_grad():
        again.net[0].weight.mul_(1.2)
    np.testing.assert_allclose(
        again.lift(raw), _torch_lift(again, raw), rtol=1e-5, atol=1e-3)


def _assert_joint_and_bone_losses(losses, pose, target, parents):
    """The losses are the mean joint and bone-vector errors over every
    joint that has a parent, in metres (numpy reference)."""
    child = np.flatnonzero(parents >= 0)
    assert len(child) == len(parents) - 1
    joints = np.linalg.norm(pose[:, child] - target[:, child], axis=-1)
    bones = np.linalg.norm(
        (pose[:, child] - pose[:, parents[child]]) -
        (target[:, child] - target[:, parents[child]]),
        axis=-1)
    assert losses['loss_joints'].item() == pytest.approx(
        joints.mean() / 1000, rel=1e-4)
    assert losses['loss_bones'].item() == pytest.approx(
        bones.mean() / 1000, rel=1e-4)


@pytest.mark.parametrize('skip', [True, False])
def test_losses_are_joint_and_bone_errors_in_metres(people, skip):
    batch, raw, target = people
    model = lifter(linear_skip=skip)
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    pose = model.lift(raw).astype(np.float64)
    _assert_joint_and_bone_losses(losses, pose, target,
                                  np.asarray(model.joint_set.parents))
    all_joints = np.linalg.norm(pose - target, axis=-1).mean()
    assert losses['mpjpe'].item() == pytest.approx(all_joints, rel=1e-4)


def test_time_lifting_reports_per_person():
    rows = time_lifting(lifter(), num_people=(1, 4), iters=2, warmup=1)
    assert [r['num_people'] for r in rows] == [1, 4]
    for r in rows:
        assert r['ms_per_person'] == pytest.approx(r['ms'] / r['num_people'])
        assert r['ms'] > 0 and r['network_ms'] > 0


def test_build_lifter_leaves_the_default_scope_alone():
    """The benchmark's lifter build must not leave mmpose's scope set: later
    builds of mmpretrain's transforms (``PackInputs``) would look in
    mmpose's registry and fail (they did, in the full suite)."""
    from mmengine.registry import DefaultScope

    from selecsls_mm.pose3d.lifting.timing import build_lifter
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        build_lifter()
        assert DefaultScope.get_current_instance().scope_name == 'mmpretrain'


def test_lift_on_a_plain_cpu_model_runs_numpy():
    """The numpy path is the one taken for the shipped network (the speed
    of Stage II depends on it), not a silent fallback to torch; it is
    refused for what it does not run."""
    model = lifter()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.bias.uniform_(-0.5, 0.5)
    numpy_net = model._numpy_net
    assert numpy_net.layers(model.net, model.skip) is not None
    x = np.random.default_rng(0).normal(
        size=(3, model.codec.input_dim)).astype(np.float32)
    with torch.no_grad():
        expected = (model.net(torch.from_numpy(x)) +
                    model.skip(torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(
        numpy_net(model.net, model.skip, x), expected, rtol=1e-5, atol=1e-5)
    assert numpy_net.layers(model.net, model.skip) is \
        numpy_net.layers(model.net, model.skip)  # kept between calls
    for change in (lambda m: m.net.__setitem__(2, torch.nn.GELU()),
                   lambda m: m.to(torch.float64), lambda m: m.net.__setitem__(
                       0, torch.nn.Linear(m.codec.input_dim, 160, bias=False)),
                   lambda m: setattr(m.net[1], 'affine', False)):
        other = lifter()
        change(other)
        assert other._numpy_net.layers(other.net, other.skip) is None


def test_lifter_calls_and_options(people):
    """What a config or a caller sets reaches the model: the default mode,
    features or a read-out dict (keypoints_visible and keypoint_scores
    each used), no skip, no bone loss, init_cfg, a data preprocessor; the
    bone indices are not saved in checkpoints."""
    batch, raw, _ = people
    model = lifter()
    # scores where nothing was found: only keypoints_visible says so
    odd = dict(raw, keypoint_scores=raw['keypoint_scores'] + 0.25)
    x = torch.from_numpy(model.codec.encode(**odd)['lifting_features'])
    torch.testing.assert_close(model.features(odd), x)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_pose(x))
        torch.testing.assert_close(model(odd), model.forward_pose(x))
    assert isinstance(model.skip, torch.nn.Linear)
    double = lifter().double()  # read-outs and targets follow its dtype
    with torch.no_grad():
        torch.testing.assert_close(
            double(odd), double.forward_pose(x.double()))
        torch.testing.assert_close(double(x), double(odd))
    losses = double(**double.data_preprocessor(batch, True), mode='loss')
    assert losses['loss_joints'].dtype == torch.float64
    half = lifter().to(torch.bfloat16)  # float32 targets become bfloat16
    losses = half(**half.data_preprocessor(batch, True), mode='loss')
    assert losses['loss_joints'].dtype == torch.bfloat16
    flat = lifter(hidden_dims=())  # a single Linear layer
    with torch.no_grad():
        torch.testing.assert_close(flat(odd), flat.forward_pose(x))
    np.testing.assert_allclose(  # lift: torch's path for float64
        double.lift(odd),
        _torch_lift(double, odd),
        rtol=1e-9)
    nobody = {k: v[:0] for k, v in odd.items()}
    assert double.lift(nobody).shape == (0, 21, 3)
    assert double.lift(nobody).dtype == np.float64
    plain = lifter(linear_skip=False)
    assert plain.skip is None
    with torch.no_grad():
        torch.testing.assert_close(
            plain(x), plain._decode(plain.net(x)), rtol=1e-5, atol=1e-3)
    no_bones = lifter(loss_bones=None)
    losses = no_bones(**no_bones.data_preprocessor(batch, True), mode='loss')
    assert set(losses) == {'loss_joints', 'mpjpe'}
    assert not any('bone' in k for k in model.state_dict())
    const = lifter(init_cfg=dict(type='Constant', layer='Linear', val=0.25))
    const.init_weights()
    assert all((m.weight == 0.25).all() for m in const.modules()
               if isinstance(m, torch.nn.Linear))
    from mmengine.model import BaseDataPreprocessor
    prep = BaseDataPreprocessor()
    assert lifter(data_preprocessor=prep).data_preprocessor is prep


def test_output_scale_is_bounded_alike_in_torch_and_numpy():
    """An extreme scale output gives the bounded scale exp(+-4) m, not an
    infinite or vanishing pose, on either path."""
    model = lifter()
    out = np.zeros((2, model.codec.output_dim), np.float32)
    out[:, :-1] = np.random.default_rng(0).normal(0, 1e-3, (2, 63))
    out[:, -1] = [-50., 50.]
    want = model.codec.decode(out[:, :-1], 1000. * np.exp([-4., 4.]))
    np.testing.assert_allclose(model._decode(out), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        model._decode(torch.from_numpy(out)).numpy(),
        want,
        rtol=1e-4,
        atol=1e-5)


def test_lifter_refusals_are_whole_lines(people):
    batch, _, _ = people
    model = lifter()
    features = ("; this model takes (N, 276) features of its codec (joint "
                "set 'coco21', read_channels='supervised') or a Stage I "
                "read-out dict: check the config's codec")
    cases = [
        (lambda: model(np.zeros((2, 276), np.float32)),
         'Stage II inputs are a ndarray, not a tensor' + features),
        (lambda: model(torch.zeros(2, 1, 276)),
         'Stage II inputs have shape (2, 1, 276)' + features),
        (lambda: model([1, 2]),
         'Stage II inputs are a list, not a tensor' + features),
        (lambda: model(torch.zeros(2, 276), mode='Tensor'),
         "unknown mode 'Tensor': use 'tensor', 'loss' or 'predict'"),
    ]
    assert_refusals(cases, ValueError)
    data = model.data_preprocessor(batch, True)
    for s in data['data_samples']:
        s.gt_instances.lifting_target = s.gt_instances.lifting_target[:, :20]
    with pytest.raises(ValueError) as e:
        model(**data, mode='loss')
    assert str(e.value) == (
        'lifting_target has shape (8, 20, 3), the model predicts (8, 21, 3):'
        " the dataset's and the codec's joint_set differ")


def test_losses_follow_a_joint_set_whose_root_is_joint_0(people):
    """H36M's order puts the root first, so joint 0 is a parent: the losses
    still cover every non-root joint and every bone."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    from selecsls_mm.pose3d.joint_sets import JointSet, get_joint_set
    _, raw, target = people
    coco = get_joint_set('coco21')
    order = [coco.root] + [j for j in range(21) if j != coco.root]
    new = {old: i for i, old in enumerate(order)}
    first = JointSet('pelvis-first', tuple(coco.names[j] for j in order),
                     tuple(new.get(coco.parents[j], -1) for j in order),
                     coco.anchors)
    model = MODELS.build(
        dict(
            type='XNectLifter',
            codec=dict(type='XNectLiftingFeatures', joint_set=first)))
    samples_3d = raw['samples_3d'].reshape(8, 17, 21, 3)[:, :, order]
    readout = dict(raw, samples_3d=samples_3d.reshape(8, 17, 63))
    target = target[:, order]
    samples = []
    for t in target:
        sample = PoseDataSample()
        sample.gt_instances = InstanceData(lifting_target=t[None])
        samples.append(sample)
    x = model.features(readout)
    losses = model.loss(x, samples)
    with torch.no_grad():
        pose = model.forward_pose(x).numpy().astype(np.float64)
    parents = np.asarray(first.parents)
    assert 0 in parents
    _assert_joint_and_bone_losses(losses, pose, target, parents)


def test_flip_test_averages_the_mirror_images_lift(people):
    batch, raw, _ = people
    plain = lifter()
    flipped = lifter(test_cfg=dict(flip_test=True))
    flipped.load_state_dict(plain.state_dict())
    codec = plain.codec
    x = codec.encode(**raw)['lifting_features']
    with torch.no_grad():
        own = plain.forward_pose(torch.from_numpy(x)).numpy()
        mirror = plain.forward_pose(torch.from_numpy(
            codec.flip_features(x))).numpy()
    want = (own + codec.flip_pose(mirror)) / 2
    assert np.abs(want - own).max() > 1  # the mirror's lift differs
    np.testing.assert_allclose(flipped.lift(raw), want, rtol=1e-5, atol=1e-3)
    samples = flipped.test_step(batch)
    pred = np.concatenate([s.pred_instances.keypoints_3d for s in samples])
    np.testing.assert_allclose(pred, want, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(plain.lift(raw), own, rtol=1e-5, atol=1e-3)

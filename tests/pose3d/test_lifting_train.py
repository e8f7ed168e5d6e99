"""Stage II end to end: tools/train.py on the real-motion training clips,
tools/test.py on the held-out clips, against the untrained model and the
2D-only lifter of the same size. The test configs inherit the real ones and
only shrink the data and the schedule."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmpose.registry import MODELS

import selecsls_mm.pose3d.lifting  # noqa: F401  (registers the modules)
from helpers import REPO_ROOT, run_tool

pytestmark = pytest.mark.slow

CONFIGS = dict(
    stage2='configs/pose3d/xnect-stage2_mlp_motion.py',
    only2d='configs/pose3d/xnect-stage2_mlp-2donly_motion.py')
EPOCHS = 3
SHRINK = """
_base_ = [{base!r}]
train_dataloader = dict(batch_size=128, dataset=dict(num_samples=6000))
test_dataloader = dict(batch_size=500, dataset=dict(num_samples=1500))
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max={epochs}, eta_min=1e-5,
         by_epoch=True, begin=0, end={epochs})
]
default_hooks = dict(checkpoint=dict(interval={epochs}))
"""


def small_config(tmp_path, name):
    path = tmp_path / f'{name}.py'
    path.write_text(
        SHRINK.format(base=osp.join(REPO_ROOT, CONFIGS[name]), epochs=EPOCHS))
    return str(path)


def held_out_metrics(config, checkpoint, out):
    """tools/test.py's metrics of a checkpoint."""
    run_tool('tools/test.py', config, checkpoint, '--work-dir',
             osp.dirname(out), '--out', out, '--out-item', 'metrics')
    with open(out) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """MPJPE etc. on the held-out clips of: the untrained Stage II, Stage
    II trained briefly, the 2D-only lifter trained alike."""
    tmp = tmp_path_factory.mktemp('stage2')
    results = {}
    with pytest.MonkeyPatch.context() as env:
        # a network this small runs fastest on one thread
        env.setenv('OMP_NUM_THREADS', '1')
        for name in CONFIGS:
            cfg = small_config(tmp, name)
            work = tmp / name
            run_tool('tools/train.py', cfg, '--work-dir', str(work))
            results[name] = held_out_metrics(cfg,
                                             str(work / f'epoch_{EPOCHS}.pth'),
                                             str(work / 'metrics.json'))
    # the same model, untrained (random weights as the runner starts them)
    cfg = small_config(tmp, 'stage2')
    with DefaultScope.overwrite_default_scope('mmpose'):
        init_default_scope('mmpose')
        model = MODELS.build(Config.fromfile(cfg).model)
    model.init_weights()
    untrained = tmp / 'untrained.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), untrained)
    results['untrained'] = held_out_metrics(cfg, str(untrained),
                                            str(tmp / 'untrained.json'))
    return results


def test_training_beats_untrained_and_2d_only(trained):
    stage2, only2d, untrained = (
        trained[k] for k in ('stage2', 'only2d', 'untrained'))
    # one fixed held-out test set: the read-out baseline is the same
    assert stage2['readout/MPJPE'] == pytest.approx(untrained['readout/MPJPE'])
    assert 25 < stage2['missing_share'] < 35
    assert stage2['MPJPE'] < untrained['MPJPE'] - 100
    assert stage2['MPJPE'] < only2d['MPJPE'] - 30
    assert stage2['3DPCK'] > only2d['3DPCK'] + 10

"""End to end: the tiny XNect Stage I config trains with tools/train.py on
real-motion scenes of the train split and is tested with tools/test.py on
held-out scenes (other clips, cameras and photos). Its 2D branch does not
find people after these 1000 steps, so the 3D branch is scored where the
ground-truth keypoints are (``readout_at_gt_keypoints``)."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS

from selecsls_mm.pose3d.datasets import write_motion_scenes
from helpers import run_tool

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'configs', 'pose3d',
                'xnect3d_selecsls-tiny_1xb8-40e_motion-192x128.py')
# the config's own data recipe (its header), smaller and seeded
SCENES = dict(
    image_size=(192, 128),
    num_people=(1, 2),
    depth_range=(2500., 6000.),
    truncation=0.1)

# Measured (docs/pose3d.md, Stage I), two runs of this test's recipe:
# trained 265 and 282 mm against the training mean pose's 286 (0.93 and
# 0.99), 3DPCK 0.246 and 0.240 against the untrained 0.139 (near-zero maps,
# 460 mm). The margin over the mean pose is small and varies from run to
# run; the 3DPCK gain does not.
BEATS_MEAN_POSE = 1.0
PCK_GAIN = 0.07


def metrics(output: str) -> dict:
    found = dict(re.findall(r'pose3d/(\w+): (-?[0-9.]+|nan)', output))
    assert found, f'no pose3d metrics in the output:\n{output[-2000:]}'
    return {k: float(v) for k, v in found.items()}


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp('pose3d_e2e')
    write_motion_scenes(str(root / 'train'), 200, 'train', seed=0, **SCENES)
    write_motion_scenes(
        str(root / 'held_out'), 40, 'held_out', seed=1, **SCENES)
    # moves the loaders' and the metric's baseline dataset alike
    options = [f'data_root={root}/']
    return dict(root=root, options=options)


@pytest.fixture(scope='module')
def trained(work):
    work_dir = work['root'] / 'work'
    run_tool(
        'tools/train.py',
        TINY,
        '--work-dir',
        str(work_dir),
        '--cfg-options',
        *work['options'],
        'train_cfg.val_interval=1000',
        timeout=1800)
    ckpt = work_dir / 'epoch_40.pth'
    assert ckpt.is_file()
    return str(ckpt)


def untrained(work) -> str:
    cfg = Config.fromfile(TINY)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(work['root'] / 'untrained.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def evaluate(work, checkpoint, *options):
    out = run_tool('tools/test.py', TINY, checkpoint, '--work-dir',
                   str(work['root'] / 'test'), '--cfg-options',
                   *work['options'], *options)
    return metrics(out)


def test_3d_branch_learns_the_pose(work, trained):
    """The 3D maps, read at the held-out people's ground-truth keypoints,
    beat the training scenes' mean pose; an untrained model (3D maps near
    zero) does not."""
    gt_2d = 'model.test_cfg.readout_at_gt_keypoints=True'
    after = evaluate(work, trained, gt_2d)
    before = evaluate(work, untrained(work), gt_2d)
    baseline = after['mpjpe_train_mean_pose_matched']
    print(f'held-out, read at ground-truth 2D: MPJPE trained '
          f"{after['mpjpe_matched']:.1f}, untrained "
          f"{before['mpjpe_matched']:.1f}, training mean pose "
          f"{baseline:.1f}, held-out mean pose (oracle) "
          f"{after['mpjpe_mean_pose_matched']:.1f} mm; 3DPCK@150 trained "
          f"{after['pck3d_all']:.3f}, untrained {before['pck3d_all']:.3f}")
    assert after['num_gt'] > 50
    assert after['mpjpe_matched'] < BEATS_MEAN_POSE * baseline
    assert before['mpjpe_matched'] > baseline
    assert after['pck3d_all'] > before['pck3d_all'] + PCK_GAIN

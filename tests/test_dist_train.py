"""Two-process training and testing on CPU (gloo) through the dist scripts."""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
import torch
from test_train_test_tools import DIGITS_CFG, ROOT, data_options, make_digits


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_script(script, *args):
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        OMP_NUM_THREADS='1')
    # CPU processes even where a GPU is visible: this tests the gloo path.
    env['CUDA_VISIBLE_DEVICES'] = ''
    proc = subprocess.run(['bash', osp.join('tools', script), *args],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.mark.slow
def test_two_process_cpu_training(tmp_path):
    data = make_digits(tmp_path / 'digits', num_train=16, num_val=8)
    work = tmp_path / 'work'
    opts = data_options(data) + [
        'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1'
    ]
    out = run_script('dist_train.sh', DIGITS_CFG, '2', '--work-dir', str(work),
                     '--cfg-options', *opts)
    # torchrun exits 0 only when every rank did; mmengine logs the world
    # size as "GPU number" whatever the device.
    assert 'Distributed launcher: pytorch' in out
    assert 'Distributed training: True' in out
    assert 'GPU number: 2' in out
    # 16 images, 4 per process, 2 processes: 2 iterations per epoch.
    assert 'Epoch(train) [1][2/2]' in out
    assert 'Epoch(val) [1][1/1]' in out

    # The checkpoint holds plain (not DDP-prefixed) weights and loads.
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu')
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    model = MODELS.build(Config.fromfile(DIGITS_CFG).model)
    load_checkpoint(model, str(work / 'epoch_1.pth'), strict=True)

    out = run_script('dist_test.sh', DIGITS_CFG, str(work / 'epoch_1.pth'),
                     '2', '--work-dir', str(work), '--cfg-options', *opts)
    assert 'GPU number: 2' in out
    assert re.search(r'Epoch\(test\) \[1/1\]\s+accuracy/top1: [\d.]+', out)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Train and evaluate SelecSLS on real handwritten digits, on a CPU.

``make demo`` runs this script. It

1. writes scikit-learn's handwritten digits (1797 scanned 8x8 images that
   ship inside the package, so nothing is downloaded) as an ImageNet-layout
   dataset (``selecsls_mm.datasets.write_digits_dataset``) under
   ``data/digits`` (``train/``, ``val/``, ``meta/{train,val}.txt``), the
   validation split held out and stratified by class, images upsampled to
   32x32 because SelecSLS needs at least 32 px;
2. trains ``configs/selecsls42_digits.py`` with ``tools/train.py``;
3. evaluates the last checkpoint on the held-out split with ``tools/test.py``
   and prints its top-1 accuracy and the wall time.

Example::

    python tools/digits_demo.py                 # full demo
    python tools/digits_demo.py --epochs 1      # quick smoke run
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; the package is imported in run_demo().
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train + evaluate SelecSLS on scikit-learn digits (CPU)')
    parser.add_argument(
        '--config',
        default=osp.join(ROOT, 'configs', 'selecsls42_digits.py'),
        help='training config')
    parser.add_argument(
        '--data-root',
        default=osp.join(ROOT, 'data', 'digits'),
        help='where the dataset is written (reused when complete)')
    parser.add_argument(
        '--work-dir',
        default=osp.join(ROOT, 'work_dirs', 'selecsls42_digits'),
        help='logs and checkpoints')
    parser.add_argument(
        '--epochs',
        type=int,
        default=int(os.environ.get('DIGITS_DEMO_EPOCHS', 0)) or None,
        help='override the number of training epochs of the config '
        '(env DIGITS_DEMO_EPOCHS does the same)')
    parser.add_argument(
        '--size', type=int, default=32, help='image side in pixels (>= 32)')
    parser.add_argument(
        '--val-fraction',
        type=float,
        default=0.2,
        help='held-out fraction of the images')
    args = parser.parse_args(argv)
    if args.size < 32:
        parser.error(f'--size {args.size}: SelecSLS needs at least 32 px')
    if args.epochs is not None and args.epochs < 1:
        parser.error(f'--epochs must be >= 1, got {args.epochs}')
    if not 0 < args.val_fraction < 1:
        parser.error('--val-fraction must be in (0, 1)')
    return args


def run_tool(cmd):
    """Run a tool as a child process, failing with one line if it fails."""
    print('$', ' '.join(cmd), flush=True)
    env = dict(os.environ)
    # On a machine shared with other jobs two OpenMP threads wait for each
    # other at every op (2-5x slower per step than one thread, measured on a
    # shared 2-core machine); one thread is steady. On an idle machine
    # OMP_NUM_THREADS=2 is about twice as fast.
    env.setdefault('OMP_NUM_THREADS', '1')
    code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    if code:
        raise ChildProcessError(
            f'{osp.basename(cmd[1])} failed with exit code {code}; its output '
            'is above')


def run_demo(args) -> int:
    from selecsls_mm.datasets import write_digits_dataset
    start = time.perf_counter()

    splits = write_digits_dataset(args.data_root, args.size, args.val_fraction)
    print(
        f'digits dataset: {splits["train"]} train / {splits["val"]} '
        f'held-out val images of {args.size}x{args.size} px in '
        f'{args.data_root}',
        flush=True)

    data_opts = [f'data_root={args.data_root}']
    train_opts = list(data_opts)
    if args.epochs is not None:
        # The cosine decay of the config must end with the training.
        n = args.epochs
        train_opts += [
            f'train_cfg.max_epochs={n}',
            f'train_cfg.val_interval={n}',
            f'default_hooks.checkpoint.interval={n}',
            f'param_scheduler.1.end={n}',
            f'param_scheduler.1.T_max={n}',
        ]
    python = sys.executable
    # A stale checkpoint of an earlier run must not be evaluated.
    last = osp.join(args.work_dir, 'last_checkpoint')
    if osp.exists(last):
        os.remove(last)
    run_tool([
        python,
        osp.join(ROOT, 'tools', 'train.py'), args.config, '--work-dir',
        args.work_dir, '--cfg-options', *train_opts
    ])
    with open(last) as f:
        checkpoint = f.read().strip()

    metrics_file = osp.join(args.work_dir, 'test_metrics.json')
    run_tool([
        python,
        osp.join(ROOT, 'tools', 'test.py'), args.config, checkpoint,
        '--work-dir', args.work_dir, '--out', metrics_file, '--out-item',
        'metrics', '--cfg-options', *data_opts
    ])
    with open(metrics_file) as f:
        metrics = json.load(f)
    wall = time.perf_counter() - start
    top1 = metrics['accuracy/top1']
    print(
        f'\nSelecSLS digits demo: top-1 {top1:.2f}% on {splits["val"]} '
        f'held-out images; wall time {wall:.0f} s '
        f'(dataset + training + test)',
        flush=True)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(run_demo, args)


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage III's time at another commit against the working tree's, paired.

Absolute times on the project's virtual machines drift with the host by up
to 1.5x within an hour, so two versions are compared in one process: the
other commit's ``selecsls_mm`` is imported as a second package, and
both trackers play the same held-out video of N people in alternating
rounds of 10 frames (the order swapped every round). Prints each version's
median and fastest round and the median of the per-round ratios::

    python .dev/stage3_ab.py 1d3f68c --people 1
"""
import argparse
import importlib
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def import_old(commit: str, folder: str):
    """Stage III's and the camera's modules of ``commit``, from its
    ``selecsls_mm`` imported as the package ``selecsls_old``."""
    got = subprocess.run(['git', 'archive', commit, 'selecsls_mm'],
                         cwd=REPO,
                         capture_output=True)
    if got.returncode:
        raise SystemExit(f'stage3_ab: git cannot read selecsls_mm at '
                         f'{commit!r}: {got.stderr.decode().strip()}; give '
                         'a commit of this repository (git log --oneline)')
    archive = got.stdout
    subprocess.run(['tar', '-x', '-C', folder], input=archive, check=True)
    root = osp.join(folder, 'selecsls_old')
    os.rename(osp.join(folder, 'selecsls_mm'), root)
    # these register modules with the OpenMMLab registries, which the
    # working tree's package has done already: the fitting needs neither
    for init in ('__init__.py', 'pose3d/__init__.py'):
        open(osp.join(root, init), 'w').close()
    sys.path.insert(0, folder)
    return (importlib.import_module('selecsls_old.pose3d.fitting.stage3'),
            importlib.import_module('selecsls_old.pose3d.camera'))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('commit', help='the other version (git revision)')
    parser.add_argument('--people', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=60)
    args = parser.parse_args(argv)

    from selecsls_mm.pose3d.fitting import stage3 as new_stage3
    from selecsls_mm.pose3d.fitting.benchmark import people_video
    with tempfile.TemporaryDirectory() as folder:
        old_stage3, old_camera = import_old(args.commit, folder)
        keypoints, scores, joints, cam = people_video(args.people)
        old_cam = old_camera.Camera(cam.fx, cam.fy, cam.cx, cam.cy, cam.width,
                                    cam.height)
        versions = {
            args.commit: (old_stage3.SkeletonTracker(fps=30.), old_cam),
            'working tree': (new_stage3.SkeletonTracker(fps=30.), cam)
        }
        frames = dict.fromkeys(versions, 0)
        period = 2 * len(keypoints) - 2

        def play(name, count):
            tracker, camera = versions[name]
            for _ in range(count):
                f = frames[name]
                t = min(f % period, period - f % period)
                tracker.update(keypoints[t], scores[t], joints[t], camera,
                               f / 30.)
                frames[name] += 1

        for name in versions:  # bones fixed, caches warm
            play(name, 30)
        times = {name: [] for name in versions}
        for r in range(args.rounds):
            for name in (list(versions) if r % 2 else list(versions)[::-1]):
                start = time.perf_counter()
                play(name, 10)
                times[name].append((time.perf_counter() - start) * 100.)
    for name, ms in times.items():
        print(f'{name}: {np.median(ms):.3f} ms per frame median, '
              f'{min(ms):.3f} fastest ({args.people} people)')
    old, new = (np.array(v) for v in times.values())
    print(f'working tree / {args.commit}, median of paired rounds: '
          f'{np.median(new / old):.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Mutation testing of the core modules with mutmut 3 (``make mutate``).

mutmut changes the code one small step at a time (``<`` for ``<=``, a
dropped argument, ``None`` for a value, ...) and runs the tests that reach
the changed function; a change no test notices ("survived") is code the
suite does not check. Each core module runs on its own, with the tests that
cover it (:data:`MODULES`), in a work folder that holds a copy of the tree::

    python .dev/mutate.py                  # every module (make mutate)
    python .dev/mutate.py --module deploy  # one (make mutate MODULE=deploy)

Per module it writes ``<work-dir>/<module>/summary.json`` and
``survivors.diff`` (every surviving, untested or suspicious mutant as a
diff), and rebuilds ``<work-dir>/report.md``, the table of every module
measured so far. Mutants listed in ``tests/mutation/equivalent.yml`` (same
function, same change, with a reason) are reported as equivalent, not
dropped; an entry that matches no survivor is reported as stale.

Tests run with ``PYTHONPATH`` set to the mutated copy, so the tests that
start ``tools/*.py`` in a subprocess run the mutated code as well; mutmut
only learns which tests reach a function from in-process calls, though.
"""
import argparse
import fnmatch
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
EQUIVALENT_FILE = osp.join(REPO, 'tests', 'mutation', 'equivalent.yml')
# What the tests need besides the package: they run tools and read configs.
COPIED = ('selecsls_mm', 'tests', 'tools', 'configs', 'pytest.ini')

# Module -> the files mutated and the tests that check them (pytest
# arguments: files, node ids, -k/-m). Only fast, in-process tests where they
# suffice: mutmut reruns every covering test for each surviving mutant.
MODULES: Dict[str, dict] = {
    'models':
    dict(
        paths=['selecsls_mm/models/*'],
        tests=[
            'tests/test_backbone.py', 'tests/test_backbone_contract.py',
            'tests/test_deploy.py', '-m', 'not slow'
        ]),
    'converters':
    dict(
        paths=['selecsls_mm/converters/*'],
        tests=['tests/test_convert_weights.py']),
    'checkpoint.py':
    dict(
        paths=['selecsls_mm/checkpoint.py'],
        tests=['tests/test_checkpoint_safety.py']),
    'stack.py':
    dict(
        paths=['selecsls_mm/stack.py'],
        tests=['tests/test_stack.py', '-k', 'not train_tool']),
    'deploy':
    dict(
        paths=['selecsls_mm/deploy/*'],
        tests=[
            'tests/test_deploy.py', 'tests/test_export_onnx.py',
            'tests/test_quantize.py', 'tests/test_subpixel.py'
        ]),
    'datasets':
    dict(
        paths=['selecsls_mm/datasets/*'],
        tests=[
            'tests/test_imagenet_dataset.py', 'tests/test_digits_demo.py',
            '-m', 'not slow'
        ]),
    'pose/codecs':
    dict(
        paths=['selecsls_mm/pose/codecs/*'],
        tests=[
            'tests/pose/test_paf_codec.py', 'tests/pose/test_paf_grouping.py',
            'tests/pose/test_people_clustering.py',
            'tests/pose/test_paf_targets.py', 'tests/pose/test_paf_overlap.py',
            '-m', 'not slow'
        ]),
    'pose/heads':
    dict(
        paths=['selecsls_mm/pose/heads/*'],
        tests=[
            'tests/pose/test_xnect_paf_head.py',
            'tests/pose/test_bottomup_flip.py',
            'tests/pose/test_bottomup_predict.py'
        ]),
    'pose/transforms':
    dict(
        paths=['selecsls_mm/pose/transforms/*'],
        tests=[
            'tests/pose/test_paf_pipeline.py',
            'tests/pose/test_bottomup_flip.py'
        ]),
    'pose/models':
    dict(
        paths=['selecsls_mm/pose/models/*'],
        tests=['tests/pose/test_bottomup_predict.py']),
    'pose3d/fitting':
    dict(
        paths=[
            'selecsls_mm/pose3d/fitting/fit.py',
            'selecsls_mm/pose3d/fitting/skeleton.py',
            'selecsls_mm/pose3d/fitting/rotations.py',
            'selecsls_mm/pose3d/fitting/stage3.py',
            'selecsls_mm/pose3d/fitting/tracking.py',
            'selecsls_mm/pose3d/fitting/one_euro.py'
        ],
        tests=[
            'tests/pose3d/test_stage3_fitting.py',
            'tests/pose3d/test_stage3_video.py', '-m', 'not slow'
        ]),
    'pose3d/lifting':
    dict(
        paths=[
            'selecsls_mm/pose3d/lifting/numpy_mlp.py',
            'selecsls_mm/pose3d/lifting/lifter.py',
            'selecsls_mm/pose3d/lifting/features.py'
        ],
        tests=[
            'tests/pose3d/test_lifting_model.py',
            'tests/pose3d/test_lifting_features.py'
        ]),
    'pose3d/stage1':
    dict(
        paths=[
            'selecsls_mm/pose3d/codecs/*', 'selecsls_mm/pose3d/codecs/utils/*',
            'selecsls_mm/pose3d/heads/*'
        ],
        tests=[
            'tests/pose3d/test_part_affinity_field_3d.py',
            'tests/pose3d/test_xnect_3d_head.py',
            'tests/pose3d/test_transforms_3d.py', '-m', 'not slow'
        ]),
    'pose3d/metrics':
    dict(
        paths=['selecsls_mm/pose3d/metrics/*'],
        tests=['tests/pose3d/test_multi_person_3d_metric.py']),
    'utils/cli.py':
    dict(
        paths=['selecsls_mm/utils/cli.py'],
        tests=[
            'tests/test_utils.py',
            'tests/test_train_test_tools.py::test_train_merge_args',
            'tests/test_train_test_tools.py::test_test_merge_args',
            'tests/test_train_test_tools.py::'
            'test_auto_scale_lr_without_its_setting_is_one_line',
            'tests/test_checkpoint_safety.py::'
            'test_unreadable_file_is_not_called_truncated',
            'tests/test_checkpoint_safety.py::'
            'test_tool_refuses_code_in_one_line'
        ]),
}

# mutmut's exit codes, grouped as the table reports them.
KILLED = {1, 3}
SURVIVED = {0}
NO_TESTS = {5, 33}
# SIGXCPU (CPU-time limit) and the SIGKILL that follows it; a segfault.
TIMEOUT = {36, 24, -24, 152, 255, -9, -11}


def slug(module: str) -> str:
    """The folder name of a module: ``pose/codecs`` -> ``pose-codecs``."""
    return module.replace('/', '-').removesuffix('.py')


def status(exit_code: Optional[int]) -> str:
    if exit_code in KILLED:
        return 'killed'
    if exit_code in SURVIVED:
        return 'survived'
    if exit_code in NO_TESTS:
        return 'no tests'
    if exit_code in TIMEOUT:
        return 'timeout'
    if exit_code is None:
        return 'not checked'
    return 'suspicious'


def prepare(work: str, module: str, resume: bool):
    """Copy the tree into ``work`` and write mutmut's config there."""
    spec = MODULES[module]
    if not resume and osp.isdir(work):
        shutil.rmtree(work)
    # mutants/ must exist before mutmut starts: Python caches a PYTHONPATH
    # folder that is missing at start-up as "nothing here", and the tests
    # would then import the editable install, i.e. the unmutated package.
    os.makedirs(osp.join(work, 'mutants'), exist_ok=True)
    # no .mim: its copied configs would not be the tests' configs/ (the
    # package then finds configs/ beside it, as in a source checkout)
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim')
    for name in COPIED:
        src, dst = osp.join(REPO, name), osp.join(work, name)
        if osp.isdir(src):
            if osp.isdir(dst):
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=ignore)
        else:
            shutil.copy2(src, dst)

    def toml_list(items):
        return '[' + ', '.join(json.dumps(i) for i in items) + ']'

    # timeout_multiplier: a mutant running 8x its tests' time loops forever
    # (mutmut's default, 30x, spends minutes on each)
    with open(osp.join(work, 'pyproject.toml'), 'w') as f:
        f.write('[tool.mutmut]\n'
                'source_paths = ["selecsls_mm"]\n'
                f'only_mutate = {toml_list(spec["paths"])}\n'
                'also_copy = ["tools", "configs", "pytest.ini"]\n'
                'pytest_add_cli_args_test_selection = '
                f'{toml_list(spec["tests"])}\n'
                'pytest_add_cli_args = ["-p", "no:cacheprovider", '
                '"-W", "ignore"]\n'
                'use_git_change_detection = false\n'
                'timeout_multiplier = 4.0\n')


def run_mutmut(work: str, max_children: int) -> float:
    """Run ``mutmut run`` in ``work``; its output goes to mutmut.log.
    Returns the wall time in seconds."""
    env = dict(
        os.environ,
        # subprocesses (tools/*.py) import the mutated package too
        PYTHONPATH=osp.join(work, 'mutants'),
        # one thread per test process: mutmut runs max_children at once
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1')
    mutmut = osp.join(osp.dirname(sys.executable), 'mutmut')
    start = time.time()
    with open(osp.join(work, 'mutmut.log'), 'w') as log:
        proc = subprocess.run(
            [mutmut, 'run', '--max-children',
             str(max_children)],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(osp.join(work, 'mutmut.log')) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'mutmut failed in {work} (exit code '
                           f'{proc.returncode}):\n{tail}')
    return time.time() - start


def read_results(work: str, module: str) -> Dict[str, dict]:
    """Mutant name -> ``path`` and ``status``, for the module's files."""
    results = {}
    root = osp.join(work, 'mutants')
    for folder, _, files in os.walk(osp.join(root, 'selecsls_mm')):
        for name in files:
            if not name.endswith('.py.meta'):
                continue
            path = osp.relpath(osp.join(folder, name[:-5]), root)
            if not any(
                    fnmatch.fnmatch(path, p)
                    for p in MODULES[module]['paths']):
                continue
            with open(osp.join(folder, name)) as f:
                meta = json.load(f)
            for key, code in meta['exit_code_by_key'].items():
                results[key] = dict(path=path, status=status(code))
    return results


_DIFF_SCRIPT = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
wanted = json.load(sys.stdin)
json.dump({k: get_diff_for_mutant(k, path=p) for k, p in wanted.items()},
          sys.stdout)
"""


def mutant_diffs(work: str, mutants: Dict[str, str]) -> Dict[str, str]:
    """The diff of each mutant (name -> path), as ``mutmut show`` prints."""
    if not mutants:
        return {}
    proc = subprocess.run([sys.executable, '-c', _DIFF_SCRIPT],
                          cwd=work,
                          input=json.dumps(mutants),
                          capture_output=True,
                          text=True,
                          check=True)
    return json.loads(proc.stdout)


def changed_lines(diff: str) -> tuple:
    """The removed and the added lines of a diff, stripped and joined."""
    lines = diff.splitlines()[2:]  # no ---/+++ header
    removed = ' '.join(x[1:].strip() for x in lines if x.startswith('-'))
    added = ' '.join(x[1:].strip() for x in lines if x.startswith('+'))
    return removed, added


def function_of(mutant: str) -> str:
    """``pkg.mod.xǁClassǁmethod__mutmut_3`` -> ``Class.method``."""
    name = mutant.partition('__mutmut_')[0].rpartition('.')[2]
    if name.startswith('x_'):
        return name[2:]
    return '.'.join(p for p in name[1:].split('ǁ') if p)


def load_equivalent() -> List[dict]:
    """The checked-in list of equivalent mutants."""
    import yaml
    with open(EQUIVALENT_FILE, encoding='utf-8') as f:
        entries = yaml.safe_load(f) or []
    for entry in entries:
        missing = {'file', 'function', 'before', 'after', 'reason'
                   } - set(entry)
        if missing:
            raise ValueError(f'{EQUIVALENT_FILE}: entry {entry} lacks '
                             f'{sorted(missing)}')
    return entries


def matches(entry: dict, path: str, mutant: str, diff: str) -> bool:
    removed, added = changed_lines(diff)
    squash = ' '.join
    return (entry['file'] == path and entry['function'] == function_of(mutant)
            and squash(entry['before'].split()) == squash(removed.split())
            and squash(entry['after'].split()) == squash(added.split()))


def summarize(work: str, module: str, seconds: float) -> dict:
    """Count the statuses, mark listed equivalents, write survivors.diff
    and summary.json."""
    results = read_results(work, module)
    open_ones = {
        k: r['path']
        for k, r in results.items() if r['status'] not in ('killed', 'timeout')
    }
    diffs = mutant_diffs(work, open_ones)
    entries = [
        e for e in load_equivalent() if any(
            fnmatch.fnmatch(e['file'], p) for p in MODULES[module]['paths'])
    ]
    used = set()
    for key, diff in diffs.items():
        r = results[key]
        for i, entry in enumerate(entries):
            if r['status'] == 'survived' and matches(entry, r['path'], key,
                                                     diff):
                r['status'], r['reason'] = 'equivalent', entry['reason']
                used.add(i)
                break
    counts = Counter(r['status'] for r in results.values())
    total = len(results)
    tested = total - counts['equivalent']
    detected = counts['killed'] + counts['timeout']
    summary = dict(
        module=module,
        date=date.today().isoformat(),
        seconds=round(seconds),
        mutants=total,
        killed=counts['killed'],
        timeout=counts['timeout'],
        survived=counts['survived'],
        no_tests=counts['no tests'],
        suspicious=counts['suspicious'] + counts['not checked'],
        equivalent=counts['equivalent'],
        score=detected / tested if tested else 1.0,
        tests=MODULES[module]['tests'],
        stale_equivalents=[
            f"{e['file']} {e['function']}: {e['before']!r} -> {e['after']!r}"
            for i, e in enumerate(entries) if i not in used
        ])
    with open(osp.join(work, 'survivors.diff'), 'w') as f:
        for key in sorted(diffs, key=lambda k: (results[k]['status'], k)):
            r = results[key]
            why = f" ({r['reason']})" if 'reason' in r else ''
            f.write(f"# {key}: {r['status']}{why}\n{diffs[key]}\n\n")
    with open(osp.join(work, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return summary


def report(work_dir: str) -> str:
    """The markdown table of every module measured in ``work_dir``."""
    rows = []
    for module in MODULES:
        path = osp.join(work_dir, slug(module), 'summary.json')
        if osp.isfile(path):
            with open(path) as f:
                rows.append(json.load(f))
    header = ('| module | mutants | killed | timed out | survived | no tests '
              '| equivalent | killed % | time | date |\n'
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n')
    lines = [
        f"| `{s['module']}` | {s['mutants']} | {s['killed']} | "
        f"{s['timeout']} | {s['survived'] + s['suspicious']} | "
        f"{s['no_tests']} | {s['equivalent']} | {100 * s['score']:.1f} | "
        f"{s['seconds'] // 60} min {s['seconds'] % 60:02d} s | {s['date']} |"
        for s in rows
    ]
    return header + '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Mutation testing of the core modules with mutmut 3')
    parser.add_argument(
        '--module',
        action='append',
        choices=sorted(MODULES) + sorted(slug(m) for m in MODULES),
        help='module to test (repeatable); default: all')
    parser.add_argument(
        '--work-dir',
        default=osp.join(REPO, 'work_dirs', 'mutate'),
        help='where the copies, logs and results go')
    parser.add_argument(
        '--max-children',
        type=int,
        default=2,
        help='test processes at once (default 2)')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='keep earlier results of unchanged functions (mutmut\'s cache) '
        'instead of starting from a fresh copy')
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='recount the results already there (e.g. after editing the '
        'equivalent list) without running mutmut')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    by_slug = {slug(m): m for m in MODULES}
    modules = [by_slug.get(m, m) for m in args.module or MODULES]
    below = []
    for module in modules:
        work = osp.join(args.work_dir, slug(module))
        seconds = 0.0
        if args.report_only:
            with open(osp.join(work, 'summary.json')) as f:
                seconds = json.load(f)['seconds']
        else:
            print(f'[mutate] {module}: mutmut in {work} ...', flush=True)
            prepare(work, module, args.resume)
            seconds = run_mutmut(work, args.max_children)
        s = summarize(work, module, seconds)
        print(
            f"[mutate] {module}: {s['mutants']} mutants, {s['killed']} "
            f"killed, {s['timeout']} timed out, {s['survived']} survived, "
            f"{s['no_tests']} without tests, {s['equivalent']} equivalent:"
            f" {100 * s['score']:.1f}% killed in {s['seconds']} s; "
            f"survivors: {osp.join(work, 'survivors.diff')}",
            flush=True)
        for stale in s['stale_equivalents']:
            print(f'[mutate]   stale equivalent entry (no such surviving '
                  f'mutant): {stale}')
        if s['score'] < 0.9:
            below.append(module)
    table = report(args.work_dir)
    with open(osp.join(args.work_dir, 'report.md'), 'w') as f:
        f.write(table)
    print(table)
    if below:
        print(f'[mutate] below 90% killed: {", ".join(below)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

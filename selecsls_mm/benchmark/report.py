# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The benchmark report: markdown tables from the experiments' results,
and the JSON file with every number (written atomically)."""
import json
from typing import Dict, List, Sequence

from ..utils.fileio import atomic_output
from .runtimes import QUANTIZED_RUNTIMES
from .timing import paired_ratio

MiB = 2**20


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub markdown table."""
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join('---' for _ in header) + '|'
    ]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def fmt_ms(ms: float) -> str:
    """Milliseconds with three significant digits or so."""
    return f'{ms:.2f}' if ms < 10 else f'{ms:.1f}' if ms < 100 else \
        f'{ms:.0f}'


def header_line(env: dict, settings_line: str, what: str) -> str:
    """The report's first line: device, torch, threads, settings."""
    return (f"# device: {env['device_name']} ({env['device']}); torch "
            f"{env['torch']}; {env['threads']} threads; {settings_line}; "
            f'eval mode, torch.inference_mode; {what}')


def _cells(result: dict) -> List[tuple]:
    seen = []
    for c in result['cells']:
        key = (tuple(c['size']), c['batch'])
        if key not in seen:
            seen.append(key)
    return seen


def forward_report(result: dict) -> str:
    """Forward times (median, IQR), ratio rows and the runtime check."""
    cells = _cells(result)
    labels = list(dict.fromkeys(c['model'] for c in result['cells']))
    by_key = {
        (c['model'], tuple(c['size']), c['batch']): c
        for c in result['cells']
    }
    header = ['model'] + [f'{s[0]}x{s[1]} bs{b}' for s, b in cells]
    rows = [[label] + [
        f"{fmt_ms(by_key[label, s, b]['median'])} "
        f"({fmt_ms(by_key[label, s, b]['iqr'])})" for s, b in cells
    ] for label in labels]
    ratio = {
        (r['numerator'], r['denominator'], tuple(r['size']), r['batch']):
        r['ratio']
        for r in result['ratios']
    }
    pairs = list(
        dict.fromkeys(
            (r['numerator'], r['denominator']) for r in result['ratios']))
    rows += [[f'{a} / {b}'] + [f'{ratio[a, b, s, bs]:.2f}' for s, bs in cells]
             for a, b in pairs]
    n = sorted({c['n'] for c in result['cells']})
    diffs = {}
    for c in result['cells']:
        rt = c.get('runtime', 'eager')
        diffs[rt] = max(diffs.get(rt, 0.0), c['max_rel_diff'])
    diff_text = ', '.join(
        f'{rt} {d:.1e}' +
        (' (int8: not expected to match)' if rt in QUANTIZED_RUNTIMES else '')
        for rt, d in diffs.items())
    lines = [
        '\nForward time, ms: median (IQR) over '
        f"{n[0] if n[0] == n[-1] else f'{n[0]}-{n[-1]}'} interleaved "
        'iterations; "A / B" rows: median of per-iteration time(A) / '
        'time(B) (> 1: B is faster)',
        markdown_table(header, rows),
        f'runtime outputs vs eager: max relative difference {diff_text} '
        '(max|eager - runtime| / max|eager|, every model and cell)'
    ]
    return '\n'.join(lines)


def complexity_report(rows: List[dict]) -> str:
    """Parameters and GMACs per image."""
    sizes = list(rows[0]['macs']) if rows else []
    table = [[r['model'], f"{r['params'] / 1e6:.2f}"] +
             [f"{r['macs'][s] / 1e9:.2f}" for s in sizes] for r in rows]
    return (
        '\nParameters and MACs per image (multiply-accumulates; '
        'selecsls_mm.utils.complexity: convs and matmuls)\n' +
        markdown_table(['model', 'params (M)'] + [f'GMACs {s}'
                                                  for s in sizes], table))


def training_report(result: dict) -> str:
    """Saved-for-backward bytes, step times and their ratios."""
    size = 'x'.join(str(s) for s in result['size'])
    header = ['model', 'saved for backward (MiB)', 'train step ms (IQR)']
    cuda = any('cuda' in r for r in result['rows'])
    if cuda:
        header.append('CUDA peak allocated (MiB)')
    table = []
    for r in result['rows']:
        step = r['train_step']
        line = [
            r['model'], f"{r['saved_bytes'] / MiB:.0f}",
            f"{fmt_ms(step['median'])} ({fmt_ms(step['iqr'])})"
        ]
        if cuda:
            line.append(f"{r['cuda']['peak'] / MiB:.0f}")
        table.append(line)
    n = result['rows'][0]['train_step']['n'] if result['rows'] else 0
    ratios = markdown_table(
        ['A / B', 'saved for backward', 'train step time (paired median)'], [[
            f"{r['numerator']} / {r['denominator']}", f"{r['saved']:.2f}",
            f"{r['train_step']:.2f}"
        ] for r in result['ratios']])
    return (f"\nTraining, batch {result['batch']}, {size}: activations "
            'saved for backward (autograd saved-tensor hooks, each storage '
            'once, parameters excluded) and forward+backward time over '
            f'{n} interleaved steps\n' + markdown_table(header, table) +
            '\n\n' + ratios)


def pose_report(rows: List[dict], reference: str = None) -> str:
    """The end-to-end pose table, with throughput ratios against
    ``reference`` (a row label) at the same flip setting."""
    table = []
    runtimes = list(dict.fromkeys(r.get('runtime', 'eager') for r in rows))
    for r in rows:
        runtime = r.get('runtime', 'eager')
        line = [r['model']] + ([runtime] if len(runtimes) > 1 else []) + [
            'on' if r['flip'] else 'off',
            fmt_ms(r['preprocessing']),
            fmt_ms(r['network']),
            fmt_ms(r['grouping']),
            fmt_ms(r['total']), f"{r['img_per_s']:.2f}", r['people']
        ]
        ref = next((x for x in rows
                    if x['model'] == reference and x['flip'] == r['flip']
                    and x.get('runtime', 'eager') == runtime), None)
        line.append(f"{paired_ratio(ref['times'], r['times']):.2f}"
                    if ref is not None else '')
        table.append(line)
    n = rows[0]['n'] if rows else 0
    diffs = {}
    for r in rows:
        rt = r.get('runtime', 'eager')
        diffs[rt] = max(diffs.get(rt, 0.0), r.get('max_rel_diff', 0.0))
    check = '' if runtimes == ['eager'] else (
        '\nnetwork outputs vs eager: max relative difference ' +
        ', '.join(f'{rt} {d:.1e}' for rt, d in diffs.items() if rt != 'eager'))
    return ('\nBottom-up pose end to end (mmpose.apis.inference_bottomup, '
            f'one real photo, batch 1; ms, medians of {n} interleaved '
            'calls; random weights, so "people" found is not a quality '
            'measure; network: backbone, neck and head forward under the '
            'runtime)\n' + markdown_table(
                ['model'] + (['runtime'] if len(runtimes) > 1 else []) + [
                    'flip test', 'pre/post-processing', 'network', 'grouping',
                    'total', 'img/s', 'people', f'throughput / {reference}'
                ], table) + check)


def decode_report(rows: List[dict], config: str) -> str:
    """Decode time against the number of people."""
    size = 'x'.join(str(s) for s in rows[0]['heatmap_size']) if rows else ''
    return (f'\nPAF decode ({config}) on {size} maps the codec encodes from '
            'synthetic people (selecsls_mm.benchmark.paf_decode), ms\n' +
            markdown_table([
                'people per scene', 'found / labelled (all scenes)',
                'ms median (IQR)', 'fastest ms'
            ], [[
                r['num_people'], f"{r['found']} / {r['people']}",
                f"{fmt_ms(r['ms'])} ({fmt_ms(r['iqr_ms'])})",
                fmt_ms(r['min_ms'])
            ] for r in rows]))


def decoders_report(results: Dict[str, Dict[int, dict]], config: str) -> str:
    """Several PAF decoders against the number of people, side by side."""
    labels = list(results)
    people = list(results[labels[0]]) if labels else []
    table = []
    for n in people:
        for label in labels:
            r = results[label][n]
            table.append([
                n, label, f"{r['found']} / {r['people']}",
                f"{fmt_ms(r['ms'])} ({fmt_ms(r['iqr_ms'])})",
                fmt_ms(r['min_ms']), f"{r['ratio']:.2f}"
            ])
    return (f'\nPAF decoders ({config} codec and variants) on maps the codec '
            'encodes from synthetic people (selecsls_mm.benchmark.paf_decode'
            '), ms, timed interleaved\n' + markdown_table([
                'people per scene', 'decoder', 'found / labelled',
                'ms median (IQR)', 'fastest ms', f'time / {labels[0]}'
            ], table))


def pose_network_report(rows: dict) -> str:
    """The pose networks alone (batch 1, no flip, no decoding)."""
    table = [[
        label, 'x'.join(str(s) for s in r['size']), r['runtime'],
        f"{fmt_ms(r['median'])} ({fmt_ms(r['iqr'])})",
        f"{1e3 / r['median']:.1f}"
    ] for label, r in rows.items()]
    return ('\nPose networks alone (backbone, neck, head; batch 1, no flip '
            'test, no pre/post-processing), ms median (IQR)\n' +
            markdown_table(['model', 'input', 'runtime', 'ms', 'fps'], table))


def write_json(path: str, data: dict):
    """Write ``data`` as JSON to ``path`` via a temp file and a rename, so
    the file is never half-written."""
    with atomic_output(path) as tmp, open(tmp, 'w') as f:
        json.dump(data, f, indent=1)


def _met(ok: bool) -> str:
    return 'yes' if ok else '**no**'


def pose3d_report(result: dict) -> str:
    """XNect in 3D stage by stage (:func:`.pose3d.run_pose3d`): Stage I
    3D vs 2D per form, the 3D decoder, Stages II and III per person and a
    real-time frame, each against its target."""
    from .pose3d import FORMS, TARGETS
    s1, load = result['stage1'], result['load_average']
    size = 'x'.join(str(s) for s in s1['size'])
    n = sorted({r['n'] for r in s1['rows']})
    lines = [
        f"\nXNect 3D, stage by stage; load average {load['start']:.2f} at "
        f"the start, {load['end']:.2f} at the end (1 minute)",
        f'\nStage I network at {size} (backbone and head forward, batch 1, '
        f'no flip test, random weights), ms: median (IQR) over {n[0]}'
        f"{'' if n[0] == n[-1] else f'-{n[-1]}'} interleaved iterations; "
        f"load average {s1['load_average']:.2f}",
        markdown_table(
            ['model', 'form', 'GMACs', 'ms', 'fastest ms', 'fps', 'vs eager'],
            [[
                r['model'], FORMS[r['form']][2], f"{r['macs'] / 1e9:.2f}",
                f"{fmt_ms(r['median'])} ({fmt_ms(r['iqr'])})",
                fmt_ms(r['min']), f"{1e3 / r['median']:.1f}",
                f"{r['max_rel_diff']:.1e}"
            ] for r in s1['rows']]),
        '("vs eager": max|eager - this| / max|eager| against the unfolded '
        'eager model; int8 is not expected to match)\n',
        markdown_table([
            'form', '3D / 2D time (paired median)', '3D / 2D MACs',
            f"target <= {TARGETS['ratio_3d_2d']:.2f}"
        ], [[
            FORMS[r['form']][2], f"{r['ratio']:.2f}", f"{r['macs_ratio']:.2f}",
            _met(r['ratio'] <= TARGETS['ratio_3d_2d'])
        ] for r in s1['ratios']]),
    ]
    folding = {}  # model -> its distinct foldings, in form order
    for r in s1['rows']:
        if FORMS[r['form']][0]:
            folding.setdefault(r['model'], {})[r['folding']] = 0
    if folding:
        lines.append('BN folding: ' + '; '.join(f"{k}: {' / '.join(v)}"
                                                for k, v in folding.items()))
    for label, why in result.get('skipped', {}).items():
        lines.append(f'not timed: {label}: {why}')
    people, limit = TARGETS['decode_ms']
    dec = result['decode']
    lines += [
        '\n3D decode (PartAffinityField3D.decode with the samples Stage II '
        f"reads) on {'x'.join(str(s) for s in dec[0]['heatmap_size'])} "
        'maps encoded from held-out real-motion scenes, ms; load average '
        f"{dec[0]['load_average']:.2f}",
        markdown_table([
            'people per scene', 'found / labelled', 'ms median (IQR)',
            'fastest ms', f'target <= {limit:g} ms at {people}'
        ], [[
            r['num_people'], f"{r['found']} / {r['people']}",
            f"{fmt_ms(r['ms'])} ({fmt_ms(r['iqr_ms'])})",
            fmt_ms(r['min_ms']),
            _met(r['ms'] <= limit) if r['num_people'] == people else ''
        ] for r in dec])
    ]
    stages, limit = result['stages'], TARGETS['ms_per_person']
    lines += [
        '\nStage II (XNectLifter.lift) and Stage III (SkeletonTracker.update'
        f") on held-out clips, {stages[0]['threads']} torch thread(s), "
        f"medians in ms; load average {stages[0]['load_average']:.2f}",
        markdown_table([
            'people', 'Stage II / frame', 'Stage III / frame',
            'Stage II / person', 'Stage III / person', 'II + III / person',
            f'target <= {limit:g}'
        ], [[
            r['num_people'],
            fmt_ms(r['stage2_ms']),
            fmt_ms(r['stage3_ms']),
            fmt_ms(r['stage2_ms_per_person']),
            fmt_ms(r['stage3_ms_per_person']),
            fmt_ms(r['ms_per_person']),
            _met(r['ms_per_person'] <= limit)
        ] for r in stages])
    ]
    lines.append(real_time_report(result.get('real_time')))
    return '\n'.join(lines)


def real_time_report(frame) -> str:
    """One frame of N people: the parts' medians, their shares and fps."""
    from .pose3d import FORMS, TARGETS
    people, target = TARGETS['fps']
    if frame is None:
        return (f'\nReal time ({people} people): not measured (the '
                f'{FORMS["int8"][2]} network was not timed)')
    rows = [[part, fmt_ms(ms), f"{100 * frame['shares'][part]:.0f}%"]
            for part, ms in frame['parts'].items()]
    rows.append(['frame', fmt_ms(frame['ms']), '100%'])
    return (f"\nReal time, {frame['num_people']} people per frame: the "
            f"{FORMS[frame['form']][2]} 3D network (no flip test) + decode + "
            'Stage II + Stage III, the sum of the medians above (image '
            'resizing and normalisation not included)\n' +
            markdown_table(['part', 'ms', 'share'], rows) +
            f"\n{frame['fps']:.1f} fps; target >= {target:g} fps: " +
            _met(frame['fps'] >= target))

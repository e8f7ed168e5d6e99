# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Speed, memory and complexity of SelecSLS against other backbones.

Reproduces the reference release's table (forward ms at 512x512, 400x400 and
224x224 for batch 1 and 16, one row per model, then ratio rows) on this
machine. Every model is a feature extractor without pooling and classifier
(SelecSLS up to its last head conv, mmpretrain backbones as built, timm
models through ``forward_features``), timed interleaved (one iteration runs
each model once, in a rotating order) so ratios are fair on a noisy machine.

Examples::

    python tools/benchmark.py                                 # the table
    python tools/benchmark.py --iters 3 --warmup 1 --json bench.json
    python tools/benchmark.py --deploy --channels-last        # fused SelecSLS
    python tools/benchmark.py --no-forward --memory           # training memory
    python tools/benchmark.py --pose configs/pose/CONFIG.py   # pose model fps
"""
import argparse
import contextlib
import datetime
import json
import logging
import os
import sys
import tempfile
import warnings
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from selecsls_mm.benchmark import (  # noqa: E402
    build_benchmark_model, count_flops, count_params,
    cuda_peak_training_bytes, describe_environment, parse_model_spec,
    paired_ratio, resolve_device, saved_activation_bytes, set_threads,
    summarize, time_interleaved)
from selecsls_mm.benchmark.memory import training_loss  # noqa: E402
from selecsls_mm.benchmark.models import SPEC_HELP, is_selecsls_spec  # noqa

DEFAULT_MODELS = ['selecsls60', 'timm:selecsls60', 'mmpretrain:ResNet-50',
                  'timm:vovnet39a']
DEFAULT_BASELINES = ['mmpretrain:ResNet-50', 'timm:selecsls60']
MiB = 2**20


def parse_size(text: str) -> Tuple[int, int]:
    """``'512'`` -> (512, 512); ``'512x320'`` -> width 512, height 320."""
    try:
        parts = [int(p) for p in text.lower().split('x')]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(
            f'bad size {text!r}: give S (square) or WxH, e.g. 512 or 512x320')
    return parts[0], parts[1]


def size_name(size: Tuple[int, int]) -> str:
    return f'{size[0]}x{size[1]}'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        '--models', nargs='+', default=None,
        help='models to compare: each is ' + SPEC_HELP + '. Default: ' +
        ' '.join(DEFAULT_MODELS) + ' (timm ones only when timm is installed)')
    parser.add_argument(
        '--baselines', nargs='*', default=DEFAULT_BASELINES,
        help='models (from --models) that ratio rows compare against')
    parser.add_argument('--sizes', nargs='+', type=parse_size,
                        default=[(512, 512), (400, 400), (224, 224)],
                        help='input sizes, S or WxH')
    parser.add_argument('--batch-sizes', nargs='+', type=int,
                        default=[1, 16])
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations per model and cell')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed iterations per model and cell')
    parser.add_argument('--min-time', type=float, default=0.0,
                        help='per cell, keep iterating past --iters until '
                        'this many seconds were timed (more samples for '
                        'cheap cells)')
    parser.add_argument('--device', default=None,
                        help='cpu, cuda or cuda:N; default cuda if available')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads on CPU; default all '
                        'usable cores')
    parser.add_argument('--deploy', action='store_true',
                        help='switch every SelecSLS model to deploy mode '
                        '(BN folded into convs) with switch_to_deploy()')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last memory format, models and inputs')
    parser.add_argument('--amp', action='store_true',
                        help='torch.autocast: float16 on CUDA, bfloat16 '
                        'on CPU')
    parser.add_argument('--jit', action='store_true',
                        help='time torch.jit.trace-d models (traced per cell)')
    parser.add_argument('--no-forward', action='store_true',
                        help='skip the forward-time table')
    parser.add_argument('--no-complexity', action='store_true',
                        help='skip the parameters / FLOPs table')
    parser.add_argument(
        '--memory', action='store_true',
        help='report training memory and step time: activations saved for '
        'backward, CUDA peak, forward+backward time; adds a ":with_cp" row '
        'for every SelecSLS model')
    parser.add_argument('--train-batch', type=int, default=16)
    parser.add_argument('--train-size', type=parse_size, default=(224, 224))
    parser.add_argument('--train-iters', type=int, default=None,
                        help='timed training steps; default --iters')
    parser.add_argument('--pose', metavar='CONFIG', default=None,
                        help='time a pose model from an MMPose config '
                        'instead of the backbone tables')
    parser.add_argument('--checkpoint', default=None,
                        help='weights for --pose')
    parser.add_argument('--pose-size', type=parse_size, default=(512, 320),
                        help='input size for --pose, WxH')
    parser.add_argument('--json', metavar='PATH', default=None,
                        help='also write every number (and raw times) here')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0')
    if min(args.batch_sizes) < 1 or args.train_batch < 1:
        parser.error('batch sizes must be >= 1')
    if args.train_iters is None:
        args.train_iters = args.iters
    return args


def default_models() -> List[str]:
    try:
        import timm  # noqa: F401
    except ImportError:
        print('timm is not installed: timm models are left out',
              file=sys.stderr)
        return [m for m in DEFAULT_MODELS if not m.startswith('timm:')]
    return list(DEFAULT_MODELS)


# ---------------------------------------------------------------- running
class Runner:
    """Per-run settings: device, memory format, autocast, tracing."""

    def __init__(self, args, device: torch.device):
        self.device = device
        self.channels_last = args.channels_last
        self.amp = args.amp
        self.jit = args.jit

    def autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == 'cuda' else \
            torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def place(self, model: nn.Module,
              channels_last: bool = False) -> nn.Module:
        model = model.to(self.device)
        if self.channels_last or channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def inputs(self, batch: int, size: Tuple[int, int],
               channels_last: bool = False) -> torch.Tensor:
        x = torch.randn(batch, 3, size[1], size[0], device=self.device)
        return self.layout(x, channels_last)

    def layout(self, x: torch.Tensor,
               channels_last: bool = False) -> torch.Tensor:
        if self.channels_last or channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def for_inference(self, model: nn.Module, x: torch.Tensor):
        """The module to time: the model itself or its trace on ``x``."""
        if not self.jit:
            return model
        with torch.no_grad(), self.autocast(), warnings.catch_warnings():
            # torch 2.x marks tracing deprecated; --jit asks for it anyway.
            warnings.simplefilter('ignore', FutureWarning)
            return torch.jit.trace(model, x, check_trace=False)

    def forward_fn(self, model, x):
        def run():
            with torch.inference_mode(), self.autocast():
                return model(x)
        return run

    def train_step_fn(self, model: nn.Module, x: torch.Tensor):
        params = [p for p in model.parameters() if p.requires_grad]

        def step():
            with self.autocast():
                loss = training_loss(model(x))
            loss.backward()
            for p in params:  # no accumulation across steps or models
                p.grad = None
        return step


def build_models(specs, runner: Runner) -> Dict[str, Tuple[nn.Module, bool]]:
    """Label -> (model on the device, whether it runs channels_last)."""
    models = {}
    for spec in specs:
        if spec.label in models:
            raise ValueError(f'model {spec.label!r} is listed twice')
        model = runner.place(build_benchmark_model(spec), spec.channels_last)
        models[spec.label] = (model, spec.channels_last)
    return models


def ratio_pairs(labels: Sequence[str],
                baselines: Sequence[str]) -> List[Tuple[str, str]]:
    """(baseline, model) for every baseline present and every other model."""
    return [(b, m) for b in baselines if b in labels for m in labels
            if m != b]


# ----------------------------------------------------------------- tables
def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def fmt_ms(ms: float) -> str:
    return f'{ms:.1f}' if ms < 100 else f'{ms:.0f}'


def progress(msg: str):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------- forward
def run_forward(args, models, runner: Runner) -> dict:
    labels = list(models)
    cells = [(size, batch) for size in args.sizes
             for batch in args.batch_sizes]
    results = []
    for size, batch in cells:
        progress(f'forward {size_name(size)} batch {batch} ...')
        x = runner.inputs(batch, size)
        fns = {}
        for label, (model, channels_last) in models.items():
            xm = runner.layout(x, channels_last)
            fns[label] = runner.forward_fn(runner.for_inference(model, xm),
                                           xm)
        times = time_interleaved(fns, args.iters, args.warmup, runner.device,
                                 min_time=args.min_time)
        for label in labels:
            stats = summarize(times[label])
            results.append(dict(model=label, size=list(size), batch=batch,
                                **stats.to_dict(), times=times[label]))
        del fns, x
    raw = {(r['model'], tuple(r['size']), r['batch']): r['times']
           for r in results}
    ratio = {(b, m, s, bs): paired_ratio(raw[b, s, bs], raw[m, s, bs])
             for b, m in ratio_pairs(labels, args.baselines)
             for s, bs in cells}
    ratios = [dict(numerator=b, denominator=m, size=list(s), batch=bs,
                   ratio=r) for (b, m, s, bs), r in ratio.items()]

    header = ['model'] + [f'{size_name(s)} bs{b}' for s, b in cells]
    rows = []
    for label in labels:
        row = [label]
        for size, batch in cells:
            r = next(r for r in results if r['model'] == label
                     and tuple(r['size']) == size and r['batch'] == batch)
            row.append(f"{fmt_ms(r['median'])} ({fmt_ms(r['iqr'])})")
        rows.append(row)
    for b, m in ratio_pairs(labels, args.baselines):
        rows.append([f'{b} / {m}'] + [
            f'{ratio[b, m, s, bs]:.2f}' for s, bs in cells])
    n = sorted({r['n'] for r in results})
    print('\nForward time, ms: median (IQR) over '
          f"{n[0] if n[0] == n[-1] else f'{n[0]}-{n[-1]}'} "
          'interleaved iterations; "A / B" rows: time of A over time of B '
          '(> 1: B is faster), median of per-iteration ratios')
    print(markdown_table(header, rows))
    return dict(unit='ms', cells=results, ratios=ratios)


# ---------------------------------------------------------- complexity
def run_complexity(args, models, runner: Runner) -> list:
    progress('parameters and FLOPs ...')
    out = []
    for label, (model, channels_last) in models.items():
        flops = {size_name(s): count_flops(
            model, runner.inputs(1, s, channels_last)) for s in args.sizes}
        out.append(dict(model=label, params=count_params(model), flops=flops))
    header = ['model', 'params (M)'] + [
        f'GFLOPs {size_name(s)}' for s in args.sizes]
    rows = [[r['model'], f"{r['params'] / 1e6:.2f}"] + [
        f'{r["flops"][size_name(s)] / 1e9:.2f}' for s in args.sizes]
            for r in out]
    print('\nParameters and FLOPs per image (torch.utils.flop_counter: '
          'convs and matmuls, 2 FLOPs per multiply-add)')
    print(markdown_table(header, rows))
    return out


# -------------------------------------------------------------- memory
def memory_specs(specs):
    """The specs for the memory report: no deploy forms (they do not
    train), plus a ``:with_cp`` form of every SelecSLS model."""
    out = []
    for spec in specs:
        if 'deploy' in spec.options:
            continue
        out.append(spec)
        if is_selecsls_spec(spec) and 'with_cp' not in spec.options and \
                not (spec.cfg or {}).get('with_cp'):
            out.append(spec.with_options('with_cp'))
    labels = [s.label for s in out]
    return [s for i, s in enumerate(out) if s.label not in labels[:i]]


def run_memory(args, specs, runner: Runner) -> dict:
    specs = memory_specs(specs)
    models = build_models(specs, runner)
    batch, size = args.train_batch, args.train_size
    progress(f'training memory and step time, batch {batch} '
             f'{size_name(size)} ...')
    x = runner.inputs(batch, size)
    rows, steps = {}, {}
    for label, (model, channels_last) in models.items():
        model.train()
        xm = runner.layout(x, channels_last)
        with runner.autocast():
            saved = saved_activation_bytes(model, xm)
        rows[label] = dict(model=label, saved_bytes=saved)
        steps[label] = runner.train_step_fn(model, xm)
    times = time_interleaved(steps, args.train_iters, min(args.warmup, 1),
                             runner.device)
    for label in models:
        rows[label]['train_step'] = summarize(times[label]).to_dict()
        rows[label]['train_step_times'] = times[label]
        if runner.device.type == 'cuda':
            rows[label]['cuda'] = cuda_peak_training_bytes(steps[label],
                                                           runner.device)
    labels = list(models)
    pairs = [(m, b) for b, m in ratio_pairs(labels, args.baselines)]
    # Checkpointing's price: a with_cp row against the same model without.
    pairs += [(s.label, s.without('with_cp').label) for s in specs
              if 'with_cp' in s.options
              and s.without('with_cp').label in labels]
    pairs = list(dict.fromkeys(pairs))
    ratios = [dict(numerator=m, denominator=b,
                   saved=rows[m]['saved_bytes'] / rows[b]['saved_bytes'],
                   train_step=paired_ratio(times[m], times[b]))
              for m, b in pairs]

    header = ['model', 'saved for backward (MiB)', 'train step ms (IQR)']
    if runner.device.type == 'cuda':
        header.append('CUDA peak allocated (MiB)')
    table = []
    for r in rows.values():
        step = r['train_step']
        line = [r['model'], f"{r['saved_bytes'] / MiB:.0f}",
                f"{fmt_ms(step['median'])} ({fmt_ms(step['iqr'])})"]
        if 'cuda' in r:
            line.append(f"{r['cuda']['peak'] / MiB:.0f}")
        table.append(line)
    print(f'\nTraining, batch {batch}, {size_name(size)}: activations saved '
          'for backward (autograd saved-tensor hooks, each storage once, '
          'parameters excluded) and forward+backward time over '
          f'{args.train_iters} interleaved steps')
    print(markdown_table(header, table))
    print()
    print(markdown_table(
        ['A / B', 'saved for backward', 'train step time (paired median)'],
        [[f"{r['numerator']} / {r['denominator']}", f"{r['saved']:.2f}",
          f"{r['train_step']:.2f}"] for r in ratios]))
    return dict(batch=batch, size=list(size), rows=list(rows.values()),
                ratios=ratios)


# ---------------------------------------------------------------- pose
class _PoseNetwork(nn.Module):
    """Backbone (+ neck) and head forward of a pose estimator: images to
    (heatmaps, pafs), without data preprocessing, flip test or decoding."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.head.forward(self.model.extract_feat(x))


def run_pose(args, runner: Runner) -> dict:
    import numpy as np
    from mmengine.config import Config

    from selecsls_mm.benchmark.pose import (build_pose_model,
                                            synthetic_codec,
                                            synthetic_people)
    model = build_pose_model(args.pose, args.checkpoint, device='cpu')
    if args.deploy:
        if not hasattr(model.backbone, 'switch_to_deploy'):
            raise ValueError(f'--deploy: the backbone '
                             f'{type(model.backbone).__name__} has no '
                             'switch_to_deploy()')
        model.backbone.switch_to_deploy()
    model.eval()
    decoder = getattr(model.head, 'decoder', None)
    if decoder is None or not hasattr(decoder, 'decode'):
        raise ValueError(f'the head of {args.pose} has no decoder (codec); '
                         '--pose times heatmap + PAF models such as '
                         'configs/pose/xnect-paf_*.py')
    network = runner.place(_PoseNetwork(model))
    size, batch = args.pose_size, 1
    x = runner.inputs(batch, size)
    net = runner.for_inference(network, x)
    with torch.inference_mode(), runner.autocast():
        outputs = net(x)
    if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2):
        raise ValueError('--pose expects a head whose forward returns '
                         '(heatmaps, pafs), such as XNectPAFHead')
    maps = [o[0].float().cpu().numpy() for o in outputs]
    progress(f'pose network {size_name(size)} and decode ...')
    times = time_interleaved(
        dict(network=runner.forward_fn(net, x),
             decode=lambda: decoder.decode(*maps)),
        args.iters, args.warmup, runner.device)
    stats = {k: summarize(v).to_dict() for k, v in times.items()}
    total = stats['network']['median'] + stats['decode']['median']

    # The decoder alone on clean maps of 10 people, from the codec's encode.
    cfg = Config.fromfile(args.pose)
    codec = synthetic_codec(cfg.model.head.decoder, (128, 128))
    rng = np.random.default_rng(0)
    scenes = []
    for _ in range(4):
        keypoints = synthetic_people(10, (128, 128), rng)
        keypoints = keypoints * codec.scale_factor  # to input pixels
        encoded = codec.encode(keypoints, np.ones(keypoints.shape[:2]))
        scenes.append((encoded['heatmaps'], encoded['pafs']))
    found = [len(codec.decode(*scene)[0]) for scene in scenes]
    counter = iter(range(10**9))

    def decode_synthetic():
        return codec.decode(*scenes[next(counter) % len(scenes)])

    decode_iters = max(args.iters, 20)
    synth = summarize(time_interleaved(
        dict(decode=decode_synthetic), decode_iters, max(args.warmup, 1),
        runner.device)['decode']).to_dict()

    heat_size = f'{maps[0].shape[2]}x{maps[0].shape[1]}'
    rows = [
        [f'network (backbone + head), {size_name(size)} bs1',
         f"{fmt_ms(stats['network']['median'])} "
         f"({fmt_ms(stats['network']['iqr'])})",
         f"{1e3 / stats['network']['median']:.1f}"],
        [f'decode of its {heat_size} maps'
         f"{' (untrained weights)' if args.checkpoint is None else ''}",
         f"{fmt_ms(stats['decode']['median'])} "
         f"({fmt_ms(stats['decode']['iqr'])})", ''],
        ['network + decode', fmt_ms(total), f'{1e3 / total:.1f}'],
        ['decode only: 10 people, 128x128 maps (codec encode)',
         f"{synth['median']:.2f} ({synth['iqr']:.2f})",
         f'{1e3 / synth["median"]:.0f}'],
    ]
    print(f'\nPose model {os.path.basename(args.pose)}: ms median (IQR) '
          f'over {args.iters} iterations (decode only: {decode_iters}); no '
          'flip test, no data preprocessing')
    print(markdown_table(['part', 'ms', 'fps'], rows))
    print(f'decode-only scenes: people found {found} of 10 each')
    return dict(config=args.pose, checkpoint=args.checkpoint,
                size=list(size), network=stats['network'],
                decode=stats['decode'],
                network_plus_decode_ms=total, fps=1e3 / total,
                network_fps=1e3 / stats['network']['median'],
                decode_synthetic=dict(num_people=10, heatmap_size=[128, 128],
                                      people_found=found, **synth))


# ---------------------------------------------------------------- main
def write_json(path: str, data: dict):
    """Write to a temp file beside ``path``, then rename: never half-written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    args = parse_args(argv)
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    try:
        device = resolve_device(args.device)
        set_threads(args.threads)
        specs = [parse_model_spec(m) for m in args.models or default_models()]
        if args.deploy:
            specs = [s.with_options('deploy') if is_selecsls_spec(s) else s
                     for s in specs]
        labels = [s.label for s in specs]
        for b in args.baselines:
            if b not in labels and b not in DEFAULT_BASELINES:
                progress(f'warning: baseline {b!r} is not among --models '
                         f'{labels}; it gets no ratio rows')
        runner = Runner(args, device)
        env = describe_environment(device)
        settings = {k: v for k, v in vars(args).items()}
        settings['models'] = [s.label for s in specs]
        print(f"# device: {env['device_name']} ({env['device']}); torch "
              f"{env['torch']}; {env['threads']} threads; fp32"
              f"{' + autocast' if args.amp else ''}"
              f"{'; channels_last' if args.channels_last else ''}"
              f"{'; traced' if args.jit else ''}"
              f"{'; SelecSLS deploy' if args.deploy else ''}; eval mode, "
              'torch.inference_mode' +
              ('' if args.pose else
               '; backbone features only (no classifier)'))
        results = dict(environment=env, settings=settings,
                       date=datetime.datetime.now().isoformat(
                           timespec='seconds'),
                       command=' '.join([os.path.basename(sys.argv[0])] +
                                        sys.argv[1:]))
        if args.pose:
            results['pose'] = run_pose(args, runner)
        else:
            need_models = not (args.no_forward and args.no_complexity)
            models = build_models(specs, runner) if need_models else {}
            if not args.no_forward:
                results['forward'] = run_forward(args, models, runner)
            if not args.no_complexity:
                results['complexity'] = run_complexity(args, models, runner)
            del models
            if args.memory:
                results['memory'] = run_memory(args, specs, runner)
    except (ValueError, ImportError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.json:
        write_json(args.json, results)
        progress(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Speed, memory and complexity of SelecSLS against other backbones, and
bottom-up pose models end to end.

Every model of a run gets the same treatment (channels_last by default, the
same runtime, autocast and BN folding), timed interleaved so ratios are fair
on a noisy machine. The experiments live in ``selecsls_mm.benchmark``.

Examples::

    python tools/benchmark.py                                 # the table
    python tools/benchmark.py --runtime eager onnxruntime     # side by side
    python tools/benchmark.py --deploy --iters 3 --json bench.json
    python tools/benchmark.py --no-forward --memory           # training
    python tools/benchmark.py --pose                          # pose, e2e
    python tools/benchmark.py --paf-decode                    # PAF decoders
    python tools/benchmark.py --pose3d                        # XNect 3D
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; torch and the package are imported in run_benchmark().
import argparse
import datetime
import logging
import os
import sys

DEFAULT_MODELS = [
    'selecsls60', 'timm:selecsls60', 'mmpretrain:ResNet-50', 'timm:vovnet39a'
]
DEFAULT_BASELINES = ['mmpretrain:ResNet-50', 'timm:selecsls60']
# selecsls_mm.benchmark.RUNTIMES and .pose3d.FORMS (a test keeps them equal)
RUNTIMES = ('eager', 'jit', 'compile', 'onnxruntime', 'onnxruntime-int8')
POSE3D_FORMS = ('eager', 'folded', 'int8', 'int8-deconv')
SPEC_HELP = ('a SelecSLS arch ("selecsls60", "selecsls42b", ...), '
             '"timm:NAME", "mmpretrain:TYPE[-ARG]" (e.g. '
             '"mmpretrain:ResNet-50") or a backbone config dict; append '
             '":with_cp", ":deploy" or ":channels_last" to a non-dict spec '
             '(docs/benchmark.md)')
POSE_CONFIGS = [
    f'configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-{s}.py'
    for s in ('512x512', '512x320')
]


def parse_size(text: str):
    """``'512'`` -> (512, 512); ``'512x320'`` -> width 512, height 320."""
    parts = text.lower().split('x')
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f'bad size {text!r}: give S (square) or WxH, e.g. 512 or 512x320')
    return int(parts[0]), int(parts[1])


def parse_cell(text: str):
    """``'512:16'`` or ``'512x320:1'`` -> ((W, H), batch)."""
    size, _, batch = text.partition(':')
    if not batch.isdigit() or int(batch) < 1:
        raise argparse.ArgumentTypeError(
            f'bad cell {text!r}: give SIZE:BATCH, e.g. 512:16 or 224x224:1')
    return parse_size(size), int(batch)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument(
        '--models',
        nargs='+',
        default=None,
        help=f'models to compare: each is {SPEC_HELP}. Default: '
        f'{" ".join(DEFAULT_MODELS)} (timm ones if installed)')
    p.add_argument(
        '--baselines',
        nargs='*',
        default=DEFAULT_BASELINES,
        help='models (from --models) that ratio rows compare to')
    p.add_argument(
        '--sizes',
        nargs='+',
        type=parse_size,
        default=[(512, 512), (400, 400), (224, 224)],
        help='input sizes, S or WxH')
    p.add_argument('--batch-sizes', nargs='+', type=int, default=[1, 16])
    p.add_argument(
        '--cells',
        nargs='+',
        type=parse_cell,
        default=None,
        help='time only these SIZE:BATCH cells (e.g. 512:16 '
        '224:1) instead of every size with every batch size')
    p.add_argument(
        '--iters',
        type=int,
        default=10,
        help='timed iterations per model and cell')
    p.add_argument(
        '--warmup',
        type=int,
        default=2,
        help='untimed iterations per model and cell')
    p.add_argument(
        '--min-time',
        type=float,
        default=0.0,
        help='per cell, iterate past --iters until this many '
        'seconds were timed')
    p.add_argument(
        '--device',
        default=None,
        help='cpu, cuda or cuda:N; default cuda if available')
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch intra-op threads on CPU; default all cores')
    p.add_argument(
        '--runtime',
        nargs='+',
        choices=RUNTIMES,
        default=['eager'],
        help='how forwards run, for every model; several are '
        'timed side by side (see docs/benchmark.md)')
    p.add_argument(
        '--deploy',
        action='store_true',
        help='fold BN into convs in every model: SelecSLS by '
        'switch_to_deploy(), peers by torch.fx conv-BN fusion')
    p.add_argument(
        '--channels-last',
        action=argparse.BooleanOptionalAction,
        default=True,
        help='channels_last memory format for '
        'every model and input (--no-channels-last: NCHW)')
    p.add_argument(
        '--amp',
        action='store_true',
        help='torch.autocast: fp16 on CUDA, bf16 on CPU')
    p.add_argument(
        '--no-forward',
        action='store_true',
        help='skip the forward-time table')
    p.add_argument(
        '--no-complexity',
        action='store_true',
        help='skip the parameters / MACs table')
    p.add_argument(
        '--memory',
        action='store_true',
        help='training memory and step time; adds a ":with_cp" '
        'row for every SelecSLS model')
    p.add_argument('--train-batch', type=int, default=16)
    p.add_argument('--train-size', type=parse_size, default=(224, 224))
    p.add_argument(
        '--train-iters',
        type=int,
        default=None,
        help='timed training steps; default --iters')
    p.add_argument(
        '--pose',
        nargs='*',
        metavar='CONFIG',
        default=None,
        help='pose end to end instead of the backbone tables: '
        'these bottom-up configs (default: ours at 512x512 and '
        '512x320) against --pose-peers')
    p.add_argument(
        '--pose-peers',
        nargs='*',
        default=None,
        help='mmpose peers for --pose (default: all; names in '
        'docs/benchmark.md)')
    p.add_argument(
        '--checkpoint',
        default=None,
        help='weights for a single --pose CONFIG')
    p.add_argument(
        '--pose-size',
        type=parse_size,
        default=None,
        help='also time each --pose network alone at WxH')
    p.add_argument(
        '--paf-decode',
        nargs='*',
        metavar='VARIANT',
        default=None,
        help='only the PAF decoder against the number of people: the '
        'codec of the first --pose config (default ours at 512x512) and '
        'these variants of it side by side (default: all of '
        'selecsls_mm.benchmark.paf_decode.DECODER_VARIANTS); --iters '
        'decodes per scene')
    p.add_argument(
        '--pose3d',
        nargs='*',
        metavar='FORM',
        choices=POSE3D_FORMS,
        default=None,
        help='only XNect in 3D, stage by stage: the Stage I network of the '
        '3D config against the 2D one at --pose-size (default 512x320) in '
        'these forms (default: all; folded: BN folded, int8: ONNX Runtime '
        'int8 with the upsampling as sub-pixel convs, int8-deconv: with '
        'its transposed convs, which run in fp32), the 3D decoder, '
        'Stages II and III per person (10 x --iters frames) and a '
        'real-time frame of 5 people (docs/benchmark.md)')
    p.add_argument(
        '--json',
        metavar='PATH',
        default=None,
        help='also write every number (and raw times) here')
    args = p.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        p.error('--iters must be >= 1 and --warmup >= 0')
    if min(args.batch_sizes) < 1 or args.train_batch < 1:
        p.error('batch sizes must be >= 1')
    args.runtime = list(dict.fromkeys(args.runtime))
    args.train_iters = args.train_iters or args.iters
    return args


def progress(msg: str):
    print(msg, file=sys.stderr, flush=True)


def default_models():
    try:
        import timm  # noqa: F401
    except ImportError:
        progress('timm is not installed: timm models are left out')
        return [m for m in DEFAULT_MODELS if not m.startswith('timm:')]
    return list(DEFAULT_MODELS)


def run_backbones(args, settings, results):
    from selecsls_mm.benchmark import (BenchmarkSettings, build_models,
                                       check_runtime, parse_model_spec, report,
                                       run_complexity, run_forward,
                                       run_training)
    specs = [parse_model_spec(m) for m in args.models or default_models()]
    for rt in args.runtime:
        check_runtime(rt, BenchmarkSettings(settings.device, amp=args.amp))
    labels = [s.label for s in specs]
    for b in args.baselines:
        if b not in labels and b not in DEFAULT_BASELINES:
            progress(f'warning: baseline {b!r} is not among --models; it '
                     'gets no ratio rows')
    results['settings']['models'] = labels
    models = {} if args.no_forward and args.no_complexity else \
        build_models(specs, settings, fold=args.deploy)
    results['bn_folding'] = {k: v['fold'] for k, v in models.items()}
    if args.deploy:
        print('BN folding: ' +
              '; '.join(f'{k}: {v}' for k, v in results['bn_folding'].items()))
    if not args.no_forward:
        results['forward'] = run_forward(models, settings, args.sizes,
                                         args.batch_sizes, args.runtime,
                                         args.baselines, args.iters,
                                         args.warmup, args.min_time, progress,
                                         args.cells)
        print(report.forward_report(results['forward']))
    if not args.no_complexity:
        sizes = list(dict.fromkeys(s for s, _ in args.cells)) if args.cells \
            else args.sizes
        results['complexity'] = run_complexity(models, settings, sizes)
        print(report.complexity_report(results['complexity']))
    del models
    if args.memory:
        specs = [s for s in specs if 'deploy' not in s.options]
        results['memory'] = run_training(specs, settings, args.train_batch,
                                         args.train_size,
                                         args.baselines, args.train_iters,
                                         min(args.warmup, 1), progress)
        print(report.training_report(results['memory']))


def run_pose(args, settings, results):
    from selecsls_mm.benchmark import pose, report
    from selecsls_mm.benchmark.pose_peers import (POSE_PEERS,
                                                  build_pose_models,
                                                  sample_photo)
    configs = args.pose or POSE_CONFIGS
    peers = POSE_PEERS if args.pose_peers is None else args.pose_peers
    models, skipped, folding = build_pose_models(
        configs, peers, settings, args.checkpoint, fold=args.deploy)
    if folding:
        print('BN folding (backbones): ' +
              '; '.join(f'{k}: {v}' for k, v in folding.items()))
    # the decoder first, while no network has run yet (a short numpy job is
    # the most easily disturbed by what ran just before it)
    ours = next(iter(models.values()))
    decode = pose.time_decode_vs_people(ours.cfg.model.head.decoder)
    rows = []
    for runtime in args.runtime:  # every model under each runtime
        rows += pose.time_pose_end_to_end(
            models,
            sample_photo(),
            iters=args.iters,
            warmup=args.warmup,
            progress=progress,
            settings=settings,
            runtime=runtime,
            skipped=skipped)
    reference = next((p for p in peers if p in models), None)
    print(report.pose_report(rows, reference))
    for name, line in skipped.items():
        print(f'not timed: {name}: {line}')
    print(report.decode_report(decode, os.path.basename(configs[0])))
    results['pose'] = dict(
        rows=rows, skipped=skipped, decode=decode, bn_folding=folding)
    if args.pose_size:
        results['pose']['network'] = {
            label:
            pose.time_pose_network(m, args.pose_size, settings, args.iters,
                                   args.warmup)
            for label, m in models.items()
        }
        print(report.pose_network_report(results['pose']['network']))


def run_paf_decode(args, results):
    from mmengine.config import Config

    import selecsls_mm.pose  # noqa: F401  (registers the codec)
    from selecsls_mm.benchmark import paf_decode, report
    config = (args.pose or POSE_CONFIGS)[0]
    decoder = Config.fromfile(config).model.head.decoder.to_dict()
    codecs = paf_decode.build_decoders(decoder, args.paf_decode or None)
    timed = paf_decode.time_paf_decoders(codecs, repeats=args.iters)
    print(report.decoders_report(timed, os.path.basename(config)))
    results['paf_decode'] = {
        label: {
            str(n): row
            for n, row in rows.items()
        }
        for label, rows in timed.items()
    }


def run_pose3d(args, settings, results):
    from selecsls_mm.benchmark import pose3d, report
    results['pose3d'] = pose3d.run_pose3d(
        settings,
        iters=args.iters,
        warmup=args.warmup,
        min_time=args.min_time,
        size=args.pose_size or (512, 320),
        forms=args.pose3d or pose3d.FORMS,
        stage_iters=10 * args.iters,
        progress=progress)
    print(report.pose3d_report(results['pose3d']))


def run_benchmark(args, argv=None) -> int:
    from mmengine.logging import MMLogger

    from selecsls_mm.benchmark import (BenchmarkSettings, describe_environment,
                                       report, resolve_device, set_threads)
    from selecsls_mm.utils import error_line
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    device = resolve_device(args.device)
    set_threads(args.threads)
    settings = BenchmarkSettings(device, args.channels_last, args.amp,
                                 args.runtime[0], args.deploy)
    env = describe_environment(device)
    what = ('PAF decoding alone' if args.paf_decode is not None else
            'XNect 3D, stage by stage' if args.pose3d is not None else
            'bottom-up pose, end to end' if args.pose is not None else
            'backbone features only (no classifier), every model alike')
    print(report.header_line(env, settings.describe(args.runtime), what))
    results = dict(
        environment=env,
        settings=vars(args).copy(),
        date=datetime.datetime.now().isoformat(timespec='seconds'),
        command=' '.join(['tools/benchmark.py'] +
                         (sys.argv[1:] if argv is None else list(argv))))
    try:
        if args.paf_decode is not None:
            run_paf_decode(args, results)
        elif args.pose3d is not None:
            run_pose3d(args, settings, results)
        elif args.pose is not None:
            run_pose(args, settings, results)
        else:
            run_backbones(args, settings, results)
    except ImportError as e:  # a runtime or peer that is not installed
        print(error_line(e), file=sys.stderr)
        return 1
    if args.json:
        report.write_json(args.json, results)
        progress(f'wrote {args.json}')
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from selecsls_mm.utils import run_main
    return run_main(run_benchmark, args, argv)


if __name__ == '__main__':
    sys.exit(main())

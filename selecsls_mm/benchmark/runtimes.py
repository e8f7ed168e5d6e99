# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Inference runtimes: how one forward of a model is executed.

Every runtime is applied to every model of a run, so a ratio never compares
an optimised model with a plain one. The fp32 output of each prepared model
is checked against the eager model's on the same input (see
:func:`prepare_forward`), and the difference is reported.

* ``eager``: the ``nn.Module`` called in ``torch.inference_mode``.
* ``jit``: ``torch.jit.trace`` (the old ``--jit``), traced per input shape.
* ``compile``: ``torch.compile`` (TorchInductor) with weight freezing, the
  setting PyTorch recommends for CPU inference (folds BN, pre-packs conv
  weights). Needs a C++ compiler on CPU.
* ``onnxruntime``: the model exported to ONNX (opset 17, static shapes),
  run by ONNX Runtime's CPU (or CUDA) execution provider with all graph
  optimisations (conv + BN + ReLU fusion, its own blocked memory layout).
* ``onnxruntime-int8``: that graph quantized to int8 (static QDQ, weights
  per channel; :mod:`selecsls_mm.deploy.quantize`) and run by ONNX
  Runtime's CPU provider, integer convs (VNNI where the CPU has it). Its
  ranges are calibrated on the benchmark's own random input, which sets the
  speed but not a useful accuracy: measure agreement with fp32 on real
  images with ``tools/deployment/quantize.py``. Its difference from eager is
  reported, and is large by nature.
"""
import io
import os.path as osp
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn as nn

from ..utils.compare import max_rel_diff
from .settings import BenchmarkSettings

RUNTIMES = ('eager', 'jit', 'compile', 'onnxruntime', 'onnxruntime-int8')
# Runtimes whose outputs are not expected to match eager to fp32 precision.
QUANTIZED_RUNTIMES = ('onnxruntime-int8', )

# What a runtime needs beyond torch, and how to get it.
_REQUIREMENTS = {
    'onnxruntime': (('onnx', 'onnxruntime'),
                    'pip install onnx onnxruntime (or onnxruntime-gpu)'),
    'onnxruntime-int8':
    (('onnx', 'onnxruntime'), 'pip install onnx onnxruntime'),
}


def check_runtime(runtime: str, settings: Optional[BenchmarkSettings] = None):
    """Fail early, in one line, if ``runtime`` cannot run here.

    Args:
        runtime (str): One of :data:`RUNTIMES`.
        settings (BenchmarkSettings, optional): Checked for combinations
            the runtime does not support (autocast with ONNX Runtime).

    Raises:
        ValueError: An unknown runtime or an unsupported combination.
        ImportError: A runtime whose package is not installed, naming the
            command that installs it.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f'unknown runtime {runtime!r}; choose one of '
                         f'{", ".join(RUNTIMES)}')
    modules, install = _REQUIREMENTS.get(runtime, ((), ''))
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            raise ImportError(f'runtime {runtime} needs the {module} package,'
                              f' which is not installed: {install}') from None
    if settings is None or not runtime.startswith('onnxruntime'):
        return
    if settings.amp:
        raise ValueError(f'--amp cannot be combined with --runtime {runtime} '
                         '(it runs the exported graph in its own precision); '
                         'drop --amp or pick another runtime')
    if runtime in QUANTIZED_RUNTIMES and settings.device.type != 'cpu':
        raise ValueError(f'--runtime {runtime} runs on the CPU only (ONNX '
                         'Runtime\'s int8 convs); add --device cpu')


def as_tensors(outputs) -> List[torch.Tensor]:
    """A model's output (tensor, tuple of tensors, ONNX Runtime's list of
    arrays) as a flat list of float tensors on the CPU."""
    if isinstance(outputs, (list, tuple)):
        return [t for o in outputs for t in as_tensors(o)]
    return [torch.as_tensor(outputs).detach().float().cpu()]


@dataclass
class PreparedForward:
    """A model prepared for one input by one runtime.

    Args:
        run (callable): Zero-argument callable: one forward on the bound
            input, returning the outputs.
        runtime (str): The runtime's name.
        max_rel_diff (float): ``max|eager - runtime| / max|eager|`` of the
            outputs on the bound input (fp32 eager reference).
        engine (object): What runs the forward: the module, the traced
            ``ScriptModule``, the compiled function or the ONNX Runtime
            ``InferenceSession``.
        call (callable): One forward on a new input of the bound input's
            shape and layout, returning the outputs (ONNX Runtime: a list
            of arrays).
    """
    run: Callable[[], Any]
    runtime: str
    max_rel_diff: float
    engine: Any = None
    call: Optional[Callable[[torch.Tensor], Any]] = None


def _onnx_session(model: nn.Module,
                  x: torch.Tensor,
                  device: torch.device,
                  int8: bool = False):
    import onnxruntime as ort
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(
                model, (x.contiguous(), ),
                buffer,
                opset_version=17,
                dynamo=False,
                input_names=['input'])
    except Exception as e:  # the exporter raises many types
        raise ValueError(
            f'{type(model).__name__} cannot be exported to ONNX '
            f'({type(e).__name__}: {" ".join(str(e).split())[:200]}); time '
            'it with --runtime eager, jit or compile') from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ONNX Runtime's threads otherwise spin after each run and take the
    # cores from whatever runs next: the next model of an interleaved loop,
    # or the grouping that follows a pose network.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    providers = ['CPUExecutionProvider']
    if device.type == 'cuda':
        if 'CUDAExecutionProvider' not in ort.get_available_providers():
            raise ImportError('--runtime onnxruntime on CUDA needs '
                              'onnxruntime-gpu: pip install onnxruntime-gpu')
        providers.insert(0, 'CUDAExecutionProvider')
    graph = buffer.getvalue()
    if int8:
        from ..deploy.quantize import quantize_onnx
        with tempfile.TemporaryDirectory() as tmp:
            fp32, quantized = osp.join(tmp, 'fp32.onnx'), \
                osp.join(tmp, 'int8.onnx')
            with open(fp32, 'wb') as f:
                f.write(graph)
            quantize_onnx(fp32, quantized, [x.contiguous().cpu().numpy()])
            with open(quantized, 'rb') as f:
                graph = f.read()
    return ort.InferenceSession(graph, options, providers=providers)


def _compile(model: nn.Module) -> Callable:
    from torch._inductor import config as inductor_config
    compiled = torch.compile(model)

    def call(x):
        # Freezing turns weights into constants (BN folded, conv weights
        # pre-packed): PyTorch's advice for CPU inference. The patch only
        # matters while a shape is compiled, i.e. during the first call.
        with inductor_config.patch(freezing=True):
            return compiled(x)

    return call


def prepare_forward(model: nn.Module,
                    x: torch.Tensor,
                    settings: BenchmarkSettings,
                    runtime: Optional[str] = None,
                    cache: Optional[Dict[int, Any]] = None) -> PreparedForward:
    """Prepare ``model`` for timed forwards on ``x`` with the run's runtime.

    The first runtime call (export, trace, compile) happens here, outside
    the timed region, and its output is compared with the eager model's.

    Args:
        model (nn.Module): The model, in eval mode, on the run's device.
        x (Tensor): The input, in the layout the model expects.
        settings (BenchmarkSettings): The run's settings.
        runtime (str, optional): Overrides ``settings.runtime``.
        cache (dict, optional): Per-model state kept across inputs (one
            ``torch.compile`` wrapper per model, which compiles per shape).

    Returns:
        PreparedForward: The zero-argument forward and its difference from
        eager.
    """
    runtime = runtime or settings.runtime
    check_runtime(runtime, settings)
    with torch.inference_mode():
        reference = as_tensors(model(x))
    if runtime.startswith('onnxruntime'):
        session = _onnx_session(model, x, settings.device, runtime
                                in QUANTIZED_RUNTIMES)
        name = session.get_inputs()[0].name
        feed = {name: x.contiguous().cpu().numpy()}

        def run():
            return session.run(None, feed)

        def call_on(inputs):
            return session.run(None, {name: inputs.contiguous().cpu().numpy()})

        engine = session
    else:
        if runtime == 'jit':
            with torch.no_grad(), settings.autocast(), \
                    warnings.catch_warnings():
                # torch 2.x marks tracing deprecated; --runtime jit asks.
                warnings.simplefilter('ignore')
                call = torch.jit.trace(
                    model, x, check_trace=False, strict=False)
        elif runtime == 'compile':
            cache = {} if cache is None else cache
            call = cache.setdefault(id(model), None) or _compile(model)
            cache[id(model)] = call
        else:
            call = model

        def call_on(inputs):
            with torch.inference_mode(), settings.autocast():
                return call(inputs)

        def run():
            return call_on(x)

        engine = call
    output = as_tensors(run())
    return PreparedForward(run, runtime, max_rel_diff(reference, output),
                           engine, call_on)

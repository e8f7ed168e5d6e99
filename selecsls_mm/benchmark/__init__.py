# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The experiments behind ``tools/benchmark.py``, as functions that return
results (dicts of numbers), and the report that prints them.

* :mod:`.models` turns a model spec (``selecsls60``, ``timm:vovnet39a``,
  ``mmpretrain:ResNet-50``, a backbone config dict) into a backbone that
  returns features only, so every model is compared like with like.
* :mod:`.settings` holds what every model of a run shares (device, memory
  format, autocast, runtime); :mod:`.runtimes` runs a forward eagerly,
  traced, compiled or in ONNX Runtime, checked against eager.
* :mod:`.forward`, :mod:`.complexity`, :mod:`.training`, :mod:`.pose` and
  :mod:`.paf_decode` are the experiments; :mod:`.timing` times callables
  interleaved; :mod:`.memory` counts the bytes autograd saves for backward.
* :mod:`.report` turns results into markdown tables and JSON.
"""
from .complexity import run_complexity
from .environment import describe_environment, resolve_device, set_threads
from .forward import run_forward
from .memory import (SavedTensorCounter, cuda_peak_training_bytes,
                     saved_activation_bytes)
from .models import (ModelSpec, build_benchmark_model, build_models, fold_bn,
                     parse_model_spec)
from .runtimes import RUNTIMES, check_runtime, prepare_forward
from .settings import BenchmarkSettings
from .timing import TimingStats, paired_ratio, summarize, time_interleaved
from .training import memory_specs, run_training

__all__ = [
    'ModelSpec', 'parse_model_spec', 'build_benchmark_model', 'build_models',
    'fold_bn', 'BenchmarkSettings', 'RUNTIMES', 'check_runtime',
    'prepare_forward', 'run_forward', 'run_complexity', 'run_training',
    'memory_specs', 'time_interleaved', 'paired_ratio', 'summarize',
    'TimingStats', 'SavedTensorCounter', 'saved_activation_bytes',
    'cuda_peak_training_bytes', 'describe_environment', 'resolve_device',
    'set_threads'
]

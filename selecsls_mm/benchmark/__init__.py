# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Measurement helpers behind ``tools/benchmark.py``.

* :mod:`.models` turns a model spec (``selecsls60``, ``timm:vovnet39a``,
  ``mmpretrain:ResNet-50``, a backbone config dict) into a backbone that
  returns features only, so every model is compared like with like.
* :mod:`.timing` times forwards and training steps, models interleaved.
* :mod:`.memory` counts the bytes autograd saves for backward.
* :mod:`.complexity` counts parameters and FLOPs.
* :mod:`.environment` describes the device, torch version and threads.
"""
from .complexity import count_flops, count_params
from .environment import describe_environment, resolve_device, set_threads
from .memory import SavedTensorCounter, cuda_peak_training_bytes, \
    saved_activation_bytes
from .models import ModelSpec, build_benchmark_model, parse_model_spec
from .timing import TimingStats, paired_ratio, summarize, time_interleaved

__all__ = [
    'ModelSpec', 'parse_model_spec', 'build_benchmark_model',
    'time_interleaved', 'paired_ratio', 'summarize', 'TimingStats',
    'SavedTensorCounter',
    'saved_activation_bytes', 'cuda_peak_training_bytes', 'count_params',
    'count_flops', 'describe_environment', 'resolve_device', 'set_threads'
]

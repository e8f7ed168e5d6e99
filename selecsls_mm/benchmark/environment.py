# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Device, thread count and versions, for the benchmark header."""
import os
import platform
from typing import Optional

import torch


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown CPU'


def resolve_device(name: Optional[str]) -> torch.device:
    """``None`` picks CUDA when available; a CUDA request without CUDA
    fails clearly instead of silently timing the CPU."""
    if name is None:
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'--device {name}: CUDA is not available in this '
                         'torch build or machine; use --device cpu')
    if device.type not in ('cpu', 'cuda'):
        raise ValueError(f'--device {name}: only cpu and cuda are supported')
    return device


def set_threads(threads: Optional[int]) -> int:
    """Fix torch's intra-op thread count (default: every usable core)."""
    threads = threads or available_cores()
    if threads < 1:
        raise ValueError(f'--threads must be >= 1, got {threads}')
    torch.set_num_threads(threads)
    return torch.get_num_threads()


def describe_environment(device: torch.device) -> dict:
    """Device name, torch version, threads, CPU model."""
    info = dict(
        device=str(device),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu=cpu_model(),
        cores=available_cores(),
        python=platform.python_version())
    if device.type == 'cuda':
        info['device_name'] = torch.cuda.get_device_name(device)
        info['cuda'] = torch.version.cuda
        info['cudnn'] = torch.backends.cudnn.version()
    else:
        info['device_name'] = info['cpu']
    return info

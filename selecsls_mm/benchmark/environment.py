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


def _cpuinfo_field(name: str) -> Optional[str]:
    """The first value of a /proc/cpuinfo field, None where there is none."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.split(':', 1)[0].strip() == name:
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    return (_cpuinfo_field('model name') or platform.processor()
            or platform.machine() or 'unknown CPU')


def cpu_vector_isa(flags: Optional[str] = None) -> str:
    """The widest vector instructions the CPU has, as far as they set its
    speed here: virtual machines of one model name ('AMD EPYC') differ in
    them, and int8 convolutions are several times faster with VNNI.

    Args:
        flags (str, optional): /proc/cpuinfo's ``flags`` (read if None).

    Returns:
        str: e.g. ``'AVX-512 VNNI'``, ``'AVX-512'``, ``'AVX2'`` or
        ``'unknown'`` (no /proc/cpuinfo).
    """
    flags = _cpuinfo_field('flags') if flags is None else flags
    if flags is None:
        return 'unknown'
    have = set(flags.split())
    if 'avx512f' in have:
        return 'AVX-512 VNNI' if 'avx512_vnni' in have else 'AVX-512'
    for flag, name in (('avx2', 'AVX2'), ('avx', 'AVX'), ('sse4_2', 'SSE4.2')):
        if flag in have:
            return name + (' VNNI' if 'avx_vnni' in have else '')
    return 'older than SSE4.2'


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
        cpu_isa=cpu_vector_isa(),
        cores=available_cores(),
        python=platform.python_version())
    if device.type == 'cuda':
        info['device_name'] = torch.cuda.get_device_name(device)
        info['cuda'] = torch.version.cuda
        info['cudnn'] = torch.backends.cudnn.version()
    else:
        info['device_name'] = f"{info['cpu']} ({info['cpu_isa']})"
    return info

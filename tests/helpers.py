"""Helpers shared by the test modules."""
import os.path as osp
import subprocess
import sys

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_tool(*args, timeout: float = 900) -> str:
    """Run ``python ARGS...`` from the repository root, as a user would;
    return stdout + stderr, failing the test (with the output's tail) on a
    non-zero exit."""
    proc = subprocess.run([sys.executable, *args],
                          cwd=REPO_ROOT,
                          text=True,
                          capture_output=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{args[0]} failed:\n{out[-4000:]}'
    return out


def randomize_bn(model: nn.Module, seed: int = 0, signed: bool = False):
    """Give every BN random statistics and affine parameters, as a trained
    model would have: |gamma| in [0.5, 1.5] (random signs if ``signed``)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                gamma = torch.rand(n, generator=g) + 0.5
                if signed:
                    gamma *= torch.randint(0, 2, (n, ), generator=g) * 2 - 1
                m.weight.copy_(gamma)
                m.bias.copy_(torch.rand(n, generator=g) * 0.6 - 0.3)


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (tools are scripts, not a
    package), to call its functions in-process."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        f'_tool_{name}', osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_refusals(cases, exception=Exception):
    """Each ``(call, line)`` of ``cases``: ``call()`` raises ``exception``
    with exactly ``line`` as its message (a refusal is one whole line a
    user reads, not a fragment)."""
    import pytest
    for call, line in cases:
        with pytest.raises(exception) as e:
            call()
        assert str(e.value) == line

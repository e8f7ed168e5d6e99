# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Kept so that ``from selecsls_mm.pose.decode_timing import
time_paf_decode`` still works: the decode timing is one of the benchmark's
experiments, :mod:`selecsls_mm.benchmark.paf_decode`, timed by the
benchmark's timer."""
from selecsls_mm.benchmark.paf_decode import time_paf_decode

__all__ = ['time_paf_decode']

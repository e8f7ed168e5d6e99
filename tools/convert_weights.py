#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Deprecated path: the tool is
``tools/model_converters/convert_weights.py``."""
from selecsls_mm.utils import run_moved_tool

if __name__ == '__main__':
    run_moved_tool(__file__, 'model_converters/convert_weights.py')

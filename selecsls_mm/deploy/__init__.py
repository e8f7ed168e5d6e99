# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Inference-only forms of SelecSLS: channel pruning, the deploy checkpoint
and its config, ONNX export and int8 quantization (``onnx``/``onnxruntime``
are imported only when used), and the rewrite of transposed convs as
sub-pixel convs, to apply before an int8 export (ONNX Runtime runs
transposed convs in fp32). BN folding lives with the model
(:mod:`selecsls_mm.models.utils`), model building and checkpoint loading in
:mod:`selecsls_mm.utils`."""
from .deploy_checkpoint import deploy_checkpoint, format_deploy_report
from .deploy_config import (deploy_config_text, deploy_overrides,
                            load_source_config)
from .onnx_export import (add_metadata, export_module, export_onnx,
                          onnx_runner, run_onnx)
from .prune import prune_classifier, prune_selecsls
from .quantize import (logit_agreement, onnx_logits, quantize_classifier,
                       quantize_onnx)
from .subpixel import SubPixelConvTranspose2d, deconvs_to_subpixel

__all__ = [
    'prune_classifier', 'prune_selecsls', 'deploy_checkpoint',
    'format_deploy_report', 'deploy_config_text', 'deploy_overrides',
    'load_source_config', 'add_metadata', 'export_module', 'export_onnx',
    'onnx_runner', 'run_onnx', 'quantize_onnx', 'quantize_classifier',
    'onnx_logits', 'logit_agreement', 'SubPixelConvTranspose2d',
    'deconvs_to_subpixel'
]

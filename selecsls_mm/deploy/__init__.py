# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Inference-only forms of SelecSLS: channel pruning, the deploy checkpoint
and its config, ONNX export and int8 quantization (``onnx``/``onnxruntime``
are imported only when used). BN folding lives with the model
(:mod:`selecsls_mm.models.utils`); its names stay importable here."""
from ..models.utils import (ConvAct, fuse_conv_bn, fuse_conv_module,
                            fuse_conv_modules)
from ..utils import (build_model, complexity, count_macs, count_params,
                     load_checkpoint_file, load_weights)
from .deploy_checkpoint import deploy_checkpoint, format_deploy_report
from .deploy_config import (deploy_config_text, deploy_overrides,
                            load_source_config)
from .onnx_export import (add_metadata, export_module, export_onnx,
                          onnx_runner, run_onnx)
from .prune import prune_classifier, prune_selecsls
from .quantize import (logit_agreement, onnx_logits, quantize_classifier,
                       quantize_onnx)

__all__ = [
    'build_model', 'load_checkpoint_file', 'load_weights', 'complexity',
    'count_macs', 'count_params', 'ConvAct', 'fuse_conv_bn',
    'fuse_conv_module', 'fuse_conv_modules', 'prune_classifier',
    'prune_selecsls', 'deploy_checkpoint', 'format_deploy_report',
    'deploy_config_text', 'deploy_overrides', 'load_source_config',
    'add_metadata', 'export_module', 'export_onnx', 'onnx_runner', 'run_onnx',
    'quantize_onnx', 'quantize_classifier', 'onnx_logits', 'logit_agreement'
]

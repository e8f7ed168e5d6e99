# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Export a SelecSLS classifier (logits) or backbone (feature maps) to ONNX,
with dynamic batch size and input height/width."""
import os.path as osp
import warnings
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..stack import load_config
from ..utils import (TensorModeWrapper, atomic_output, build_model,
                     load_checkpoint_file, load_weights, max_rel_diff,
                     merge_cfg_options)


def export_module(module: nn.Module,
                  example: torch.Tensor,
                  out: str,
                  output_names: List[str],
                  opset: int = 17):
    """Trace ``module`` on ``example`` and write the ONNX graph to ``out``
    (through a temporary file and a rename).

    The graph's input is named ``input``; batch, height and width are
    dynamic (``logits`` only have a dynamic batch).

    Args:
        module (nn.Module): The module, in eval mode.
        example (Tensor): An example input (N, C, H, W).
        out (str): The ``.onnx`` file.
        output_names (list[str]): One name per output.
        opset (int): ONNX opset version.
    """
    dynamic = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    for name in output_names:
        dynamic[name] = {0: 'batch'} if name == 'logits' else \
            {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'}
    with atomic_output(out) as tmp, warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which
        # needs onnxscript; its output is still the same graph.
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.onnx.export(
            module, (example, ),
            tmp,
            input_names=['input'],
            output_names=output_names,
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False)


def add_metadata(path: str, props: dict):
    """Store ``props`` (as strings) in the ONNX model's metadata_props, by
    rewriting the file atomically.

    Args:
        path (str): The ``.onnx`` file.
        props (dict): Keys and values to store.
    """
    import onnx
    model = onnx.load(path)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    with atomic_output(path) as tmp:
        onnx.save(model, tmp)


def onnx_runner(path: str,
                threads: int = 0) -> Callable[[np.ndarray], List[np.ndarray]]:
    """One ONNX Runtime (CPU) session on the graph at ``path``, as a function
    of an input batch that returns every output.

    Args:
        path (str): The ``.onnx`` file; its first input is fed.
        threads (int): ONNX Runtime's intra-op threads (0: its default).

    Returns:
        callable: ``run(batch)`` -> list of arrays, in the graph's order;
        ``batch`` is cast to contiguous float32.
    """
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> List[np.ndarray]:
        return session.run(None,
                           {name: np.ascontiguousarray(batch, np.float32)})

    return run


def run_onnx(path: str, x: torch.Tensor) -> List[torch.Tensor]:
    """Run the ONNX graph at ``path`` on ``x`` with onnxruntime (CPU).

    Args:
        path (str): The ``.onnx`` file.
        x (Tensor): The input batch.

    Returns:
        list[Tensor]: The outputs, in the graph's order.
    """
    return [torch.from_numpy(o) for o in onnx_runner(path)(x.numpy())]


def export_onnx(config: str,
                checkpoint: str,
                out: str,
                backbone_only: bool = False,
                deploy: bool = False,
                shape: Tuple[int, int] = (224, 224),
                opset: int = 17,
                verify: bool = True,
                cfg_options: Optional[dict] = None) -> dict:
    """Export the model of ``config`` with the weights of ``checkpoint``.

    The graph's input is the normalised image batch (after the config's
    data preprocessor, whose mean/std/to_rgb are stored in the model's
    metadata_props). A checkpoint written by the deploy tool needs the
    config written next to it.

    Args:
        config (str): The model's config file.
        checkpoint (str): The checkpoint to load, strictly.
        out (str): The ``.onnx`` file to write.
        backbone_only (bool): Export the backbone (outputs ``feat<level>``)
            instead of the classifier (output ``logits``).
        deploy (bool): Fold BN into the convs first.
        shape (tuple[int, int]): Example input (H, W) for tracing and the
            check; the graph accepts other sizes.
        opset (int): ONNX opset version.
        verify (bool): Run the graph with onnxruntime on a batch of 2 and
            compare it to PyTorch.
        cfg_options (dict, optional): Settings merged into the config.

    Returns:
        dict: ``out``, ``output_names`` and ``max_rel_diff`` (None when not
        verified).
    """
    for path in (config, checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
    if not out.endswith('.onnx'):
        raise ValueError(f'OUT must end with .onnx, got {out}')
    cfg = load_config(config)  # also checks the installed stack
    merge_cfg_options(cfg, cfg_options)
    model = build_model(cfg)
    load_weights(model, load_checkpoint_file(checkpoint), checkpoint)
    backbone = model.backbone
    if deploy:
        if not hasattr(backbone, 'switch_to_deploy'):
            raise TypeError(f'{type(backbone).__name__} has no '
                            'switch_to_deploy(); drop --deploy')
        backbone.switch_to_deploy()

    if backbone_only:
        module = backbone
        output_names = [f'feat{i}' for i in backbone.out_indices]
    else:
        # mmpretrain's ImageClassifier keeps ``head = None`` when it has none
        if getattr(model, 'head', None) is None:
            raise ValueError('the model has no classification head; export '
                             'it with --backbone-only')
        module = TensorModeWrapper(model)
        output_names = ['logits']
    # The exporter restores the module's mode afterwards: make it eval.
    module.eval()
    in_channels = getattr(backbone, 'in_channels', 3)
    example = torch.randn(
        1, in_channels, *shape, generator=torch.Generator().manual_seed(0))
    preprocessor = cfg.get('data_preprocessor') or \
        cfg.model.get('data_preprocessor') or {}
    props = {
        k: preprocessor[k]
        for k in ('mean', 'std', 'to_rgb') if k in preprocessor
    }
    props['outputs'] = ','.join(output_names)
    # OUT appears only once the graph and its metadata are complete.
    with atomic_output(out) as tmp:
        export_module(module, example, tmp, output_names, opset)
        add_metadata(tmp, props)

    diff = None
    if verify:
        x = torch.randn(
            2, in_channels, *shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = module(x)
        diff = max_rel_diff(expected, run_onnx(out, x))
    return dict(out=out, output_names=output_names, max_rel_diff=diff)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""int8 post-training quantization of an exported ONNX graph with ONNX
Runtime, and how far the int8 graph's logits are from the fp32 graph's.

The quantized graph is static QDQ: weights int8 per output channel,
activations uint8 with ranges calibrated on real images. ONNX Runtime turns
each QuantizeLinear/Conv/DequantizeLinear group into one integer conv (VNNI
on CPUs that have it). ``onnx`` and ``onnxruntime`` are imported only here,
when used.
"""
import itertools
import os.path as osp
import tempfile
from typing import Dict, Iterable, Iterator, List, Optional

import numpy as np

from ..utils import atomic_output, merge_cfg_options

# ONNX Runtime's entropy calibrator is left out: quantize_static runs it
# with 128 histogram bins and 128 quantized bins, which gave scales identical
# to minmax (onnxruntime 1.32).
CALIBRATION_METHODS = ('minmax', 'percentile')
_INSTALL = 'pip install onnx onnxruntime'


def _import_quantization():
    try:
        import onnx  # noqa: F401
        from onnxruntime import quantization
    except ImportError as e:
        raise ImportError(f'int8 quantization needs onnx and onnxruntime '
                          f'({e}); install them: {_INSTALL}') from None
    return quantization


class _Batches:
    """ONNX Runtime's CalibrationDataReader protocol over arrays."""

    def __init__(self, batches: Iterable[np.ndarray], input_name: str):
        self._batches: Iterator[np.ndarray] = iter(batches)
        self._input_name = input_name
        self.count = 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.count += len(batch)
        return {self._input_name: np.ascontiguousarray(batch, np.float32)}


def quantize_onnx(model: str,
                  out: str,
                  calibration: Iterable[np.ndarray],
                  method: str = 'minmax',
                  per_channel: bool = True,
                  reduce_range: bool = True) -> dict:
    """Write an int8 (static QDQ) copy of the fp32 ONNX graph ``model``.

    The graph is first prepared as ONNX Runtime advises (symbolic shape
    inference and graph optimisation, so that BN is folded and every conv
    has its weights as initializers), then calibrated on ``calibration``.
    ``out`` appears only when complete; the graph's metadata_props (mean,
    std, ...) are kept.

    Args:
        model (str): The fp32 ``.onnx`` file; its first input is fed.
        out (str): The int8 ``.onnx`` file to write.
        calibration (iterable[ndarray]): Batches (N, C, H, W) float32, in
            the form the graph takes (normalised images). A few dozen real
            images are enough; random ones give useless ranges.
        method (str): Activation range estimate, one of
            :data:`CALIBRATION_METHODS`.
        per_channel (bool): One weight scale per output channel.
        reduce_range (bool): 7-bit weights (default). ONNX Runtime's u8s8
            convs on x86 CPUs without VNNI (AVX2, AVX-512 without VNNI)
            add pairs of products in int16, which saturates with 8-bit
            weights: the demo's digits model then agreed with fp32 on
            95.3% of images instead of 99.4% (docs/deploy.md). False (8-bit
            weights) only for graphs that run on CPUs with VNNI or on ARM.

    Returns:
        dict: ``out``, ``calibration_images`` and ``method``.

    Raises:
        ImportError: onnx or onnxruntime is missing (names the install).
        ValueError: No calibration images, an unknown method or an ``out``
            that is not ``.onnx``.
        FileNotFoundError: ``model`` does not exist.
    """
    quantization = _import_quantization()
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if method not in CALIBRATION_METHODS:
        raise ValueError(f'unknown calibration method {method!r}; choose one '
                         f'of {", ".join(CALIBRATION_METHODS)}')
    if not osp.isfile(model):
        raise FileNotFoundError(f'{model} does not exist; export the fp32 '
                                'graph first (tools/deployment/'
                                'export_onnx.py)')
    if not out.endswith('.onnx'):
        raise ValueError(f'OUT must end with .onnx, got {out}')
    calibration = list(calibration)
    if not calibration:
        raise ValueError('no calibration images: quantization needs a few '
                         'dozen real images to set activation ranges')
    source = onnx.load(model, load_external_data=False)
    reader = _Batches(calibration, source.graph.input[0].name)
    with tempfile.TemporaryDirectory() as tmp, atomic_output(out) as partial:
        prepared = osp.join(tmp, 'prepared.onnx')
        quant_pre_process(model, prepared)
        quantization.quantize_static(
            prepared,
            partial,
            reader,
            quant_format=quantization.QuantFormat.QDQ,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            per_channel=per_channel,
            reduce_range=reduce_range,
            calibrate_method=getattr(quantization.CalibrationMethod, {
                'minmax': 'MinMax',
                'percentile': 'Percentile'
            }[method]))
        quantized = onnx.load(partial)
        del quantized.metadata_props[:]
        quantized.metadata_props.extend(source.metadata_props)
        entry = quantized.metadata_props.add()
        entry.key = 'quantization'
        entry.value = (f'int8 static QDQ, weights per '
                       f'{"channel" if per_channel else "tensor"}, '
                       f'{method} calibration on {reader.count} images')
        onnx.save(quantized, partial)
    return dict(out=out, calibration_images=reader.count, method=method)


def onnx_logits(model: str,
                batches: Iterable[np.ndarray],
                threads: int = 0) -> np.ndarray:
    """The first output of ``model`` on every batch, concatenated.

    Args:
        model (str): An ``.onnx`` file.
        batches (iterable[ndarray]): Inputs (N, C, H, W) float32.
        threads (int): ONNX Runtime's intra-op threads (0: its default).

    Returns:
        ndarray: (sum of N, ...) float32.
    """
    from .onnx_export import onnx_runner
    run = onnx_runner(model, threads)
    outputs: List[np.ndarray] = [run(b)[0] for b in batches]
    if not outputs:
        raise ValueError(f'no images to run {model} on')
    return np.concatenate(outputs)


def logit_agreement(reference: np.ndarray,
                    other: np.ndarray,
                    labels: Optional[np.ndarray] = None) -> dict:
    """How far ``other`` (e.g. int8) logits are from ``reference`` (fp32).

    Args:
        reference (ndarray): (N, num_classes) logits of the reference.
        other (ndarray): (N, num_classes) logits to compare.
        labels (ndarray, optional): (N, ) ground-truth classes; adds each
            model's top-1 accuracy.

    Returns:
        dict: ``images``; ``top1_agreement`` (fraction of images whose
        top-1 class is the same); ``max_logit_diff`` (max absolute
        difference over all logits); ``max_rel_logit_diff`` (the same over
        the reference's largest absolute logit); with ``labels`` also
        ``top1_reference`` and ``top1_other``.
    """
    reference = np.asarray(reference, np.float64)
    other = np.asarray(other, np.float64)
    if reference.shape != other.shape or reference.ndim != 2:
        raise ValueError(f'logits must be two (N, classes) arrays of one '
                         f'shape, got {reference.shape} and {other.shape}')
    diff = float(np.abs(reference - other).max())
    result = dict(
        images=len(reference),
        top1_agreement=float((reference.argmax(1) == other.argmax(1)).mean()),
        max_logit_diff=diff,
        max_rel_logit_diff=diff / max(float(np.abs(reference).max()), 1e-12))
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        result['top1_reference'] = float(
            (reference.argmax(1) == labels).mean())
        result['top1_other'] = float((other.argmax(1) == labels).mean())
    return result


def quantize_classifier(config: str,
                        checkpoint: str,
                        out: str,
                        calib_split: str = 'train',
                        calib_num: int = 64,
                        eval_split: str = 'test',
                        eval_num: Optional[int] = None,
                        method: str = 'minmax',
                        per_channel: bool = True,
                        reduce_range: bool = True,
                        deploy: bool = True,
                        cfg_options: Optional[dict] = None,
                        seed: int = 0) -> dict:
    """Export a classifier, quantize it to int8 and measure the agreement.

    The fp32 graph (BN folded with ``deploy``) is calibrated on
    ``calib_num`` images of ``calib_split``; then both graphs run on the
    images of ``eval_split``, read with the config's test pipeline.

    Args:
        config (str): The model's config; its dataloaders name the images.
        checkpoint (str): The weights.
        out (str): The int8 ``.onnx`` file to write.
        calib_split (str): Dataset that calibrates (``train``, ``val``,
            ``test``).
        calib_num (int): Calibration images, drawn at random from it.
        eval_split (str): Dataset the agreement is measured on.
        eval_num (int, optional): Evaluation images (all when None).
        method (str): Calibration method, see :func:`quantize_onnx`.
        per_channel (bool): Per-channel weight scales.
        reduce_range (bool): 7-bit weights, see :func:`quantize_onnx`.
        deploy (bool): Fold BN before exporting.
        cfg_options (dict, optional): Settings merged into the config.
        seed (int): Seed of the random image draws.

    Returns:
        dict: what :func:`quantize_onnx` and :func:`logit_agreement`
        return, with ``calib_split`` and ``eval_split``.
    """
    _import_quantization()
    from ..stack import load_config
    from ..utils import build_model
    from .calibration import dataset_batches
    from .onnx_export import export_onnx, onnx_runner
    if not out.endswith('.onnx'):
        raise ValueError(f'OUT must end with .onnx, got {out}')
    if calib_num < 1:
        raise ValueError(f'--calib-num must be at least 1, got {calib_num}')
    cfg = load_config(config)
    merge_cfg_options(cfg, cfg_options)
    model = build_model(cfg)  # only its data preprocessor is used
    calibration = [
        x for x, _ in dataset_batches(
            cfg, model, calib_split, calib_num, seed=seed)
    ]
    # The evaluation images are read batch by batch later; the first one
    # now, so that missing images fail before OUT is written.
    evaluation = dataset_batches(cfg, model, eval_split, eval_num, seed=seed)
    evaluation = itertools.chain([next(evaluation)], evaluation)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = osp.join(tmp, 'fp32.onnx')
        export_onnx(
            config,
            checkpoint,
            fp32,
            deploy=deploy,
            shape=tuple(calibration[0].shape[-2:]),
            verify=False,
            cfg_options=cfg_options)
        result = quantize_onnx(fp32, out, calibration, method, per_channel,
                               reduce_range)
        # One batch at a time through both graphs: only logits are kept,
        # so a large evaluation split fits in memory.
        run_fp32, run_int8 = onnx_runner(fp32), onnx_runner(out)
        reference, quantized, labels = [], [], []
        for x, y in evaluation:
            reference.append(run_fp32(x)[0])
            quantized.append(run_int8(x)[0])
            labels.append(y)
    result.update(
        logit_agreement(
            np.concatenate(reference), np.concatenate(quantized),
            np.concatenate(labels) if all(y is not None
                                          for y in labels) else None))
    result.update(calib_split=calib_split, eval_split=eval_split)
    return result

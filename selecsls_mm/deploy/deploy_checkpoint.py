# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write the inference-only (deploy) form of a SelecSLS checkpoint and the
config that rebuilds it."""
import os.path as osp
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config

from ..utils import (TensorModeWrapper, atomic_output, build_model, complexity,
                     load_checkpoint_file, load_weights, max_rel_diff)
from .deploy_config import (deploy_config_text, deploy_overrides,
                            load_source_config)
from .prune import prune_classifier


def deploy_checkpoint(checkpoint: str,
                      out: str,
                      config: Optional[str] = None,
                      prune_threshold: float = 0.0,
                      shape: Tuple[int, int] = (224, 224),
                      cfg_options: Optional[dict] = None) -> dict:
    """Fold BN (after pruning channels with ``|gamma| < prune_threshold``)
    and write ``out`` plus a config ``out`` with the suffix ``.py``.

    The config inherits ``config`` (or, when the config came from the
    checkpoint's meta or ``cfg_options`` changed it, holds the whole merged
    config) and sets ``model.backbone.deploy=True`` and, when pruned, the
    pruned widths. Before the checkpoint is written, the model is rebuilt
    from the written config and the new weights are loaded into it strictly.
    Both files are written through temporary files and renames: on any
    error neither is written and earlier ones are left as they were.

    Args:
        checkpoint (str): The input checkpoint (BN form).
        out (str): The output checkpoint, ``.pth`` or ``.pt``.
        config (str, optional): The input model's config; defaults to the
            one stored in the checkpoint meta (``meta['cfg']``).
        prune_threshold (float): Remove channels whose BN ``|gamma|`` is
            below it (the reference release uses 1e-3); 0 prunes nothing.
        shape (tuple[int, int]): Input (H, W) for the MAC count and the
            output check.
        cfg_options (dict, optional): Settings merged into the config.

    Returns:
        dict: ``report`` (per-layer channels before/after, see
        :func:`prune_classifier`), ``params`` and ``macs`` (before, after;
        MACs per image), ``max_rel_diff`` (deploy vs source output on a
        random input), ``out`` and ``config`` (the written paths).
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    if not out.endswith(('.pth', '.pt')):
        raise ValueError(f'OUT must end with .pth or .pt, got {out}: the '
                         'config is written next to it with the suffix .py')
    if osp.abspath(out) == osp.abspath(checkpoint):
        raise ValueError('OUT must differ from the input checkpoint')
    source = load_checkpoint_file(checkpoint)
    cfg = load_source_config(source, checkpoint, config, cfg_options)
    model = build_model(cfg)
    backbone = getattr(model, 'backbone', None)
    if not hasattr(backbone, 'switch_to_deploy'):
        raise TypeError(f'model.backbone ({type(backbone).__name__}) has no '
                        'switch_to_deploy(); this tool expects SelecSLS')
    if backbone.deploy:
        raise ValueError('the config builds a deploy model already (backbone.'
                         'deploy=True); pass the config of the BN model')
    load_weights(model, source, checkpoint)
    model.eval()

    shape = tuple(shape)
    inputs = torch.randn(
        1, 3, *shape, generator=torch.Generator().manual_seed(0))
    forward = TensorModeWrapper(model)
    params_before, macs_before = complexity(model, shape, forward)
    with torch.no_grad():
        reference = forward(inputs)

    report: List[dict] = []
    if prune_threshold > 0:
        report = prune_classifier(model, prune_threshold)
    pruned = any(row['after'] < row['before'] for row in report)
    backbone.switch_to_deploy()
    params_after, macs_after = complexity(model, shape, forward)
    with torch.no_grad():
        diff = max_rel_diff(reference, forward(inputs))

    overrides = deploy_overrides(model, pruned)
    out_cfg_path = osp.splitext(out)[0] + '.py'
    # With cfg_options the original file alone no longer builds the model:
    # write the whole merged config instead of inheriting the file.
    base = None if cfg_options else config
    text = deploy_config_text(base, cfg, overrides)
    meta = dict(source.get('meta', {}))
    meta['deploy'] = dict(
        source=osp.basename(checkpoint),
        prune_threshold=prune_threshold,
        arch=overrides['backbone'].get('arch', None),
        stem_channels=backbone.out_channels[0])
    new_checkpoint = dict(meta=meta, state_dict=model.state_dict())
    # Both files appear together or not at all: the config is renamed into
    # place only after the checkpoint was written.
    with atomic_output(out_cfg_path) as cfg_tmp:
        with open(cfg_tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        # The written config must rebuild this exact model.
        out_cfg = Config.fromfile(cfg_tmp)
        load_weights(build_model(out_cfg), new_checkpoint, out)
        meta['cfg'] = out_cfg.pretty_text
        with atomic_output(out) as tmp:
            torch.save(new_checkpoint, tmp)
    return dict(
        report=report,
        params=(params_before, params_after),
        macs=(macs_before, macs_after),
        max_rel_diff=diff,
        shape=shape,
        out=out,
        config=out_cfg_path)


def format_deploy_report(result: dict) -> str:
    """What the deploy tool prints for the result of
    :func:`deploy_checkpoint`: channels removed per layer, parameters and
    MACs before/after, the output difference and the written files.

    Args:
        result (dict): The result of :func:`deploy_checkpoint`.

    Returns:
        str: The report, several lines.
    """
    lines = []
    report = result['report']
    pruned = [r for r in report if r['after'] < r['before']]
    if report:
        lines.append(
            f'channels removed in {len(pruned)} of {len(report)} layers:')
        for row in pruned:
            removed = row['before'] - row['after']
            lines.append(f'  {row["name"]:<22} {row["before"]:>5} -> '
                         f'{row["after"]:>5}  (-{removed})')
    (params_before, params_after), (macs_before, macs_after) = \
        result['params'], result['macs']
    h, w = result['shape']
    lines += [
        f'parameters: {params_before / 1e6:.3f} M -> '
        f'{params_after / 1e6:.3f} M',
        f'MACs at {h}x{w} (multiply-accumulates per image): '
        f'{macs_before / 1e9:.3f} G -> {macs_after / 1e9:.3f} G',
        'max relative output difference on a random input: '
        f'{result["max_rel_diff"]:.2e}',
        f'wrote {result["out"]} and {result["config"]}',
    ]
    return '\n'.join(lines)

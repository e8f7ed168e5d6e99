# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""A runner hook that refuses checkpoints that do not fit the model."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..utils.checkpoint_fit import check_checkpoint_fits


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check every checkpoint the runner loads (``load_from``, ``--resume``)
    against the model before mmengine loads it non-strictly; a mismatch
    stops the run with :class:`CheckpointMismatchError` (one line).

    ``tools/train.py`` and ``tools/test.py`` register it on every runner;
    it is registered in mmengine's root ``HOOKS``, so a config of any scope
    can also list it in ``custom_hooks``.

    Args:
        allow_partial (bool): Load only what fits, with a warning, instead
            of stopping (fine-tuning a new head). Defaults to False.
        partial_flag (str): The option that sets ``allow_partial``, named in
            the error. Defaults to ``'--allow-partial'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 allow_partial: bool = False,
                 partial_flag: str = '--allow-partial') -> None:
        self.allow_partial = allow_partial
        self.partial_flag = partial_flag

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        # `--resume` without a path: mmengine picks the latest checkpoint
        name = runner._load_from or \
            f'the latest checkpoint in {runner.work_dir}'
        check_checkpoint_fits(model, checkpoint, f'checkpoint {name}',
                              self.allow_partial, self.partial_flag)

# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Instance-level wrappers of a pose estimator's methods, undone when the
benchmark is done: :class:`MethodPatches` shadows methods and puts them
back; :class:`PartTimer` times the parts of an inference call with them."""
import time
from collections import defaultdict
from typing import Callable, Dict, List

import torch.nn as nn


class PartTimer:
    """Accumulates wall time spent in wrapped methods of a pose estimator:
    ``features`` (``extract_feat``: backbone and neck), ``head_forward``
    and ``head_predict`` (the head's whole ``predict``, its forward
    included); flipped passes included."""

    def __init__(self, model: nn.Module):
        self.totals: Dict[str, float] = defaultdict(float)
        self._patches = MethodPatches()
        self._wrap(model, 'extract_feat', 'features', ae_feature_list(model))
        self._wrap(model.head, 'forward', 'head_forward')
        self._wrap(model.head, 'predict', 'head_predict')

    def _wrap(self,
              owner,
              method: str,
              part: str,
              convert: Callable = lambda out: out):
        inner = getattr(owner, method)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return convert(inner(*args, **kwargs))
            finally:
                self.totals[part] += time.perf_counter() - start

        self._patches.set(owner, method, timed)

    def reset(self):
        self.totals.clear()

    def remove(self):
        self._patches.restore()


class MethodPatches:
    """Instance attributes that shadow methods, and how to undo them:
    :meth:`set` shadows ``owner.name`` with ``value``, :meth:`restore`
    puts back what each owner had before, newest first."""

    def __init__(self):
        self._saved: List[tuple] = []

    def set(self, owner, name: str, value):
        self._saved.append((owner, name, vars(owner).get(name, _ABSENT)))
        setattr(owner, name, value)  # an instance attribute shadows a method

    def restore(self):
        for owner, name, before in reversed(self._saved):
            if before is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, before)
        self._saved.clear()


_ABSENT = object()


def ae_feature_list(model: nn.Module) -> Callable:
    """mmpose's associative-embedding head asserts, without flip test, a
    *list* of feature tensors, while its own estimator passes the backbone's
    *tuple* (so ``flip_test=False`` fails upstream). The same features as a
    list make that path run; other heads get their features untouched."""
    if type(model.head).__name__ != 'AssociativeEmbeddingHead':
        return lambda feats: feats

    def convert(feats):
        if model.test_cfg.get('flip_test', False) or \
                not isinstance(feats, tuple):
            return feats
        return list(feats)

    return convert

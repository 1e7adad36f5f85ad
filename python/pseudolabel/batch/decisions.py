"""Decisions of the ``label`` job: which rows of each chunk are kept (``selected``).

Four kinds, exactly one per job (:class:`DecisionSpec`):

* ``threshold``: ``selected`` is ``confidence > threshold``, known per chunk;
* ``top_k`` / ``per_class_k``: global. Every chunk is pushed into a fresh
  :class:`kernels.TopK`; the accumulators are merged pairwise (:func:`merge_topk`, a tree
  like the Dask reduction) and the merged result equals one in-memory ``select(P, k=...)``
  over all rows (ties go to the lower row number);
* ``strategy``: a registered selection strategy applied to each chunk on its own
  (``start`` then ``select(P, round=1)``). Only strategies whose decision for a row depends
  on that row alone give the same result as an in-memory run: of the built-ins, that is
  ``threshold``. Quota strategies (``k_best``, ``class_balanced``) take their quota per
  chunk, and adaptive ones (``curriculum``, ``flexmatch``, ``freematch``, ``softmatch``,
  ``ceal``) derive their thresholds from each chunk's rows; use ``top_k`` /
  ``per_class_k`` for global quotas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import ParameterError

__all__ = ["DecisionSpec", "decide_chunk", "pairwise_reduce", "merge_topk", "selected_rows"]


@dataclass(frozen=True)
class DecisionSpec:
    """Which rows a job marks ``selected``.

    Exactly one of the four options; built by :meth:`from_options`.
    """

    kind: str  # "threshold" | "top_k" | "per_class_k" | "strategy"
    value: Any
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def is_global(self) -> bool:
        """Whether the decision needs every row first (top-k kinds)."""
        return self.kind in ("top_k", "per_class_k")

    @classmethod
    def from_options(cls, *, threshold: float | None = None, top_k: int | None = None,
                     per_class_k: int | None = None, strategy: str | None = None,
                     strategy_params: Mapping[str, Any] | None = None) -> DecisionSpec:
        """Check the options (exactly one decision) and build the spec."""
        given = {k: v for k, v in (("threshold", threshold), ("top_k", top_k),
                                   ("per_class_k", per_class_k), ("strategy", strategy))
                 if v is not None}
        if len(given) != 1:
            raise ParameterError(
                "give exactly one decision: threshold, top_k, per_class_k or strategy "
                f"(got {', '.join(given) or 'none'})"
            )
        kind, value = next(iter(given.items()))
        if kind == "threshold":
            if isinstance(value, (bool, str)) or not isinstance(value, Real):
                raise ParameterError(f"threshold must be a number in [0, 1], got {value!r}")
            value = float(value)
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                raise ParameterError(f"threshold must be in [0, 1], got {value}")
        elif kind in ("top_k", "per_class_k"):
            if (isinstance(value, bool) or not isinstance(value, Real) or int(value) != value
                    or value < 0):
                raise ParameterError(f"{kind} must be a non-negative integer, got {value!r}")
            value = int(value)
        elif not isinstance(value, str) or not value:
            raise ParameterError(f"strategy must be a registered name, got {value!r}")
        if strategy_params and kind != "strategy":
            raise ParameterError("strategy_params only go with strategy=")
        return cls(kind, value, tuple(sorted((strategy_params or {}).items())))

    def describe(self) -> str:
        """The decision in words, for the job's summary line."""
        if self.kind == "threshold":
            return f"confidence > {self.value}"
        if self.kind == "top_k":
            return f"top {self.value} by confidence"
        if self.kind == "per_class_k":
            return f"top {self.value} per class by confidence"
        return f"strategy {self.value!r} per chunk"

    def as_json(self) -> dict[str, Any]:
        """The spec as plain JSON (recorded in the job manifest and the output summary)."""
        return {"kind": self.kind, "value": self.value, "params": dict(self.params)}

    def new_topk(self) -> kernels.TopK:
        """An empty accumulator for a global decision."""
        if self.kind == "top_k":
            return kernels.TopK(k=self.value)
        return kernels.TopK(per_class_k=self.value)


def decide_chunk(decision: DecisionSpec, P: np.ndarray, confidence: np.ndarray, first_row: int,
                 *, n_labeled: int, class_prior: np.ndarray | None
                 ) -> tuple[np.ndarray, kernels.TopK | None]:
    """The chunk's ``selected`` mask, and its TopK for a global decision.

    ``first_row`` is the global row number of the chunk's first row. A global decision
    marks nothing yet (its parts are rewritten once every chunk is known).
    """
    n, n_classes = P.shape
    if decision.kind == "threshold":
        # the summary already holds each row's confidence: no second pass over P (a Python
        # float is compared in P's dtype, as kernels.select does)
        return confidence > decision.value, None
    mask = np.zeros(n, dtype=bool)
    if decision.kind == "strategy":
        from pseudolabel.plugins import make_strategy

        strategy = make_strategy(decision.value, kind="selection", **dict(decision.params))
        strategy.start(n_classes=n_classes, n_labeled=n_labeled, n_unlabeled=n,
                       class_prior=class_prior if class_prior is not None
                       else np.full(n_classes, 1 / n_classes),
                       random_state=0)
        mask[np.asarray(strategy.select(P, round=1).indices, dtype=np.int64)] = True
        return mask, None
    topk = decision.new_topk()
    topk.push(P, first_row)
    return mask, topk


def pairwise_reduce(items: Sequence[Any], combine: Callable[[Any, Any], Any]) -> Any:
    """Combine ``items`` pairwise, level by level (a tree of depth log2(n)); None if empty.

    The local job merges TopK accumulators this way and the Dask job merges futures of
    them, so both reduce in the same order.
    """
    level = list(items)
    while len(level) > 1:
        nxt = [combine(a, b) for a, b in zip(level[::2], level[1::2])]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0] if level else None


def _merge_into(a: kernels.TopK, b: kernels.TopK) -> kernels.TopK:
    return a.merge(b)


def merge_topk(topks: Sequence[kernels.TopK | None]) -> kernels.TopK | None:
    """Merge TopK accumulators pairwise (a tree, like the Dask reduction)."""
    return pairwise_reduce([t for t in topks if t is not None], _merge_into)


def selected_rows(topk: kernels.TopK | None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted global row numbers selected by a merged TopK, and their column labels."""
    if topk is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    selection = topk.result()
    order = np.argsort(selection.indices, kind="stable")
    return (np.asarray(selection.indices, dtype=np.int64)[order],
            np.asarray(selection.labels, dtype=np.int64)[order])

"""Duplicate-free query batches: a batch never spends two queries on identical feature rows.

Batch uncertainty sampling takes the ``n`` most uncertain rows at once (Settles, 2009,
"Active Learning Literature Survey", section 6.1, on batch-mode redundancy). When the pool
holds repeated feature vectors (discretized or categorical features, repeated records), every
copy of the most uncertain vector has the same score, so a batch can be ``n`` copies of one
point: ``n`` labels that teach the model about a single input. :func:`distinct_first` orders
candidates so that a row identical to one already in the batch is skipped and the next
candidate taken; the skipped copies only fill the batch when the candidates run out of new
vectors. It is the exact-duplicate special case of the diversity criterion of Brinker (2003),
"Incorporating Diversity in Active Learning with Support Vector Machines", ICML: no distance
or threshold to choose, so it means the same on any table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["distinct_first", "row_keys"]


def row_keys(rows: Any) -> list[Any]:
    """One hashable key per row; two rows share a key iff their values are all equal.

    ``rows`` is a numpy array, a pandas DataFrame or a scipy sparse matrix. Floating values
    are compared as values (``-0.0`` equals ``0.0``); NaN equals NaN in the same column.
    """
    if hasattr(rows, "toarray"):
        rows = rows.toarray()
    a = np.asarray(rows)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    a = a.reshape(a.shape[0], -1)
    if a.dtype == object:
        return [tuple(_canonical(v) for v in row) for row in a]
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating):
        a = a + 0.0  # -0.0 -> 0.0; NaN stays NaN with one bit pattern below
        a = np.where(np.isnan(a), np.nan, a)
    a = np.ascontiguousarray(a)
    return [a[i].tobytes() for i in range(a.shape[0])]


def _canonical(v: Any) -> Any:
    if isinstance(v, float):
        return ("nan",) if v != v else v + 0.0
    return v


def distinct_first(rows: Any) -> tuple[np.ndarray, int]:
    """Positions of ``rows`` (candidates, best first) with repeated rows moved to the end.

    Returns ``(order, n_distinct)``: ``order[:n_distinct]`` are the first occurrences of each
    distinct row, in their original order; ``order[n_distinct:]`` the repeats, in their
    original order. So ``order[:n]`` is the batch of ``n`` that skips any row identical to one
    already taken, topped up with repeats only when fewer than ``n`` distinct rows exist.
    """
    seen: set[Any] = set()
    first: list[int] = []
    repeats: list[int] = []
    for i, key in enumerate(row_keys(rows)):
        if key in seen:
            repeats.append(i)
        else:
            seen.add(key)
            first.append(i)
    order = np.array(first + repeats, dtype=np.int64)
    return order, len(first)

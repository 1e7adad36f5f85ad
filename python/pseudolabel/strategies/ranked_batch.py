"""Ranked batch-mode query sampling (Cardoso et al. 2017, as in modAL) on the distance kernel.

Each pick trades a row's uncertainty against its distance to the labeled rows and the picks
so far; with the Euclidean metric the distance work is the Rust kernel
:func:`pseudolabel.kernels.ranked_batch` (one pass per pick, results independent of the
thread count), other metrics keep a numpy loop. Registered by
:mod:`pseudolabel.strategies.diversity`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import ParameterError
from pseudolabel.strategies.base import QueryStrategy
from pseudolabel.strategies.context import as_query_context
from pseudolabel.strategies.query import (
    EntropyQuery,
    LeastConfidentQuery,
    MarginQuery,
    _n_available,
    _no_rows,
    _pool_chunks,
    _query_args,
    _score_pool,
    take_rows,
)
from pseudolabel.strategies.pool_rows import labeled_features, pool_features

__all__ = ["RankedBatchQuery", "ranked_batch_select"]


def ranked_batch_select(
    X: np.ndarray,
    uncertainty: np.ndarray,
    n: int,
    *,
    labeled: np.ndarray | None,
    n_unlabeled: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Ranked batch picks among the rows of ``X`` (see :func:`kernels.ranked_batch`)."""
    return kernels.ranked_batch(X, uncertainty, labeled, n, n_unlabeled=n_unlabeled)



_UNCERTAINTIES = {
    "least_confident": LeastConfidentQuery,
    "margin": MarginQuery,
    "entropy": EntropyQuery,
}


class RankedBatchQuery(QueryStrategy):
    """Diversity-aware batches: ranked batch-mode sampling (Cardoso et al. 2017).

    Rows are picked one at a time. Each candidate ``x`` scores
    ``alpha * (1 - sim(x)) + (1 - alpha) * u(x)``, where ``u`` is its uncertainty scaled to
    ``[0, 1]``, ``sim(x) = 1 / (1 + d(x))`` with ``d`` the distance to the nearest labeled or
    already-picked row, and ``alpha = |U| / (|U| + |L|)`` the share of unlabeled rows (which
    shrinks as the batch grows). After each pick only the distances to the new row are
    computed, one pass over the candidates (the Rust ``ranked_batch`` kernel for the
    Euclidean metric): a large batch spreads over the pool instead of piling into one
    dense, uncertain corner.

    Parameters
    ----------
    uncertainty : {"least_confident", "margin", "entropy"}, default="least_confident"
        Uncertainty measure; entropy is divided by ``log(n_classes)`` to lie in ``[0, 1]``.
    metric : str, default="euclidean"
        ``"euclidean"`` runs in the Rust kernel; any other metric of
        :func:`sklearn.metrics.pairwise_distances` runs the same loop in numpy.
    n_candidates : int, "auto" or None, default="auto"
        Restrict the batch to the most uncertain rows first (streamed through the Rust
        ``TopK``), which bounds time and memory on huge pools. ``"auto"`` keeps the whole pool
        up to 100 000 rows and ``max(100_000, 20 * n)`` rows beyond; ``None`` always keeps the
        whole pool.

    Notes
    -----
    ``context.X_labeled`` (when present) supplies the labeled rows, ``context.prepare`` the
    features as the model sees them; features must be numeric.
    The scores returned by :meth:`query` are each row's score at the moment it was picked.
    """

    name: ClassVar[str] = "ranked_batch"

    def __init__(
        self,
        uncertainty: str = "least_confident",
        *,
        metric: str = "euclidean",
        n_candidates: int | str | None = "auto",
    ) -> None:
        self.uncertainty = uncertainty
        self.metric = metric
        self.n_candidates = n_candidates

    def _validate(self) -> None:
        if self.uncertainty not in _UNCERTAINTIES:
            raise ParameterError(
                f"uncertainty must be one of {sorted(_UNCERTAINTIES)}, got {self.uncertainty!r}"
            )
        nc = self.n_candidates
        if not (
            nc is None
            or nc == "auto"
            or (isinstance(nc, Integral) and not isinstance(nc, bool) and nc >= 1)
        ):
            raise ParameterError(
                f"n_candidates must be a positive integer, 'auto' or None, got {nc!r}"
            )

    def _scaled_uncertainty(self, proba: np.ndarray) -> np.ndarray:
        u = _UNCERTAINTIES[self.uncertainty]().uncertainty(proba)
        if self.uncertainty == "entropy":
            n_classes = proba.shape[1]
            u = u / np.log(n_classes) if n_classes > 1 else np.zeros_like(u)
        return np.clip(u, 0.0, 1.0)

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        """Scaled uncertainty of every row (the batch-independent part of the score)."""
        self._validate()
        context = as_query_context(context)
        return _score_pool(
            context, X_pool, lambda chunk: self._scaled_uncertainty(context.predict_proba(chunk))
        )

    def _candidate_count(self, total: int, n: int) -> int:
        if self.n_candidates is None:
            return total
        if self.n_candidates == "auto":
            return total if total <= 100_000 else min(total, max(100_000, 20 * n))
        return min(total, max(int(self.n_candidates), n))

    def query(
        self, context: Any, X_pool: Any, n: int, *, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        context = as_query_context(context)
        self._validate()
        n, total, mask = _query_args(n, X_pool, exclude)
        n_available = _n_available(total, mask)
        m = min(n, n_available)
        if m == 0:
            return _no_rows()

        # 1. candidates and their uncertainty, chunk by chunk
        n_cand = self._candidate_count(n_available, m)
        if n_cand < n_available:
            inner = _UNCERTAINTIES[self.uncertainty]()
            cand, _ = inner.query(context, X_pool, n_cand, exclude=mask)
            cand = np.sort(cand)
            rows = take_rows(X_pool, cand)  # read once: a Parquet pool reads row groups
            X_cand = pool_features(context, rows, "ranked_batch")
            u = self._scaled_uncertainty(context.predict_proba(rows))
        else:
            cand = np.arange(total, dtype=np.int64) if mask is None else np.flatnonzero(~mask)
            u = np.empty(cand.shape[0], dtype=np.float64)
            parts = []
            pos = 0
            for _, chunk, part in _pool_chunks(context, X_pool, mask):
                keep = slice(None) if part is None else ~part
                P = context.predict_proba(chunk)[keep]
                u[pos : pos + P.shape[0]] = self._scaled_uncertainty(P)
                pos += P.shape[0]
                parts.append(pool_features(context, chunk, "ranked_batch")[keep])
            X_cand = np.concatenate(parts) if len(parts) > 1 else parts[0]
        lab = labeled_features(context, X_cand.dtype, "ranked_batch")

        # 2. the greedy batch: one distance update per pick
        if self.metric == "euclidean":
            positions, picked = ranked_batch_select(
                X_cand, u, m, labeled=lab, n_unlabeled=n_available
            )
        else:
            positions, picked = _ranked_batch_numpy(
                X_cand, u, m, labeled=lab, n_unlabeled=n_available, metric=self.metric
            )
        return cand[positions].astype(np.int64), picked


def _ranked_batch_numpy(
    X: np.ndarray, u: np.ndarray, m: int, *, labeled: np.ndarray | None, n_unlabeled: int,
    metric: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The ranked batch loop with any scikit-learn metric (numpy, one pass per pick)."""
    from sklearn.metrics import pairwise_distances, pairwise_distances_argmin_min

    X = X.astype(np.float64, copy=False)
    n_labeled = 0 if labeled is None else len(labeled)
    if n_labeled:
        _, d_min = pairwise_distances_argmin_min(X, labeled, metric=metric)
        d_min = np.asarray(d_min, dtype=np.float64)
    else:
        d_min = np.full(X.shape[0], np.inf)
    picked_pos = np.empty(m, dtype=np.int64)
    picked_scores = np.empty(m, dtype=np.float64)
    available = np.ones(X.shape[0], dtype=bool)
    for j in range(m):
        n_unl = n_unlabeled - j
        n_lab = n_labeled + j
        alpha = n_unl / (n_unl + n_lab) if (n_unl + n_lab) else 1.0
        similarity = np.where(np.isinf(d_min), 0.0, 1.0 / (1.0 + d_min))
        score = alpha * (1.0 - similarity) + (1.0 - alpha) * u
        score[~available] = -np.inf
        best = int(np.argmax(score))  # first maximum = lowest row index on ties
        picked_pos[j] = best
        picked_scores[j] = score[best]
        available[best] = False
        if j + 1 < m:
            d_new = pairwise_distances(X, X[best : best + 1], metric=metric)
            np.minimum(d_min, d_new[:, 0], out=d_min)
    return picked_pos, picked_scores



"""Graph propagation as a pseudo-label source: label spreading over a kNN graph (``label_spreading``).

Zhou, Bousquet, Lal, Weston and Schoelkopf, "Learning with Local and Global Consistency",
NeurIPS 2004. The labeled and pool rows, standardized, are joined in a sparse symmetric
k-nearest-neighbour graph with heat-kernel weights; the labels spread over it as
``F <- alpha S F + (1 - alpha) Y`` with ``S = D^-1/2 W D^-1/2``. A pool row is pseudo-labeled
when its spread label distribution is confident and (by default) agrees with the model.

The graph takes ``O(N k)`` memory: scikit-learn's ``NearestNeighbors`` finds the neighbours
(a tree, or brute force in chunks bounded by scikit-learn's ``working_memory``), chosen over
a blocked brute-force search (the algorithm a Rust kernel would run) by
``benches/bench_knn.py``: on 20k x 20 (k = 10) scikit-learn took 0.10x the blocked search's
time with the same neighbours; BLAS already does the distance products, so a Rust brute
force has little to win.

This module is a built-in plugin: ``pseudolabel_add_strategies`` registers the strategy as
``label_spreading`` (alias ``graph``).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from numbers import Integral, Real
from typing import Any

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.strategies.base import Decision, RoundContext, SelectionStrategy
from pseudolabel.strategies.pool_rows import standardize_columns

__all__ = ["LabelSpreadingStrategy", "knn_graph", "spread_labels", "standardized_rows",
           "pseudolabel_add_strategies"]


def standardized_rows(context: RoundContext) -> np.ndarray:
    """The labeled rows then the pool rows, as float64, each feature scaled to unit variance
    around zero (constant features become 0)."""
    try:
        X = np.vstack([np.asarray(context.X_labeled, dtype=np.float64),
                       np.asarray(context.X_pool, dtype=np.float64)])
    except (TypeError, ValueError) as exc:
        raise InputError(
            "label spreading needs numeric features (encode categorical columns first): "
            f"{exc}"
        ) from exc
    if X.ndim != 2:
        raise InputError(f"label spreading needs 2-d features, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise InputError(f"label spreading needs finite features; row {row} is not")
    return standardize_columns(X)


def knn_graph(X: np.ndarray, n_neighbors: int) -> Any:
    """The symmetric kNN graph of the rows of ``X`` as a ``scipy.sparse`` CSR matrix.

    Each row is joined to its ``n_neighbors`` nearest other rows with weight
    ``exp(-d^2 / (2 sigma^2))``, ``sigma`` the median neighbour distance; the graph is
    symmetrized by the larger of the two directed weights. No self-loops.
    """
    from scipy import sparse
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    k = min(int(n_neighbors), n - 1)
    if k < 1:
        return sparse.csr_matrix((n, n))
    nn = NearestNeighbors(n_neighbors=k).fit(X)
    distance, neighbour = nn.kneighbors()  # each indexed row, itself left out
    sigma = float(np.median(distance))
    if not sigma > 0:
        sigma = float(distance.mean()) or 1.0
    weight = np.exp(-(distance**2) / (2.0 * sigma**2))
    rows = np.repeat(np.arange(n), k)
    W = sparse.csr_matrix((weight.ravel(), (rows, neighbour.ravel())), shape=(n, n))
    return W.maximum(W.T).tocsr()


def spread_labels(W: Any, y_labeled: np.ndarray, n_classes: int, *, alpha: float,
                  n_iter: int) -> np.ndarray:
    """Label spreading (Zhou et al. 2004) over ``W``; the first ``len(y_labeled)`` rows are
    the labeled ones. Returns ``F`` (rows x classes) after ``n_iter`` iterations of
    ``F <- alpha S F + (1 - alpha) Y`` from ``F = Y``."""
    from scipy import sparse

    n = W.shape[0]
    degree = np.asarray(W.sum(axis=1)).ravel()
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0)), 0.0)
    D = sparse.diags(inv_sqrt)
    S = (D @ W @ D).tocsr()
    Y = np.zeros((n, n_classes))
    Y[np.arange(y_labeled.shape[0]), y_labeled] = 1.0
    F = Y.copy()
    for _ in range(int(n_iter)):
        F = alpha * (S @ F) + (1.0 - alpha) * Y
    return F


class LabelSpreadingStrategy(SelectionStrategy):
    r"""Pseudo-labels from label spreading over a kNN graph of labeled + pool rows.

    Each round: standardize the labeled and pool features, build the symmetric kNN graph
    (:func:`knn_graph`, reused while the rows are the same), spread the labels
    (:func:`spread_labels`) and normalise each pool row to
    :math:`q_i = F_i / \sum_c F_{ic}`. Row ``i`` is taken when
    :math:`\max_c q_{ic} \ge` ``threshold`` and, with ``agree_with_model``, its label is
    also the argmax of ``proba``. Rows no label reached (:math:`F_i = 0`) are never taken.
    Ranked by :math:`\max_c q_{ic}` (ties: lower row index); re-decided every round.

    Parameters
    ----------
    n_neighbors : int >= 1, default=10
    alpha : float in (0, 1), default=0.99
        The clamping factor of Zhou et al. (0.99 in the paper).
    n_iter : int >= 1, default=30
        Spreading iterations (scikit-learn's ``LabelSpreading`` also stops at 30).
    threshold : float in [0, 1], default=0.7
        The least spread confidence :math:`\max_c q_{ic}` (UPS's 0.7; not tuned on data).
    agree_with_model : bool, default=True
    max_graph_rows : int >= 2, default=20000
        The most rows (labeled + pool) the graph is built over. Finding the neighbours
        costs about ``O(N^2 d)`` for ``N`` rows of ``d`` features (25k x 20: ~1.4 s on 2
        cores; 100k: ~40x that), so above this many rows each round builds the graph over
        the labeled rows and a uniform sample of the pool (see :meth:`graph_rows`); rows
        outside the round's sample are not pseudo-labeled that round. Memory stays
        ``O(N k)``.

    References
    ----------
    Zhou, Bousquet, Lal, Weston, Schoelkopf, "Learning with Local and Global Consistency",
    NeurIPS 2004.
    """

    name = "label_spreading"
    rebuild = True
    needs_context = True
    #: the kNN graph is built over the features as numbers (``strategy="auto"`` skips this
    #: source when they are not)
    needs_numeric_features = True

    def __init__(self, n_neighbors: int = 10, alpha: float = 0.99, n_iter: int = 30,
                 threshold: float = 0.7, agree_with_model: bool = True,
                 max_graph_rows: int = 20_000) -> None:
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.n_iter = n_iter
        self.threshold = threshold
        self.agree_with_model = agree_with_model
        self.max_graph_rows = max_graph_rows

    def _validate_params(self) -> None:
        cls = type(self).__name__
        for name in ("n_neighbors", "n_iter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ParameterError(f"{cls}: {name} must be an integer >= 1, got {value!r}")
        rows = self.max_graph_rows
        if isinstance(rows, bool) or not isinstance(rows, Integral) or rows < 2:
            raise ParameterError(f"{cls}: max_graph_rows must be an integer >= 2, got {rows!r}")
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, Real) or not 0 < a < 1:
            raise ParameterError(f"{cls}: alpha must be in (0, 1), got {a!r}")
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, Real) or not 0 <= t <= 1:
            raise ParameterError(f"{cls}: threshold must be in [0, 1], got {t!r}")
        if not isinstance(self.agree_with_model, (bool, np.bool_)):
            raise ParameterError(
                f"{cls}: agree_with_model must be a bool, got {self.agree_with_model!r}"
            )

    def _start(self) -> None:
        # a digest of the rows the graph was built from
        self._graph_of: bytes | None = None
        self._graph: Any = None

    def graph_rows(self, n_labeled: int, n_pool: int) -> np.ndarray | None:
        """The pool rows the graph is built over: all of them, or a uniform sample when the
        labeled and pool rows together pass ``max_graph_rows`` (``None`` means all).

        The sample keeps ``max_graph_rows - n_labeled`` pool rows, and at least half of
        ``max_graph_rows``; it is drawn anew every round from the strategy's random state,
        so the rows left out of one round's graph can be reached in the next.
        """
        budget = int(self.max_graph_rows)
        if n_labeled + n_pool <= budget:
            return None
        size = min(n_pool, max(budget - n_labeled, budget // 2))
        return np.sort(self._rng.choice(n_pool, size=size, replace=False))

    def spread(self, context: RoundContext) -> np.ndarray:
        """The normalised spread label distribution of the pool rows (zeros where no label
        reached, or a row left out of a sampled graph), shape ``(n_pool, C)``."""
        n_pool = context.X_pool.shape[0]
        n_labeled = context.y_labeled.shape[0]
        sample = self.graph_rows(n_labeled, n_pool)
        if sample is not None:
            from pseudolabel._compat import safe_indexing

            context = replace(context, X_pool=safe_indexing(context.X_pool, sample, axis=0))
        X = standardized_rows(context)
        digest = hashlib.blake2b(np.ascontiguousarray(X).tobytes(), digest_size=16)
        digest.update(f"{X.shape}/{int(self.n_neighbors)}".encode())
        if self._graph is None or digest.digest() != self._graph_of:
            self._graph = knn_graph(X, int(self.n_neighbors))
            self._graph_of = digest.digest()
        F = spread_labels(self._graph, context.y_labeled, self.n_classes_,
                          alpha=float(self.alpha), n_iter=int(self.n_iter))[n_labeled:]
        total = F.sum(axis=1, keepdims=True)
        q = np.divide(F, total, out=np.zeros_like(F), where=total > 0)
        if sample is None:
            return q
        full = np.zeros((n_pool, q.shape[1]))
        full[sample] = q
        return full

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        assert self.context_ is not None
        q = np.clip(self.spread(self.context_), 0.0, 1.0)
        ok = (q.max(axis=1) >= float(self.threshold)) & (q.sum(axis=1) > 0)
        if self.agree_with_model:
            ok &= q.argmax(axis=1) == proba.argmax(axis=1)
        if exclude is not None:
            ok &= ~exclude
        sel = kernels.select(q, exclude=~ok)
        return Decision(sel.indices, sel.labels, None, float(self.threshold),
                        dict(n_neighbors=int(self.n_neighbors)), scores=sel.scores)


SELECTION_STRATEGIES = {"label_spreading": LabelSpreadingStrategy,
                        "graph": LabelSpreadingStrategy}


@hookimpl
def pseudolabel_add_strategies(registry: Any) -> None:
    """Register label spreading as ``label_spreading`` and ``graph``."""
    registry.add_strategy(
        "label_spreading", LabelSpreadingStrategy, kind="selection",
        description="label spreading over a kNN graph of labeled + pool rows (Zhou et al. 2004)",
    )
    registry.add_strategy(
        "graph", LabelSpreadingStrategy, kind="selection",
        description="alias of label_spreading",
    )

"""Diverse-batch query strategies: large batches that spread over the pool.

Uncertainty sampling asks about the ``n`` most uncertain rows; for a large batch these pile
into one dense, uncertain corner. The strategies here trade uncertainty for coverage, and
run on pools of millions of rows in bounded memory (the distance work is the Rust kernels'
``kcenter_greedy``, ``kmeans_pp_factored``, ``ranked_batch`` and ``min_distance_update``:
blocked, multi-threaded, results independent of the thread count, ties to the lower row).

==================  ==========================================================================
``coreset``         k-center greedy (Sener & Savarese, ICLR 2018): each pick the pool row
                    farthest from the labeled rows and the picks so far
``badge``           k-means++ seeding over gradient embeddings (Ash et al., ICLR 2020),
                    factorised so no n x (C*d) or n x n matrix is formed
``cluster_margin``  round-robin over clusters among the lowest-margin rows (Citovsky et al.,
                    NeurIPS 2021); the pool is clustered once and the clusters cached
``ranked_batch``    ranked batch-mode sampling (Cardoso et al. 2017, as in modAL):
                    uncertainty traded against the distance to labeled and picked rows
==================  ==========================================================================

Features are the rows *as the learner's model sees them* (``context.prepare``, see
:class:`~pseudolabel.strategies.context.QueryContext`), numeric, float32 kept as float32 (distances are summed in float64). ``badge``
takes a penultimate-layer ``embedding`` callable when the user has one; without it the
embedding is those same model features.

The algorithms are plain functions over arrays (:func:`coreset_select`,
:func:`badge_select`, :func:`cluster_margin_select`, :func:`ranked_batch_select`); the
strategy classes only gather probabilities, features and labeled rows from the
:class:`~pseudolabel.strategies.context.QueryContext`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, ClassVar

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import InputError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.strategies.base import QueryStrategy
from pseudolabel.strategies.context import QueryContext, as_query_context
from pseudolabel.strategies.query import (
    MarginQuery,
    _n_available,
    _no_rows,
    _pool_chunks,
    _query_args,
    _score_pool,
    _strategy_rng,
    n_rows,
)

from pseudolabel.strategies.pool_rows import check_positive, labeled_features, pool_features
from pseudolabel.strategies.ranked_batch import RankedBatchQuery, ranked_batch_select

__all__ = [
    "DIVERSITY_STRATEGIES",
    "CoresetQuery",
    "BadgeQuery",
    "ClusterMarginQuery",
    "RankedBatchQuery",
    "coreset_select",
    "badge_select",
    "gradient_factor",
    "cluster_margin_select",
    "ranked_batch_select",
]


# ---------------------------------------------------------------------------------------------
# the algorithms, over plain arrays
# ---------------------------------------------------------------------------------------------


def coreset_select(
    X: np.ndarray,
    n: int,
    *,
    labeled: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """k-center greedy picks: ``n`` rows of ``X``, each farthest from its nearest center.

    Centers are the ``labeled`` rows and the picks so far. Without labeled rows the first
    pick is a uniformly random available row (``rng``; the lowest available row without
    one). Returns the rows in pick order and each pick's Euclidean distance to its nearest
    center when it was picked (infinite for a first pick without centers).
    """
    if labeled is not None and len(labeled) > 0:
        idx, d2 = kernels.kcenter_greedy(X, n, centers=labeled, exclude=exclude)
        return idx, np.sqrt(d2)
    if n == 0:
        return _no_rows()
    rows = np.arange(len(X)) if exclude is None else np.flatnonzero(~exclude)
    first = int(rows[rng.integers(len(rows))]) if rng is not None else int(rows[0])
    mask = np.zeros(len(X), dtype=bool) if exclude is None else exclude.copy()
    mask[first] = True
    idx, d2 = kernels.kcenter_greedy(X, n - 1, centers=X[first : first + 1], exclude=mask)
    return (np.concatenate([[first], idx]).astype(np.int64),
            np.concatenate([[np.inf], np.sqrt(d2)]))


def gradient_factor(proba: np.ndarray) -> np.ndarray:
    """``p - onehot(argmax p)`` per row: the class factor of BADGE's gradient embedding.

    The gradient of the cross-entropy at the predicted label with respect to the last
    layer's weights is ``(p - onehot(yhat)) (outer) h``; this is its ``C``-sized factor.
    """
    P = np.asarray(proba)
    a = P.copy()
    a[np.arange(P.shape[0]), np.argmax(P, axis=1)] -= 1
    return a


def badge_select(
    gradient: np.ndarray,
    embedding: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """BADGE picks: k-means++ seeding over ``g_i = gradient_i (outer) embedding_i``.

    Nothing of size n x (C*d) or n x n is formed (see :func:`kernels.kmeans_pp_factored`).
    The first pick is the largest gradient embedding; the others are drawn with ``rng``.
    """
    draws = rng.random(max(n - 1, 0))
    return kernels.kmeans_pp_factored(gradient, embedding, n, draws=draws, exclude=exclude)


def cluster_margin_select(
    candidates: np.ndarray,
    clusters: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator,
) -> np.ndarray:
    """Round-robin over clusters (smallest first) among ``candidates``.

    ``candidates`` are row indices (the lowest-margin rows), ``clusters`` their cluster ids.
    Clusters are visited in order of how many candidates they hold (fewest first, then the
    lower id); each visit takes one candidate at random (``rng``) from the cluster, until
    ``n`` rows are taken (Citovsky et al. 2021, Algorithm 1).
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    clusters = np.asarray(clusters)
    n = min(int(n), len(candidates))
    if n == 0:
        return np.empty(0, dtype=np.int64)
    ids, counts = np.unique(clusters, return_counts=True)
    order = ids[np.lexsort((ids, counts))]  # fewest candidates first, then the lower id
    members = [rng.permutation(candidates[clusters == c]) for c in order]
    sizes = np.array([len(m) for m in members])
    # the j-th round takes member j of every cluster that still has one, in cluster order
    rounds = np.concatenate([np.arange(s) for s in sizes])
    slot = np.concatenate([np.full(s, k) for k, s in enumerate(sizes)])
    flat = np.concatenate(members)
    pick = np.lexsort((slot, rounds))[:n]
    return flat[pick]


# ---------------------------------------------------------------------------------------------
# coreset
# ---------------------------------------------------------------------------------------------


class CoresetQuery(QueryStrategy):
    """Core-set batches: k-center greedy over the pool (Sener & Savarese, ICLR 2018).

    Each pick is the pool row farthest (Euclidean, in the model's features) from its
    nearest labeled row or earlier pick, so the batch covers the pool. Uncertainty plays no
    part. The score of a pick is that distance when it was picked.

    Parameters
    ----------
    random_state : int, numpy Generator or None, default=None
        Only used for the first pick when there are no labeled rows; ``None`` uses the
        learner's generator (``context.rng``).
    """

    name: ClassVar[str] = "coreset"

    def __init__(self, random_state: Any = None) -> None:
        self.random_state = random_state

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        """Distance of every row to its nearest labeled row (infinite without labels)."""
        context = as_query_context(context)
        X = pool_features(context, X_pool, "coreset")
        lab = labeled_features(context, X.dtype, "coreset")
        return np.sqrt(kernels.min_distance_update(X, lab))

    def query(
        self, context: Any, X_pool: Any, n: int, *, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        context = as_query_context(context)
        n, total, mask = _query_args(n, X_pool, exclude)
        m = min(n, _n_available(total, mask))
        if m == 0:
            return _no_rows()
        X = pool_features(context, X_pool, "coreset")
        lab = labeled_features(context, X.dtype, "coreset")
        rng = _strategy_rng(self, context) if lab is None else None
        return coreset_select(X, m, labeled=lab, exclude=mask, rng=rng)


# ---------------------------------------------------------------------------------------------
# BADGE
# ---------------------------------------------------------------------------------------------


class BadgeQuery(QueryStrategy):
    """BADGE: k-means++ seeding over gradient embeddings (Ash et al., ICLR 2020).

    A row's gradient embedding is ``g = (p - onehot(argmax p)) (outer) h``: large when the
    model is uncertain, and pointing where the row lies. k-means++ seeding over ``g`` picks
    rows both uncertain and diverse. The embedding is factorised, so memory is
    ``O(n (C + d))``, never ``n x C*d`` or ``n x n``.

    Parameters
    ----------
    embedding : callable or None, default=None
        ``embedding(X_chunk) -> (rows, d)`` array: the penultimate layer of a network,
        say. ``None``: the features the learner's model sees.
    random_state : int, numpy Generator or None, default=None
        Seed of the k-means++ draws; ``None`` uses the learner's generator.

    Notes
    -----
    The score of a pick is its gradient embedding's norm ``|p - onehot| * |h|``.
    """

    name: ClassVar[str] = "badge"

    def __init__(self, embedding: Callable[[Any], Any] | None = None, random_state: Any = None) -> None:
        self.embedding = embedding
        self.random_state = random_state

    def _embed(self, context: QueryContext, X: Any) -> np.ndarray:
        if self.embedding is None:
            return pool_features(context, X, "badge")
        h = np.asarray(self.embedding(X))
        if h.ndim != 2 or h.shape[0] != n_rows(X):
            raise InputError(
                f"embedding must return one row per pool row ({n_rows(X)}), got shape {h.shape}"
            )
        return h if h.dtype in (np.float32, np.float64) else h.astype(np.float64)

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        """The norm of every row's gradient embedding."""
        context = as_query_context(context)

        def norm(chunk: Any) -> np.ndarray:
            a = gradient_factor(context.predict_proba(chunk)).astype(np.float64)
            h = self._embed(context, chunk).astype(np.float64)
            return np.sqrt((a * a).sum(axis=1) * (h * h).sum(axis=1))

        return _score_pool(context, X_pool, norm)

    def query(
        self, context: Any, X_pool: Any, n: int, *, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        context = as_query_context(context)
        n, total, mask = _query_args(n, X_pool, exclude)
        m = min(n, _n_available(total, mask))
        if m == 0:
            return _no_rows()
        a: np.ndarray | None = None
        h_whole = self._embed(context, X_pool) if self.embedding is None else None
        h: np.ndarray | None = h_whole
        for start, chunk, _ in _pool_chunks(context, X_pool, mask):
            part = gradient_factor(context.predict_proba(chunk))
            if h_whole is None:
                e = self._embed(context, chunk)
                if h is None:
                    h = np.zeros((total, e.shape[1]), dtype=e.dtype)
                h[start : start + len(e)] = e
            if a is None:
                # float32 when either side is (a float32 pool is never copied to float64)
                assert h is not None
                single = np.float32 in (part.dtype, h.dtype)
                a = np.zeros((total, part.shape[1]), dtype=np.float32 if single else part.dtype)
            a[start : start + len(part)] = part
        assert a is not None and h is not None  # m > 0: at least one chunk was scored
        # float32 when either side is (a float32 pool is never copied to float64)
        dtype = np.float32 if np.float32 in (a.dtype, h.dtype) else np.float64
        a, h = a.astype(dtype, copy=False), h.astype(dtype, copy=False)
        idx = badge_select(a, h, m, rng=_strategy_rng(self, context), exclude=mask)
        a_sel, h_sel = a[idx].astype(np.float64), h[idx].astype(np.float64)
        return idx, np.sqrt((a_sel * a_sel).sum(axis=1) * (h_sel * h_sel).sum(axis=1))


# ---------------------------------------------------------------------------------------------
# cluster-margin
# ---------------------------------------------------------------------------------------------


def _pool_key(X: np.ndarray) -> tuple[Any, ...]:
    """What identifies a pool for the cluster cache: its shape, dtype and a digest of its
    first and last rows (cheap, and changes when the pool does)."""
    edge = np.ascontiguousarray(np.concatenate([X[:64], X[-64:]]))
    return (X.shape, X.dtype.str, hashlib.sha1(edge.tobytes()).hexdigest())


class ClusterMarginQuery(QueryStrategy):
    """Cluster-margin batches (Citovsky et al., NeurIPS 2021), built for batches of 100k.

    The pool is clustered once, with scikit-learn's ``MiniBatchKMeans`` (5 passes over the
    sample) fitted on a random sample of at most ``sample_size`` rows (the paper uses hierarchical clustering; k-means
    on a sample scales to tens of millions of rows), and the centroids are cached across
    calls on the same pool. Each query takes the ``candidate_factor * n`` lowest-margin rows
    (streamed through the Rust ``TopK``), assigns them to their nearest centroid (the Rust
    ``min_distance_update``) and goes round-robin over the clusters, fewest candidates
    first, one random candidate per cluster per round.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        ``"auto"``: ``sqrt(pool rows)``, clipped to ``[2, 1000]``.
    candidate_factor : int, default=10
        Candidates per requested row (the paper's ``k_m / k``).
    sample_size : int, default=100_000
        Rows the clustering is fitted on.
    random_state : int, numpy Generator or None, default=None
        Seed of the sample, the clustering and the picks within clusters.

    Notes
    -----
    The score of a pick is its margin uncertainty ``1 - (p_(1) - p_(2))``.
    """

    name: ClassVar[str] = "cluster_margin"

    def __init__(
        self,
        n_clusters: int | str = "auto",
        *,
        candidate_factor: int = 10,
        sample_size: int = 100_000,
        random_state: Any = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.candidate_factor = candidate_factor
        self.sample_size = sample_size
        self.random_state = random_state

    def _validate(self) -> None:
        check_positive("n_clusters", self.n_clusters, allow=("auto",))
        check_positive("candidate_factor", self.candidate_factor)
        check_positive("sample_size", self.sample_size)

    def centroids(self, context: QueryContext, X: np.ndarray) -> np.ndarray:
        """The cluster centroids of pool ``X`` (model features), fitted once per pool."""
        from sklearn.cluster import MiniBatchKMeans

        key = _pool_key(X)
        cached = getattr(self, "_centroids", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        rng = _strategy_rng(self, context)
        total = X.shape[0]
        k = self.n_clusters
        if k == "auto":
            k = int(np.clip(round(np.sqrt(total)), 2, 1000))
        sample = X
        if total > self.sample_size:
            rows = np.sort(rng.choice(total, size=int(self.sample_size), replace=False))
            sample = X[rows]
        k = min(int(k), sample.shape[0])
        model = MiniBatchKMeans(
            n_clusters=k, batch_size=4096, n_init=1, max_iter=5, compute_labels=False,
            random_state=int(rng.integers(2**31 - 1)),
        )
        model.fit(sample)
        centers = np.ascontiguousarray(model.cluster_centers_, dtype=X.dtype)
        self._centroids = (key, centers)
        return centers

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        """Margin uncertainty of every row (the per-row part of the score)."""
        return MarginQuery().scores(context, X_pool)

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
        X = pool_features(context, X_pool, "cluster_margin")
        centers = self.centroids(context, X)
        n_cand = min(n_available, int(self.candidate_factor) * m)
        cand, uncertainty = MarginQuery().query(context, X_pool, n_cand, exclude=mask)
        nearest = np.zeros(len(cand), dtype=np.int64)
        kernels.min_distance_update(X[np.sort(cand)], centers, nearest=nearest)
        clusters = np.empty_like(nearest)
        clusters[np.argsort(cand)] = nearest  # nearest is in sorted-row order
        picks = cluster_margin_select(cand, clusters, m, rng=_strategy_rng(self, context))
        score_of = dict(zip(cand.tolist(), uncertainty.tolist()))
        return picks, np.array([score_of[int(i)] for i in picks], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# registration (a built-in plugin module)
# ---------------------------------------------------------------------------------------------

#: registered name -> (factory, description)
DIVERSITY_STRATEGIES: dict[str, tuple[Any, str]] = {
    "coreset": (CoresetQuery, "k-center greedy core-set batches (Sener & Savarese 2018)"),
    "badge": (BadgeQuery, "k-means++ over gradient embeddings (Ash et al. 2020)"),
    "cluster_margin": (
        ClusterMarginQuery,
        "round-robin over clusters among the lowest-margin rows (Citovsky et al. 2021)",
    ),
    "ranked_batch": (
        RankedBatchQuery,
        "diversity-aware ranked batch (Cardoso et al. 2017): uncertainty vs distance",
    ),
}


@hookimpl
def pseudolabel_add_strategies(registry: Any) -> None:
    """Register the diverse-batch query strategies (``kind="query"``)."""
    for name, (factory, description) in DIVERSITY_STRATEGIES.items():
        registry.add_strategy(name, factory, kind="query", description=description)

"""TypiClust: the typical rows of the largest uncovered clusters, for a learner's first batches.

Hacohen, Dekel and Weinshall, "Active Learning on a Budget: Opposite Strategies Suit High and
Low Budgets" (ICML 2022). With a handful of labels a model's uncertainty is a poor guide (it is
measured against a boundary drawn from two rows a class), and uncertainty sampling then falls
behind random sampling; in that low-budget regime the rows worth labeling are *typical* ones
that cover the data. TypiClust clusters the labeled and pool rows into ``n_labeled + n``
clusters (at most ``max_clusters``), then, ``n`` times, takes the cluster with the fewest
labeled-or-picked rows (the largest first among equals; clusters of fewer than
``min_cluster_size`` rows are skipped) and picks its most typical row:
``typicality(x) = 1 / mean distance to its k nearest neighbours within the cluster``.

:class:`pseudolabel.ActiveLearner` uses it for its first batch (``cold_start="auto"``); it is
also a registered query strategy (``"typiclust"``) of its own.

Bounded memory on large pools: the clustering is fitted on a random sample of at most
``sample_size`` rows (``MiniBatchKMeans`` above ``KMEANS_MAX_ROWS`` rows, else ``KMeans``), and
typicality is measured on that sample only, so picks come from the sample; features are
standardized (the sample's mean and standard deviation) so no column dominates the distances.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.strategies.base import QueryStrategy
from pseudolabel.strategies.context import as_query_context
from pseudolabel.strategies.pool_rows import check_positive, numeric_rows, standardize_columns
from pseudolabel.strategies.query import (
    _n_available,
    _no_rows,
    _query_args,
    _strategy_rng,
    n_rows,
    take_rows,
)

__all__ = ["NotMeasurable", "TypiClustQuery", "measurable_features", "typicality",
           "typiclust_select"]


class NotMeasurable(InputError):
    """The rows' features are not finite numbers, so TypiClust cannot measure distances.

    ``ActiveLearner(cold_start="auto")`` then asks its query strategy from the first batch
    (tables with text or categorical columns, or missing values); a cold start named
    explicitly raises it.
    """


def measurable_features(context: Any, X: Any, what: str) -> np.ndarray:
    """``X`` as the model sees it, as float64; :class:`NotMeasurable` unless finite numbers."""
    prepared = context.prepare(X)
    if hasattr(prepared, "toarray"):
        raise NotMeasurable(f"typiclust needs dense features; {what} is a sparse matrix")
    try:
        features = numeric_rows(prepared, f"typiclust ({what})")
    except InputError as error:
        raise NotMeasurable(str(error)) from error
    features = np.asarray(features, dtype=np.float64)
    if not np.all(np.isfinite(features)):
        raise NotMeasurable(
            f"typiclust measures distances between rows and needs finite features; {what} "
            "holds missing or infinite values"
        )
    return features


#: above this many sampled rows the clustering is ``MiniBatchKMeans`` (``KMeans`` below)
KMEANS_MAX_ROWS = 20_000


def typicality(X: np.ndarray, clusters: np.ndarray, k_neighbors: int) -> np.ndarray:
    """``1 / (mean Euclidean distance to the k nearest other rows of the same cluster)``.

    A cluster of ``m`` rows uses ``min(k_neighbors, m - 1)`` neighbours; a row alone in its
    cluster has typicality 0. Identical rows (distance 0) are infinitely typical.
    """
    from sklearn.neighbors import NearestNeighbors

    out = np.zeros(len(X), dtype=np.float64)
    order = np.argsort(clusters, kind="stable")  # one pass groups the rows by cluster
    starts = np.flatnonzero(np.r_[True, np.diff(clusters[order]) != 0])
    for rows in np.split(order, starts[1:]):
        k = min(int(k_neighbors), rows.size - 1)
        if k < 1:
            continue
        distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(X[rows]).kneighbors(X[rows])
        mean = distances[:, 1:].mean(axis=1)
        with np.errstate(divide="ignore"):
            out[rows] = 1.0 / mean
    return out


def typiclust_select(
    clusters: np.ndarray,
    typical: np.ndarray,
    covered: np.ndarray,
    n: int,
    *,
    candidates: np.ndarray | None = None,
    min_cluster_size: int = 5,
) -> np.ndarray:
    """TypiClust's picks: ``n`` rows, each the most typical of the least covered cluster.

    Parameters
    ----------
    clusters : ndarray of int, shape (n_rows,)
        Cluster of every row that may be picked.
    typical : ndarray of float, shape (n_rows,)
        Typicality of those rows.
    covered : ndarray of int, shape (n_clusters,)
        Labeled rows already in each cluster.
    n : int
        Rows to pick.
    candidates : bool ndarray of shape (n_rows,), optional
        Rows that may be picked (``None``: all).
    min_cluster_size : int, default=5
        Clusters with fewer rows (``clusters`` counted, plus ``covered``) are never chosen.

    Returns
    -------
    ndarray of int64
        Positions into ``clusters``, in pick order: at each pick the cluster with the fewest
        covered rows, then the most rows, then the lower cluster number, and within it the
        most typical candidate left (ties: the lower row). Fewer than ``n`` when the eligible
        clusters run out of candidates.
    """
    import heapq

    clusters = np.asarray(clusters, dtype=np.int64)
    covered = np.asarray(covered, dtype=np.int64).copy()
    n_clusters = covered.size
    sizes = np.bincount(clusters, minlength=n_clusters)[:n_clusters] + covered
    allowed = (np.ones(clusters.size, dtype=bool) if candidates is None
               else np.asarray(candidates, dtype=bool))
    # candidate rows grouped by cluster, each group most typical first (ties: the lower row)
    rows = np.flatnonzero(allowed)
    rows = rows[np.lexsort((rows, -np.asarray(typical, dtype=np.float64)[rows],
                            clusters[rows]))]
    bounds = np.searchsorted(clusters[rows], np.arange(n_clusters + 1))
    next_row = bounds[:-1].copy()
    heap = [(int(covered[c]), -int(sizes[c]), c) for c in range(n_clusters)
            if sizes[c] >= min_cluster_size and next_row[c] < bounds[c + 1]]
    heapq.heapify(heap)
    picks: list[int] = []
    while len(picks) < n and heap:
        count, negative_size, cluster = heapq.heappop(heap)
        picks.append(int(rows[next_row[cluster]]))
        next_row[cluster] += 1
        if next_row[cluster] < bounds[cluster + 1]:
            heapq.heappush(heap, (count + 1, negative_size, cluster))
    return np.asarray(picks, dtype=np.int64)


class TypiClustQuery(QueryStrategy):
    """Typical rows of the largest uncovered clusters (TypiClust, Hacohen et al., ICML 2022).

    Built for the low-budget regime (a few labels a class), where uncertainty sampling trails
    random sampling: :class:`pseudolabel.ActiveLearner` uses it for its first batch by default
    (``cold_start="auto"``), then its ``query_strategy``. See the module docstring for the
    algorithm. The batch is TypiClust's picks, returned most typical first; scores are their
    typicality.

    Parameters
    ----------
    max_clusters : int, default=500
        Upper bound on the ``n_labeled + n`` clusters (the paper's bound).
    k_neighbors : int, default=20
        Neighbours of the typicality estimate (the paper's).
    min_cluster_size : int, default=5
        Smaller clusters are never picked from (the paper's).
    sample_size : int, default=100_000
        Pool rows the clustering and typicality are computed on (a random sample beyond).
    random_state : int, numpy Generator or None, default=None
        Seed of the sample and the clustering; ``None`` uses the learner's generator.
    """

    name: ClassVar[str] = "typiclust"

    def __init__(
        self,
        *,
        max_clusters: int = 500,
        k_neighbors: int = 20,
        min_cluster_size: int = 5,
        sample_size: int = 100_000,
        random_state: Any = None,
    ) -> None:
        self.max_clusters = max_clusters
        self.k_neighbors = k_neighbors
        self.min_cluster_size = min_cluster_size
        self.sample_size = sample_size
        self.random_state = random_state

    def _validate(self) -> None:
        for name in ("max_clusters", "k_neighbors", "min_cluster_size", "sample_size"):
            check_positive(name, getattr(self, name))

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        raise ParameterError(
            "typiclust has no per-row score independent of the batch: use query()"
        )

    def query(
        self, context: Any, X_pool: Any, n: int, *, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.cluster import KMeans, MiniBatchKMeans

        self._validate()
        context = as_query_context(context)
        n, total, mask = _query_args(n, X_pool, exclude)
        m = min(n, _n_available(total, mask))
        if m == 0:
            return _no_rows()
        rng = _strategy_rng(self, context)
        available = np.flatnonzero(~mask) if mask is not None else np.arange(total)
        rows = available
        if available.size > self.sample_size:
            rows = np.sort(rng.choice(available, size=int(self.sample_size), replace=False))
        X = measurable_features(context, take_rows(X_pool, rows), "the pool")
        lab = context.X_labeled
        lab = (None if lab is None or n_rows(lab) == 0
               else measurable_features(context, lab, "the labeled rows"))
        n_labeled = 0 if lab is None else lab.shape[0]
        both = standardize_columns(X if lab is None else np.vstack([X, lab]))
        k = int(min(n_labeled + m, self.max_clusters, both.shape[0]))
        seed = int(rng.integers(2**31 - 1))
        if both.shape[0] > KMEANS_MAX_ROWS:
            model: Any = MiniBatchKMeans(n_clusters=k, batch_size=4096, n_init=1,
                                         random_state=seed)
        else:
            model = KMeans(n_clusters=k, n_init=1, random_state=seed)
        labels = model.fit_predict(both)
        pool_clusters, labeled_clusters = labels[: rows.size], labels[rows.size:]
        covered = np.bincount(labeled_clusters, minlength=k)
        typical = typicality(both[: rows.size], pool_clusters, self.k_neighbors)
        picks = typiclust_select(pool_clusters, typical, covered, m,
                                 min_cluster_size=self.min_cluster_size)
        if picks.size < m:  # every eligible cluster is exhausted: the smaller ones next
            rest = np.ones(rows.size, dtype=bool)
            rest[picks] = False
            more = typiclust_select(pool_clusters, typical, covered, m - picks.size,
                                    candidates=rest, min_cluster_size=1)
            picks = np.concatenate([picks, more])
        # best first: the batch is TypiClust's picks, asked most typical first
        order = np.argsort(-typical[picks], kind="stable")
        return rows[picks[order]].astype(np.int64), typical[picks[order]]


@hookimpl
def pseudolabel_add_strategies(registry: Any) -> None:
    """Register ``typiclust`` (``kind="query"``)."""
    registry.add_strategy(
        "typiclust", TypiClustQuery, kind="query",
        description="typical rows of the largest uncovered clusters (Hacohen et al. 2022)",
    )

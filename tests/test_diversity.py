"""Diverse-batch kernels and strategies, held against plain numpy references.

Kernel references run on small integer-valued features, where every distance and every sum
is exact in float64, so the picks (ties included: to the lower row) must be identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from pseudolabel import kernels
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.plugins import isolated_plugin_manager, make_strategy
from pseudolabel.strategies.diversity import (
    DIVERSITY_STRATEGIES,
    BadgeQuery,
    ClusterMarginQuery,
    CoresetQuery,
    RankedBatchQuery,
    badge_select,
    cluster_margin_select,
    gradient_factor,
)
from pseudolabel.strategies.query import MarginQuery


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), isolated_plugin_manager():
        yield


# ---------------------------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------------------------


def sq_distances(X, C):
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def reference_kcenter(X, centers, k, exclude=None):
    """Farthest-first with every distance recomputed; ties to the lower row."""
    n = len(X)
    mins = sq_distances(X, centers).min(axis=1) if len(centers) else np.full(n, np.inf)
    mins = mins.copy()
    if exclude is not None:
        mins[exclude] = -np.inf
    picks, dists = [], []
    for _ in range(k):
        i = int(np.argmax(mins))  # first maximum: the lower row
        picks.append(i)
        dists.append(mins[i])
        mins = np.minimum(mins, sq_distances(X, X[i : i + 1])[:, 0])
        mins[i] = -np.inf
        if exclude is not None:
            mins[exclude] = -np.inf
    return picks, dists


def reference_kmeans_pp(a, h, draws, exclude=None):
    """k-means++ over the explicit gradient embeddings g_i = a_i (outer) h_i."""
    g = np.einsum("ic,id->icd", a.astype(np.float64), h.astype(np.float64)).reshape(len(a), -1)
    norms = (g * g).sum(axis=1)
    avail = np.ones(len(a), dtype=bool) if exclude is None else ~exclude
    first = int(np.argmax(np.where(avail, norms, -np.inf)))
    picks = [first]
    weight = np.where(avail, np.inf, 0.0)
    weight[first] = 0.0
    for u in draws:
        weight = np.minimum(weight, ((g - g[picks[-1]]) ** 2).sum(axis=1))
        weight[picks] = 0.0
        cum = np.cumsum(weight)
        total = cum[-1]
        if total > 0:
            nxt = int(np.flatnonzero(cum > u * total)[0])
        else:
            left = avail.copy()
            left[picks] = False
            nxt = int(np.flatnonzero(left)[0])
        picks.append(nxt)
    return picks


small_ints = st.integers(-4, 4).map(float)


@st.composite
def int_matrix(draw, n_rows, n_cols):
    n = draw(n_rows)
    d = draw(n_cols)
    values = draw(st.lists(small_ints, min_size=n * d, max_size=n * d))
    return np.array(values, dtype=np.float64).reshape(n, d)


# ---------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    X=int_matrix(st.integers(0, 40), st.integers(1, 4)),
    n_centers=st.integers(0, 6),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_min_distance_update_matches_numpy(X, n_centers, dtype, seed):
    rng = np.random.default_rng(seed)
    C = rng.integers(-4, 5, size=(n_centers, X.shape[1])).astype(np.float64)
    start = rng.integers(0, 30, size=len(X)).astype(np.float64)
    got = kernels.min_distance_update(X.astype(dtype), C.astype(dtype), start.copy())
    D = sq_distances(X, C)
    want = np.minimum(start, D.min(axis=1)) if n_centers else start
    np.testing.assert_array_equal(got, want)
    nearest = np.full(len(X), -1, dtype=np.int64)
    kernels.min_distance_update(X.astype(dtype), C.astype(dtype), nearest=nearest, center_offset=3)
    if n_centers:
        np.testing.assert_array_equal(nearest, 3 + D.argmin(axis=1))  # first minimum
    else:
        assert (nearest == -1).all()


@settings(max_examples=60, deadline=None)
@given(
    X=int_matrix(st.integers(1, 60), st.integers(1, 3)),
    n_centers=st.integers(0, 4),
    k=st.integers(0, 25),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_kcenter_greedy_matches_numpy(X, n_centers, k, dtype, seed):
    rng = np.random.default_rng(seed)
    C = rng.integers(-4, 5, size=(n_centers, X.shape[1])).astype(np.float64)
    exclude = rng.random(len(X)) < 0.2
    k = min(k, int((~exclude).sum()))
    idx, d2 = kernels.kcenter_greedy(X.astype(dtype), k, centers=C.astype(dtype), exclude=exclude)
    want, want_d = reference_kcenter(X, C, k, exclude)
    assert idx.tolist() == want
    np.testing.assert_array_equal(d2, want_d)


@settings(max_examples=60, deadline=None)
@given(
    a=int_matrix(st.integers(1, 50), st.integers(1, 4)),
    d=st.integers(1, 4),
    k=st.integers(1, 20),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_kmeans_pp_factored_matches_explicit_embeddings(a, d, k, seed, dtype):
    rng = np.random.default_rng(seed)
    h = rng.integers(-3, 4, size=(len(a), d)).astype(np.float64)
    exclude = rng.random(len(a)) < 0.2
    k = min(k, int((~exclude).sum()))
    if k == 0:
        return
    draws = rng.random(k - 1)
    got = kernels.kmeans_pp_factored(a.astype(dtype), h.astype(dtype), k, draws=draws,
                                     exclude=exclude)
    assert got.tolist() == reference_kmeans_pp(a, h, draws, exclude)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 15), n_lab=st.integers(0, 4))
def test_ranked_batch_kernel_matches_numpy(seed, n, n_lab):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    u = rng.random(40)
    lab = rng.normal(size=(n_lab, 3))
    pos, scores = kernels.ranked_batch(X, u, lab, n, n_unlabeled=40)
    d = np.sqrt(sq_distances(X, lab).min(axis=1)) if n_lab else np.full(40, np.inf)
    chosen = []
    for j in range(n):
        alpha = (40 - j) / (40 - j + n_lab + j)
        sim = np.where(np.isinf(d), 0.0, 1 / (1 + d))
        score = alpha * (1 - sim) + (1 - alpha) * u
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        assert scores[j] == pytest.approx(score[best], rel=1e-12)
        chosen.append(best)
        d = np.minimum(d, np.sqrt(sq_distances(X, X[best : best + 1])[:, 0]))
    assert pos.tolist() == chosen


def test_results_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(0)
    # large enough that every kernel splits its passes among threads
    X = rng.normal(size=(300_000, 3)).astype(np.float32)
    a = rng.normal(size=(300_000, 2)).astype(np.float32)
    cand = rng.normal(size=(1_100_000, 2)).astype(np.float32)
    u = rng.random(len(cand))
    before = kernels.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            kernels.set_num_threads(threads)
            runs.append((
                kernels.kcenter_greedy(X, 30, centers=X[:2]),
                kernels.kmeans_pp_factored(a, X, 30, draws=np.linspace(0, 0.99, 29)),
                kernels.ranked_batch(cand, u, cand[:1], 4, n_unlabeled=len(cand)),
                kernels.min_distance_update(X, X[:50]),
            ))
    finally:
        kernels.set_num_threads(before)
    (k1, p1, r1, m1), (k2, p2, r2, m2) = runs
    for x, y in [(k1[0], k2[0]), (k1[1], k2[1]), (p1, p2), (r1[0], r2[0]), (r1[1], r2[1]),
                 (m1, m2)]:
        np.testing.assert_array_equal(x, y)


def test_kernel_errors_name_the_problem():
    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ParameterError, match="k must be at most the number of available"):
        kernels.kcenter_greedy(X, 5)
    with pytest.raises(InputError, match="centers has 3 features per row"):
        kernels.kcenter_greedy(X, 1, centers=np.zeros((1, 3), dtype=np.float32))
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match="row 2, column 1"):
        kernels.min_distance_update(bad, X[:1])
    with pytest.raises(ParameterError, match="draws"):
        kernels.kmeans_pp_factored(X, X, 3, draws=np.array([0.5, 1.0]))
    with pytest.raises(ParameterError, match="draws"):
        kernels.kmeans_pp_factored(X, X, 3, draws=np.array([0.5]))
    with pytest.raises(InputError, match="numbers"):
        kernels.kcenter_greedy(np.array([["a"]]), 1)


# ---------------------------------------------------------------------------------------------
# the algorithms over arrays
# ---------------------------------------------------------------------------------------------


def test_cluster_margin_round_robin_smallest_cluster_first():
    candidates = np.array([10, 11, 12, 13, 14, 15, 16])
    clusters = np.array([0, 0, 0, 1, 2, 2, 1])
    picks = cluster_margin_select(candidates, clusters, 5, rng=np.random.default_rng(0))
    # cluster sizes: 0 -> 3, 1 -> 2, 2 -> 2: rounds visit 1, 2, 0 (fewest first, then lower id)
    assert set(picks[:3].tolist()) <= {13, 16} | {14, 15} | {10, 11, 12}
    assert picks[0] in (13, 16) and picks[1] in (14, 15) and picks[2] in (10, 11, 12)
    assert picks[3] in (13, 16) and picks[4] in (14, 15)
    assert len(set(picks.tolist())) == 5
    every = cluster_margin_select(candidates, clusters, 99, rng=np.random.default_rng(1))
    assert sorted(every.tolist()) == candidates.tolist()


def test_badge_select_equals_kmeans_pp_over_materialised_embeddings():
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(4), size=300)
    h = rng.normal(size=(300, 5))
    a = gradient_factor(P)
    np.testing.assert_allclose(a.sum(axis=1), 0, atol=1e-12)
    got = badge_select(a, h, 12, rng=np.random.default_rng(9))
    want = reference_kmeans_pp(a, h, np.random.default_rng(9).random(11))
    assert got.tolist() == want


# ---------------------------------------------------------------------------------------------
# strategies on real data
# ---------------------------------------------------------------------------------------------


class DigitsLearner:
    """A fitted logistic regression on 30 labeled digits; the pool is the rest."""

    def __init__(self):
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        rng = np.random.default_rng(0)
        lab = rng.choice(len(X), 30, replace=False)
        mask = np.zeros(len(X), dtype=bool)
        mask[lab] = True
        self.model = LogisticRegression(max_iter=300).fit(X[lab], y[lab])
        self.X_labeled_, self.y_labeled_ = X[lab], y[lab]
        self.classes_ = self.model.classes_
        self.pool = X[~mask]
        self.rng_ = np.random.default_rng(1)

    def predict_proba(self, X):
        return self.model.predict_proba(X)


@pytest.fixture(scope="module")
def digits():
    return DigitsLearner()


def _coverage_radius(pool, chosen_rows, labeled):
    """Largest distance from a pool row to its nearest labeled or chosen row."""
    centers = np.vstack([labeled, pool[chosen_rows]])
    return float(np.sqrt(kernels.min_distance_update(pool, centers).max()))


def test_coreset_covers_the_pool_better_than_margin_and_random(digits):
    n = 40
    core, core_scores = CoresetQuery().query(digits, digits.pool, n)
    margin, _ = MarginQuery().query(digits, digits.pool, n)
    rand = np.random.default_rng(0).choice(len(digits.pool), n, replace=False)
    r_core = _coverage_radius(digits.pool, core, digits.X_labeled_)
    assert r_core < _coverage_radius(digits.pool, margin, digits.X_labeled_)
    assert r_core < _coverage_radius(digits.pool, rand, digits.X_labeled_)
    assert (np.diff(core_scores) <= 1e-12).all()  # farthest-first: distances never grow
    # the first pick is the row farthest from every labeled row
    d = np.sqrt(kernels.min_distance_update(digits.pool, digits.X_labeled_))
    assert core[0] == int(np.argmax(d)) and core_scores[0] == pytest.approx(d.max())
    np.testing.assert_allclose(CoresetQuery().scores(digits, digits.pool), d)


def test_coreset_without_labels_starts_at_a_random_row(digits):
    class Unlabeled(DigitsLearner):
        pass

    learner = Unlabeled()
    learner.X_labeled_ = None
    a, _ = CoresetQuery(random_state=5).query(learner, learner.pool, 10)
    b, _ = CoresetQuery(random_state=5).query(learner, learner.pool, 10)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 10


def test_badge_is_reproducible_uncertain_and_diverse(digits):
    n = 30
    a, scores = BadgeQuery(random_state=0).query(digits, digits.pool, n)
    b, _ = BadgeQuery(random_state=0).query(digits, digits.pool, n)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == n
    norms = BadgeQuery().scores(digits, digits.pool)
    np.testing.assert_allclose(scores, norms[a], rtol=1e-5)
    assert a[0] == int(np.argmax(norms))  # the first pick: the largest gradient embedding
    # BADGE leans to uncertain rows: its picks' median norm beats the pool's
    assert np.median(norms[a]) > np.median(norms)
    # an explicit embedding (here: a random projection) is used when given
    proj = np.random.default_rng(0).normal(size=(64, 8))
    c, _ = BadgeQuery(embedding=lambda X: np.asarray(X) @ proj, random_state=0).query(
        digits, digits.pool, n
    )
    assert len(set(c.tolist())) == n and c.tolist() != a.tolist()
    with pytest.raises(InputError, match="embedding must return one row per pool row"):
        BadgeQuery(embedding=lambda X: np.zeros((1, 2))).query(digits, digits.pool, 5)


def test_badge_respects_exclude(digits):
    exclude = np.zeros(len(digits.pool), dtype=bool)
    exclude[::2] = True
    idx, _ = BadgeQuery(random_state=1).query(digits, digits.pool, 25, exclude=exclude)
    assert not exclude[idx].any() and len(set(idx.tolist())) == 25


def test_cluster_margin_caches_clusters_and_spreads_over_them(digits):
    strategy = ClusterMarginQuery(n_clusters=12, random_state=0)
    idx, scores = strategy.query(digits, digits.pool, 24)
    centers = strategy._centroids[1]
    again, _ = strategy.query(digits, digits.pool, 24)
    assert strategy._centroids[1] is centers  # fitted once per pool
    assert len(set(idx.tolist())) == 24
    # every pick is among the 10 * 24 lowest-margin rows
    margin_rows, _ = MarginQuery().query(digits, digits.pool, 240)
    assert set(idx.tolist()) <= set(margin_rows.tolist())
    np.testing.assert_allclose(scores, MarginQuery().scores(digits, digits.pool)[idx])
    # round robin: the batch touches as many clusters as the candidates do (up to 24)
    nearest = np.zeros(len(digits.pool), dtype=np.int64)
    kernels.min_distance_update(digits.pool, centers, nearest=nearest)
    assert len(set(nearest[idx].tolist())) == min(24, len(set(nearest[margin_rows].tolist())))
    other = ClusterMarginQuery(n_clusters=12, random_state=0)
    other.query(digits, digits.pool[:-1], 5)
    assert other._centroids[0] != strategy._centroids[0]  # a different pool, new clusters
    with pytest.raises(ParameterError, match="candidate_factor"):
        ClusterMarginQuery(candidate_factor=0).query(digits, digits.pool, 5)
    with pytest.raises(ParameterError, match="n_clusters"):
        ClusterMarginQuery(n_clusters=True).query(digits, digits.pool, 5)


def test_ranked_batch_euclidean_kernel_matches_the_numpy_metric_path(digits):
    fast, fast_scores = RankedBatchQuery().query(digits, digits.pool, 25)
    slow, slow_scores = RankedBatchQuery(metric="l2").query(digits, digits.pool, 25)
    assert fast.tolist() == slow.tolist()
    np.testing.assert_allclose(fast_scores, slow_scores, rtol=1e-9)
    manhattan, _ = RankedBatchQuery(metric="manhattan").query(digits, digits.pool, 25)
    assert len(set(manhattan.tolist())) == 25


@pytest.mark.parametrize("name", sorted(DIVERSITY_STRATEGIES))
def test_registered_and_usable_in_the_active_loop(name):
    from pseudolabel import ActiveLearner

    assert make_strategy(name, kind="query").name == name
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    learner = ActiveLearner(query_strategy=name, random_state=0)
    learner.fit(X[:20], y[:20])
    idx = learner.query(X[20:], 15)
    assert len(set(np.asarray(idx).tolist())) == 15

"""TypiClust (the first batch of ActiveLearner), held against plain numpy references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits, load_wine
from sklearn.linear_model import LogisticRegression

from pseudolabel import ActiveLearner
from pseudolabel.exceptions import ParameterError
from pseudolabel.plugins import isolated_plugin_manager, make_strategy
from pseudolabel.strategies.query import MarginQuery
from pseudolabel.strategies.typical import TypiClustQuery, typicality, typiclust_select


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), isolated_plugin_manager():
        yield


# ---------------------------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------------------------


def reference_typicality(X, clusters, k):
    """Every distance within a cluster computed, the k smallest (self excluded) averaged."""
    X = np.asarray(X, dtype=np.float64)
    out = np.zeros(len(X))
    for i in range(len(X)):
        same = np.flatnonzero((clusters == clusters[i]) & (np.arange(len(X)) != i))
        kk = min(k, same.size)
        if kk < 1:
            continue
        d = np.sort(np.sqrt(((X[same] - X[i]) ** 2).sum(axis=1)))[:kk]
        out[i] = np.inf if d.mean() == 0 else 1.0 / d.mean()
    return out


def reference_select(clusters, typical, covered, n, candidates, min_size):
    """The paper's loop, written plainly: rescan every cluster at every pick."""
    covered = np.array(covered, dtype=np.int64)
    free = np.array(candidates, dtype=bool)
    sizes = np.bincount(clusters, minlength=covered.size)[: covered.size] + covered
    picks = []
    for _ in range(n):
        best = None
        for c in range(covered.size):
            rows = np.flatnonzero((clusters == c) & free)
            if sizes[c] < min_size or rows.size == 0:
                continue
            key = (covered[c], -sizes[c], c)
            if best is None or key < best[0]:
                best = (key, c, rows)
        if best is None:
            break
        _, c, rows = best
        top = rows[typical[rows] == typical[rows].max()].min()  # most typical, lower row
        picks.append(int(top))
        free[top] = False
        covered[c] += 1
    return np.array(picks, dtype=np.int64)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 40), st.integers(1, 6), st.integers(0, 45), st.integers(1, 6),
    st.integers(0, 2**31 - 1),
)
def test_select_matches_the_plain_loop(n_rows, n_clusters, n, min_size, seed):
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, n_clusters, n_rows)
    typical = rng.integers(0, 4, n_rows).astype(np.float64)  # many ties
    covered = rng.integers(0, 3, n_clusters)
    candidates = rng.random(n_rows) < 0.8
    got = typiclust_select(clusters, typical, covered, n, candidates=candidates,
                           min_cluster_size=min_size)
    want = reference_select(clusters, typical, covered, n, candidates, min_size)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 4), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_typicality_matches_every_distance(n_rows, n_clusters, k, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, size=(n_rows, 3)).astype(np.float64)
    clusters = rng.integers(0, n_clusters, n_rows)
    np.testing.assert_allclose(typicality(X, clusters, k), reference_typicality(X, clusters, k),
                               rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# the strategy and the learner's first batch
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X, y


def _learner(X, y, **kw):
    seed_rows = np.concatenate([np.flatnonzero(y == c)[:2] for c in np.unique(y)])
    learner = ActiveLearner(LogisticRegression(max_iter=300), random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner.teach(X[seed_rows], y[seed_rows])
    return learner


def test_picks_typical_rows_of_uncovered_clusters(digits):
    X, y = digits
    learner = _learner(X, y)
    idx, scores = TypiClustQuery(random_state=0).query(learner.query_context(), X, 30)
    assert idx.shape == (30,) and np.unique(idx).size == 30
    assert np.all(np.isfinite(scores)) and np.all(scores > 0)
    # typical rows cover the classes: 30 picks reach at least 9 of the 10 digits
    assert np.unique(y[idx]).size >= 9
    again, _ = TypiClustQuery(random_state=0).query(learner.query_context(), X, 30)
    np.testing.assert_array_equal(idx, again)


def test_respects_exclude_and_a_sample_of_the_pool(digits):
    X, y = digits
    learner = _learner(X, y)
    exclude = np.zeros(len(X), dtype=bool)
    exclude[:900] = True
    idx, _ = TypiClustQuery(random_state=1, sample_size=300).query(
        learner.query_context(), X, 25, exclude=exclude)
    assert idx.shape == (25,) and np.unique(idx).size == 25 and np.all(idx >= 900)
    # more than the pool's eligible clusters can hold: smaller clusters fill the batch
    idx, _ = TypiClustQuery(random_state=1, min_cluster_size=50).query(
        learner.query_context(), X[:60], 40)
    assert idx.shape == (40,) and np.unique(idx).size == 40


def test_bad_parameters_are_named(digits):
    X, y = digits
    learner = _learner(X, y)
    with pytest.raises(ParameterError, match="k_neighbors"):
        TypiClustQuery(k_neighbors=0).query(learner.query_context(), X, 5)
    with pytest.raises(ParameterError, match="query"):
        TypiClustQuery().scores(learner.query_context(), X)
    assert isinstance(make_strategy("typiclust", kind="query"), TypiClustQuery)


def test_first_batch_is_typiclust_then_margin(digits):
    X, y = digits
    learner = _learner(X, y)
    assert isinstance(learner.cold_start_, TypiClustQuery)
    context = learner.query_context()
    expected, _ = TypiClustQuery().query(context, X, 10)
    # the strategy draws its seed from the learner's generator: replay it
    replay = _learner(X, y)
    first = replay.query(X, 10)
    assert replay.cold_start_ is None
    second = replay.query(X, 10, exclude=first)
    margin, _ = MarginQuery().query(replay.query_context(), X, 10, exclude=first)
    np.testing.assert_array_equal(second, margin)
    np.testing.assert_array_equal(first, expected)


def test_cold_start_off_random_and_named(digits):
    X, y = digits
    off = _learner(X, y, cold_start=None)
    margin, _ = MarginQuery().query(off.query_context(), X, 10)
    np.testing.assert_array_equal(off.query(X, 10), margin)
    assert _learner(X, y, query_strategy="random").cold_start_ is None
    named = _learner(X, y, cold_start="coreset")
    assert named.cold_start_.name == "coreset"
    with pytest.raises(Exception, match="no_such_strategy"):
        _learner(X, y, cold_start="no_such_strategy")


def test_default_beats_margin_alone_at_a_small_budget():
    """wine, 2 labels a class, 3 batches of 10: the first typical batch pays (5 seeds)."""
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    areas = {"auto": [], None: []}
    for seed in range(5):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=seed)
        rng = np.random.default_rng(seed)
        init = np.concatenate([rng.choice(np.flatnonzero(y_tr == c), 2, replace=False)
                               for c in np.unique(y_tr)])
        pool = np.setdiff1d(np.arange(len(y_tr)), init)
        for cold in areas:
            learner = ActiveLearner(
                make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
                cold_start=cold, random_state=seed)
            learner.teach(X_tr[init], y_tr[init])
            curve = learner.run(X_tr[pool], lambda i: y_tr[pool][i], budget=30,
                                batch_size=10, X_test=X_te, y_test=y_te)
            areas[cold].append(curve.auc())
    assert np.mean(areas["auto"]) >= np.mean(areas[None])


def test_auto_skips_features_it_cannot_measure_and_a_named_cold_start_says_why():
    """Missing values (or text) in the pool: "auto" starts with margin, "typiclust" raises."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from pseudolabel.strategies.typical import NotMeasurable

    X, y = load_wine(return_X_y=True)
    X = X.copy()
    X[::7, 3] = np.nan
    seed_rows = np.concatenate([np.flatnonzero(y == c)[:2] for c in np.unique(y)])
    auto = ActiveLearner(HistGradientBoostingClassifier(max_iter=10), random_state=0)
    auto.teach(X[seed_rows], y[seed_rows])
    margin, _ = MarginQuery().query(auto.query_context(), X, 5)
    np.testing.assert_array_equal(auto.query(X, 5), margin)
    named = ActiveLearner(HistGradientBoostingClassifier(max_iter=10), cold_start="typiclust",
                          random_state=0)
    named.teach(X[seed_rows], y[seed_rows])
    with pytest.raises(NotMeasurable, match="missing or infinite"):
        named.query(X, 5)

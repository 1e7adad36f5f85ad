"""Label spreading over a kNN graph against a dense numpy reference, and on real data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.plugins import make_strategy
from pseudolabel.strategies.base import RoundContext
from pseudolabel.strategies.graph import (
    LabelSpreadingStrategy,
    knn_graph,
    spread_labels,
    standardized_rows,
)


def reference_graph(X, k):
    """Dense kNN graph: full distance matrix, heat kernel on the median distance, max-symmetric."""
    n = X.shape[0]
    k = min(k, n - 1)
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(D, np.inf)
    neighbours = np.argsort(D, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(D, neighbours, axis=1)
    sigma = np.median(dist)
    W = np.zeros((n, n))
    for i in range(n):
        W[i, neighbours[i]] = np.exp(-dist[i] ** 2 / (2 * sigma**2))
    return np.maximum(W, W.T)


def reference_spread(W, y, c, alpha, n_iter):
    d = W.sum(axis=1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    S = inv[:, None] * W * inv[None, :]
    Y = np.zeros((W.shape[0], c))
    Y[np.arange(len(y)), y] = 1
    F = Y.copy()
    for _ in range(n_iter):
        F = alpha * S @ F + (1 - alpha) * Y
    return F, S, Y


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 60), d=st.integers(1, 5),
       k=st.integers(1, 8), c=st.integers(2, 4), alpha=st.floats(0.05, 0.99),
       n_iter=st.integers(1, 40))
def test_graph_and_spreading_match_the_dense_reference(seed, n, d, k, c, alpha, n_iter):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    n_labeled = max(1, n // 3)
    y = rng.integers(0, c, n_labeled)
    W = knn_graph(X, k)
    W_ref = reference_graph(X, k)
    np.testing.assert_allclose(W.toarray(), W_ref, rtol=1e-10, atol=1e-12)
    F = spread_labels(W, y, c, alpha=alpha, n_iter=n_iter)
    F_ref, S, Y = reference_spread(W_ref, y, c, alpha, n_iter)
    np.testing.assert_allclose(F, F_ref, rtol=1e-9, atol=1e-12)


def test_spreading_converges_to_the_closed_form_of_zhou_et_al():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 3))
    y = rng.integers(0, 3, 20)
    W = knn_graph(X, 6)
    F = spread_labels(W, y, 3, alpha=0.5, n_iter=200)
    _, S, Y = reference_spread(W.toarray(), y, 3, 0.5, 0)
    closed = (1 - 0.5) * np.linalg.solve(np.eye(80) - 0.5 * S, Y)
    np.testing.assert_allclose(F, closed, rtol=1e-8, atol=1e-12)


def test_standardized_rows_and_bad_features():
    X_l, X_p = np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 5.0]])
    Z = standardized_rows(RoundContext(X_l, np.array([0, 1]), X_p))
    np.testing.assert_allclose(Z[:, 0], [-np.sqrt(1.5), np.sqrt(1.5), 0.0])
    np.testing.assert_array_equal(Z[:, 1], 0.0)
    with pytest.raises(InputError, match="finite"):
        standardized_rows(RoundContext(X_l, np.array([0, 1]), np.array([[np.nan, 1.0]])))
    with pytest.raises(InputError, match="numeric"):
        standardized_rows(RoundContext(X_l, np.array([0, 1]), np.array([["a", "b"]])))


def digits_with_90_labels(seed):
    """Digits with 90 random labeled rows (L), the rest the pool (P), and a scaled logistic
    regression's probabilities on the pool."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    L, P = order[:90], order[90:]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X[L], y[L])
    return X, y, L, P, model.predict_proba(X[P])


def test_label_spreading_on_digits():
    # Measured (5 seeds, logistic regression, 5% labels): 649 rows at 98.3% precision against
    # 98.7% for the model's own most confident rows at the same count (3 of 5 seeds better):
    # the graph does not beat a good model's confidence ranking here, so the test holds it
    # within one point; the value of the graph is a source that differs from the model.
    X, y, L, P, proba = digits_with_90_labels(seed=0)
    strategy = make_strategy("label_spreading", kind="selection")
    assert isinstance(make_strategy("graph", kind="selection"), LabelSpreadingStrategy)
    strategy.start(n_classes=10, n_labeled=90, n_unlabeled=len(P))
    context = RoundContext(X[L], y[L], X[P])
    decision = strategy.select(proba, round=1, context=context)
    m = decision.n_selected
    assert 50 <= m < len(P)
    precision = np.mean(decision.labels == y[P][decision.indices])
    top = np.argsort(-proba.max(axis=1), kind="stable")[:m]
    baseline = np.mean(proba[top].argmax(axis=1) == y[P][top])
    assert precision >= 0.95 and precision >= baseline - 0.01, (precision, baseline, m)
    # every taken row agrees with the model; the graph is reused in the next round
    np.testing.assert_array_equal(decision.labels, proba[decision.indices].argmax(axis=1))
    graph = strategy._graph
    strategy.select(proba, round=2, context=context)
    assert strategy._graph is graph


def test_label_spreading_validates_its_parameters():
    for bad in (dict(n_neighbors=0), dict(alpha=1.0), dict(n_iter=0), dict(threshold=1.5),
                dict(agree_with_model="yes"), dict(max_graph_rows=1),
                dict(max_graph_rows=2.5)):
        with pytest.raises(ParameterError, match=next(iter(bad))):
            LabelSpreadingStrategy(**bad).start(n_classes=2, n_labeled=2, n_unlabeled=2)


def test_a_graph_over_more_rows_than_max_graph_rows_is_built_on_a_sample_of_the_pool():
    X, y, L, P, proba = digits_with_90_labels(seed=1)
    context = RoundContext(X[L], y[L], X[P])

    def spread(max_graph_rows, seed=0, rounds=1):
        strategy = LabelSpreadingStrategy(max_graph_rows=max_graph_rows)
        strategy.start(n_classes=10, n_labeled=90, n_unlabeled=len(P), random_state=seed)
        for _ in range(rounds):
            q = strategy.spread(context)
        return strategy, q

    # under the bound the whole pool is in the graph: the same as without a bound
    _, whole = spread(len(L) + len(P))
    _, unbounded = spread(10**9)
    np.testing.assert_array_equal(whole, unbounded)
    assert np.all(whole.sum(axis=1) > 0)
    # over it: the labeled rows + max_graph_rows - 90 pool rows; the others get no spread,
    # the sampled rows get what a graph over exactly those rows gives
    strategy, q = spread(600)
    reached = np.flatnonzero(q.sum(axis=1) > 0)
    assert reached.size == 600 - 90
    sub = LabelSpreadingStrategy()
    sub.start(n_classes=10, n_labeled=90, n_unlabeled=reached.size)
    np.testing.assert_allclose(q[reached], sub.spread(RoundContext(X[L], y[L], X[P][reached])))
    # the sample is the seed's, and a new one each round
    _, again = spread(600)
    np.testing.assert_array_equal(q, again)
    _, second_round = spread(600, rounds=2)
    assert not np.array_equal(np.flatnonzero(second_round.sum(axis=1) > 0), reached)
    # at least half the bound comes from the pool, however many rows are labeled
    _, small = spread(100)
    assert np.count_nonzero(small.sum(axis=1) > 0) == 50
    # the decision takes sampled rows only
    strategy = LabelSpreadingStrategy(max_graph_rows=600)
    strategy.start(n_classes=10, n_labeled=90, n_unlabeled=len(P), random_state=0)
    decision = strategy.select(proba, round=1, context=context)
    assert 0 < decision.n_selected and set(decision.indices) <= set(reached)

"""Query strategies: held against plain numpy references, chunking, exclusion, registration."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from pseudolabel.exceptions import InputError, ParameterError, UnknownNameError
from pseudolabel.plugins import isolated_plugin_manager, make_strategy
from pseudolabel.strategies.base import QueryStrategy
from pseudolabel.strategies.diversity import RankedBatchQuery
from pseudolabel.strategies.query import (
    QUERY_STRATEGIES,
    EntropyQuery,
    LeastConfidentQuery,
    MarginQuery,
    QueryByCommittee,
    RandomQuery,
    kl_disagreement,
    vote_entropy,
)



@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small fits on a shared CPU: BLAS thread oversubscription makes them many times slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), isolated_plugin_manager():
        yield  # built-in plugins only: tests never depend on what happens to be installed

class TableLearner:
    """A 'model' whose predict_proba looks rows up in a fixed table: X holds row ids."""

    def __init__(self, P, chunk_size=7, X_labeled=None):
        self.P = np.asarray(P, dtype=np.float64)
        self.chunk_size = chunk_size
        self.calls = 0
        if X_labeled is not None:
            self.X_labeled_ = X_labeled

    def predict_proba(self, X):
        self.calls += 1
        return self.P[np.asarray(X)[:, 0].astype(np.int64)]


def proba_matrices(max_rows=40, max_classes=5):
    return st.integers(1, max_rows).flatmap(
        lambda n: st.integers(2, max_classes).flatmap(
            lambda c: hnp.arrays(
                np.float64, (n, c), elements=st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 1.0, 3.0])
            )
        )
    ).map(_normalize)


def _normalize(A):
    A = A + 1e-3
    return A / A.sum(axis=1, keepdims=True)


def _reference_scores(name, P):
    s = np.sort(P, axis=1)
    if name == "least_confident":
        return 1.0 - s[:, -1]
    if name == "margin":
        return 1.0 - (s[:, -1] - s[:, -2])
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)


def _reference_top(scores, n, exclude):
    rows = np.flatnonzero(~exclude)
    order = np.lexsort((rows, -scores[rows]))
    return rows[order][:n]


UNCERTAINTY = {
    "least_confident": LeastConfidentQuery,
    "margin": MarginQuery,
    "entropy": EntropyQuery,
}


@pytest.mark.parametrize("name", sorted(UNCERTAINTY))
@settings(max_examples=40, deadline=None)
@given(P=proba_matrices(), data=st.data())
def test_uncertainty_query_matches_numpy_reference(name, P, data):
    n_rows = P.shape[0]
    n = data.draw(st.integers(1, n_rows + 3))
    exclude = np.array(data.draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows)))
    chunk = data.draw(st.integers(1, 50))
    learner = TableLearner(P, chunk_size=chunk)
    X = np.arange(n_rows)[:, None]
    strategy = UNCERTAINTY[name]()
    ref_scores = _reference_scores(name, P)
    np.testing.assert_allclose(strategy.scores(learner, X), ref_scores, rtol=1e-9, atol=1e-12)
    idx, scores = strategy.query(learner, X, n, exclude=exclude)
    expected = _reference_top(ref_scores, n, exclude)
    # ties may be broken differently only when scores are equal up to rounding
    np.testing.assert_allclose(scores, ref_scores[expected], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ref_scores[idx], ref_scores[expected], rtol=1e-9, atol=1e-12)
    assert len(set(idx.tolist())) == len(idx)
    assert not exclude[idx].any()
    assert len(idx) == min(n, int((~exclude).sum()))


def test_uncertainty_ties_break_by_lower_row_across_chunks():
    P = np.tile([[0.5, 0.5]], (20, 1))
    learner = TableLearner(P, chunk_size=3)
    idx, _ = EntropyQuery().query(learner, np.arange(20)[:, None], 5, exclude=[0, 2])
    assert idx.tolist() == [1, 3, 4, 5, 6]


def _reference_vote_entropy(P):
    M, N, C = P.shape
    out = np.zeros(N)
    for i in range(N):
        votes = np.bincount([np.argmax(P[m, i]) for m in range(M)], minlength=C) / M
        out[i] = -sum(v * np.log(v) for v in votes if v > 0)
    return out


def _reference_kl(P):
    M, N, C = P.shape
    out = np.zeros(N)
    for i in range(N):
        cons = P[:, i].mean(axis=0)
        kls = [sum(p * np.log(p / q) for p, q in zip(P[m, i], cons) if p > 0) for m in range(M)]
        out[i] = np.mean(kls)
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda m: st.integers(1, 12).flatmap(
            lambda n: st.integers(2, 4).flatmap(
                lambda c: hnp.arrays(
                    np.float64, (m, n, c), elements=st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0, 2.0])
                )
            )
        )
    )
)
def test_committee_disagreement_matches_reference(A):
    P = A + 1e-3
    P = P / P.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(vote_entropy(P), _reference_vote_entropy(P), atol=1e-12)
    np.testing.assert_allclose(kl_disagreement(P), _reference_kl(P), rtol=1e-9, atol=1e-12)


def test_committee_disagreement_zero_when_members_agree():
    P = np.tile(np.array([[[0.7, 0.2, 0.1]]]), (4, 3, 1))
    assert np.allclose(vote_entropy(P), 0.0)
    assert np.allclose(kl_disagreement(P), 0.0)
    with pytest.raises(InputError, match="3-d"):
        vote_entropy(np.ones((2, 2)))


def test_random_query_is_reproducible_and_respects_exclude():
    learner = TableLearner(np.full((100, 2), 0.5), chunk_size=9)
    X = np.arange(100)[:, None]
    exclude = np.zeros(100, dtype=bool)
    exclude[:50] = True
    a, _ = RandomQuery(random_state=3).query(learner, X, 20, exclude=exclude)
    b, _ = RandomQuery(random_state=3).query(learner, X, 20, exclude=exclude)
    c, _ = RandomQuery(random_state=4).query(learner, X, 20, exclude=exclude)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert (a >= 50).all() and len(set(a.tolist())) == 20
    assert learner.calls == 0  # random needs no predictions


def _blob_pool():
    """A dense, maximally uncertain corner (200 rows) plus 60 spread, slightly less uncertain rows."""
    rng = np.random.default_rng(0)
    dense = rng.normal(0.0, 0.01, size=(200, 2))
    spread = rng.uniform(-10, 10, size=(60, 2))
    X = np.vstack([dense, spread])
    P = np.vstack([np.tile([0.5, 0.5], (200, 1)), np.tile([0.6, 0.4], (60, 1))])
    return X, P


class FeatureLearner:
    def __init__(self, X, P, X_labeled):
        self.X, self.P, self.X_labeled_ = X, P, X_labeled
        self.chunk_size = 50

    def predict_proba(self, X):
        # rows are looked up by exact match of their features (the pool rows are distinct)
        X = np.asarray(X)
        pos = [int(np.flatnonzero((self.X == row).all(axis=1))[0]) for row in X]
        return self.P[pos]


def test_ranked_batch_does_not_pile_into_one_dense_corner():
    X, P = _blob_pool()
    learner = FeatureLearner(X, P, X_labeled=np.array([[20.0, 20.0]]))
    idx_entropy, _ = EntropyQuery().query(learner, X, 20)
    assert (idx_entropy < 200).all()  # pure uncertainty: all 20 from the dense corner
    idx_ranked, _ = RankedBatchQuery().query(learner, X, 20)
    n_dense = int((idx_ranked < 200).sum())
    assert n_dense <= 2, f"ranked batch took {n_dense} of 20 rows from the dense corner"
    assert len(set(idx_ranked.tolist())) == 20


def _reference_ranked_batch(X, u, X_lab, n, n_unlabeled):
    """Naive ranked batch: recompute every distance at each pick."""
    chosen: list[int] = []
    for j in range(n):
        ref = np.vstack([X_lab] + [X[chosen]]) if chosen else X_lab
        d = np.sqrt(((X[:, None, :] - ref[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
        alpha = (n_unlabeled - j) / (n_unlabeled - j + len(X_lab) + j)
        score = alpha * (1 - 1 / (1 + d)) + (1 - alpha) * u
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return chosen


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), n_lab=st.integers(1, 5))
def test_ranked_batch_matches_naive_reference(seed, n, n_lab):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 3))
    P = rng.dirichlet(np.ones(3), size=30)
    X_lab = rng.normal(size=(n_lab, 3))
    learner = FeatureLearner(X, P, X_labeled=X_lab)
    idx, _ = RankedBatchQuery().query(learner, X, n)
    u = 1 - P.max(axis=1)
    expected = _reference_ranked_batch(X, u, X_lab, n, 30)
    assert idx.tolist() == expected


def test_ranked_batch_candidate_restriction_and_params():
    X, P = _blob_pool()
    learner = FeatureLearner(X, P, X_labeled=np.array([[20.0, 20.0]]))
    idx, _ = RankedBatchQuery(n_candidates=30, uncertainty="entropy").query(learner, X, 5)
    assert len(idx) == 5
    with pytest.raises(ParameterError, match="uncertainty"):
        RankedBatchQuery(uncertainty="nope").query(learner, X, 5)
    with pytest.raises(ParameterError, match="n_candidates"):
        RankedBatchQuery(n_candidates=0).query(learner, X, 5)


class CommitteeLearner:
    """The attributes query-by-committee reads from pseudolabel.ActiveLearner."""

    def __init__(self, X, y, backend):
        self.X_labeled_, self.y_labeled_ = X, y
        self.classes_ = np.unique(y)
        self.backend_ = backend
        self.model_version_ = 1
        self.chunk_size = 40
        self.rng_ = np.random.default_rng(0)


def test_query_by_committee_bootstrap_and_explicit_members():
    from pseudolabel.plugins import as_backend

    X, y = load_iris(return_X_y=True)
    lab = np.r_[0:5, 50:55, 100:105]
    learner = CommitteeLearner(X[lab], y[lab], as_backend(LogisticRegression(max_iter=500)))
    qbc = QueryByCommittee(n_members=4)
    members = qbc.members(learner)
    assert len(members) == 4 and qbc.members(learner) is members  # cached per model version
    learner.model_version_ = 2
    assert qbc.members(learner) is not members
    idx, scores = qbc.query(learner, X, 10, exclude=lab)
    assert len(idx) == 10 and not np.isin(idx, lab).any()
    assert np.all(np.diff(scores) <= 1e-12)
    full = qbc.scores(learner, X)
    np.testing.assert_allclose(full[idx], scores)

    explicit = QueryByCommittee(
        [LogisticRegression(max_iter=500), DecisionTreeClassifier(random_state=0)],
        disagreement="kl_divergence",
    )
    idx2, scores2 = explicit.query(learner, X, 5)
    assert len(idx2) == 5 and (scores2 >= 0).all()


def test_query_by_committee_bad_params():
    learner = CommitteeLearner(np.zeros((4, 2)), np.array([0, 0, 1, 1]), None)
    with pytest.raises(ParameterError, match="disagreement"):
        QueryByCommittee(disagreement="nope").members(learner)
    with pytest.raises(ParameterError, match="n_members"):
        QueryByCommittee(n_members=1).members(learner)
    with pytest.raises(ParameterError, match="committee"):
        QueryByCommittee(["sklearn"]).members(learner)
    with pytest.raises(ParameterError, match="labeled rows"):
        QueryByCommittee().members(TableLearner(np.ones((2, 2)) / 2))


def test_every_builtin_query_strategy_is_registered():
    with isolated_plugin_manager() as pm:
        assert set(QUERY_STRATEGIES) <= set(pm.strategies.names("query"))
        for name in QUERY_STRATEGIES:
            assert isinstance(make_strategy(name, kind="query"), QueryStrategy)
        assert make_strategy("kl_divergence", kind="query").disagreement == "kl_divergence"
        with pytest.raises(UnknownNameError, match="entropy"):
            make_strategy("entropie", kind="query")


def test_bad_n_and_nan_scores():
    learner = TableLearner(np.full((5, 2), 0.5))
    X = np.arange(5)[:, None]
    with pytest.raises(ParameterError, match="n must"):
        EntropyQuery().query(learner, X, -1)
    learner.P[2] = np.nan
    with pytest.raises(InputError):
        EntropyQuery().query(learner, X, 2)


def test_chunked_scoring_keeps_memory_bounded():
    """1M-row pool: the probability matrix (24 MB here) must never be materialized."""
    rng = np.random.default_rng(0)
    X_lab = rng.normal(size=(30, 2))
    y_lab = np.repeat([0, 1, 2], 10)
    model = LogisticRegression().fit(X_lab, y_lab)

    class Learner:
        chunk_size = 50_000

        def predict_proba(self, X):
            return model.predict_proba(X)

    pool = rng.normal(size=(1_000_000, 2)).astype(np.float32)
    tracemalloc.start()
    try:
        idx, _ = EntropyQuery().query(Learner(), pool, 100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(idx) == 100
    assert peak < 12e6, f"peak traced memory {peak / 1e6:.1f} MB"
    # same answer as scoring everything at once
    P = model.predict_proba(pool)
    ref = _reference_top(_reference_scores("entropy", P), 100, np.zeros(len(pool), dtype=bool))
    np.testing.assert_array_equal(np.sort(idx), np.sort(ref))


def test_frozen_learner_queries_like_an_active_learner(tmp_path):
    """A bundle's model, never refit, answers ``query`` with ActiveLearner's signature."""
    import pandas as pd

    from pseudolabel.batch.bundle import load_bundle, train_bundle
    from pseudolabel.exceptions import PseudolabelWarning
    from pseudolabel.frozen_learner import FrozenLearner

    X, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    frame["species"] = y
    frame.to_parquet(tmp_path / "train.parquet")
    with isolated_plugin_manager():
        train_bundle(tmp_path / "train.parquet", backend="lightgbm", target="species",
                     output=tmp_path / "bundle",
                     params={"n_estimators": 5, "min_child_samples": 2, "verbose": -1})
        bundle = load_bundle(tmp_path / "bundle")
        frozen = FrozenLearner(bundle, query_strategy="margin")
        exclude = np.zeros(len(y), dtype=bool)
        exclude[:100] = True
        idx, scores = frozen.query(X, 7, exclude=exclude, return_scores=True)
        assert idx.dtype == np.int64 and idx.shape == (7,) and (idx >= 100).all()
        assert np.all(np.diff(scores) <= 0)
        np.testing.assert_array_equal(frozen.query(X, 7, exclude=exclude), idx)
        np.testing.assert_array_equal(frozen.query(X, 7, exclude=np.arange(100)), idx)

        # the strategy's own ranking of the bundle's probabilities, best first
        reference = make_strategy("margin", kind="query").scores(frozen, X)
        ranked = np.argsort(-np.where(exclude, -np.inf, reference), kind="stable")[:7]
        np.testing.assert_array_equal(idx, ranked)
        np.testing.assert_allclose(frozen.predict_proba(X), bundle.backend.predict_proba(X))
        assert set(frozen.predict(X[idx])) <= set(bundle.classes)

        with pytest.warns(PseudolabelWarning, match="only 50 rows left"):
            assert frozen.query(X, 80, exclude=exclude).shape == (50,)
        with pytest.raises(ParameterError, match="n must be a positive integer"):
            frozen.query(X, 0)
        with pytest.raises(ParameterError, match="committee"):
            FrozenLearner(bundle, query_strategy="qbc")

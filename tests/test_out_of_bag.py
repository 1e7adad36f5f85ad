"""Out-of-bag probabilities of bagged forests (``Backend.out_of_bag_proba``) and their use for
the pool rows a forest trained on (``selftrain.chain.predict_pool``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pseudolabel.exceptions import BackendError, InputError
from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.plugins import as_backend
from pseudolabel.selftrain.chain import Chain, FitData, fit_chain, predict_pool


def reference_oob(forest, X, n_fit):
    """Plain loop: for each fitted row, the mean predict_proba of trees that did not draw it."""
    k = forest.classes_.size
    out = np.zeros((n_fit, k))
    count = np.zeros(n_fit, dtype=np.int64)
    for tree, drawn in zip(forest.estimators_, forest.estimators_samples_):
        drawn = set(int(i) for i in drawn)
        for i in range(n_fit):
            if i not in drawn:
                out[i] += tree.predict_proba(X[i:i + 1].astype(np.float32))[0]
                count[i] += 1
    for i in range(n_fit):
        if count[i]:
            out[i] /= count[i]
    return out, count > 0


def _data(seed, n, d, k):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.arange(n) % k  # every class present
    X[:, 0] += y
    return X, y


@pytest.mark.filterwarnings("ignore:Using the fractional value:UserWarning")
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(8, 40), d=st.integers(1, 4),
       k=st.integers(2, 4), n_trees=st.integers(1, 12), extra=st.booleans(),
       max_samples=st.sampled_from([None, 0.5]))
def test_out_of_bag_matches_a_loop_over_trees(seed, n, d, k, n_trees, extra, max_samples):
    X, y = _data(seed, n, d, k)
    cls = ExtraTreesClassifier if extra else RandomForestClassifier
    backend = as_backend(cls(n_estimators=n_trees, bootstrap=True, max_samples=max_samples,
                             random_state=seed))
    assert backend.capabilities.out_of_bag
    backend.fit(X, y)
    expected, covered = reference_oob(backend.estimator_, X, n)
    rows = np.random.default_rng(seed + 1).permutation(n)[: max(1, n // 2)]
    proba, got_covered = backend.out_of_bag_proba(X[rows], rows)
    np.testing.assert_array_equal(got_covered, covered[rows])
    np.testing.assert_allclose(proba, expected[rows], rtol=0, atol=1e-12)
    # a row no tree left out has no estimate, and is all zeros
    assert np.all(proba[~got_covered] == 0)


def test_out_of_bag_equals_scikit_learns_oob_decision_function():
    X, y = _data(3, 120, 3, 3)
    backend = as_backend(RandomForestClassifier(n_estimators=40, oob_score=True,
                                                random_state=0)).fit(X, y)
    proba, covered = backend.out_of_bag_proba(X, np.arange(120))
    assert covered.all()
    np.testing.assert_allclose(proba, backend.estimator_.oob_decision_function_, atol=1e-12)
    # and it differs from the in-sample vote share, which is near 1 on the training label
    in_sample = backend.predict_proba(X)
    assert in_sample[np.arange(120), y].mean() > proba[np.arange(120), y].mean() + 0.1


def test_pipeline_and_absent_class_columns():
    X, y = _data(5, 60, 2, 2)
    backend = as_backend(make_pipeline(StandardScaler(), RandomForestClassifier(
        n_estimators=30, random_state=0)))
    assert backend.capabilities.out_of_bag
    backend.fit(X, y, classes=np.array([0, 1, 2]))
    proba, covered = backend.out_of_bag_proba(X, np.arange(60))
    assert proba.shape == (60, 3) and np.all(proba[:, 2] == 0)
    forest = backend.estimator_[-1]
    expected, _ = reference_oob(forest, backend.estimator_[:-1].transform(X), 60)
    np.testing.assert_allclose(proba[:, :2], expected, atol=1e-12)


def test_models_without_out_of_bag_rows_say_so():
    X, y = _data(1, 30, 2, 2)
    for estimator in (LogisticRegression(), RandomForestClassifier(bootstrap=False)):
        backend = as_backend(estimator).fit(X, y)
        assert not backend.capabilities.out_of_bag
        with pytest.raises(BackendError, match="out-of-bag"):
            backend.out_of_bag_proba(X, np.arange(30))


def test_out_of_bag_rows_are_checked():
    X, y = _data(2, 30, 2, 2)
    backend = as_backend(RandomForestClassifier(n_estimators=5, random_state=0)).fit(X, y)
    with pytest.raises(InputError, match=r"\[0, 30\)"):
        backend.out_of_bag_proba(X[:2], np.array([0, 30]))
    with pytest.raises(InputError, match="positions"):
        backend.out_of_bag_proba(X[:2], np.array([0]))


def test_predict_pool_uses_out_of_bag_votes_for_the_pseudo_set():
    """Wrong pseudo-labels the forest trained on: in-sample their vote share favours the wrong
    label; the pool prediction must be the out-of-bag one for exactly those rows."""
    rng = np.random.default_rng(0)
    X_pool = rng.normal(size=(80, 2))
    truth = (X_pool[:, 0] > 0).astype(np.int64)
    X_labeled = rng.normal(size=(20, 2))
    y_labeled = (X_labeled[:, 0] > 0).astype(np.int64)
    data = FitData(X_labeled=X_labeled, X_pool=X_pool, y_encoded=y_labeled,
                   labeled_rows=np.arange(20), pool_rows=np.arange(20, 100),
                   sample_weight=None, n_classes=2,
                   prototype=as_backend(RandomForestClassifier(n_estimators=60)),
                   seed=0, n_more=1)
    held = np.array([50, 3, 17, 64, 9, 33])  # not sorted: positions follow the set's order
    wrong = 1 - truth[held]
    pseudo = PseudoSet.empty().update(held, wrong, None, np.ones(held.size), round=1,
                                      rebuild=True)
    chain = Chain(np.arange(20), np.empty(0, np.int64), None)
    chain.backend = fit_chain(data, chain, pseudo, from_scratch=True)
    chain.pseudo_set = pseudo
    rows = np.arange(80)
    proba = predict_pool(data, chain, rows, continued=False)
    plain = chain.backend.predict_proba(X_pool)
    others = np.setdiff1d(rows, held)
    np.testing.assert_array_equal(proba[others], plain[others])
    X_fit = np.vstack([X_labeled, X_pool[pseudo.rows]])
    expected, covered = reference_oob(chain.backend.estimator_, X_fit, X_fit.shape[0])
    assert covered[20:].all()
    np.testing.assert_allclose(proba[pseudo.rows], expected[20:], atol=1e-12)
    # in sample the forest backs its wrong labels; out of bag it does much less
    assert (plain[held, wrong].mean()
            > proba[held, wrong].mean() + 0.2)
    # continued training, or a model without out-of-bag rows: the plain prediction
    np.testing.assert_array_equal(predict_pool(data, chain, rows, continued=True), plain)

"""Committee agreement against a numpy reference, and on real data (scikit-learn digits)."""

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
from pseudolabel.strategies.committee import (
    CommitteeStrategy,
    committee_mask,
    stratified_bootstrap,
)


def reference_mask(members, proba, agreement, threshold, max_std):
    M, n, c = members.shape
    ok = np.zeros(n, bool)
    mean = members.mean(axis=0)
    for i in range(n):
        label = int(np.argmax(mean[i]))
        votes = sum(int(np.argmax(members[m, i]) == label) for m in range(M)) / M
        spread = float(np.std([members[m, i, label] for m in range(M)]))
        ok[i] = (int(np.argmax(proba[i])) == label and votes >= agreement - 1e-12
                 and mean[i, label] >= threshold and spread <= max_std)
    return ok


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(2, 6), n=st.integers(0, 50),
       c=st.integers(2, 5), agreement=st.sampled_from([0.5, 0.8, 1.0]),
       threshold=st.floats(0, 1), max_std=st.floats(0, 0.5))
def test_mask_matches_the_numpy_reference(seed, M, n, c, agreement, threshold, max_std):
    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.ones(c), size=n)
    members = np.stack([0.7 * base + 0.3 * rng.dirichlet(np.ones(c), size=n) for _ in range(M)])
    proba = 0.5 * base + 0.5 * rng.dirichlet(np.ones(c), size=n)
    ok, mean = committee_mask(members, proba, agreement=agreement, threshold=threshold,
                              max_std=max_std)
    np.testing.assert_array_equal(ok, reference_mask(members, proba, agreement, threshold,
                                                     max_std))
    np.testing.assert_allclose(mean, members.mean(axis=0))


def test_stratified_bootstrap_keeps_class_counts():
    y = np.array([0, 0, 0, 1, 1, 2])
    rows = stratified_bootstrap(y, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(y[rows]), np.bincount(y))


def make_member():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))


def digits_split(seed=0, n_labeled=60):
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    labeled, pool = order[:n_labeled], order[n_labeled:]
    return X[labeled], y[labeled], X[pool], y[pool]


def test_committee_precision_on_digits_is_close_to_plain_threshold_at_equal_count():
    # Measured (5 seeds, logistic regression, 5% labels): committee 97.8% vs the model's own
    # top-confidence rows 98.3% at the same count: agreement does not beat a well-calibrated
    # model's confidence ranking here, so the test holds it within one point, not above.
    X_l, y_l, X_p, y_p = digits_split()
    model = make_member().fit(X_l, y_l)
    proba = model.predict_proba(X_p)
    strategy = make_strategy("committee", kind="selection", n_members=5)
    strategy.start(n_classes=10, n_labeled=len(y_l), n_unlabeled=len(y_p),
                   class_prior=np.bincount(y_l, minlength=10) / len(y_l), random_state=0)
    context = RoundContext(X_l, y_l, X_p, make_member=make_member)
    decision = strategy.select(proba, round=1, context=context)
    m = decision.n_selected
    assert 20 <= m < len(y_p)
    precision = np.mean(decision.labels == y_p[decision.indices])
    # plain threshold at the same count: the m most confident rows of the model alone
    top = np.argsort(-proba.max(axis=1), kind="stable")[:m]
    baseline = np.mean(proba[top].argmax(axis=1) == y_p[top])
    assert precision >= 0.95 and precision >= baseline - 0.01, (precision, baseline, m)
    # the same seed gives the same decision
    strategy.start(n_classes=10, n_labeled=len(y_l), n_unlabeled=len(y_p), random_state=0)
    again = strategy.select(proba, round=1, context=context)
    np.testing.assert_array_equal(again.indices, decision.indices)


def test_committee_needs_a_context_with_a_member_factory():
    strategy = CommitteeStrategy()
    strategy.start(n_classes=2, n_labeled=4, n_unlabeled=3)
    proba = np.full((3, 2), 0.5)
    with pytest.raises(ParameterError, match="RoundContext"):
        strategy.select(proba, round=1)
    X = np.zeros((4, 2))
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ParameterError, match="make_member"):
        strategy.select(proba, round=1, context=RoundContext(X, y, np.zeros((3, 2))))
    with pytest.raises(InputError, match="X_pool has 2 rows"):
        strategy.select(proba, round=1, context=RoundContext(X, y, np.zeros((2, 2)),
                                                             make_member=make_member))
    with pytest.raises(InputError, match="y_labeled"):
        RoundContext(X, y[:3], np.zeros((3, 2)))
    for bad in (dict(n_members=1), dict(agreement=0), dict(threshold=2), dict(max_std=-1)):
        with pytest.raises(ParameterError, match=next(iter(bad))):
            CommitteeStrategy(**bad).start(n_classes=2, n_labeled=4, n_unlabeled=3)

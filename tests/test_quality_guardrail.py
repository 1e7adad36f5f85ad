"""Tests for issue 11's parts 1, 3 and 4: calibration measures per round, the small-set
guardrail (leave-one-out, stronger evidence), smaller batches after a rollback, and the
``strategy="auto"`` portfolio."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pseudolabel import PseudoLabeler
from pseudolabel.calibration import brier_score, expected_calibration_error
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.loop.records import RoundResult
from pseudolabel.loop.round import shrink_round
from pseudolabel.selftrain.guardrail import (
    LEAVE_ONE_OUT_MAX_ROWS,
    SMALL_EVIDENCE_ROWS,
    Evaluation,
    accept,
    make_splits,
)
from pseudolabel.selftrain.portfolio import PORTFOLIO, Member, best_member, portfolio_names
from _support.strategies import WrongLabels


def _lr():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


def _proba(draw_shape):
    n, c = draw_shape
    return arrays(np.float64, (n, c), elements=st.floats(0.01, 1.0))


@st.composite
def proba_and_labels(draw):
    n = draw(st.integers(1, 40))
    c = draw(st.integers(2, 5))
    raw = draw(_proba((n, c)))
    P = raw / raw.sum(axis=1, keepdims=True)
    y = draw(arrays(np.int64, n, elements=st.integers(0, c - 1)))
    return P, y


# --------------------------------------------------------------------------------------
# calibration measures (part 1)


def _ece_reference(P, y, n_bins=10):
    """Plain loop: rows binned by top probability into ((b-1)/B, b/B], first bin has 0."""
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        rows = [i for i in range(len(y))
                if (lo < P[i].max() <= hi) or (b == 0 and P[i].max() <= hi)]
        if not rows:
            continue
        acc = np.mean([np.argmax(P[i]) == y[i] for i in rows])
        conf = np.mean([P[i].max() for i in rows])
        total += len(rows) / len(y) * abs(acc - conf)
    return total


@settings(max_examples=60, deadline=None)
@given(proba_and_labels())
def test_ece_matches_reference(data):
    P, y = data
    assert expected_calibration_error(P, y) == pytest.approx(_ece_reference(P, y), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(proba_and_labels())
def test_brier_matches_reference(data):
    P, y = data
    reference = np.mean([sum((P[i, c] - (c == y[i])) ** 2 for c in range(P.shape[1]))
                         for i in range(len(y))])
    assert brier_score(P, y) == pytest.approx(reference, abs=1e-12)


def test_ece_of_an_overconfident_model_is_large():
    P = np.array([[0.99, 0.01]] * 10)
    y = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(P, y) == pytest.approx(0.49)
    assert expected_calibration_error(np.array([[0.5, 0.5]] * 2), np.array([0, 1])) == 0.0


def test_calibration_measures_refuse_bad_labels():
    with pytest.raises(InputError, match="column indices"):
        expected_calibration_error(np.array([[0.5, 0.5]]), np.array([2]))
    with pytest.raises(InputError, match="n_bins"):
        expected_calibration_error(np.array([[0.5, 0.5]]), np.array([0]), n_bins=0)


# --------------------------------------------------------------------------------------
# the small-set guardrail (part 3)


def test_small_label_sets_get_leave_one_out_splits():
    y = np.repeat(np.arange(3), 2)  # 2 labels a class: 3-fold cv is impossible
    splits = make_splits("cv", y, 3, 0, n_folds=3, holdout_fraction=0.25)
    assert splits is not None and len(splits) == y.size
    for i, (train, val) in enumerate(splits):
        np.testing.assert_array_equal(val, [i])
        assert set(y[train]) == {0, 1, 2}
        assert i not in train
    y_big = np.repeat(np.arange(2), LEAVE_ONE_OUT_MAX_ROWS)
    assert len(make_splits("cv", y_big, 2, 0, n_folds=3, holdout_fraction=0.25)) == 3
    # a class with one labeled row cannot be left out: no guardrail rather than a blind fold
    assert make_splits("cv", np.array([0, 0, 1]), 2, 0, n_folds=3, holdout_fraction=0.25) is None


def _evaluation(correct, brier):
    correct = np.asarray(correct, bool)
    truth = np.zeros(correct.size, np.int64)
    proba = np.tile([0.5, 0.5], (correct.size, 1))
    return Evaluation(float(correct.mean()), brier, proba, truth, correct)


def test_small_evidence_needs_a_lower_brier_and_no_lost_row():
    n = SMALL_EVIDENCE_ROWS - 1
    base = _evaluation([True] * (n - 2) + [False, False], 0.30)
    # equal accuracy and a Brier score within the tolerance: enough on many rows, not on few
    same = _evaluation([True] * (n - 2) + [False, False], 0.301)
    assert not accept(same, base, base, tolerance=0.01)
    better = _evaluation([True] * (n - 2) + [False, False], 0.29)
    assert accept(better, base, base, tolerance=0.01)
    lost_one = _evaluation([True] * (n - 3) + [False] * 3, 0.20)  # one row lost, none gained
    assert not accept(lost_one, base, base, tolerance=0.01)
    m = SMALL_EVIDENCE_ROWS
    base_many = _evaluation([True] * (m - 2) + [False, False], 0.30)
    same_many = _evaluation([True] * (m - 2) + [False, False], 0.301)
    assert accept(same_many, base_many, base_many, tolerance=0.01)


def test_iris_with_two_labels_a_class_is_guarded():
    X, y = load_iris(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.default_rng(0)
    y_part = np.full_like(y_tr, -1)
    for c in range(3):
        rows = rng.choice(np.flatnonzero(y_tr == c), 2, replace=False)
        y_part[rows] = c
    model = PseudoLabeler(_lr(), random_state=0).fit(X_tr, y_part)
    assert model.guardrail_ == "cv"
    assert model.baseline_score_ is not None  # judged by 6 leave-one-out chains
    assert all(r["decision"] in {"accepted", "rolled_back"} for r in model.history_)


# --------------------------------------------------------------------------------------
# smaller batches after a rollback (part 3)


@st.composite
def round_results(draw):
    n_pool = draw(st.integers(1, 30))
    c = draw(st.integers(1, 4))
    size = draw(st.integers(0, n_pool))
    rows = np.array(draw(st.permutations(range(n_pool)))[:size], np.int64)
    labels = draw(arrays(np.int64, size, elements=st.integers(0, c - 1)))
    confidence = draw(arrays(np.float64, size, elements=st.sampled_from([0.3, 0.5, 0.7, 0.9])))
    share = draw(st.sampled_from([1.0, 0.5, 0.25, 0.1]))
    return n_pool, c, rows, labels, confidence, share


@settings(max_examples=80, deadline=None)
@given(round_results(), st.booleans())
def test_shrink_round_keeps_the_most_confident_share_per_class(data, rebuild):
    n_pool, c, rows, labels, confidence, share = data
    previous = PseudoSet.empty()
    result = RoundResult(
        round=1, n_predicted=n_pool,
        pseudo_set=previous.update(rows, labels, None, confidence, round=1, rebuild=rebuild),
        rows=rows, labels=labels, confidence=confidence, n_new=rows.size,
        per_class=np.bincount(labels, minlength=c),
    )
    small = shrink_round(previous, result, share, rebuild=rebuild)
    expected = set()
    for k in range(c):  # numpy reference: sort by (-confidence, position) within the class
        positions = np.flatnonzero(labels == k)
        order = sorted(positions, key=lambda i: (-confidence[i], i))
        expected |= {int(rows[i]) for i in order[: int(np.ceil(share * positions.size))]}
    assert set(small.rows.tolist()) == expected
    assert set(small.pseudo_set.rows.tolist()) == expected
    assert small.per_class.sum() == len(expected)
    labels_of = dict(zip(rows.tolist(), labels.tolist()))
    assert all(labels_of[r] == lab for r, lab in zip(small.rows.tolist(), small.labels.tolist()))


def test_shrink_round_refuses_a_bad_share():
    result = RoundResult(round=1, n_predicted=0, pseudo_set=PseudoSet.empty(),
                         per_class=np.zeros(2, np.int64))
    with pytest.raises(ParameterError, match="share"):
        shrink_round(PseudoSet.empty(), result, 0.0, rebuild=True)


@pytest.fixture(scope="module")
def wine_split():
    X, y = load_wine(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.default_rng(0)
    y_part = np.full_like(y_tr, -1)
    for c in np.unique(y_tr):
        rows = rng.choice(np.flatnonzero(y_tr == c), 8, replace=False)
        y_part[rows] = c
    return X_tr, y_part, X_te, y_te


def test_a_rejected_round_tries_smaller_batches(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy=WrongLabels(), max_attempts=3, max_iter=2,
                          random_state=0).fit(X_tr, y_part)
    record = model.history_[0]
    assert record["decision"] == "rolled_back"
    assert record["attempts"] == 3
    n_pool = int((y_part == -1).sum())
    assert record["n_pseudo"] == n_pool  # the record reports the strategy's own batch
    assert record["validation_score"] < record["reference_score"]
    assert (model.labeled_iter_ <= 0).all()
    one = PseudoLabeler(_lr(), strategy=WrongLabels(), max_attempts=1, max_iter=2,
                        random_state=0).fit(X_tr, y_part)
    assert one.history_[0]["attempts"] == 1
    assert one.history_[0]["n_pseudo"] == n_pool


def test_history_reports_calibration_per_round(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy="threshold", max_iter=3, random_state=0)
    model.fit(X_tr, y_part)
    for record in model.history_:
        assert 0.0 <= record["validation_ece"] <= 1.0
        assert 0.0 <= record["reference_ece"] <= 1.0
        assert record["validation_brier"] >= 0.0
        assert record["strategy"] == "threshold"


# --------------------------------------------------------------------------------------
# the portfolio (part 4)


def test_auto_tries_every_registered_member_and_keeps_one(wine_split):
    X_tr, y_part, X_te, y_te = wine_split
    model = PseudoLabeler(_lr(), random_state=0).fit(X_tr, y_part)
    names = portfolio_names()
    assert names and set(names) <= set(PORTFOLIO)
    assert [m["strategy"] for m in model.portfolio_] == names
    assert model.strategy_ in names
    assert all(r["strategy"] == model.strategy_ for r in model.history_)
    kept = next(m for m in model.portfolio_ if m["strategy"] == model.strategy_)
    for member in model.portfolio_:
        if member["n_accepted"]:
            assert (member["validation_score"], -member["validation_brier"]) <= (
                kept["validation_score"], -kept["validation_brier"])
    supervised = _lr().fit(X_tr[y_part != -1], y_part[y_part != -1]).score(X_te, y_te)
    assert model.score(X_te, y_te) >= supervised - 0.02


def test_auto_refuses_strategy_params(wine_split):
    X_tr, y_part, *_ = wine_split
    with pytest.raises(ParameterError, match="strategy_params"):
        PseudoLabeler(_lr(), strategy_params={"threshold": 0.9}).fit(X_tr, y_part)


def test_best_member_keeps_the_labels_alone_when_nothing_helped():
    good = _evaluation([True, True, False], 0.2)
    better = _evaluation([True, True, True], 0.3)
    none = Member("a", good, 0, {})
    assert best_member([none, Member("b", None, 0, {})]) is none
    helped = Member("b", good, 2, {})
    assert best_member([none, helped]) is helped
    best = Member("c", better, 1, {})
    assert best_member([none, helped, best]) is best
    tie = Member("d", better, 1, {})
    assert best_member([best, tie]) is best  # ties keep the earlier member


def test_a_round_below_the_labels_alone_is_never_kept():
    """On many rows, a round that loses one row on balance against the labels-only model
    is rejected even within one standard error and within the Brier tolerance."""
    m = 100
    base = _evaluation([True] * 90 + [False] * 10, 0.20)
    # lost 2 rows, gained 1: within one standard error (sqrt(3)) of the labels alone
    below = _evaluation([False, False] + [True] * 88 + [True] + [False] * 9, 0.2005)
    assert below.correct.sum() == 89 and below.truth.size == m
    assert not accept(below, base, base, tolerance=0.01)
    # the same swap with a row gained back: no loss on balance, Brier within the tolerance
    level = _evaluation([False, False] + [True] * 88 + [True, True] + [False] * 8, 0.2005)
    assert accept(level, base, base, tolerance=0.01)


def test_beats_labels_alone_is_the_paired_sign_test():
    from pseudolabel.selftrain.portfolio import beats_labels_alone

    base = _evaluation([True] * 8 + [False] * 4, 0.2)
    two_gained = Member("a", _evaluation([True] * 10 + [False] * 2, 0.1), 1, {})
    one_gained = Member("b", _evaluation([True] * 9 + [False] * 3, 0.1), 1, {})
    swapped = Member("c", _evaluation([False] + [True] * 9 + [False] * 2, 0.1), 1, {})
    assert beats_labels_alone(two_gained, base)  # 2 > sqrt(2)
    assert not beats_labels_alone(one_gained, base)  # 1 > sqrt(1) is false
    assert not beats_labels_alone(swapped, base)  # gained 2, lost 1: 1 < sqrt(3)
    assert beats_labels_alone(Member("d", None, 0, {}), base)  # the labels alone already
    assert beats_labels_alone(one_gained, None)  # no evidence: nothing to test


def test_portfolio_keeps_the_labels_alone_when_its_best_is_not_significant():
    """iris, 10% labels, a random forest (a quality-grid cell that lost 6.7 points when the
    portfolio kept a member whose leave-one-out evidence only tied the labels alone)."""
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=2)
    rng = np.random.default_rng(2)
    labeled = np.zeros(len(y_tr), dtype=bool)
    for c in np.unique(y_tr):
        rows = np.flatnonzero(y_tr == c)
        labeled[rng.choice(rows, size=max(2, round(0.1 * rows.size)), replace=False)] = True
    forest = RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=2)
    model = PseudoLabeler(clone(forest), random_state=2).fit(X_tr, np.where(labeled, y_tr, -1))
    assert len(model.portfolio_) > 1
    assert model.termination_condition_ == "guardrail"
    assert np.all(model.labeled_iter_[~labeled] == -1)  # no pseudo-label in the final model
    alone = clone(forest).fit(X_tr[labeled], y_tr[labeled])
    np.testing.assert_array_equal(model.predict(X_te), alone.predict(X_te))
    assert model.score(X_te, y_te) == alone.score(X_te, y_te)

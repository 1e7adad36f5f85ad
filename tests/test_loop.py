"""The loop core: PseudoSet updates, run_round, and the records (pseudolabel.loop)."""

from __future__ import annotations

import numpy as np
import pytest

from pseudolabel.exceptions import ParameterError, PluginError
from pseudolabel.loop import PseudoSet, RoundRecord, WeightSummary, cap_per_class, run_round
from pseudolabel.strategies.base import Decision, SelectionStrategy
from pseudolabel.strategies.selection import ThresholdStrategy


def _set(rows, labels, round_, weights=None):
    rows = np.asarray(rows)
    return PseudoSet.empty().update(rows, labels, weights, np.full(rows.size, 0.9),
                                    round=round_, rebuild=True)


def test_accumulate_appends_in_order_with_the_round():
    first = PseudoSet.empty().update([4, 1], [0, 1], None, [0.9, 0.8], round=1, rebuild=False)
    second = first.update([2], [1], np.array([0.5]), [0.7], round=2, rebuild=False)
    np.testing.assert_array_equal(second.rows, [4, 1, 2])
    np.testing.assert_array_equal(second.labels, [0, 1, 1])
    np.testing.assert_array_equal(second.round, [1, 1, 2])
    np.testing.assert_array_equal(second.weights, [1.0, 1.0, 0.5])
    np.testing.assert_array_equal(second.confidence, [0.9, 0.8, 0.7])
    assert first.size == 2  # immutable: a rolled-back round keeps the old set


def test_rebuild_keeps_a_rows_round_while_its_label_is_unchanged():
    before = _set([0, 1, 2], [0, 1, 1], 1)
    after = before.update([2, 1, 5], [1, 0, 0], None, [0.9, 0.9, 0.9], round=3, rebuild=True)
    np.testing.assert_array_equal(after.rows, [2, 1, 5])
    # row 2 kept label 1 (round 1), row 1 changed label, row 5 is new
    np.testing.assert_array_equal(after.round, [1, 3, 3])
    assert after.changed_labels(before) == 2
    assert not after.same_labels(before)
    again = after.update([5, 2, 1], [0, 1, 0], None, [0.5] * 3, round=4, rebuild=True)
    assert again.same_labels(after) and again.key() == after.key()
    np.testing.assert_array_equal(again.round, [3, 1, 3])


def test_exclude_mask_drop_and_labels_over():
    held = _set([3, 0], [1, 0], 1)
    human = np.zeros(5, dtype=bool)
    human[4] = True
    np.testing.assert_array_equal(held.exclude_mask(5), [True, False, False, True, False])
    np.testing.assert_array_equal(held.exclude_mask(5, also=human),
                                  [True, False, False, True, True])
    human[3] = True
    kept = held.drop(human)
    np.testing.assert_array_equal(kept.rows, [0])
    np.testing.assert_array_equal(held.labels_over(5), [0, -1, -1, 1, -1])


def test_training_weights_concatenate_labeled_and_pseudo_rows():
    plain = _set([1, 2], [0, 1], 1)
    assert plain.training_weights(None, 3) is None
    np.testing.assert_array_equal(plain.training_weights(np.array([2.0, 2.0, 2.0]), 3),
                                  [2, 2, 2, 1, 1])
    weighted = _set([1, 2], [0, 1], 1, weights=np.array([0.5, 0.25]))
    pool = np.array([10.0, 3.0, 4.0])
    np.testing.assert_array_equal(weighted.training_weights(None, 2, pool), [1, 1, 1.5, 1.0])
    assert PseudoSet.empty().training_weights(None, 2) is None


def _proba(n_pool, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, size=n_pool)
    return np.column_stack([p, 1 - p])


def _started(strategy, n_pool):
    strategy.start(n_classes=2, n_labeled=4, n_unlabeled=n_pool, random_state=0)
    return strategy


def test_run_round_accumulates_until_nothing_is_new():
    proba = _proba(50)
    strategy = _started(ThresholdStrategy(threshold=0.8), 50)
    predicted = []

    def predict(rows):
        predicted.append(rows)
        return proba[rows]

    first = run_round(PseudoSet.empty(), strategy=strategy, predict=predict, n_pool=50,
                      n_classes=2, round=1, rebuild=False)
    expected = np.flatnonzero(proba.max(axis=1) > 0.8)
    np.testing.assert_array_equal(np.sort(first.rows), expected)
    assert first.stop is None and first.n_new == expected.size
    second = run_round(first.pseudo_set, strategy=strategy, predict=predict, n_pool=50,
                       n_classes=2, round=2, rebuild=False)
    # only the undecided rows are predicted, and nothing new clears the threshold
    np.testing.assert_array_equal(predicted[1], np.setdiff1d(np.arange(50), expected))
    assert second.stop == "no_change" and second.pseudo_set.size == expected.size


def test_run_round_predict_all_excludes_held_rows_and_caps_per_class():
    proba = _proba(60, seed=1)
    strategy = _started(ThresholdStrategy(threshold=0.6), 60)
    first = run_round(PseudoSet.empty(), strategy=strategy, predict=lambda r: proba[r],
                      n_pool=60, n_classes=2, round=1, rebuild=False, predict_all=True,
                      max_per_class=3)
    assert first.n_predicted == 60
    assert np.all(np.bincount(first.labels, minlength=2) <= 3)
    second = run_round(first.pseudo_set, strategy=strategy, predict=lambda r: proba[r],
                       n_pool=60, n_classes=2, round=2, rebuild=False, predict_all=True)
    assert not np.isin(second.rows, first.rows).any()


def test_run_round_with_a_full_pool_stops():
    held = _set(np.arange(4), [0, 1, 0, 1], 1)
    result = run_round(held, strategy=None, predict=None, n_pool=4, n_classes=2, round=2,
                       rebuild=False)
    assert result.stop == "all_labeled" and result.pseudo_set is held


class _Picks(SelectionStrategy):
    """Selects fixed rows (or returns something that is not a Decision)."""

    name = "picks"

    def __init__(self, rows=(0,), labels=(0,)):
        self.rows = rows
        self.labels = labels

    def _select(self, proba, *, round, exclude):
        if self.rows is None:
            return {"indices": [0]}
        return Decision(indices=np.asarray(self.rows, np.int64),
                        labels=np.asarray(self.labels, np.int64), weights=None,
                        thresholds=None, info={})


@pytest.mark.parametrize("strategy, match", [
    (_Picks(rows=(7,)), "selected row 7 outside the 5 rows"),
    (_Picks(labels=(2,)), "label outside 0..1"),
    (_Picks(rows=None), "must return a Decision"),
])
def test_run_round_refuses_a_broken_decision(strategy, match):
    _started(strategy, 5)
    with pytest.raises(ParameterError, match=match):
        run_round(PseudoSet.empty(), strategy=strategy, predict=lambda r: _proba(5)[r],
                  n_pool=5, n_classes=2, round=1, rebuild=True)


def test_run_round_refuses_a_strategy_that_labels_a_blocked_row():
    strategy = _started(_Picks(rows=(2,)), 5)
    blocked = np.zeros(5, dtype=bool)
    blocked[2] = True
    with pytest.raises(PluginError, match="pool row 2, which has a human label"):
        run_round(PseudoSet.empty(), strategy=strategy, predict=lambda r: _proba(5)[r],
                  n_pool=5, n_classes=2, round=1, rebuild=True, blocked=blocked)


def test_cap_per_class_keeps_the_most_confident():
    labels = np.array([0, 0, 0, 1, 1])
    confidence = np.array([0.5, 0.9, 0.7, 0.6, 0.6])
    np.testing.assert_array_equal(cap_per_class(labels, confidence, 2),
                                  [False, True, True, True, True])
    np.testing.assert_array_equal(cap_per_class(labels, confidence, 1),
                                  [False, True, False, True, False])


def test_round_record_has_the_history_shape():
    record = RoundRecord(
        round=1, n_predicted=10, n_selected=3, n_new=3, selected_per_class={0: 2, 1: 1},
        n_pseudo=3, thresholds=0.9, sample_weight=WeightSummary.of(None, 3),
        validation_score=0.8, reference_score=0.7, validation_brier=0.3, reference_brier=0.4,
        accepted=True, decision="accepted", temperature=None, seconds=0.1,
    )
    entry = record.as_dict()
    assert entry["sample_weight"] == {"min": 1.0, "mean": 1.0, "max": 1.0, "sum": 3.0}
    assert list(entry) == [
        "round", "n_predicted", "n_selected", "n_new", "selected_per_class", "n_pseudo",
        "thresholds", "sample_weight", "validation_score", "reference_score",
        "validation_brier", "reference_brier", "accepted", "decision", "temperature",
        "seconds", "validation_ece", "reference_ece", "strategy", "attempts",
    ]

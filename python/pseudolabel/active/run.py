"""The active-learning loop of ``ActiveLearner.run``: query, ask, teach, pseudo-label, refit.

Each round queries ``batch_size`` rows never asked before, asks the oracle, teaches the
answers, re-decides the pseudo-labels (with ``pseudo_label`` set), refits once, scores the
test set, predicts the stop set (the stabilizing-predictions signal,
:mod:`pseudolabel.active.stopping`) and fires ``pseudolabel_round_end``; with a label store the
batch, the answers and the pseudo-labels are recorded. The loop ends when the budget is spent,
the pool is exhausted, or (``stop="stabilized"``) the model has stopped changing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from pseudolabel.active.curve import LearningCurve, make_scorer, plain_thresholds
from pseudolabel.active.labels import check_answers
from pseudolabel.active.stopping import (
    DEFAULT_STOP_SET_SIZE,
    StabilizingPredictions,
)
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.strategies.query import n_rows, take_rows

__all__ = ["STOP_RULES", "RunSettings", "emit_query", "estimator_name", "run_loop",
           "run_settings"]

#: what ``run(stop=...)`` accepts
STOP_RULES = (None, "stabilized")


@dataclass(frozen=True)
class RunSettings:
    """The checked arguments of one ``run`` call."""

    budget: int
    batch_size: int
    scorer: Callable[[Any, Any, Any], float]
    stop: str | None
    stop_threshold: float
    stop_window: int


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_store(store: Any, ids: Any, total: int) -> np.ndarray | None:
    if store is None:
        if ids is not None:
            raise ParameterError("ids= is only used together with store=")
        return None
    if ids is None:
        raise ParameterError("run(store=...) needs ids=: the item id of every pool row")
    ids = np.asarray(ids)
    if ids.shape != (total,):
        raise ParameterError(f"ids has shape {ids.shape}, expected ({total},): one id per pool row")
    if np.unique(ids).shape[0] != total:
        raise ParameterError("ids must be unique: one id per pool row")
    return ids


def _stop_rows(X_pool: Any, total: int, stop_set: Any) -> Any:
    """The stop set's rows: ``stop_set`` itself, or evenly spaced pool rows (no random draw,
    so tracking the signal never changes the loop's random sequence)."""
    if stop_set is not None:
        if n_rows(stop_set) == 0:
            raise InputError("stop_set is empty: the stopping signal needs rows to predict")
        return stop_set
    size = min(total, DEFAULT_STOP_SET_SIZE)
    rows = np.unique(np.linspace(0, total - 1, size).round().astype(np.int64))
    return take_rows(X_pool, rows)


def run_loop(
    learner: Any,
    X_pool: Any,
    oracle: Callable[[np.ndarray], Any],
    settings: RunSettings,
    *,
    X_test: Any = None,
    y_test: Any = None,
    store: Any = None,
    ids: Any = None,
    annotator: str = "oracle",
    stop_set: Any = None,
) -> LearningCurve:
    """Drive ``learner``'s loop over ``X_pool`` (see :meth:`ActiveLearner.run`)."""
    from pseudolabel.plugins import emit_round_end

    total = n_rows(X_pool)
    if total == 0:
        raise InputError("X_pool is empty: there is nothing to query")
    space = np.asarray(learner._known)
    ids = _check_store(store, ids, total)
    if store is not None:
        store.add_classes([str(c) for c in space.tolist()])
    queried = np.zeros(total, dtype=bool)
    abstained = np.zeros(total, dtype=bool)
    pseudo = learner._pseudo_template is not None
    if pseudo:
        learner._start_pseudo(total)
    tracker = StabilizingPredictions(settings.stop_threshold, settings.stop_window)
    X_stop = _stop_rows(X_pool, total, stop_set)
    spent = 0
    records: list[dict[str, Any]] = []

    def record(round_: int, n_sel: int, per_class: dict, thresholds: Any, t0: float) -> None:
        score = None if X_test is None else float(settings.scorer(learner, X_test, y_test))
        agreement = tracker.observe(learner.predict(X_stop))
        learner.stopping_ = tracker.signal
        rec = {
            "round": round_,
            "n_labels": int(learner.y_labeled_.shape[0]),
            "n_queried": int(spent),
            "n_abstained": int(abstained.sum()),
            "n_pseudo": int(learner.pseudo_indices_.shape[0]),
            "score": score,
            "thresholds": thresholds,
            "model_version": learner.model_version_,
            "agreement": agreement,
        }
        records.append(rec)
        learner.history_.append(rec)
        emit_round_end(
            source="active_learning",
            estimator=learner._estimator_name(),
            round=round_,
            n_selected=n_sel,
            n_selected_per_class=per_class,
            thresholds=plain_thresholds(thresholds),
            score=score,
            seconds=time.perf_counter() - t0,
            extra={k: rec[k] for k in ("n_labels", "n_queried", "n_abstained", "n_pseudo",
                                       "agreement")},
        )

    record(0, 0, {}, None, time.perf_counter())
    round_ = 0
    stopped: str | None = None
    while spent < settings.budget:
        t0 = time.perf_counter()
        n = min(settings.batch_size, settings.budget - spent)
        available = total - int(queried.sum())
        if available == 0:
            stopped = "pool_exhausted"
            break
        round_ += 1
        learner.round_ += 1
        indices, scores = learner._query(X_pool, min(n, available), exclude=queried, warn=False)
        guesses = learner._emit_query(X_pool, indices, scores, round=round_)
        answers = oracle(indices.copy())
        values, ok = check_answers(answers, indices, space)
        # everything validated: now change state
        version = f"{learner._estimator_name()}-v{learner.model_version_}"
        batch = None
        if store is not None:
            batch = store.record_batch(
                ids[indices], scores=scores, guesses=[str(g) for g in guesses.tolist()],
                model_version=version,
            )
            if ok.any():
                store.add_labels(
                    ids[indices[ok]], [str(v) for v in values[ok].tolist()],
                    source="human", annotator=annotator, round=batch.round,
                    model_version=version, origin="ActiveLearner.run",
                )
        queried[indices] = True
        abstained[indices[~ok]] = True
        spent += int(indices.shape[0])
        got = indices[ok]
        if got.shape[0]:
            learner._teach(take_rows(X_pool, got), values[ok], refit=False, first=False)
        thresholds = None
        if pseudo:
            learner.update_pseudo_labels(X_pool, exclude=queried, round=round_, refit=False)
            thresholds = learner.pseudo_thresholds_
            if store is not None and batch is not None and learner.pseudo_indices_.shape[0]:
                store.add_labels(
                    ids[learner.pseudo_indices_],
                    [str(v) for v in learner.pseudo_labels_.tolist()],
                    source="pseudo", round=batch.round, confidence=learner.pseudo_confidence_,
                    model_version=version, allow_new_ids=True, origin="ActiveLearner.run",
                )
        learner.refit()
        per_class: dict[Any, int] = {}
        if got.shape[0]:
            cls, counts = np.unique(values[ok], return_counts=True)
            per_class = {c: int(k) for c, k in zip(cls.tolist(), counts.tolist())}
        record(round_, int(indices.shape[0]), per_class, thresholds, t0)
        if settings.stop == "stabilized" and learner.stopping_.stopped:
            stopped = "stabilized"
            break
    return LearningCurve.from_records(records, scored=X_test is not None, stopped=stopped)


def run_settings(
    *, budget: Any, batch_size: Any, X_test: Any, y_test: Any, scoring: Any, stop: Any,
    stop_threshold: Any, stop_window: Any,
) -> RunSettings:
    """Check ``run``'s arguments (every error before any state changes)."""
    from pseudolabel.active.stopping import _check_params

    budget = _positive("budget", budget)
    batch_size = _positive("batch_size", batch_size)
    if (X_test is None) != (y_test is None):
        raise ParameterError("pass both X_test and y_test, or neither")
    if stop not in STOP_RULES:
        raise ParameterError(f"stop must be None or 'stabilized', got {stop!r}")
    _check_params(stop_threshold, stop_window)
    return RunSettings(budget, batch_size, make_scorer(scoring), stop, float(stop_threshold),
                       int(stop_window))


def first_batch_strategy(cold_start: Any, query_strategy: Any) -> Any:
    """The started strategy of a learner's first batch (``cold_start``), or ``None``."""
    from pseudolabel._validation import copy_strategy
    from pseudolabel.plugins import make_strategy

    if isinstance(cold_start, str) and cold_start == "auto":
        cold_start = None if getattr(query_strategy, "name", None) == "random" else "typiclust"
    return None if cold_start is None else copy_strategy(make_strategy(cold_start, kind="query"))


def estimator_name(template: Any) -> str:
    """The model's name in events: the wrapped estimator's class, else the backend's."""
    inner = template.get_params().get("estimator")
    return type(inner).__name__ if inner is not None else type(template).__name__


def emit_query(
    learner: Any, X_pool: Any, indices: np.ndarray, scores: np.ndarray, *, round: int
) -> np.ndarray:
    """Fire ``pseudolabel_labels_selected`` for a query; returns the model's guesses."""
    from pseudolabel.plugins import emit_labels_selected

    guesses = (
        learner.predict(take_rows(X_pool, indices))
        if indices.shape[0]
        else np.empty(0, dtype=learner.classes_.dtype)
    )
    emit_labels_selected(
        source="active_learning",
        round=round,
        indices=indices,
        labels=guesses,
        confidence=scores,
        estimator=estimator_name(learner._template),
    )
    return guesses

"""The one self-training round: predict the pool, let the strategy decide, update the pseudo-set.

:func:`run_round` is shared by ``SelfTrainingClassifier`` and ``PseudoLabeler`` (and fits
``ActiveLearner``'s pseudo-labels: pass the human-labeled rows as ``blocked``). The loop owns
the model and the data; it hands in ``predict(pool_rows) -> probabilities`` and gets back a
:class:`~pseudolabel.loop.records.RoundResult` with the candidate pseudo-set, which it keeps or
drops (a guardrail rolls a round back by keeping the old set).

Which rows are predicted:

* ``rebuild`` strategies see the whole pool, nothing excluded (the set is re-decided);
* accumulating strategies with ``predict_all`` see the whole pool with the held rows
  excluded (whole-pool statistics stay whole-pool);
* otherwise only the rows without a pseudo-label are predicted (scikit-learn's economy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pseudolabel.exceptions import ParameterError, PluginError
from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.loop.records import RoundResult
from pseudolabel.strategies.base import Decision

__all__ = ["run_round", "cap_per_class", "shrink_round"]


def cap_per_class(labels: np.ndarray, confidence: np.ndarray, cap: int) -> np.ndarray:
    """Mask keeping, per label, the ``cap`` most confident rows (ties: lower position)."""
    order = np.lexsort((np.arange(labels.size), -confidence, labels))
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.arange(labels.size) - starts
    keep = np.zeros(labels.size, dtype=bool)
    keep[order[rank < cap]] = True
    return keep


def _check_decision(decision: Any, strategy: Any, n_rows: int, n_classes: int) -> None:
    name = type(strategy).__name__
    if not isinstance(decision, Decision):
        raise ParameterError(
            f"{name}.select() must return a Decision, got {type(decision).__name__}"
        )
    indices, labels = decision.indices, decision.labels
    if indices.size and (indices.min() < 0 or indices.max() >= n_rows):
        raise ParameterError(
            f"strategy {name} selected row {int(indices.max())} outside the {n_rows} rows it "
            "was given"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ParameterError(f"strategy {name} returned label outside 0..{n_classes - 1}")


def run_round(
    pseudo_set: PseudoSet,
    *,
    strategy: Any,
    predict: Callable[[np.ndarray], np.ndarray],
    n_pool: int,
    n_classes: int,
    round: int,
    rebuild: bool,
    predict_all: bool = False,
    max_per_class: int | None = None,
    blocked: np.ndarray | None = None,
    context: Callable[[np.ndarray], Any] | None = None,
) -> RoundResult:
    """Run one round of self-training over a pool of ``n_pool`` rows.

    Parameters
    ----------
    pseudo_set : PseudoSet
        The pseudo-labels held before the round.
    strategy : SelectionStrategy
        A started strategy; ``strategy.select(proba, round=, exclude=)`` decides.
    predict : callable
        ``predict(rows)`` returns the class probabilities of the pool rows ``rows`` (int64
        positions), shape ``(rows.size, n_classes)``.
    n_pool, n_classes : int
        Pool size and number of classes (columns of the probabilities).
    round : int
        The round number (from 1).
    rebuild : bool
        Re-decide the whole set (``True``) or add to it (``False``).
    predict_all : bool, default=False
        Accumulating strategies: predict the whole pool with held rows excluded, instead of
        only the rows without a pseudo-label.
    max_per_class : int or None
        Keep at most this many new rows per class (the most confident).
    blocked : bool mask of shape (n_pool,), optional
        Rows never to pseudo-label (a human labeled them); the strategy gets them as
        ``exclude`` and selecting one is a :class:`PluginError`.
    context : callable, optional
        ``context(rows)`` returns the :class:`~pseudolabel.strategies.base.RoundContext`
        for the predicted pool rows ``rows``; called only for strategies with
        ``needs_context`` (which then fail with :class:`ParameterError` without it).

    Returns
    -------
    RoundResult
    """
    held = pseudo_set.exclude_mask(n_pool)
    if rebuild or predict_all:
        rows = np.arange(n_pool, dtype=np.int64)
        exclude = blocked if rebuild else (held if blocked is None else held | blocked)
    else:
        undecided = ~held if blocked is None else ~(held | blocked)
        rows = np.flatnonzero(undecided).astype(np.int64)
        exclude = None
    if rows.size == 0:
        return RoundResult(round, 0, pseudo_set, per_class=np.zeros(n_classes, np.int64),
                           stop="all_labeled", stop_message="every pool row is labeled")

    proba = predict(rows)
    if getattr(strategy, "needs_context", False):
        if context is None:
            raise ParameterError(
                f"selection strategy {type(strategy).__name__} needs a RoundContext (features, "
                "labels, a member factory) and this loop supplies none"
            )
        decision = strategy.select(proba, round=round, exclude=exclude, context=context(rows))
    else:
        decision = strategy.select(proba, round=round, exclude=exclude)
    _check_decision(decision, strategy, rows.size, n_classes)
    indices = np.asarray(decision.indices, dtype=np.int64)
    labels = np.asarray(decision.labels, dtype=np.int64)
    weights = None if decision.weights is None else np.asarray(decision.weights, np.float64)
    if blocked is not None and indices.size and blocked[rows[indices]].any():
        row = int(rows[indices][np.flatnonzero(blocked[rows[indices]])[0]])
        raise PluginError(
            f"selection strategy {type(strategy).__name__} pseudo-labeled pool row {row}, which "
            "has a human label and was excluded; a strategy must honour exclude"
        )
    if exclude is not None and not rebuild and indices.size:
        keep = ~held[rows[indices]]
        indices, labels = indices[keep], labels[keep]
        weights = None if weights is None else weights[keep]
    confidence = proba[indices, labels].astype(np.float64)
    if max_per_class is not None and indices.size:
        keep = cap_per_class(labels, confidence, max_per_class)
        indices, labels, confidence = indices[keep], labels[keep], confidence[keep]
        weights = None if weights is None else weights[keep]
    selected = rows[indices]
    updated = pseudo_set.update(selected, labels, weights, confidence, round=round,
                                rebuild=rebuild)
    result = dict(
        round=round, n_predicted=int(rows.size), pseudo_set=updated, rows=selected,
        labels=labels, confidence=confidence, weights=weights,
        per_class=np.bincount(labels, minlength=n_classes), thresholds=decision.thresholds,
    )
    if rebuild:
        return RoundResult(**result, n_new=updated.changed_labels(pseudo_set))
    if selected.size == 0:
        return RoundResult(**result, n_new=0, stop="no_change",
                           stop_message="no new pseudo-label was selected")
    return RoundResult(**result, n_new=int(selected.size))


def shrink_round(
    previous: PseudoSet, result: RoundResult, share: float, *, rebuild: bool
) -> RoundResult:
    """``result`` with a smaller batch: per class, the most confident ``ceil(share * n_c)`` rows.

    A guardrail that rolled a round back tries this next candidate (no new prediction or
    strategy call): ``previous`` is the pseudo-set before the round, ``share`` in (0, 1].
    """
    if not 0.0 < share <= 1.0:
        raise ParameterError(f"share must be in (0, 1], got {share!r}")
    counts = np.bincount(result.labels, minlength=result.per_class.size)
    quota = np.ceil(share * counts - 1e-9).astype(np.int64)
    order = np.lexsort((np.arange(result.labels.size), -result.confidence, result.labels))
    sorted_labels = result.labels[order]
    rank = np.arange(sorted_labels.size) - np.searchsorted(sorted_labels, sorted_labels)
    keep = np.zeros(result.labels.size, dtype=bool)
    keep[order[rank < quota[sorted_labels]]] = True
    rows, labels = result.rows[keep], result.labels[keep]
    confidence = result.confidence[keep]
    weights = None if result.weights is None else result.weights[keep]
    updated = previous.update(rows, labels, weights, confidence, round=result.round,
                              rebuild=rebuild)
    n_new = updated.changed_labels(previous) if rebuild else int(rows.size)
    return RoundResult(
        round=result.round, n_predicted=result.n_predicted, pseudo_set=updated, rows=rows,
        labels=labels, confidence=confidence, weights=weights, n_new=n_new,
        per_class=np.bincount(labels, minlength=result.per_class.size),
        thresholds=result.thresholds,
    )

"""The per-round report of ``PseudoLabeler``: the ``history_`` record and the plugin events.

:func:`round_record` turns a round's :class:`~pseudolabel.loop.records.RoundResult` and the
guardrail's verdict into a :class:`~pseudolabel.loop.records.RoundRecord`; :func:`emit_round`
fires ``pseudolabel_labels_selected`` and ``pseudolabel_round_end`` for it.
"""

from __future__ import annotations

import numpy as np

from pseudolabel.loop.records import RoundRecord, RoundResult, WeightSummary, plain
from pseudolabel.selftrain.guardrail import Evaluation

__all__ = ["emit_round", "round_record"]

#: RoundRecord fields that go to RoundSummary.extra
_EXTRA = ("decision", "n_new", "n_pseudo", "reference_score", "validation_brier",
          "sample_weight", "temperature", "validation_ece", "strategy", "attempts")


def round_record(
    result: RoundResult, classes: np.ndarray, evaluation: Evaluation | None,
    reference: Evaluation | None, decision: str, temperature: float | None, seconds: float,
    *, strategy: str | None = None, attempts: int = 1,
) -> RoundRecord:
    """The ``history_`` record of a round (the main chain's selection).

    ``evaluation`` is the round's guardrail evaluation and ``reference`` the last accepted
    round's (both ``None`` without a guardrail); ``decision`` is ``"accepted"``,
    ``"rolled_back"`` or ``"unchecked"``; ``strategy`` names the portfolio member that ran it
    and ``attempts`` counts the candidate batches tried (a rolled-back batch is retried
    smaller).
    """
    pseudo_set = result.pseudo_set
    return RoundRecord(
        round=result.round,
        n_predicted=result.n_predicted,
        n_selected=result.n_selected,
        n_new=result.n_new,
        selected_per_class={plain(c): int(n) for c, n in zip(classes, result.per_class)},
        n_pseudo=pseudo_set.size,
        thresholds=plain(result.thresholds),
        sample_weight=WeightSummary.of(pseudo_set.weights, pseudo_set.size),
        validation_score=None if evaluation is None else evaluation.accuracy,
        reference_score=(
            None if evaluation is None or reference is None else reference.accuracy
        ),
        validation_brier=None if evaluation is None else evaluation.brier,
        reference_brier=None if reference is None else reference.brier,
        accepted=decision != "rolled_back",
        decision=decision,
        temperature=temperature,
        seconds=seconds,
        validation_ece=None if evaluation is None else _finite(evaluation.ece),
        reference_ece=None if reference is None else _finite(reference.ece),
        strategy=strategy,
        attempts=attempts,
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def emit_round(
    record: RoundRecord, result: RoundResult, classes: np.ndarray, pool_rows: np.ndarray,
    estimator: str,
) -> None:
    """Fire the plugin events of one round; ``pool_rows`` map pool positions to training rows."""
    from pseudolabel import plugins

    if result.n_selected:
        plugins.emit_labels_selected(
            source="self_training",
            round=record.round,
            indices=pool_rows[result.rows],  # rows of X (+ X_unlabeled)
            labels=classes[result.labels],
            confidence=result.confidence,
            estimator=estimator,
            strategy=record.strategy or "",
        )
    entry = record.as_dict()
    plugins.emit_round_end(
        source="self_training",
        estimator=estimator,
        round=record.round,
        n_selected=record.n_selected,
        n_selected_per_class=record.selected_per_class,
        thresholds=record.thresholds,
        score=record.validation_score,
        accepted=record.accepted,
        seconds=record.seconds,
        extra={key: entry[key] for key in _EXTRA},
    )

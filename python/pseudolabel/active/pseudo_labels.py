"""``ActiveLearner``'s pseudo-labels (CEAL, Wang et al. 2016), on the shared loop core.

With ``pseudo_label=<selection strategy>`` every round also pseudo-labels the pool rows the
model is most sure of. The state is a :class:`~pseudolabel.loop.pseudoset.PseudoSet` over the
pool and one round is :func:`~pseudolabel.loop.round.run_round`, exactly as in the
self-training loops: the strategy sees the whole pool's probabilities, rows with a human label
(or a human refusal) are ``blocked`` (never pseudo-labeled: human labels always win), a
``rebuild`` strategy (``ceal``) re-decides the set each round and an accumulating one adds to
it. This module maps that state onto the learner's label space and training rows and runs the
learner's pseudo-label round (:func:`pseudo_label_round`); :class:`PseudoLabelingMixin` gives
``ActiveLearner`` its public ``update_pseudo_labels``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pseudolabel._validation import copy_strategy
from pseudolabel.exceptions import ParameterError
from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.loop.records import RoundResult
from pseudolabel.loop.round import run_round
from pseudolabel.strategies.base import exclude_mask
from pseudolabel.strategies.query import iter_row_chunks, n_rows, take_rows

__all__ = [
    "PseudoLabelingMixin",
    "PseudoLabels",
    "pseudo_label_round",
    "start_pseudo_labels",
    "training_rows",
    "update_pseudo_labels",
]


@dataclass(frozen=True)
class PseudoLabels:
    """The pseudo-labels a learner holds over one pool.

    ``pseudo_set`` labels are column indices of ``classes``; ``X`` holds the pseudo-labeled
    pool rows as the model sees them (for the refit); ``round`` is the strategy's last round.
    """

    strategy: Any
    n_pool: int
    classes: np.ndarray
    pseudo_set: PseudoSet
    X: Any = None
    round: int = 0
    thresholds: Any = None

    @property
    def labels(self) -> np.ndarray:
        """The pseudo-labels as class values."""
        if self.pseudo_set.size == 0:
            return np.empty(0, dtype=self.classes.dtype)
        return self.classes[self.pseudo_set.labels]


def start_pseudo_labels(
    template: Any, *, classes: np.ndarray, y_labeled: np.ndarray, n_pool: int,
    rng: np.random.Generator,
) -> PseudoLabels:
    """A fresh copy of the selection strategy, started for a pool of ``n_pool`` rows."""
    if template is None:
        raise ParameterError(
            "pseudo-labeling needs ActiveLearner(pseudo_label=<selection strategy>), e.g. "
            "pseudo_label='ceal'"
        )
    strategy = copy_strategy(template)
    prior = np.array([(y_labeled == c).sum() for c in classes], dtype=np.float64)
    strategy.start(
        n_classes=len(classes),
        n_labeled=int(y_labeled.shape[0]),
        n_unlabeled=int(n_pool),
        class_prior=prior if prior.sum() > 0 else None,
        random_state=rng,
    )
    return PseudoLabels(strategy, int(n_pool), np.asarray(classes), PseudoSet.empty())


def _pool_proba(predict_proba: Any, X_pool: Any, chunk_size: int, n_classes: int) -> np.ndarray:
    """The model's probabilities of the whole pool, predicted ``chunk_size`` rows at a time."""
    out: np.ndarray | None = None
    for start, stop, chunk in iter_row_chunks(X_pool, chunk_size):
        P = np.asarray(predict_proba(chunk))
        if out is None:
            out = np.empty((n_rows(X_pool), P.shape[1]), dtype=P.dtype)
        out[start:stop] = P
    return np.empty((0, n_classes)) if out is None else out


def update_pseudo_labels(
    state: PseudoLabels,
    X_pool: Any,
    *,
    human: np.ndarray | None,
    round: int,
    predict_proba: Any,
    prepare: Any,
    chunk_size: int,
) -> tuple[PseudoLabels, RoundResult]:
    """One CEAL round: re-decide the pseudo-labels of ``X_pool`` with the current model.

    ``human``: pool mask of rows with a human label or refusal (blocked, and dropped from an
    accumulated set). Returns the new state and the round's result (its ``rows``/``labels``
    are the rows selected this round, for the ``labels_selected`` event).
    """
    strategy = state.strategy
    n_classes = len(state.classes)
    held = state.pseudo_set.drop(human)
    proba = _pool_proba(predict_proba, X_pool, chunk_size, n_classes)
    result = run_round(
        held,
        strategy=strategy,
        predict=lambda rows: proba[rows],
        n_pool=state.n_pool,
        n_classes=n_classes,
        round=int(round),
        rebuild=bool(strategy.rebuild),
        predict_all=True,
        blocked=human,
    )
    pseudo_set = result.pseudo_set
    X = prepare(take_rows(X_pool, pseudo_set.rows)) if pseudo_set.size else None
    new_state = PseudoLabels(strategy, state.n_pool, state.classes, pseudo_set, X,
                             int(round), result.thresholds)
    return new_state, result


def training_rows(state: PseudoLabels | None) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """``(X, labels, weights)`` of the pseudo-labels to train on (``X`` is ``None`` when
    there are none; ``weights`` is ``None`` when every weight is 1)."""
    if state is None or state.pseudo_set.size == 0:
        return None, np.empty(0), None
    return state.X, state.labels, state.pseudo_set.weights


def pseudo_label_round(
    learner: Any, X_pool: Any, *, exclude: Any, round: int | None
) -> PseudoLabels:
    """One CEAL round of ``learner`` over ``X_pool``; returns its new pseudo-label state.

    A new pool (other size) or label space starts the strategy's schedule over; ``round``
    defaults to one more than last time. Fires ``pseudolabel_labels_selected`` when rows were
    pseudo-labeled. The learner sets the state and refits.
    """
    from pseudolabel.plugins import emit_labels_selected

    total = n_rows(X_pool)
    human = exclude_mask(exclude, total)
    state = learner._pseudo
    if (state is None or state.n_pool != total
            or not np.array_equal(state.classes, learner.classes_)):
        state = learner._start_pseudo(total)  # a new pool (or label space): start over
    round = state.round + 1 if round is None else int(round)
    state, result = update_pseudo_labels(
        state, X_pool, human=human, round=round, predict_proba=learner.predict_proba,
        prepare=learner._prepare_X, chunk_size=learner.chunk_size,
    )
    if result.rows.shape[0]:
        emit_labels_selected(
            source="ceal",
            round=int(round),
            indices=result.rows,
            labels=learner.classes_[result.labels],
            confidence=result.confidence,
            estimator=learner._estimator_name(),
        )
    return state


class PseudoLabelingMixin:
    """``ActiveLearner``'s CEAL methods: start the schedule, re-decide the pseudo-labels."""

    def _start_pseudo(self, n_pool: int) -> PseudoLabels:
        """Start the selection strategy's schedule over a pool of ``n_pool`` rows."""
        learner: Any = self
        state = start_pseudo_labels(learner._pseudo_template, classes=learner.classes_,
                                    y_labeled=learner.y_labeled_, n_pool=n_pool,
                                    rng=learner.rng_)
        learner._set_pseudo(state)
        return state

    def update_pseudo_labels(
        self,
        X_pool: Any,
        *,
        exclude: Any = None,
        round: int | None = None,
        refit: bool = True,
    ) -> Any:
        """Re-decide the pseudo-labels of ``X_pool`` (one CEAL round) and optionally refit.

        For manual loops; :meth:`run` calls it every round. The selection strategy sees the
        current model's probabilities of the whole pool; rows in ``exclude`` (those a human
        labeled or declined) are never pseudo-labeled, so human labels always win. A
        ``rebuild`` strategy (``ceal``) replaces the pseudo-set; an accumulating one adds to
        it. The round is :func:`pseudolabel.loop.run_round`, as in the self-training loops.

        Parameters
        ----------
        X_pool : array-like of shape (n_rows, n_features)
        exclude : bool mask or int indices, optional
            Pool rows with a human label (or a human refusal).
        round : int, optional
            Round number for the strategy's schedule; default: one more than last time.
        refit : bool, default=True
            Refit on human labels + pseudo-labels afterwards.

        Returns
        -------
        self
        """
        learner: Any = self
        learner._check_model("pseudo-label")
        learner._set_pseudo(pseudo_label_round(learner, X_pool, exclude=exclude, round=round))
        if refit:
            learner.refit()
        return self

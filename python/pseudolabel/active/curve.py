"""What ``ActiveLearner.run`` reports: the :class:`LearningCurve`, and the scorer it records.

One entry per round (round 0 = the model before any query): the budget spent, the labels
obtained, the abstentions, the pseudo-labels, the test score and, with a stop set, the
agreement of the round's model with the previous one (the stabilizing-predictions signal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pseudolabel.exceptions import ParameterError

__all__ = ["LearningCurve", "make_scorer", "plain_thresholds"]


@dataclass(frozen=True)
class LearningCurve:
    """What :meth:`ActiveLearner.run` did, one entry per round (round 0 = before any query).

    Attributes
    ----------
    rounds : ndarray of int64
        Round numbers ``0, 1, ...``.
    n_labels : ndarray of int64
        Human (and seed) labels the model was trained on after the round.
    n_queried : ndarray of int64
        Rows sent to the oracle so far, abstentions included (the budget spent).
    n_abstained : ndarray of int64
        Rows the oracle declined to label so far.
    n_pseudo : ndarray of int64
        Pseudo-labeled rows in the model after the round (0 without ``pseudo_label``).
    scores : ndarray of float64 or None
        Test score after the round; ``None`` when ``run`` got no test set.
    thresholds : list
        The pseudo-label threshold(s) of each round (``None`` without ``pseudo_label``).
    agreement : ndarray of float64 or None
        Cohen's kappa between the round's model and the previous round's on the stop set
        (NaN for round 0); ``None`` when ``run`` tracked no stopping signal.
    stopped : str or None
        Why the loop ended before the budget: ``"stabilized"`` (the model stopped changing),
        ``"pool_exhausted"``; ``None`` when the budget was spent.
    """

    rounds: np.ndarray
    n_labels: np.ndarray
    n_queried: np.ndarray
    n_abstained: np.ndarray
    n_pseudo: np.ndarray
    scores: np.ndarray | None = None
    thresholds: list = field(default_factory=list)
    agreement: np.ndarray | None = None
    stopped: str | None = None

    @classmethod
    def from_records(
        cls, records: list[dict[str, Any]], *, scored: bool, stopped: str | None = None
    ) -> LearningCurve:
        """The curve of ``run``'s per-round records (``history_`` entries)."""

        def column(key: str, dtype: Any) -> np.ndarray:
            return np.array([r[key] for r in records], dtype=dtype)

        tracked = any(r.get("agreement") is not None for r in records)
        return cls(
            rounds=column("round", np.int64),
            n_labels=column("n_labels", np.int64),
            n_queried=column("n_queried", np.int64),
            n_abstained=column("n_abstained", np.int64),
            n_pseudo=column("n_pseudo", np.int64),
            scores=column("score", np.float64) if scored else None,
            thresholds=[r["thresholds"] for r in records],
            agreement=np.array(
                [np.nan if r.get("agreement") is None else r["agreement"] for r in records],
                dtype=np.float64,
            ) if tracked else None,
            stopped=stopped,
        )

    def auc(self, *, x: str = "n_queried", normalize: bool = True) -> float:
        """Area under the learning curve (trapezoid rule).

        Parameters
        ----------
        x : {"n_queried", "n_labels"}, default="n_queried"
            The x axis: the budget spent, or the labels actually obtained.
        normalize : bool, default=True
            Divide by the x range, giving the mean score over the curve (comparable across
            budgets).
        """
        if self.scores is None:
            raise ParameterError("this learning curve has no scores: run() got no test set")
        if x not in ("n_queried", "n_labels"):
            raise ParameterError(f"x must be 'n_queried' or 'n_labels', got {x!r}")
        xs = np.asarray(getattr(self, x), dtype=np.float64)
        ys = np.asarray(self.scores, dtype=np.float64)
        if xs.shape[0] < 2 or xs[-1] == xs[0]:
            return float(ys[-1])
        area = float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0))
        return area / float(xs[-1] - xs[0]) if normalize else area

    def to_frame(self) -> Any:
        """The curve as a pandas DataFrame, one row per round."""
        import pandas as pd

        data = {
            "round": self.rounds,
            "n_labels": self.n_labels,
            "n_queried": self.n_queried,
            "n_abstained": self.n_abstained,
            "n_pseudo": self.n_pseudo,
        }
        if self.scores is not None:
            data["score"] = self.scores
        if self.agreement is not None:
            data["agreement"] = self.agreement
        return pd.DataFrame(data)

    def plot(self, *, x: str = "n_queried", ax: Any = None) -> Any:
        """The curve as a matplotlib ``Axes`` (:func:`pseudolabel.plot.plot_learning_curve`).

        Needs matplotlib (``pip install "pseudolabel[plot]"``); never calls ``show``.
        """
        from pseudolabel.plot import plot_learning_curve

        return plot_learning_curve(self, x=x, ax=ax)

    def __len__(self) -> int:
        return int(self.rounds.shape[0])


def make_scorer(scoring: Any) -> Callable[[Any, Any, Any], float]:
    """``scorer(estimator, X, y)`` for ``scoring``: ``None`` (accuracy), a name or a callable."""
    if scoring is None:
        return lambda est, X, y: est.score(X, y)
    if isinstance(scoring, str):
        from sklearn.metrics import get_scorer

        try:
            return get_scorer(scoring)
        except ValueError as exc:
            raise ParameterError(f"unknown scoring {scoring!r}: {exc}") from exc
    if callable(scoring):
        return scoring
    raise ParameterError(f"scoring must be None, a scorer name or a callable, got {scoring!r}")


def plain_thresholds(thresholds: Any) -> Any:
    """A strategy's thresholds as a float, a tuple of floats or ``None`` (for events)."""
    if thresholds is None:
        return None
    arr = np.asarray(thresholds, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else tuple(arr.tolist())

"""Typed records of the self-training loops: what a round decided and what a round reported.

* :class:`RoundResult`: what :func:`pseudolabel.loop.round.run_round` returns (the candidate
  pseudo-set and this round's selection);
* :class:`WeightSummary`: min / mean / max / sum of the pseudo-label weights;
* :class:`RoundRecord`: one ``PseudoLabeler.history_`` entry; ``as_dict()`` is its public
  shape (a dict with string keys, as ``history_`` has always held).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pseudolabel.loop.pseudoset import PseudoSet

__all__ = ["RoundResult", "RoundRecord", "WeightSummary", "plain"]


def plain(value: Any) -> Any:
    """A numpy value or array as a plain Python value (for records users read or serialise)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class RoundResult:
    """One round's decision, before the loop accepts or rolls it back.

    ``rows``, ``labels``, ``confidence`` and ``weights`` are this round's selection (pool
    positions, label columns, probability of the label, strategy weights or ``None``);
    ``pseudo_set`` is the set the loop holds if it keeps the round. ``stop`` says why there is
    nothing to train on: ``"all_labeled"`` (no pool row left to predict) or ``"no_change"``
    (an accumulating strategy selected nothing new); ``None`` otherwise.
    """

    round: int
    n_predicted: int
    pseudo_set: PseudoSet
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    confidence: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    weights: np.ndarray | None = None
    n_new: int = 0
    per_class: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    thresholds: Any = None
    stop: str | None = None
    stop_message: str = ""

    @property
    def n_selected(self) -> int:
        """Rows selected this round."""
        return int(self.rows.shape[0])


@dataclass(frozen=True)
class WeightSummary:
    """Summary of the pseudo-label sample weights of a pseudo-set."""

    min: float
    mean: float
    max: float
    sum: float

    @classmethod
    def of(cls, weights: np.ndarray | None, n_rows: int) -> WeightSummary:
        """Summary of ``weights`` over ``n_rows`` rows (``None``: every weight is 1)."""
        if n_rows == 0:
            return cls(float("nan"), float("nan"), float("nan"), 0.0)
        if weights is None:
            return cls(1.0, 1.0, 1.0, float(n_rows))
        return cls(float(weights.min()), float(weights.mean()), float(weights.max()),
                   float(weights.sum()))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class RoundRecord:
    """One round of ``PseudoLabeler``: the selection, the guardrail's verdict, the timing.

    ``decision`` is ``"accepted"``, ``"rolled_back"`` or ``"unchecked"`` (no guardrail);
    scores are ``None`` without a guardrail.
    """

    round: int
    n_predicted: int
    n_selected: int
    n_new: int
    selected_per_class: dict[Any, int]
    n_pseudo: int
    thresholds: Any
    sample_weight: WeightSummary
    validation_score: float | None
    reference_score: float | None
    validation_brier: float | None
    reference_brier: float | None
    accepted: bool
    decision: str
    temperature: float | None
    seconds: float
    validation_ece: float | None = None
    reference_ece: float | None = None
    strategy: str | None = None
    attempts: int = 1

    def as_dict(self) -> dict[str, Any]:
        """The ``history_`` entry: every field by name, ``sample_weight`` as a dict."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["sample_weight"] = self.sample_weight.as_dict()
        return out

"""Event payloads (frozen, read-only records of a round) and the functions that fire the event hooks.

The loops describe each round with a :class:`RoundSummary` and the rows they labeled with a
:class:`LabelsSelected`, then call :func:`emit_round_end` / :func:`emit_labels_selected`, which
build the record and call ``pseudolabel_round_end`` / ``pseudolabel_labels_selected`` on the
process-wide plugin manager. Payload arrays are read-only copies, so an observer cannot change
the run it watches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from pseudolabel.plugins import get_plugin_manager

__all__ = ["RoundSummary", "LabelsSelected", "emit_round_end", "emit_labels_selected"]


def _readonly_array(values: Any, dtype: Any = None) -> np.ndarray:
    """Return a read-only 1-D copy of ``values`` (never a view of the caller's array)."""
    arr = np.array(values, dtype=dtype, copy=True)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    arr.setflags(write=False)
    return arr


def _readonly_mapping(values: Mapping[Any, Any] | None) -> Mapping[Any, Any]:
    return MappingProxyType({key: _freeze(value) for key, value in dict(values or {}).items()})


def _freeze(value: Any) -> Any:
    """Read-only copy of nested containers: mappings, lists/tuples/sets and numpy arrays."""
    if isinstance(value, np.ndarray):
        arr = value.copy()
        arr.setflags(write=False)
        return arr
    if isinstance(value, Mapping):
        return _readonly_mapping(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class RoundSummary:
    """Read-only summary of one self-training or active-learning round.

    Attributes
    ----------
    source : str
        The loop that ran the round: ``"self_training"``, ``"active_learning"``, or a name
        chosen by a third-party loop.
    estimator : str
        Class name of the model (or backend) fitted in this round.
    round : int
        Round number, starting at 0 for the fit on the labeled data only.
    n_selected : int
        Number of rows pseudo-labeled (self-training) or queried (active learning) this round.
    n_selected_per_class : Mapping
        Class label -> number of rows selected for that class this round (read-only).
    thresholds : float, tuple of float or None
        Confidence threshold(s) used, one per class when per-class, ``None`` when the
        strategy has no threshold.
    score : float or None
        Validation score after the round, ``None`` when no validation data was given.
    accepted : bool
        Whether the round's model was kept (``False`` when a validation check rolled it back).
    seconds : float
        Wall-clock seconds the round took.
    extra : Mapping
        Anything else the loop wants to report (read-only).
    """

    source: str
    estimator: str
    round: int
    n_selected: int
    n_selected_per_class: Mapping[Any, int] = field(default_factory=dict)
    thresholds: float | tuple[float, ...] | None = None
    score: float | None = None
    accepted: bool = True
    seconds: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # frozen: assign the normalized values through object.__setattr__
        set_ = object.__setattr__
        set_(self, "round", int(self.round))
        set_(self, "n_selected", int(self.n_selected))
        set_(
            self,
            "n_selected_per_class",
            _readonly_mapping({_plain(k): int(v) for k, v in dict(self.n_selected_per_class).items()}),
        )
        thresholds = self.thresholds
        if thresholds is not None:
            arr = np.asarray(thresholds, dtype=np.float64)
            thresholds = float(arr) if arr.ndim == 0 else tuple(float(t) for t in arr.ravel())
        set_(self, "thresholds", thresholds)
        set_(self, "score", None if self.score is None else float(self.score))
        set_(self, "accepted", bool(self.accepted))
        set_(self, "seconds", float(self.seconds))
        set_(self, "extra", _readonly_mapping(self.extra))


@dataclass(frozen=True)
class LabelsSelected:
    """Read-only record of the rows a loop just labeled (pseudo-labels or queried rows).

    Attributes
    ----------
    source : str
        The loop that selected the rows (see :class:`RoundSummary`).
    round : int
        Round number.
    indices : numpy.ndarray
        int64 row indices into the unlabeled pool / dataset the loop works on (read-only).
    labels : numpy.ndarray
        The label given to each row, in the user's label space (class labels, not column
        indices); for active-learning queries, the model's current guess (read-only).
    confidence : numpy.ndarray
        float64 score of each row: the predicted probability of its label for self-training,
        the query score for active learning (read-only).
    estimator : str
        Class name of the model that produced the labels (may be empty).
    strategy : str
        The selection strategy that chose the rows (may be empty); ``PseudoLabeler(
        strategy="auto")`` runs several (``portfolio_``), so a round number alone does not
        say which run a selection belongs to.
    """

    source: str
    round: int
    indices: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    estimator: str = ""
    strategy: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        indices = _readonly_array(self.indices, dtype=np.int64)
        labels = _readonly_array(self.labels)
        confidence = _readonly_array(self.confidence, dtype=np.float64)
        if not (len(indices) == len(labels) == len(confidence)):
            raise ValueError(
                "LabelsSelected needs indices, labels and confidence of the same length, got "
                f"{len(indices)}, {len(labels)} and {len(confidence)}"
            )
        set_(self, "round", int(self.round))
        set_(self, "indices", indices)
        set_(self, "labels", labels)
        set_(self, "confidence", confidence)

    def __len__(self) -> int:
        return len(self.indices)


def _plain(value: Any) -> Any:
    """numpy scalar -> Python scalar, so summaries print and serialize cleanly."""
    return value.item() if isinstance(value, np.generic) else value


def emit_round_end(**fields: Any) -> RoundSummary:
    """Build a :class:`RoundSummary` and call ``pseudolabel_round_end``.

    The loops call this once per round; ``fields`` are the ``RoundSummary`` fields. Returns the
    summary (handy for the caller's own history).
    """
    summary = RoundSummary(**fields)
    get_plugin_manager().hook.pseudolabel_round_end(summary=summary)
    return summary


def emit_labels_selected(**fields: Any) -> LabelsSelected:
    """Build a :class:`LabelsSelected` and call ``pseudolabel_labels_selected``.

    The arrays are copied and made read-only. Returns the record.
    """
    selection = LabelsSelected(**fields)
    get_plugin_manager().hook.pseudolabel_labels_selected(selection=selection)
    return selection

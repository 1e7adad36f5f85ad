"""Every pluggy hook specification of pseudolabel, and the read-only event payloads.

Plugins implement these hooks with :data:`hookimpl`::

    from pseudolabel.hookspecs import hookimpl

    @hookimpl
    def pseudolabel_add_backends(registry):
        registry.add_backend("mymodel", MyBackend, description="my in-house model")

A plugin is any module or object with ``pseudolabel_*`` functions marked by ``hookimpl``. It is
found through the entry-point group ``pseudolabel`` (see :mod:`pseudolabel.plugins`) or
registered explicitly with ``get_plugin_manager().register(obj, name=...)``.

There are two families of hooks:

* **registration hooks** (``pseudolabel_add_backends``, ``pseudolabel_add_strategies``) receive
  a registry object and call its ``add_*`` method. They are called once per plugin manager, the
  first time a backend or strategy is looked up, and again after a plugin is registered or
  unregistered. The built-in backends and strategies are registered through these very hooks.
* **event hooks** (``pseudolabel_round_end``, ``pseudolabel_labels_selected``) are called by the
  self-training and active-learning loops for observers such as experiment trackers. They
  receive frozen dataclasses whose arrays are read-only copies, so an observer cannot change
  the run it watches. An exception raised by an observer propagates and stops the run: a
  tracker that silently loses rounds is worse than one that fails loudly.

No hook is ``firstresult``: every implementation is called and return values are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pseudolabel.plugins import BackendRegistry, StrategyRegistry

__all__ = [
    "PROJECT_NAME",
    "hookspec",
    "hookimpl",
    "RoundSummary",
    "LabelsSelected",
    "pseudolabel_add_backends",
    "pseudolabel_add_strategies",
    "pseudolabel_round_end",
    "pseudolabel_labels_selected",
]

#: One name everywhere: the plugin manager, the entry-point group and the hook prefix.
PROJECT_NAME = "pseudolabel"

#: Marks a function in this module as a hook specification.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin's function as the implementation of a hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


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
    """

    source: str
    round: int
    indices: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    estimator: str = ""

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


# --------------------------------------------------------------------------------------------
# registration hooks


@hookspec
def pseudolabel_add_backends(registry: BackendRegistry) -> None:
    """Register model backends.

    Called once for every registered plugin the first time a backend is looked up (through
    :func:`pseudolabel.plugins.make_backend`, ``as_backend`` or ``pseudolabel plugins``), and
    again after plugins are registered or unregistered. Not ``firstresult``; the return value
    is ignored.

    Parameters
    ----------
    registry : pseudolabel.plugins.BackendRegistry
        Call ``registry.add_backend(name, factory, *, description="")``. ``factory`` is a
        :class:`pseudolabel.backends.Backend` subclass or any callable that takes the backend
        parameters as keyword arguments and returns a ``Backend``. Registering a name that
        another plugin already registered raises :class:`~pseudolabel.exceptions.DuplicateNameError`.
    """


@hookspec
def pseudolabel_add_strategies(registry: StrategyRegistry) -> None:
    """Register pseudo-label selection strategies and active-learning query strategies.

    Called like :func:`pseudolabel_add_backends`, the first time a strategy is looked up.
    Not ``firstresult``; the return value is ignored.

    Parameters
    ----------
    registry : pseudolabel.plugins.StrategyRegistry
        Call ``registry.add_strategy(name, factory, *, kind="selection", description="")``
        with ``kind="selection"`` for a :class:`~pseudolabel.strategies.base.SelectionStrategy`
        and ``kind="query"`` for a :class:`~pseudolabel.strategies.base.QueryStrategy`. Names are
        unique per kind; a duplicate raises :class:`~pseudolabel.exceptions.DuplicateNameError`.
    """


# --------------------------------------------------------------------------------------------
# event hooks


@hookspec
def pseudolabel_round_end(summary: RoundSummary) -> None:
    """Observe the end of one self-training or active-learning round.

    Called by the loops (``SelfTrainingClassifier``, ``PseudoLabeler``, ``ActiveLearner``...)
    after each round, including round 0 (the fit on labeled data only), through
    :func:`pseudolabel.plugins.emit_round_end`. Not ``firstresult``; return values are ignored.

    Parameters
    ----------
    summary : RoundSummary
        Frozen, read-only summary of the round.
    """


@hookspec
def pseudolabel_labels_selected(selection: LabelsSelected) -> None:
    """Observe the rows a loop has just labeled.

    Called through :func:`pseudolabel.plugins.emit_labels_selected` by the self-training loops
    once per round with a non-empty selection (before ``pseudolabel_round_end`` of that round),
    and by active learning for each batch of queried rows and each batch of pseudo-labels.
    Not ``firstresult``; return values are ignored.

    Parameters
    ----------
    selection : LabelsSelected
        Frozen record with read-only copies of the selected row indices, their labels and
        confidences.
    """

"""When labeling stops paying: the stabilizing-predictions stopping signal.

Bloodgood & Vijay-Shanker (2009, "A method for stopping active learning based on stabilizing
predictions and the need for user-adjustable stopping", CoNLL): keep a fixed *stop set* of
unlabeled rows, predict it with every new model, and measure the agreement of successive models
on it with Cohen's kappa. Once the kappa has stayed at or above a threshold (0.99 in the paper)
for ``window`` successive refits (3 in the paper), the model has stopped changing and further
labels are unlikely to change it either.

:class:`StabilizingPredictions` tracks the signal over a run; :class:`StoppingSignal` is its
immutable state (what ``ActiveLearner.stopping_`` and ``pseudolabel status`` report).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError

__all__ = ["StabilizingPredictions", "StoppingSignal", "cohen_kappa"]

#: the paper's defaults: kappa of successive models at least 0.99 over 3 refits
DEFAULT_THRESHOLD = 0.99
DEFAULT_WINDOW = 3
#: rows of the pool kept as the stop set when none is given
DEFAULT_STOP_SET_SIZE = 2000


def cohen_kappa(first: Any, second: Any) -> float:
    """Cohen's kappa of two labelings of the same rows (chance-corrected agreement).

    ``(p_o - p_e) / (1 - p_e)`` with ``p_o`` the share of rows with the same label and ``p_e``
    the agreement expected from the two label distributions. When both labelings give every
    row one and the same class (``p_e = 1``) the kappa is 1 if they agree, else 0.
    """
    a, b = np.asarray(first).reshape(-1), np.asarray(second).reshape(-1)
    if a.shape != b.shape:
        raise InputError(f"cannot compare {a.shape[0]} labels with {b.shape[0]} labels")
    if a.shape[0] == 0:
        raise InputError("cohen_kappa needs at least one row")
    classes, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    codes_a, codes_b = codes[: a.shape[0]], codes[a.shape[0]:]
    n = float(a.shape[0])
    observed = float(np.count_nonzero(codes_a == codes_b)) / n
    share_a = np.bincount(codes_a, minlength=classes.shape[0]) / n
    share_b = np.bincount(codes_b, minlength=classes.shape[0]) / n
    expected = float(np.dot(share_a, share_b))
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def _check_params(threshold: Any, window: Any) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not (
        -1.0 <= float(threshold) <= 1.0
    ):
        raise ParameterError(f"stop_threshold must be a kappa in [-1, 1], got {threshold!r}")
    if isinstance(window, bool) or not isinstance(window, Integral) or window < 1:
        raise ParameterError(f"stop_window must be a positive integer, got {window!r}")


@dataclass(frozen=True)
class StoppingSignal:
    """The stabilizing-predictions signal after some refits.

    Attributes
    ----------
    agreement : tuple of float
        Cohen's kappa of each model with the one before it on the stop set, oldest first
        (one entry per refit after the first).
    threshold : float
        Agreement needed.
    window : int
        Successive refits that must all reach it.
    n_rows : int
        Rows in the stop set.
    """

    agreement: tuple[float, ...]
    threshold: float = DEFAULT_THRESHOLD
    window: int = DEFAULT_WINDOW
    n_rows: int = 0

    @property
    def recent(self) -> tuple[float, ...]:
        """The last ``window`` agreements (fewer early on)."""
        return self.agreement[-self.window:]

    @property
    def stopped(self) -> bool:
        """Whether the last ``window`` agreements all reach the threshold."""
        recent = self.recent
        return len(recent) == self.window and min(recent) >= self.threshold

    @property
    def level(self) -> float | None:
        """The lowest of the recent agreements (``None`` before the second model)."""
        return min(self.recent) if self.recent else None

    def message(self) -> str:
        """One line for people: whether the model has stopped changing, and the figures."""
        if not self.agreement:
            return "no stopping signal yet (it needs two successive models)"
        rounds = len(self.recent)
        span = "round" if rounds == 1 else f"{rounds} rounds"
        if self.stopped:
            return (f"the model has stopped changing (agreement {self.level:.3f} over the "
                    f"last {span})")
        return (f"the model is still changing (agreement {self.level:.3f} over the last {span}; "
                f"stops at {self.threshold:g} over {self.window})")

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON)."""
        return {"agreement": list(self.agreement), "threshold": self.threshold,
                "window": self.window, "n_rows": self.n_rows, "stopped": self.stopped,
                "level": self.level, "message": self.message()}


class StabilizingPredictions:
    """Track the agreement of successive models on a fixed stop set.

    Parameters
    ----------
    threshold : float, default=0.99
        Cohen's kappa the successive models must reach.
    window : int, default=3
        Successive refits that must all reach it.

    Call :meth:`observe` with each new model's predicted labels of the stop set (the same
    rows, in the same order, every time).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, window: int = DEFAULT_WINDOW):
        _check_params(threshold, window)
        self.threshold = float(threshold)
        self.window = int(window)
        self._previous: np.ndarray | None = None
        self._agreement: list[float] = []

    def observe(self, predicted: Any) -> float | None:
        """Record a model's labels of the stop set; its kappa with the previous model's."""
        labels = np.asarray(predicted).reshape(-1)
        kappa = None
        if self._previous is not None:
            kappa = cohen_kappa(self._previous, labels)
            self._agreement.append(kappa)
        self._previous = labels.copy()
        return kappa

    @property
    def signal(self) -> StoppingSignal:
        """The signal so far."""
        n_rows = 0 if self._previous is None else int(self._previous.shape[0])
        return StoppingSignal(tuple(self._agreement), self.threshold, self.window, n_rows)


def stop_set_rows(n_pool: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` pool positions drawn once, without replacement, sorted (the whole pool when it
    is smaller)."""
    if n_pool <= size:
        return np.arange(n_pool, dtype=np.int64)
    return np.sort(rng.choice(n_pool, size=size, replace=False)).astype(np.int64)

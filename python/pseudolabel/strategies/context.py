"""What a query strategy may know about the learner: the ``QueryContext`` and its one implementation.

A query strategy decides which pool rows a human should label next. To decide it may ask the
learner for exactly this, and nothing else (never the learner's private state):

* ``predict_proba(X_chunk)``: class probabilities of a pool chunk (2-d float32/float64,
  columns in ``classes`` order), as the current model predicts them;
* ``prepare(X_chunk)``: the chunk as the model sees it (validated input), for strategies that
  measure distances between rows;
* ``classes``: the label space (``None`` when the learner does not say);
* ``X_labeled`` / ``y_labeled``: the labeled rows (``None`` when the learner has none, e.g. a
  frozen model bundle);
* ``rng``: the learner's random generator (``None``: the strategy seeds its own);
* ``chunk_size``: pool rows to score at a time;
* ``model_version``: a key that changes whenever the model changes (committee caches);
* ``new_member(purpose)``: an unfitted copy of the learner's backend, for committees.

:class:`~pseudolabel.ActiveLearner` and :class:`~pseudolabel.frozen_learner.FrozenLearner`
build a :class:`LearnerContext` from their state (``query_context()``). Anything else with a
``predict_proba`` (a fitted scikit-learn estimator, a test's table of probabilities) is read
through :func:`as_query_context`, which maps scikit-learn's fitted-attribute names
(``classes_``, ``X_labeled_``, ``y_labeled_``, ``rng_``, ``chunk_size``, ``model_version_``,
``backend_``) onto the context once, here, so that strategies never read them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pseudolabel._validation import check_probabilities
from pseudolabel.exceptions import InputError, ParameterError

__all__ = ["DEFAULT_CHUNK_SIZE", "LearnerContext", "QueryContext", "as_query_context",
           "query_pool", "require_labeled"]

#: pool rows scored at a time when the learner does not say
DEFAULT_CHUNK_SIZE = 65_536


@runtime_checkable
class QueryContext(Protocol):
    """The contract between a learner and a query strategy (see the module docstring)."""

    @property
    def classes(self) -> np.ndarray | None: ...

    @property
    def X_labeled(self) -> Any: ...

    @property
    def y_labeled(self) -> np.ndarray | None: ...

    @property
    def rng(self) -> np.random.Generator | None: ...

    @property
    def chunk_size(self) -> int: ...

    @property
    def model_version(self) -> Hashable: ...

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the rows ``X`` (a pool chunk), 2-d, float32 or float64."""
        ...

    def prepare(self, X: Any) -> Any:
        """The rows ``X`` as the model sees them (validated input)."""
        ...

    def new_member(self, purpose: str) -> Any:
        """An unfitted copy of the learner's backend; ``purpose`` is named in the error."""
        ...


def _check_chunk_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
        raise ParameterError(f"chunk_size must be a positive integer, got {size!r}")
    return int(size)


@dataclass(frozen=True)
class LearnerContext:
    """A :class:`QueryContext` assembled from a learner's parts.

    Parameters
    ----------
    predict : callable or None
        ``predict(X_chunk)`` -> class probabilities of the chunk; ``None``: the learner has no
        model to predict with (:meth:`predict_proba` raises; committees with explicit members
        still work).
    classes : ndarray or None
        The label space, in probability-column order.
    chunk_size : int, default=65536
    rng : numpy Generator or None
    X_labeled, y_labeled : optional
        The labeled rows, ``None`` when the learner has none.
    preparer : callable or None
        ``preparer(X_chunk)`` -> the chunk as the model sees it; ``None``: the chunk itself.
    member_factory : callable or None
        ``member_factory()`` -> an unfitted copy of the backend; ``None``: the learner cannot
        build committee members (:meth:`new_member` raises).
    model_version : hashable
        Changes whenever the model changes.
    source : str
        What the learner is, named in errors.
    """

    predict: Callable[[Any], Any] | None
    classes: np.ndarray | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    rng: np.random.Generator | None = None
    X_labeled: Any = None
    y_labeled: np.ndarray | None = None
    preparer: Callable[[Any], Any] | None = None
    member_factory: Callable[[], Any] | None = None
    model_version: Hashable = None
    source: str = "the learner"

    def __post_init__(self) -> None:
        _check_chunk_size(self.chunk_size)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of ``X`` as a C-contiguous float32/float64 matrix."""
        if self.predict is None:
            raise ParameterError(f"{self.source} has no predict_proba: it cannot score pool rows")
        return check_probabilities(self.predict(X), source=f"{self.source}'s predict_proba")

    def prepare(self, X: Any) -> Any:
        """``X`` as the model sees it."""
        return X if self.preparer is None else self.preparer(X)

    def new_member(self, purpose: str) -> Any:
        """An unfitted copy of the learner's backend (committee members)."""
        if self.member_factory is None:
            raise ParameterError(
                f"{purpose} needs an unfitted copy of the learner's backend, which "
                f"{self.source} cannot provide; pass the committee members explicitly or use "
                "pseudolabel.ActiveLearner"
            )
        return self.member_factory()


def require_labeled(context: QueryContext, purpose: str) -> tuple[Any, np.ndarray]:
    """The labeled rows ``(X, y)`` of ``context``; a clear error when it has none."""
    X, y = context.X_labeled, context.y_labeled
    if X is None or y is None:
        raise ParameterError(
            f"{purpose} needs the learner's labeled rows (X and y), which this learner does "
            "not provide; use it through pseudolabel.ActiveLearner"
        )
    return X, np.asarray(y)


def _from_attributes(obj: Any) -> LearnerContext:
    """A context over an object with ``predict_proba`` and scikit-learn-style attributes."""
    predict = getattr(obj, "predict_proba", None)
    classes = getattr(obj, "classes_", None)
    rng = getattr(obj, "rng_", None)
    backend = getattr(obj, "backend_", None)
    factory = getattr(backend, "clone", None)
    chunk_size = getattr(obj, "chunk_size", None)
    return LearnerContext(
        predict=predict if callable(predict) else None,
        classes=None if classes is None else np.asarray(classes),
        chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else _check_chunk_size(chunk_size),
        rng=rng if isinstance(rng, np.random.Generator) else None,
        X_labeled=getattr(obj, "X_labeled_", None),
        y_labeled=getattr(obj, "y_labeled_", None),
        member_factory=factory if callable(factory) else None,
        model_version=(id(obj), getattr(obj, "model_version_", None)),
        source=type(obj).__name__,
    )


def as_query_context(learner: Any) -> QueryContext:
    """The :class:`QueryContext` of ``learner``.

    A context is returned as is; an object with ``query_context()`` (``ActiveLearner``,
    ``FrozenLearner``) gives its own; any other object with ``predict_proba`` is read through
    its scikit-learn-style attributes.
    """
    if isinstance(learner, LearnerContext):
        return learner
    own = getattr(learner, "query_context", None)
    if callable(own):
        context = own()
        if not isinstance(context, QueryContext):
            raise ParameterError(
                f"{type(learner).__name__}.query_context() returned "
                f"{type(context).__name__}, not a QueryContext"
            )
        return context
    if isinstance(learner, QueryContext):
        return learner
    return _from_attributes(learner)


def query_pool(
    strategy: Any, context: QueryContext, X_pool: Any, n: Any, *, exclude: Any = None,
    warn: bool = True, stacklevel: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """The one way a learner asks its strategy for ``n`` rows of ``X_pool``, best first.

    ``n`` must be a positive integer; ``exclude`` rows are never returned; asking for more
    rows than are left returns every row left (with a
    :class:`~pseudolabel.exceptions.PseudolabelWarning` when ``warn``). Returns int64 rows and
    float64 scores. ``stacklevel`` points the warning at the user's call.
    """
    import warnings

    from pseudolabel.exceptions import PseudolabelWarning
    from pseudolabel.strategies.base import exclude_mask
    from pseudolabel.strategies.query import n_rows

    if isinstance(n, bool) or not isinstance(n, Integral) or int(n) < 1:
        raise ParameterError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    total = n_rows(X_pool)
    if total == 0:
        raise InputError("X_pool is empty: there is nothing to query")
    mask = exclude_mask(exclude, total)
    available = total if mask is None else int(total - mask.sum())
    if n > available and warn:
        warnings.warn(
            f"asked for {n} rows but the pool has only {available} rows left to query; "
            f"returning all {available}",
            PseudolabelWarning,
            stacklevel=stacklevel,
        )
    n = min(n, available)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    indices, scores = strategy.query(context, X_pool, n, exclude=mask)
    return np.asarray(indices, dtype=np.int64), np.asarray(scores, dtype=np.float64)

"""Base classes of the strategies: what a self-training or active-learning strategy must do.

A *selection strategy* decides, from the class probabilities of the unlabeled pool, which
rows become pseudo-labeled, with which labels and which sample weights. A *query strategy*
decides which rows of the pool a human should label next. Neither fits nor predicts: the
orchestration loop (``SelfTrainingClassifier``, ``PseudoLabeler``, ``ActiveLearner``) does.

The contracts are the ones in ``docs/architecture.md``:

- :class:`Decision`: the frozen result of :meth:`SelectionStrategy.select`;
- :class:`SelectionStrategy`: ``start(...)`` once per fit, then ``select(proba, round=...)``
  once per round;
- :class:`QueryStrategy`: ``scores(context, X_pool)`` and ``query(context, X_pool, n)``, where
  ``context`` is a :class:`QueryContext` (what a query strategy may know about the learner:
  probabilities of a pool chunk, the prepared input, ``classes``, the labeled rows, an rng,
  the chunk size and a member factory for committees; see
  :mod:`pseudolabel.strategies.context`) or a learner that :func:`as_query_context` turns
  into one.

This module imports numpy (and the bottom floor's one probability check) only, so that it is
cheap to import from plugins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from pseudolabel._validation import check_probabilities
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.strategies.params import ParamsMixin
from pseudolabel.strategies.context import (
    LearnerContext,
    QueryContext,
    as_query_context,
    require_labeled,
)

__all__ = [
    "Decision",
    "LearnerContext",
    "ParamsMixin",
    "QueryContext",
    "QueryStrategy",
    "RoundContext",
    "SelectionStrategy",
    "as_query_context",
    "decision_from_selection",
    "exclude_mask",
    "require_labeled",
]


# ---------------------------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Which rows a selection strategy takes in one round, with which labels and weights.

    Parameters
    ----------
    indices : ndarray of int64, shape (m,)
        Rows of the ``proba`` passed to :meth:`SelectionStrategy.select`, best first.
    labels : ndarray of int64, shape (m,)
        Column indices (``0..C-1``) of the pseudo-labels; the caller maps them to
        ``classes_``.
    weights : ndarray of float64, shape (m,), or None
        Sample weights for those rows; ``None`` means all 1.
    thresholds : float, ndarray of float64 of shape (C,), or None
        The threshold(s) used this round, recorded in ``history_``.
    info : dict
        Anything else worth recording (quantiles, EMA state, ...).
    scores : ndarray of float64, shape (m,), or None
        The score each row was selected on (confidence, entropy...), when the strategy has
        one. Optional; loops compute ``proba[indices, labels]`` when they need confidences.
    """

    indices: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None = None
    thresholds: float | np.ndarray | None = None
    info: dict = field(default_factory=dict)
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        indices = np.array(self.indices, dtype=np.int64).reshape(-1)
        labels = np.array(self.labels, dtype=np.int64).reshape(-1)
        if indices.shape != labels.shape:
            raise InputError(
                f"Decision: indices has {indices.shape[0]} entries but labels has "
                f"{labels.shape[0]}"
            )
        weights = self.weights
        if weights is not None:
            weights = np.array(weights, dtype=np.float64).reshape(-1)
            if weights.shape != indices.shape:
                raise InputError(
                    f"Decision: weights has {weights.shape[0]} entries but indices has "
                    f"{indices.shape[0]}"
                )
            weights.setflags(write=False)
        scores = self.scores
        if scores is not None:
            scores = np.array(scores, dtype=np.float64).reshape(-1)
            if scores.shape != indices.shape:
                raise InputError(
                    f"Decision: scores has {scores.shape[0]} entries but indices has "
                    f"{indices.shape[0]}"
                )
            scores.setflags(write=False)
        thresholds = self.thresholds
        if thresholds is not None and not np.isscalar(thresholds):
            thresholds = np.array(thresholds, dtype=np.float64)
            thresholds.setflags(write=False)
        elif thresholds is not None:
            thresholds = float(thresholds)  # type: ignore[arg-type]
        indices.setflags(write=False)
        labels.setflags(write=False)
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "thresholds", thresholds)
        object.__setattr__(self, "scores", scores)

    @property
    def n_selected(self) -> int:
        """Number of selected rows."""
        return int(self.indices.shape[0])

    @classmethod
    def empty(cls, *, thresholds: float | np.ndarray | None = None, **info: Any) -> Decision:
        """A decision that selects nothing."""
        return cls(
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int64),
            None,
            thresholds,
            dict(info),
        )

    def counts(self, n_classes: int) -> np.ndarray:
        """Selected rows per class, int64 of shape ``(n_classes,)``."""
        return np.bincount(self.labels, minlength=n_classes).astype(np.int64)


def decision_from_selection(
    selection: Any, *, weights: np.ndarray | None = None, thresholds: Any = None, **info: Any
) -> Decision:
    """Turn a kernel ``Selection`` (indices, labels, scores) into a :class:`Decision`."""
    return Decision(
        selection.indices, selection.labels, weights, thresholds, dict(info),
        scores=selection.scores,
    )


# ---------------------------------------------------------------------------------------------
# RoundContext: what a strategy that needs more than the pool's probabilities receives
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RoundContext:
    """What a strategy sees besides ``proba``, when it declares ``needs_context = True``.

    Most strategies decide from the pool's probabilities alone. Sources that do not (graph
    propagation needs features; a committee needs members to fit) set the class attribute
    ``needs_context = True``; the loop then builds one context per round and passes it as
    ``select(proba, round=, exclude=, context=)``. Strategies without it never get one.

    Parameters
    ----------
    X_labeled : array-like of shape (n_labeled, n_features)
        The human-labeled rows (not the pseudo-labels).
    y_labeled : ndarray of int64, shape (n_labeled,)
        Their labels as class indices ``0..C-1`` (the columns of ``proba``).
    X_pool : array-like of shape (n_rows, n_features)
        The features of the rows of ``proba``, in the same order.
    make_member : callable or None
        ``make_member()`` returns a fresh, unfitted estimator of the loop's kind (a clone
        of its base estimator or backend) with ``fit(X, y)`` and ``predict_proba(X)``; its
        columns follow its ``classes_`` (a subset of ``0..C-1`` when ``y`` misses some).
        ``None`` when the loop cannot make one.
    sample_weight : ndarray of float64, shape (n_labeled,), or None
        The labeled rows' weights, when the loop has them.
    """

    X_labeled: Any
    y_labeled: np.ndarray
    X_pool: Any
    make_member: Callable[[], Any] | None = None
    sample_weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        y = np.asarray(self.y_labeled)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise InputError(
                f"RoundContext: y_labeled must be 1-d class indices, got dtype {y.dtype} "
                f"with shape {y.shape}"
            )
        n_labeled = _n_rows(self.X_labeled)
        if n_labeled != y.shape[0]:
            raise InputError(
                f"RoundContext: X_labeled has {n_labeled} rows but y_labeled has {y.shape[0]}"
            )
        if self.sample_weight is not None:
            w = np.asarray(self.sample_weight, dtype=np.float64).reshape(-1)
            if w.shape[0] != n_labeled:
                raise InputError(
                    f"RoundContext: sample_weight has {w.shape[0]} entries but X_labeled "
                    f"has {n_labeled} rows"
                )
            object.__setattr__(self, "sample_weight", w)
        object.__setattr__(self, "y_labeled", y.astype(np.int64, copy=False))

    @property
    def n_pool(self) -> int:
        """Rows of ``X_pool`` (the rows of ``proba``)."""
        return _n_rows(self.X_pool)


def _n_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)


# ---------------------------------------------------------------------------------------------
# helpers shared by strategies
# ---------------------------------------------------------------------------------------------


def exclude_mask(exclude: Any, n_rows: int) -> np.ndarray | None:
    """Normalise ``exclude`` (None, boolean mask of length n, or row indices) to a mask.

    Returns ``None`` when nothing is excluded.
    """
    if exclude is None:
        return None
    arr = np.asarray(exclude)
    if arr.dtype == bool:
        if arr.shape != (n_rows,):
            raise InputError(
                f"exclude mask has shape {arr.shape}, expected ({n_rows},) "
                "(one entry per row of proba)"
            )
        return arr if arr.any() else None
    if arr.size == 0:
        return None
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise InputError(
            f"exclude must be a boolean mask or 1-d integer row indices, got dtype "
            f"{arr.dtype} with shape {arr.shape}"
        )
    if arr.min() < 0 or arr.max() >= n_rows:
        bad = arr[(arr < 0) | (arr >= n_rows)][0]
        raise InputError(f"exclude holds row index {int(bad)}, outside [0, {n_rows})")
    mask = np.zeros(n_rows, dtype=bool)
    mask[arr] = True
    return mask


# ---------------------------------------------------------------------------------------------
# SelectionStrategy
# ---------------------------------------------------------------------------------------------


class SelectionStrategy(ParamsMixin):
    """Base class of self-training selection strategies.

    A strategy is created with its parameters only (``__init__`` stores them), then the loop
    calls :meth:`start` once per fit and :meth:`select` once per round with the class
    probabilities of the unlabeled pool. Cross-round state (EMAs, growing quotas) is kept on
    the instance and reset by :meth:`start`.

    Class attributes
    ----------------
    name : str
        The registered name (``"threshold"``, ``"flexmatch"``...).
    rebuild : bool
        ``False`` (accumulate): pseudo-labels, once taken, are kept; the loop passes the
        rows already pseudo-labeled as ``exclude``. ``True``: the pseudo-set is re-decided
        from the whole pool every round (no ``exclude``).
    reinitialize : bool
        ``True``: the model is refit from scratch every round (Curriculum Labeling).
    needs_context : bool
        ``True``: :meth:`select` must be given a :class:`RoundContext` (``context=``);
        :meth:`_select` reads it as ``self.context_``.

    Subclasses implement :meth:`_select` (and :meth:`_validate_params`, :meth:`_start` when
    they have parameters or state). :meth:`select` validates the inputs and handles the empty
    pool, so ``_select`` always sees at least one row.
    """

    name: ClassVar[str] = ""
    rebuild: ClassVar[bool] = False
    reinitialize: ClassVar[bool] = False
    #: True: ``select`` needs a :class:`RoundContext` (features, labels, a member factory);
    #: loops pass one only to such strategies.
    needs_context: ClassVar[bool] = False
    #: the context of the current round (``None`` for strategies that do not need one)
    context_: RoundContext | None = None

    # set by start()
    n_classes_: int
    class_prior_: np.ndarray
    _rng: np.random.Generator

    def _validate_params(self) -> None:
        """Raise :class:`ParameterError` for an invalid parameter. Called by :meth:`start`."""

    def _start(self) -> None:
        """Reset cross-round state. Called by :meth:`start` after the common set-up."""

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        raise NotImplementedError(f"{type(self).__name__} must implement _select")

    def start(
        self,
        *,
        n_classes: int,
        n_labeled: int,
        n_unlabeled: int,
        class_prior: Any = None,
        random_state: Any = None,
    ) -> None:
        """Prepare for a new fit: validate the parameters and reset the cross-round state.

        Parameters
        ----------
        n_classes : int
            Number of classes ``C`` (columns of every ``proba``).
        n_labeled, n_unlabeled : int
            Number of labeled rows and size of the unlabeled pool.
        class_prior : array-like of shape (C,), optional
            Class distribution of the labeled rows (sums to 1). Uniform when omitted.
        random_state : int, numpy Generator/RandomState or None
            Seed for strategies that draw random numbers (ties are always broken by the
            lower row index, so most strategies are deterministic without it).
        """
        if not isinstance(n_classes, Integral) or n_classes < 1:
            raise ParameterError(f"n_classes must be a positive integer, got {n_classes!r}")
        for label, value in (("n_labeled", n_labeled), ("n_unlabeled", n_unlabeled)):
            if not isinstance(value, Integral) or value < 0:
                raise ParameterError(f"{label} must be a non-negative integer, got {value!r}")
        self._validate_params()
        if class_prior is None:
            prior = np.full(int(n_classes), 1.0 / int(n_classes))
        else:
            prior = np.asarray(class_prior, dtype=np.float64).reshape(-1)
            if prior.shape != (n_classes,):
                raise ParameterError(
                    f"class_prior has {prior.shape[0]} entries, expected n_classes={n_classes}"
                )
            if not np.all(np.isfinite(prior)) or np.any(prior < 0) or prior.sum() <= 0:
                raise ParameterError(
                    "class_prior must be finite, non-negative and not all zero, got "
                    f"{prior.tolist()}"
                )
            prior = prior / prior.sum()
        self.n_classes_ = int(n_classes)
        self.n_labeled_ = int(n_labeled)
        self.n_unlabeled_ = int(n_unlabeled)
        self.class_prior_ = prior
        self.random_state_ = random_state
        self._rng = _as_generator(random_state)
        self._start()

    def select(
        self, proba: Any, *, round: int, exclude: Any = None, context: RoundContext | None = None
    ) -> Decision:
        """Decide which rows of ``proba`` to pseudo-label this round.

        Parameters
        ----------
        proba : ndarray of shape (n_rows, C)
            Class probabilities of the pool, columns in class-index order.
        round : int
            The round number, starting at 1.
        exclude : bool mask of shape (n_rows,) or int indices, optional
            Rows that must not be selected (already pseudo-labeled, for accumulate
            strategies). They still count in whole-pool statistics where a strategy uses
            them (documented per strategy).
        context : RoundContext, optional
            Required by strategies with ``needs_context = True`` (its ``X_pool`` rows match
            ``proba``'s); ignored by the others.

        Returns
        -------
        Decision
        """
        if not hasattr(self, "n_classes_"):
            raise ParameterError(
                f"{type(self).__name__}.select() called before start(); call "
                "start(n_classes=..., n_labeled=..., n_unlabeled=..., ...) first"
            )
        if not isinstance(round, Integral) or round < 1:
            raise ParameterError(f"round must be an integer >= 1, got {round!r}")
        proba = check_probabilities(
            proba, n_classes=self.n_classes_, floats_only=True,
            source=f"the proba given to {type(self).__name__}.select",
        )
        mask = exclude_mask(exclude, proba.shape[0])
        if self.needs_context:
            if not isinstance(context, RoundContext):
                raise ParameterError(
                    f"{type(self).__name__} needs a RoundContext (features, labels, a member "
                    f"factory): call select(proba, round=..., context=RoundContext(...)); "
                    f"got context={context!r}"
                )
            if context.n_pool != proba.shape[0]:
                raise InputError(
                    f"context.X_pool has {context.n_pool} rows but proba has {proba.shape[0]}"
                )
            self.context_ = context
        if proba.shape[0] == 0:
            return self._empty_decision(proba, round=round)
        # all rows excluded still goes to _select: whole-pool statistics keep updating
        return self._select(proba, round=int(round), exclude=mask)

    def _empty_decision(self, proba: np.ndarray, *, round: int) -> Decision:
        """What to return for an empty pool (override to record thresholds)."""
        return Decision.empty(reason="empty pool")

    def exhausted(self, round: int) -> bool:
        """Whether the schedule is over after ``round`` (optional; default ``False``).

        Loops stop after a round for which this is true. Curriculum Labeling is over once
        its percentile has reached 0 (the whole pool is pseudo-labeled).
        """
        return False


def _as_generator(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, Integral):
        return np.random.default_rng(None if random_state is None else int(random_state))
    raise ParameterError(
        f"random_state must be None, an int, or a numpy Generator/RandomState, got "
        f"{random_state!r}"
    )


# ---------------------------------------------------------------------------------------------
# QueryStrategy
# ---------------------------------------------------------------------------------------------


class QueryStrategy(ParamsMixin):
    """Base class of active-learning query strategies.

    Subclasses implement :meth:`scores` (higher = ask first). :meth:`query` returns the ``n``
    highest-scoring rows not in ``exclude``, best first, ties broken by the lower row index.
    Both take a :class:`QueryContext` (or a learner, see :func:`as_query_context`) and use
    only what it offers.
    """

    name: ClassVar[str] = ""

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        """Score every row of ``X_pool``; higher means ask a human first.

        Parameters
        ----------
        context : QueryContext or fitted learner
            What the strategy may know about the current model (probabilities; committees
            also need the labeled rows and a member factory).
        X_pool : array-like of shape (n_rows, n_features)
            The unlabeled pool.

        Returns
        -------
        ndarray of float64, shape (n_rows,)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement scores")

    def query(
        self, context: Any, X_pool: Any, n: int, *, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pick the ``n`` rows of ``X_pool`` to send to the oracle.

        Parameters
        ----------
        context : QueryContext or fitted learner
        X_pool : array-like of shape (n_rows, n_features)
        n : int
            How many rows to ask for (fewer if the pool is smaller).
        exclude : bool mask or int indices, optional
            Rows that must not be asked (already queried).

        Returns
        -------
        indices : ndarray of int64, shape (m,)
            Rows of ``X_pool``, best first.
        scores : ndarray of float64, shape (m,)
            Their scores.
        """
        if not isinstance(n, Integral) or n < 0:
            raise ParameterError(f"n must be a non-negative integer, got {n!r}")
        scores = np.asarray(
            self.scores(as_query_context(context), X_pool), dtype=np.float64
        ).reshape(-1)
        n_rows = scores.shape[0]
        if np.isnan(scores).any():
            row = int(np.flatnonzero(np.isnan(scores))[0])
            raise InputError(f"{type(self).__name__}.scores returned NaN at row {row}")
        mask = exclude_mask(exclude, n_rows)
        candidates = np.arange(n_rows) if mask is None else np.flatnonzero(~mask)
        m = min(int(n), candidates.shape[0])
        if m == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        cand_scores = scores[candidates]
        # stable sort on -score: ties keep the lower row index first
        order = np.argsort(-cand_scores, kind="stable")[:m]
        return candidates[order].astype(np.int64), cand_scores[order]

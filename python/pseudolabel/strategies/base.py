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

This module imports numpy only, so that it is cheap to import from plugins.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, ClassVar

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError
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
    "SelectionStrategy",
    "as_query_context",
    "exclude_mask",
    "require_labeled",
]


# ---------------------------------------------------------------------------------------------
# parameters: a tiny get_params/set_params so that sklearn.base.clone and repr work
# ---------------------------------------------------------------------------------------------


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``repr`` from the ``__init__`` signature.

    Like scikit-learn estimators, a strategy's ``__init__`` only stores its parameters under
    the same names, so ``sklearn.base.clone(strategy)`` and :meth:`clone` give an unstarted
    copy with the same parameters.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        sig = inspect.signature(init)
        names = []
        for p in sig.parameters.values():
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters of this object.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of nested objects that have ``get_params``
            (as ``name__param``).

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        out: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, sub in value.get_params(deep=True).items():
                    out[f"{name}__{key}"] = sub
            out[name] = value
        return out

    def set_params(self, **params: Any) -> ParamsMixin:
        """Set constructor parameters (``name`` or ``name__nested``); returns ``self``."""
        valid = set(self._param_names())
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ParameterError(
                    f"invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are {sorted(valid)}"
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def clone(self) -> Any:
        """Return an unstarted copy with the same parameters (nested objects cloned too)."""
        params = {}
        for name, value in self.get_params(deep=False).items():
            params[name] = value.clone() if isinstance(value, ParamsMixin) else value
        return type(self)(**params)

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name, value in self.get_params(deep=False).items():
            default = sig.parameters[name].default
            try:
                same = default is not inspect.Parameter.empty and bool(value == default)
            except Exception:  # arrays and friends: always show them
                same = False
            if not same:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


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

    Subclasses implement :meth:`_select` (and :meth:`_validate_params`, :meth:`_start` when
    they have parameters or state). :meth:`select` validates the inputs and handles the empty
    pool, so ``_select`` always sees at least one row.
    """

    name: ClassVar[str] = ""
    rebuild: ClassVar[bool] = False
    reinitialize: ClassVar[bool] = False

    # set by start()
    n_classes_: int
    class_prior_: np.ndarray

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

    def select(self, proba: Any, *, round: int, exclude: Any = None) -> Decision:
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
        proba = np.asarray(proba)
        if proba.ndim != 2 or proba.shape[1] != self.n_classes_:
            raise InputError(
                f"proba must have shape (n_rows, {self.n_classes_}), got {proba.shape}"
            )
        if proba.dtype.kind != "f":
            raise InputError(f"proba must be a float array, got dtype {proba.dtype}")
        if proba.dtype not in (np.float32, np.float64):
            proba = proba.astype(np.float64)
        proba = np.ascontiguousarray(proba)
        mask = exclude_mask(exclude, proba.shape[0])
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

"""``ActiveLearner``: ask a human about the rows the model is least sure of.

The learner holds a backend (any scikit-learn classifier, a LightGBM/XGBoost model, or a
registered backend name), the rows labeled so far, and a query strategy from the plugin
registry. It offers the classic loop in pieces (:meth:`ActiveLearner.teach`,
:meth:`ActiveLearner.query`) and whole (:meth:`ActiveLearner.run`), plus the combined
active + self-training loop of CEAL (Wang et al. 2016): with ``pseudo_label=<selection
strategy>``, every round also pseudo-labels the rows the model is most sure of, re-decided each
round (under the ``ceal`` strategy's decaying entropy threshold), and human labels always win
over pseudo-labels.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from pseudolabel._compat import validate_data
from pseudolabel.exceptions import InputError, ParameterError, PluginError, PseudolabelWarning
from pseudolabel.strategies.base import exclude_mask
from pseudolabel.strategies.context import LearnerContext
from pseudolabel.strategies.query import iter_row_chunks, n_rows, take_rows

__all__ = ["ActiveLearner", "LearningCurve"]


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
    """

    rounds: np.ndarray
    n_labels: np.ndarray
    n_queried: np.ndarray
    n_abstained: np.ndarray
    n_pseudo: np.ndarray
    scores: np.ndarray | None = None
    thresholds: list = field(default_factory=list)

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
        return pd.DataFrame(data)

    def __len__(self) -> int:
        return int(self.rounds.shape[0])


def _default_estimator() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def _concat_rows(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if hasattr(a, "tocsr") or hasattr(b, "tocsr"):
        import scipy.sparse as sp

        return sp.vstack([a, b], format="csr")
    return np.concatenate([a, b])


def _label_kind(y: np.ndarray) -> str:
    if y.dtype.kind in "iub":
        return "numeric"
    if y.dtype.kind == "f":
        return "numeric"
    if y.dtype.kind in "OUS" and y.size:
        first = y[0]
        if isinstance(first, (int, float, np.integer, np.floating)) and not isinstance(first, bool):
            return "numeric"
    return "string"


class ActiveLearner(ClassifierMixin, BaseEstimator):
    """Active learning, optionally combined with self-training (CEAL).

    Parameters
    ----------
    estimator : estimator, Backend, str or None, default=None
        The model: a scikit-learn classifier (never modified: a clone is fitted), a
        :class:`pseudolabel.backends.Backend`, or a registered backend name (``"lightgbm"``).
        ``None`` means ``LogisticRegression(max_iter=1000)``.
    query_strategy : str or QueryStrategy, default="entropy"
        Registered query strategy name (``"random"``, ``"least_confident"``, ``"margin"``,
        ``"entropy"``, ``"qbc"``, ``"vote_entropy"``, ``"kl_divergence"``, ``"ranked_batch"``,
        or a plugin's) or an instance (cloned at fit).
    pseudo_label : str, SelectionStrategy or None, default=None
        ``None``: pure active learning. Otherwise a self-training selection strategy name
        (``"ceal"`` for the paper's decaying entropy threshold, or any other selection
        strategy) or instance: :meth:`run` then also pseudo-labels confident pool rows each
        round (the CEAL loop). Rows a human labeled, or declined to label, are never
        pseudo-labeled.
    classes : array-like or None, default=None
        The full label space. ``None``: the labels taught so far (the space grows with
        :meth:`teach`; within :meth:`run` it is fixed at the start).
    chunk_size : int, default=65536
        Rows scored per chunk when querying, so that the probabilities of a huge pool never
        sit in memory at once.
    random_state : int, numpy Generator or None, default=None
        Seed of the random parts (the ``random`` strategy, bootstrap committees).

    Attributes
    ----------
    backend_ : Backend
        The fitted model.
    classes_ : ndarray
        Label space of the fitted model, in ``predict_proba`` column order.
    X_labeled_, y_labeled_ : ndarray
        The human (and seed) labeled rows taught so far.
    model_version_ : int
        Incremented at every refit (committees and caches key on it).
    n_pending_ : int
        Rows taught with ``refit=False`` that the model has not seen yet.
    query_strategy_ : QueryStrategy
        The resolved query strategy.
    query_indices_, query_scores_ : ndarray
        Result of the last :meth:`query`, best first.
    pseudo_indices_, pseudo_labels_ : ndarray
        Pool rows (of the pool given to :meth:`run` or :meth:`update_pseudo_labels`) currently
        pseudo-labeled, and their labels.
    pseudo_confidence_ : ndarray of float64
        Probability of each pseudo-label under the model that decided it.
    history_ : list of dict
        One record per round of :meth:`run`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from pseudolabel import ActiveLearner
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearner(query_strategy="margin", random_state=0)
    >>> learner = learner.teach(X[[0, 50, 100]], y[[0, 50, 100]])
    >>> idx = learner.query(X, 5)            # rows to label next, best first
    >>> learner.query_scores_.shape
    (5,)
    """

    # fitted state (declared for type checkers; set by fit/teach, never by __init__)
    backend_: Any
    classes_: np.ndarray
    X_labeled_: Any
    y_labeled_: Any
    model_version_: int
    n_pending_: int
    round_: int
    rng_: np.random.Generator
    query_strategy_: Any
    history_: list[dict[str, Any]]
    _template: Any
    _pseudo_template: Any
    _known: Any
    _fixed_classes: Any
    _label_kind: str | None

    def __init__(
        self,
        estimator: Any = None,
        *,
        query_strategy: Any = "entropy",
        pseudo_label: Any = None,
        classes: Any = None,
        chunk_size: int = 65_536,
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.pseudo_label = pseudo_label
        self.classes = classes
        self.chunk_size = chunk_size
        self.random_state = random_state

    # -- set-up -------------------------------------------------------------------------------

    def _reset(self) -> None:
        from pseudolabel.plugins import as_backend, make_strategy

        if (
            isinstance(self.chunk_size, bool)
            or not isinstance(self.chunk_size, Integral)
            or self.chunk_size < 1
        ):
            raise ParameterError(f"chunk_size must be a positive integer, got {self.chunk_size!r}")
        for attr in list(vars(self)):
            if attr.endswith("_") and not attr.startswith("__"):
                delattr(self, attr)
        estimator = _default_estimator() if self.estimator is None else self.estimator
        self._template = as_backend(estimator).clone()
        strategy = make_strategy(self.query_strategy, kind="query")
        self.query_strategy_ = _fresh(strategy)
        if self.pseudo_label is not None:
            self._pseudo_template = _fresh(make_strategy(self.pseudo_label, kind="selection"))
        else:
            self._pseudo_template = None
        from pseudolabel.strategies.base import _as_generator

        self.rng_ = _as_generator(self.random_state)
        for attr in ("_pseudo_strategy", "_pseudo_pool_size", "_pseudo_round"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._fixed_classes = None
        if self.classes is not None:
            fixed = np.unique(np.asarray(self.classes))
            if fixed.shape[0] < 2:
                raise ParameterError(
                    f"classes must hold at least two labels, got {list(np.asarray(self.classes))}"
                )
            self._fixed_classes = fixed
        self._known = self._fixed_classes
        self._label_kind = None
        self.X_labeled_ = None
        self.y_labeled_ = None
        self.model_version_ = 0
        self.n_pending_ = 0
        self.round_ = 0
        self.history_ = []
        self._clear_pseudo()

    def _clear_pseudo(self) -> None:
        self.pseudo_confidence_ = np.empty(0, dtype=np.float64)
        self.pseudo_indices_ = np.empty(0, dtype=np.int64)
        self.pseudo_labels_ = np.empty(0)
        self._pseudo_X = None
        self._pseudo_weights: np.ndarray | None = None

    def _started(self) -> bool:
        return hasattr(self, "_template") and getattr(self, "y_labeled_", None) is not None

    # -- validation ---------------------------------------------------------------------------

    def _prepare_X(self, X: Any) -> Any:
        """Validate rows to score against the fitted feature count (no attribute changes)."""
        try:
            return validate_data(self, X, reset=False, accept_sparse=("csr", "csc"))
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(str(exc)) from exc

    def _check_labels(self, y: np.ndarray, *, what: str) -> np.ndarray:
        import pandas as pd

        missing = np.asarray(pd.isna(y), dtype=bool).reshape(-1)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise InputError(f"{what} has a missing label (None/NaN) at row {row}")
        kind = _label_kind(y)
        if self._label_kind is not None and kind != self._label_kind and y.size:
            raise InputError(
                f"{what} holds {kind} labels but the learner was taught {self._label_kind} "
                f"labels so far (e.g. {self.y_labeled_[:3].tolist()}); use one label type"
            )
        if self._fixed_classes is not None:
            self._check_known(y, self._fixed_classes, what=what)
        return y

    @staticmethod
    def _check_known(y: np.ndarray, classes: np.ndarray, *, what: str, rows: Any = None) -> None:
        try:
            known = np.isin(y, classes)
        except TypeError:  # labels of mixed types: a hash lookup (the set was rebuilt per row)
            import pandas as pd

            known = pd.Series(y, dtype=object).isin(classes.tolist()).to_numpy(dtype=bool)
        if not known.all():
            pos = int(np.flatnonzero(~known)[0])
            where = f"row {pos}" if rows is None else f"pool row {int(rows[pos])}"
            raise InputError(
                f"{what} has label {y[pos]!r} at {where}, which is not a known class "
                f"(known: {classes.tolist()}); pass classes=[...] to ActiveLearner to declare "
                "the full label space"
            )

    # -- teaching -----------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> ActiveLearner:
        """Start over and teach ``(X, y)``: the estimator API (``fit = reset + teach``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Labeled rows.
        y : array-like of shape (n_samples,)
            Their labels.

        Returns
        -------
        self
        """
        self._reset()
        return self._teach(X, y, refit=True, first=True)

    def teach(self, X: Any, y: Any, *, refit: bool = True) -> ActiveLearner:
        """Add labeled rows and (by default) refit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels; with ``classes=`` set, each must be one of them.
        refit : bool, default=True
            ``False`` only stores the rows (``n_pending_`` counts them); the model is refit at
            the next ``teach(..., refit=True)`` or :meth:`refit`. Use it to teach many small
            batches and train once.

        Returns
        -------
        self
        """
        first = not self._started()
        if first:
            self._reset()
        return self._teach(X, y, refit=refit, first=first)

    def _teach(self, X: Any, y: Any, *, refit: bool, first: bool) -> ActiveLearner:
        try:
            X, y = validate_data(
                self, X, y, reset=first, accept_sparse=("csr", "csc"), dtype="numeric"
            )
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        y = self._check_labels(np.asarray(y), what="y")
        try:
            check_classification_targets(y)
        except TypeError as exc:
            raise InputError(f"y mixes label types that cannot be compared: {exc}") from exc
        if y.shape[0] == 0:
            raise InputError("teach() got no rows")
        if self._fixed_classes is None:
            known = np.unique(y) if self._known is None else np.unique(np.concatenate([self._known, y]))
            self._known = known
        if self._label_kind is None:
            self._label_kind = _label_kind(y)
        self.X_labeled_ = _concat_rows(self.X_labeled_, X)
        self.y_labeled_ = y.copy() if self.y_labeled_ is None else np.concatenate([self.y_labeled_, y])
        self.n_pending_ += int(y.shape[0])
        if refit:
            self.refit()
        return self

    def refit(self) -> ActiveLearner:
        """Fit the model on every labeled row, plus the current pseudo-labels.

        Returns
        -------
        self
        """
        if not self._started():
            raise InputError("refit() before any teach(): there are no labeled rows")
        classes = self._known
        X, y = self.X_labeled_, self.y_labeled_
        weights = None
        if self._pseudo_X is not None and self.pseudo_indices_.shape[0]:
            X = _concat_rows(X, self._pseudo_X)
            y = np.concatenate([y, np.asarray(self.pseudo_labels_)])
            if self._pseudo_weights is not None:
                weights = np.concatenate(
                    [np.ones(self.y_labeled_.shape[0]), self._pseudo_weights]
                )
                if not self._template.capabilities.sample_weight:
                    warnings.warn(
                        f"backend {self._template.name!r} does not support sample weights; "
                        "pseudo-label weights are ignored",
                        PseudolabelWarning,
                        stacklevel=2,
                    )
                    weights = None
        present = np.unique(y)
        if present.shape[0] < 2:
            raise InputError(
                f"the labeled rows hold only one class ({present.tolist()}); a classifier needs "
                "labeled rows of at least two classes: teach more rows before refitting"
            )
        backend = self._template.clone()
        backend.fit(X, y, sample_weight=weights, classes=classes)
        self.backend_ = backend
        self.classes_ = np.asarray(backend.classes_)
        self.model_version_ += 1
        self.n_pending_ = 0
        return self

    # -- predicting ---------------------------------------------------------------------------

    def _check_model(self, action: str) -> None:
        if not hasattr(self, "backend_"):
            from sklearn.exceptions import NotFittedError

            if self._started():
                raise NotFittedError(
                    f"cannot {action}: rows were taught with refit=False but no model is fitted "
                    "yet; call refit() first"
                )
            raise NotFittedError(
                f"cannot {action} before any teach(): this ActiveLearner has no labeled rows "
                "yet; call teach(X, y) (or fit) with a few labeled rows first"
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "backend_")
        return self.backend_.predict_proba(self._prepare_X(X))

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of each row (ties: the first class in ``classes_``)."""
        P = self.predict_proba(X)
        return self.classes_[np.argmax(P, axis=1)]

    def _predict_proba_chunked(self, X_pool: Any) -> np.ndarray:
        total = n_rows(X_pool)
        out = None
        for start, stop, chunk in iter_row_chunks(X_pool, self.chunk_size):
            P = self.predict_proba(chunk)
            if out is None:
                out = np.empty((total, P.shape[1]), dtype=P.dtype)
            out[start:stop] = P
        if out is None:
            out = np.empty((0, len(self.classes_)))
        return out

    # -- querying -----------------------------------------------------------------------------

    def query_context(self) -> LearnerContext:
        """What a query strategy may know about this learner (a ``QueryContext``).

        The current model's probabilities and prepared input, ``classes_``, the human (and
        seed) labeled rows, the learner's generator, ``chunk_size``, the model version, and an
        unfitted copy of the backend for committees.
        """
        self._check_model("query")
        return LearnerContext(
            predict=self.predict_proba,
            classes=self.classes_,
            chunk_size=self.chunk_size,
            rng=self.rng_,
            X_labeled=self.X_labeled_,
            y_labeled=self.y_labeled_,
            preparer=self._prepare_X,
            member_factory=self._template.clone,
            model_version=(id(self), self.model_version_),
            source="ActiveLearner",
        )

    def query(
        self, X_pool: Any, n: int, *, exclude: Any = None, return_scores: bool = False
    ) -> Any:
        """The ``n`` rows of ``X_pool`` to label next, best first.

        Parameters
        ----------
        X_pool : array-like of shape (n_rows, n_features)
            The unlabeled pool (numpy array, memmap, DataFrame or sparse matrix). It is scored
            ``chunk_size`` rows at a time.
        n : int
            How many rows to ask for. More than the pool holds returns the whole pool with a
            :class:`~pseudolabel.exceptions.PseudolabelWarning`.
        exclude : bool mask or int indices, optional
            Pool rows never to return (already labeled or sent to annotators).
        return_scores : bool, default=False
            Also return the scores (always stored in ``query_scores_``).

        Returns
        -------
        indices : ndarray of int64
            Rows of ``X_pool``, best first.
        scores : ndarray of float64
            Only with ``return_scores=True``: their scores (higher = more useful to label).
        """
        self._check_model("query")
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            raise ParameterError(f"n must be a positive integer, got {n!r}")
        indices, scores = self._query(X_pool, int(n), exclude=exclude, warn=True)
        self.round_ += 1
        self._emit_query(X_pool, indices, scores, round=self.round_)
        return (indices, scores) if return_scores else indices

    def _query(
        self, X_pool: Any, n: int, *, exclude: Any, warn: bool
    ) -> tuple[np.ndarray, np.ndarray]:
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
                stacklevel=3,
            )
        n = min(n, available)
        if n == 0:
            indices = np.empty(0, dtype=np.int64)
            scores = np.empty(0, dtype=np.float64)
        else:
            indices, scores = self.query_strategy_.query(
                self.query_context(), X_pool, n, exclude=mask
            )
            indices = np.asarray(indices, dtype=np.int64)
            scores = np.asarray(scores, dtype=np.float64)
        self.query_indices_, self.query_scores_ = indices, scores
        return indices, scores

    def _emit_query(
        self, X_pool: Any, indices: np.ndarray, scores: np.ndarray, *, round: int
    ) -> np.ndarray:
        from pseudolabel.plugins import emit_labels_selected

        guesses = (
            self.predict(take_rows(X_pool, indices))
            if indices.shape[0]
            else np.empty(0, dtype=self.classes_.dtype)
        )
        emit_labels_selected(
            source="active_learning",
            round=round,
            indices=indices,
            labels=guesses,
            confidence=scores,
            estimator=self._estimator_name(),
        )
        return guesses

    def _estimator_name(self) -> str:
        est = self._template
        inner = est.get_params().get("estimator")
        return type(inner).__name__ if inner is not None else type(est).__name__

    # -- CEAL: pseudo-labels ------------------------------------------------------------------

    def _start_pseudo(self, n_pool: int) -> Any:
        if self._pseudo_template is None:
            raise ParameterError(
                "pseudo-labeling needs ActiveLearner(pseudo_label=<selection strategy>), e.g. "
                "pseudo_label='ceal'"
            )
        strategy = _fresh(self._pseudo_template)
        classes = self.classes_
        prior = np.array([(self.y_labeled_ == c).sum() for c in classes], dtype=np.float64)
        strategy.start(
            n_classes=len(classes),
            n_labeled=int(self.y_labeled_.shape[0]),
            n_unlabeled=int(n_pool),
            class_prior=prior if prior.sum() > 0 else None,
            random_state=self.rng_,
        )
        return strategy

    def update_pseudo_labels(
        self,
        X_pool: Any,
        *,
        exclude: Any = None,
        round: int | None = None,
        refit: bool = True,
    ) -> ActiveLearner:
        """Re-decide the pseudo-labels of ``X_pool`` (one CEAL round) and optionally refit.

        For manual loops; :meth:`run` calls it every round. The selection strategy sees the
        current model's probabilities of the whole pool; rows in ``exclude`` (those a human
        labeled or declined) are never pseudo-labeled, so human labels always win. A
        ``rebuild`` strategy (``ceal``) replaces the pseudo-set; an accumulating one adds to
        it.

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
        self._check_model("pseudo-label")
        total = n_rows(X_pool)
        human = exclude_mask(exclude, total)
        if getattr(self, "_pseudo_pool_size", None) != total or not hasattr(
            self, "_pseudo_strategy"
        ):  # a new pool: start the strategy's schedule over
            self._pseudo_strategy = self._start_pseudo(total)
            self._pseudo_pool_size = total
            self._pseudo_round = 0
            self._clear_pseudo()
        strategy = self._pseudo_strategy
        if round is None:
            round = getattr(self, "_pseudo_round", 0) + 1
        self._pseudo_round = int(round)
        proba = self._predict_proba_chunked(X_pool)
        keep_idx = self.pseudo_indices_
        keep_lab = self.pseudo_labels_
        keep_w = self._pseudo_weights
        if strategy.rebuild or keep_idx.shape[0] == 0:
            block = human
            keep_idx = np.empty(0, dtype=np.int64)
            keep_lab = np.empty(0, dtype=self.classes_.dtype)
            keep_w = None
        else:
            # accumulate: keep old pseudo-labels except rows a human has labeled since
            if human is not None:
                still = ~human[keep_idx]
                keep_idx, keep_lab = keep_idx[still], keep_lab[still]
                keep_w = None if keep_w is None else keep_w[still]
            block = np.zeros(total, dtype=bool) if human is None else human.copy()
            block[keep_idx] = True
        decision = strategy.select(proba, round=int(round), exclude=block)
        new_idx = np.asarray(decision.indices, dtype=np.int64)
        new_lab = self.classes_[np.asarray(decision.labels, dtype=np.int64)]
        if human is not None and new_idx.shape[0] and human[new_idx].any():
            row = int(new_idx[np.flatnonzero(human[new_idx])[0]])
            raise PluginError(
                f"selection strategy {type(strategy).__name__} pseudo-labeled pool row {row}, "
                "which has a human label and was excluded; a strategy must honour exclude"
            )
        idx = np.concatenate([keep_idx, new_idx])
        labels = np.concatenate([keep_lab, new_lab]) if keep_lab.shape[0] else new_lab
        if decision.weights is None and keep_w is None:
            weights = None
        else:
            old_w = np.ones(keep_idx.shape[0]) if keep_w is None else keep_w
            new_w = (
                np.ones(new_idx.shape[0])
                if decision.weights is None
                else np.asarray(decision.weights, dtype=np.float64)
            )
            weights = np.concatenate([old_w, new_w])
        self.pseudo_indices_ = idx
        self.pseudo_labels_ = labels
        self._pseudo_weights = weights
        self._pseudo_X = self._prepare_X(take_rows(X_pool, idx)) if idx.shape[0] else None
        self.pseudo_thresholds_ = decision.thresholds
        if idx.shape[0]:
            import pandas as pd

            # hash lookup of each label's column: any class order, no loop over rows
            cols = pd.Index(self.classes_).get_indexer(labels)
            self.pseudo_confidence_ = proba[idx, cols].astype(np.float64)
        else:
            self.pseudo_confidence_ = np.empty(0, dtype=np.float64)
        if new_idx.shape[0]:
            from pseudolabel.plugins import emit_labels_selected

            conf = proba[new_idx, np.asarray(decision.labels, dtype=np.int64)]
            emit_labels_selected(
                source="ceal",
                round=int(round),
                indices=new_idx,
                labels=new_lab,
                confidence=conf,
                estimator=self._estimator_name(),
            )
        if refit:
            self.refit()
        return self

    # -- the loop -----------------------------------------------------------------------------

    def run(
        self,
        X_pool: Any,
        oracle: Callable[[np.ndarray], Any],
        *,
        budget: int,
        batch_size: int = 10,
        X_test: Any = None,
        y_test: Any = None,
        scoring: Any = None,
        store: Any = None,
        ids: Any = None,
        annotator: str = "oracle",
    ) -> LearningCurve:
        """Drive the active-learning loop until ``budget`` rows have been sent to the oracle.

        Each round: query ``batch_size`` rows (never a row already asked), ask
        ``oracle(indices)`` for their labels, teach the answers; with ``pseudo_label`` set,
        re-decide the pseudo-labels of the rest of the pool with the same model (CEAL); refit
        once; score on the test set; fire ``pseudolabel_round_end``.

        Parameters
        ----------
        X_pool : array-like of shape (n_rows, n_features)
            The unlabeled pool.
        oracle : callable
            ``oracle(indices) -> labels``: one label per index (pool rows). ``None``, NaN or a
            masked entry means the oracle abstains: the row is not asked again and never
            pseudo-labeled, and still counts against the budget.
        budget : int
            Rows to send to the oracle in total (abstentions included).
        batch_size : int, default=10
            Rows per round (the last round may be smaller).
        X_test, y_test : array-like, optional
            Held-out data; when given, the curve records ``scoring`` after every round.
        scoring : str, callable or None, default=None
            ``None`` is accuracy (:meth:`score`); otherwise a scikit-learn scorer name or a
            ``scorer(estimator, X, y)`` callable.
        store : pseudolabel.store.LabelStore, optional
            Record the loop in a label store: each round's batch (a new store round), the
            oracle's answers (``source="human"``, ``annotator``) and the pseudo-labels
            (``source="pseudo"``, with their confidence), each tagged with the model version.
            Needs ``ids``.
        ids : array-like of shape (n_rows,), optional
            Item id of each pool row, for ``store``.
        annotator : str, default="oracle"
            Recorded as the annotator of the oracle's answers.

        Returns
        -------
        LearningCurve
            One entry per round, round 0 being the model before any query.

        Raises
        ------
        NotFittedError
            Before any :meth:`teach`: the loop needs a first model.
        InputError
            The oracle returned a label outside the label space or the wrong number of labels.
        """
        from pseudolabel.plugins import emit_round_end

        self._check_model("run the active-learning loop")
        if self.n_pending_:
            self.refit()
        for name, value, low in (("budget", budget, 1), ("batch_size", batch_size, 1)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        if (X_test is None) != (y_test is None):
            raise ParameterError("pass both X_test and y_test, or neither")
        scorer = _make_scorer(scoring)
        total = n_rows(X_pool)
        if total == 0:
            raise InputError("X_pool is empty: there is nothing to query")
        space = np.asarray(self._known)
        if store is not None:
            if ids is None:
                raise ParameterError("run(store=...) needs ids=: the item id of every pool row")
            ids = np.asarray(ids)
            if ids.shape != (total,):
                raise ParameterError(
                    f"ids has shape {ids.shape}, expected ({total},): one id per pool row"
                )
            if np.unique(ids).shape[0] != total:
                raise ParameterError("ids must be unique: one id per pool row")
            store.add_classes([str(c) for c in space.tolist()])
        elif ids is not None:
            raise ParameterError("ids= is only used together with store=")
        queried = np.zeros(total, dtype=bool)
        abstained = np.zeros(total, dtype=bool)
        pseudo = self._pseudo_template is not None
        if pseudo:
            self._pseudo_strategy = self._start_pseudo(total)
            self._pseudo_pool_size = total
            self._pseudo_round = 0
            self._clear_pseudo()
        spent = 0
        records: list[dict[str, Any]] = []

        def record(round_: int, n_sel: int, per_class: dict, thresholds: Any, t0: float) -> None:
            score = None if X_test is None else float(scorer(self, X_test, y_test))
            rec = {
                "round": round_,
                "n_labels": int(self.y_labeled_.shape[0]),
                "n_queried": int(spent),
                "n_abstained": int(abstained.sum()),
                "n_pseudo": int(self.pseudo_indices_.shape[0]),
                "score": score,
                "thresholds": thresholds,
                "model_version": self.model_version_,
            }
            records.append(rec)
            self.history_.append(rec)
            emit_round_end(
                source="active_learning",
                estimator=self._estimator_name(),
                round=round_,
                n_selected=n_sel,
                n_selected_per_class=per_class,
                thresholds=_plain_thresholds(thresholds),
                score=score,
                seconds=time.perf_counter() - t0,
                extra={k: rec[k] for k in ("n_labels", "n_queried", "n_abstained", "n_pseudo")},
            )

        record(0, 0, {}, None, time.perf_counter())
        round_ = 0
        while spent < budget:
            t0 = time.perf_counter()
            n = min(batch_size, budget - spent)
            available = total - int(queried.sum())
            if available == 0:
                break
            round_ += 1
            self.round_ += 1
            indices, scores = self._query(X_pool, min(n, available), exclude=queried, warn=False)
            guesses = self._emit_query(X_pool, indices, scores, round=round_)
            answers = oracle(indices.copy())
            values, ok = self._check_answers(answers, indices, space)
            # everything validated: now change state
            version = f"{self._estimator_name()}-v{self.model_version_}"
            if store is not None:
                batch = store.record_batch(
                    ids[indices], scores=scores, guesses=[str(g) for g in guesses.tolist()],
                    model_version=version,
                )
                if ok.any():
                    store.add_labels(
                        ids[indices[ok]], [str(v) for v in values[ok].tolist()],
                        source="human", annotator=annotator, round=batch.round,
                        model_version=version, origin="ActiveLearner.run",
                    )
            queried[indices] = True
            abstained[indices[~ok]] = True
            spent += int(indices.shape[0])
            got = indices[ok]
            if got.shape[0]:
                self._teach(take_rows(X_pool, got), values[ok], refit=False, first=False)
            thresholds = None
            if pseudo:
                self.update_pseudo_labels(X_pool, exclude=queried, round=round_, refit=False)
                thresholds = self.pseudo_thresholds_
                if store is not None and self.pseudo_indices_.shape[0]:
                    store.add_labels(
                        ids[self.pseudo_indices_],
                        [str(v) for v in self.pseudo_labels_.tolist()],
                        source="pseudo", round=batch.round, confidence=self.pseudo_confidence_,
                        model_version=version, allow_new_ids=True, origin="ActiveLearner.run",
                    )
            self.refit()
            labels_got = values[ok]
            per_class = {}
            if labels_got.shape[0]:
                cls, counts = np.unique(labels_got, return_counts=True)
                per_class = {c: int(k) for c, k in zip(cls.tolist(), counts.tolist())}
            record(round_, int(indices.shape[0]), per_class, thresholds, t0)

        return LearningCurve(
            rounds=np.array([r["round"] for r in records], dtype=np.int64),
            n_labels=np.array([r["n_labels"] for r in records], dtype=np.int64),
            n_queried=np.array([r["n_queried"] for r in records], dtype=np.int64),
            n_abstained=np.array([r["n_abstained"] for r in records], dtype=np.int64),
            n_pseudo=np.array([r["n_pseudo"] for r in records], dtype=np.int64),
            scores=None
            if X_test is None
            else np.array([r["score"] for r in records], dtype=np.float64),
            thresholds=[r["thresholds"] for r in records],
        )

    def _check_answers(
        self, answers: Any, indices: np.ndarray, space: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Validate the oracle's answers: (labels as an array, answered mask)."""
        import pandas as pd

        if answers is None:
            raise InputError(
                "the oracle returned None; return one label per queried row (None or NaN "
                "for rows it abstains on)"
            )
        if isinstance(answers, np.ma.MaskedArray):
            missing = np.ma.getmaskarray(answers).reshape(-1)
            raw = np.asarray(answers.data).astype(object)
        else:
            if not hasattr(answers, "__array__") and not isinstance(answers, (list, tuple)):
                answers = list(answers)
            raw = np.asarray(answers)
            if raw.dtype.kind != "O":
                raw = raw.astype(object)
            missing = None
        raw = raw.reshape(-1) if raw.ndim > 1 and raw.size == indices.shape[0] else raw
        if raw.ndim != 1 or raw.shape[0] != indices.shape[0]:
            raise InputError(
                f"the oracle returned {raw.shape[0] if raw.ndim else 'a scalar'} labels for "
                f"{indices.shape[0]} queried rows; return exactly one label (or None) per row"
            )
        isna = np.asarray(pd.isna(raw), dtype=bool)
        if missing is not None:
            isna = isna | missing
        ok = ~isna
        given = raw[ok]
        if given.shape[0]:
            lookup: dict[Any, int] = {}
            space_list = space.tolist()
            for i, c in enumerate(space_list):
                lookup.setdefault(c, i)
            pos = np.empty(given.shape[0], dtype=np.int64)
            for j, v in enumerate(given.tolist()):  # batch-size loop
                v = v.item() if isinstance(v, np.generic) else v
                try:
                    k = lookup.get(v, -1)
                except TypeError:  # unhashable answer
                    k = -1
                if k < 0 or (isinstance(v, bool) != isinstance(space_list[k], bool)):
                    raise InputError(
                        f"the oracle returned label {v!r} for pool row {int(indices[ok][j])}, "
                        f"which is not a known class (known: {space.tolist()}); pass "
                        "classes=[...] to ActiveLearner to declare the full label space"
                    )
                pos[j] = k
        values = np.empty(indices.shape[0], dtype=space.dtype)
        if given.shape[0]:
            values[ok] = space[pos]
        return values, ok

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _fresh(obj: Any) -> Any:
    """An unstarted copy of a strategy (its ``clone()``, else a deep copy)."""
    clone = getattr(obj, "clone", None)
    if callable(clone):
        try:
            return clone()
        except TypeError:
            pass
    return copy.deepcopy(obj)


def _make_scorer(scoring: Any) -> Callable[[Any, Any, Any], float]:
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


def _plain_thresholds(thresholds: Any) -> Any:
    if thresholds is None:
        return None
    arr = np.asarray(thresholds, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else tuple(arr.tolist())

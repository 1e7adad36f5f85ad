"""``ActiveLearner``: ask a human about the rows the model is least sure of.

The learner holds a backend (any scikit-learn classifier, a LightGBM/XGBoost model, or a
registered backend name), the rows labeled so far, and a query strategy from the plugin
registry. It offers the classic loop in pieces (:meth:`ActiveLearner.teach`,
:meth:`ActiveLearner.query`) and whole (:meth:`ActiveLearner.run`, in
:mod:`pseudolabel.active.run`), plus the combined active + self-training loop of CEAL (Wang et
al. 2016) on the shared loop core (:mod:`pseudolabel.active.pseudo_labels`). Query strategies
see the learner only through its :meth:`ActiveLearner.query_context`.
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from pseudolabel._compat import HasMethods, Interval, validate_data, validate_parameters
from pseudolabel._validation import copy_strategy, default_estimator
from pseudolabel.active.curve import LearningCurve
from pseudolabel.active.labels import check_labels, check_no_missing, concat_rows, label_kind
from pseudolabel.active.pseudo_labels import (
    PseudoLabelingMixin,
    PseudoLabels,
    training_rows,
)
from pseudolabel.active.run import (
    emit_query,
    estimator_name,
    first_batch_strategy,
    run_loop,
    run_settings,
)
from pseudolabel.active.stopping import DEFAULT_THRESHOLD, DEFAULT_WINDOW, StoppingSignal
from pseudolabel.exceptions import InputError, ParameterError, PseudolabelWarning
from pseudolabel.strategies.context import LearnerContext, query_pool
from pseudolabel.strategies.typical import NotMeasurable

__all__ = ["ActiveLearner"]


class ActiveLearner(PseudoLabelingMixin, ClassifierMixin, BaseEstimator):
    """Active learning, optionally combined with self-training (CEAL).

    Parameters
    ----------
    estimator : estimator, Backend, str or None, default=None
        The model: a scikit-learn classifier (never modified: a clone is fitted), a
        :class:`pseudolabel.backends.Backend`, or a registered backend name (``"lightgbm"``).
        ``None`` means the library's one default model, a standardized logistic regression
        (``StandardScaler`` + ``LogisticRegression(max_iter=1000)``; without centring for
        sparse input). Until 0.x it was an unscaled ``LogisticRegression(max_iter=1000)``.
    query_strategy : str or QueryStrategy, default="margin"
        Registered query strategy name (``"random"``, ``"least_confident"``, ``"margin"``,
        ``"entropy"``, ``"qbc"``, ``"vote_entropy"``, ``"kl_divergence"``, ``"ranked_batch"``,
        or a plugin's) or an instance (cloned at fit). The default, margin sampling, is the
        strategy a large study of tabular active learning found hard to beat (Bahri et al.
        2022); entropy, the former default, falls below random sampling on many-class
        problems (``benches/bench_active.py``).
    cold_start : "auto", str, QueryStrategy or None, default="auto"
        The strategy of the learner's *first* batch. With a few labels a class, uncertainty
        is a poor guide and typical rows that cover the data do better (Hacohen et al., ICML
        2022). ``"auto"``: ``"typiclust"`` (:mod:`pseudolabel.strategies.typical`) when the
        features are finite numbers (not with text, categorical or missing values, sparse
        input or ``query_strategy="random"``); a name or instance: that strategy; ``None``:
        ``query_strategy`` from the first batch, as every later batch.
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
    cold_start_ : QueryStrategy or None
        The resolved strategy of the first batch (``None``: none, or the first batch was
        asked).
    query_indices_, query_scores_ : ndarray
        Result of the last :meth:`query`, best first.
    pseudo_indices_, pseudo_labels_ : ndarray
        Pool rows (of the pool given to :meth:`run` or :meth:`update_pseudo_labels`) currently
        pseudo-labeled, and their labels.
    pseudo_confidence_ : ndarray of float64
        Probability of each pseudo-label under the model that decided it.
    history_ : list of dict
        One record per round of :meth:`run`.
    stopping_ : StoppingSignal
        The stabilizing-predictions signal of the last :meth:`run` (agreement of successive
        models on the stop set; ``stopping_.stopped``, ``stopping_.message()``).

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

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"]), str, None],
        "query_strategy": [str, HasMethods(["query"])],
        "cold_start": [str, HasMethods(["query"]), None],
        "pseudo_label": [str, HasMethods(["select"]), None],
        "classes": ["array-like", None],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left"), np.random.Generator,
                         np.random.RandomState, None],
    }

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
    cold_start_: Any
    history_: list[dict[str, Any]]
    stopping_: StoppingSignal
    pseudo_indices_: np.ndarray
    pseudo_labels_: np.ndarray
    pseudo_confidence_: np.ndarray
    pseudo_thresholds_: Any
    _template: Any
    _pseudo_template: Any
    _pseudo: PseudoLabels | None
    _known: Any
    _fixed_classes: Any
    _label_kind: str | None

    def __init__(
        self,
        estimator: Any = None,
        *,
        query_strategy: Any = "margin",
        cold_start: Any = "auto",
        pseudo_label: Any = None,
        classes: Any = None,
        chunk_size: int = 65_536,
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.cold_start = cold_start
        self.pseudo_label = pseudo_label
        self.classes = classes
        self.chunk_size = chunk_size
        self.random_state = random_state

    # -- set-up -------------------------------------------------------------------------------

    def _reset(self) -> None:
        from pseudolabel.plugins import as_backend, make_strategy
        from pseudolabel.strategies.base import _as_generator

        validate_parameters(self)
        for attr in list(vars(self)):
            if attr.endswith("_") and not attr.startswith("__"):
                delattr(self, attr)
        # the default model is chosen at the first teach, when the input is known (sparse?)
        self._template = None if self.estimator is None else as_backend(self.estimator).clone()
        self.query_strategy_ = copy_strategy(make_strategy(self.query_strategy, kind="query"))
        self.cold_start_ = first_batch_strategy(self.cold_start, self.query_strategy_)
        self._pseudo_template = (
            None if self.pseudo_label is None
            else copy_strategy(make_strategy(self.pseudo_label, kind="selection"))
        )
        self.rng_ = _as_generator(self.random_state)
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
        self.stopping_ = StoppingSignal(())
        self._set_pseudo(None)

    def _set_pseudo(self, state: PseudoLabels | None) -> None:
        self._pseudo = state
        if state is None or state.pseudo_set.size == 0:
            self.pseudo_indices_ = np.empty(0, dtype=np.int64)
            self.pseudo_labels_ = np.empty(0)
            self.pseudo_confidence_ = np.empty(0, dtype=np.float64)
        else:
            self.pseudo_indices_ = state.pseudo_set.rows
            self.pseudo_labels_ = state.labels
            self.pseudo_confidence_ = state.pseudo_set.confidence
        self.pseudo_thresholds_ = None if state is None else state.thresholds

    def _started(self) -> bool:
        return hasattr(self, "_known") and getattr(self, "y_labeled_", None) is not None

    # -- validation ---------------------------------------------------------------------------

    def _prepare_X(self, X: Any) -> Any:
        """Validate rows to score against the fitted feature count (no attribute changes)."""
        try:
            if hasattr(X, "iloc"):  # a DataFrame goes to the backend as it is (categoricals)
                validate_data(self, X, reset=False, skip_check_array=True)
                return X
            return validate_data(self, X, reset=False, accept_sparse=("csr", "csc"),
                                 ensure_all_finite="allow-nan")
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(str(exc)) from exc

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
        if y is not None:
            check_no_missing(y, what="y")  # before scikit-learn's unnamed "y contains NaN"
        try:
            if hasattr(X, "iloc"):  # a DataFrame (categorical columns, NaN) stays one
                validate_data(self, X, reset=first, skip_check_array=True)
                y = column_or_1d(np.asarray(y))
                if X.shape[0] != y.shape[0]:
                    raise InputError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
            else:  # missing values are the backend's to take or refuse
                X, y = validate_data(self, X, y, reset=first, accept_sparse=("csr", "csc"),
                                     dtype="numeric", ensure_all_finite="allow-nan")
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        y = check_labels(np.asarray(y), what="y", kind=self._label_kind,
                         classes=self._fixed_classes, taught=self.y_labeled_)
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
            self._label_kind = label_kind(y)
        if self._template is None:
            from pseudolabel.plugins import as_backend

            from pseudolabel.features.preprocessing import default_estimator_for

            estimator = default_estimator_for(X)  # a DataFrame with strings / categories
            self._template = as_backend(default_estimator(sparse=sp.issparse(X))
                                        if estimator is None else estimator)
        self.X_labeled_ = concat_rows(self.X_labeled_, X)
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
        X_pseudo, y_pseudo, w_pseudo = training_rows(self._pseudo)
        if X_pseudo is not None:
            X = concat_rows(X, X_pseudo)
            y = np.concatenate([y, y_pseudo])
            if w_pseudo is not None:
                weights = np.concatenate([np.ones(self.y_labeled_.shape[0]), w_pseudo])
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
        indices, scores = self._query(X_pool, n, exclude=exclude, warn=True)
        self.round_ += 1
        self._emit_query(X_pool, indices, scores, round=self.round_)
        return (indices, scores) if return_scores else indices

    def _query(
        self, X_pool: Any, n: int, *, exclude: Any, warn: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        strategy = self.query_strategy_ if self.cold_start_ is None else self.cold_start_
        try:
            indices, scores = query_pool(strategy, self.query_context(), X_pool, n,
                                         exclude=exclude, warn=warn, stacklevel=4)
        except NotMeasurable:
            if strategy is self.query_strategy_ or self.cold_start != "auto":
                raise  # "auto" applies TypiClust to numeric features only
            indices, scores = query_pool(self.query_strategy_, self.query_context(), X_pool, n,
                                         exclude=exclude, warn=warn, stacklevel=4)
        self.cold_start_ = None  # the first batch is asked: the query strategy from now on
        self.query_indices_, self.query_scores_ = indices, scores
        return indices, scores

    def _emit_query(
        self, X_pool: Any, indices: np.ndarray, scores: np.ndarray, *, round: int
    ) -> np.ndarray:
        return emit_query(self, X_pool, indices, scores, round=round)

    def _estimator_name(self) -> str:
        return estimator_name(self._template)

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
        stop: str | None = None,
        stop_set: Any = None,
        stop_threshold: float = DEFAULT_THRESHOLD,
        stop_window: int = DEFAULT_WINDOW,
    ) -> LearningCurve:
        """Drive the active-learning loop until ``budget`` rows have been sent to the oracle.

        Each round: query ``batch_size`` rows (never a row already asked), ask
        ``oracle(indices)`` for their labels, teach the answers; with ``pseudo_label`` set,
        re-decide the pseudo-labels of the rest of the pool with the same model (CEAL); refit
        once; score on the test set; measure the stopping signal; fire
        ``pseudolabel_round_end``.

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
        store, ids, annotator : LabelStore, array-like of shape (n_rows,), str, optional
            Record the loop in a label store: each round's batch (a new store round), the
            oracle's answers (``source="human"``, ``annotator``, default ``"oracle"``) and the
            pseudo-labels (``source="pseudo"``, with their confidence), each tagged with the
            model version; ``ids`` are the pool rows' item ids.
        stop : {None, "stabilized"}, default=None
            ``"stabilized"``: end the loop once the model has stopped changing (stabilizing
            predictions, Bloodgood & Vijay-Shanker 2009): Cohen's kappa of successive models'
            predictions on the stop set at least ``stop_threshold`` for ``stop_window``
            successive rounds. The signal is measured (``stopping_``, the curve's
            ``agreement``) either way.
        stop_set, stop_threshold, stop_window : array-like, float, int, optional
            The rows the signal predicts (default: up to 2000 evenly spaced pool rows), the
            kappa to reach (0.99) and over how many rounds (3), as in the paper.

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
        self._check_model("run the active-learning loop")
        settings = run_settings(
            budget=budget, batch_size=batch_size, X_test=X_test, y_test=y_test,
            scoring=scoring, stop=stop, stop_threshold=stop_threshold, stop_window=stop_window,
        )
        if self.n_pending_:
            self.refit()
        return run_loop(self, X_pool, oracle, settings, X_test=X_test, y_test=y_test,
                        store=store, ids=ids, annotator=annotator, stop_set=stop_set)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

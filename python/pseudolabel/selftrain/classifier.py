"""``SelfTrainingClassifier``: a drop-in replacement for scikit-learn's, with strategies.

With its scikit-learn parameters the class behaves exactly like
``sklearn.semi_supervised.SelfTrainingClassifier`` (same fitted attributes, selection
semantics, termination rules, warnings, verbose messages and errors), while the selection runs
through :mod:`pseudolabel.kernels` and the shared round (:func:`pseudolabel.loop.round.run_round`
over a :class:`~pseudolabel.loop.pseudoset.PseudoSet`). Keyword-only extras add any registered
selection strategy (``strategy=``), a configurable marker for unlabeled rows (``unlabeled=``),
and a ``sample_weight`` that is sliced to the rows each fit uses.
"""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import safe_mask
from sklearn.utils.metadata_routing import process_routing
from sklearn.utils.validation import column_or_1d, has_fit_parameter

from pseudolabel._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_method_params,
    _fit_context,
    _raise_for_params,
    _routing_enabled,
    get_tags,
    validate_data,
)
from pseudolabel._validation import (
    check_estimator_proba,
    check_label_types,
    copy_strategy,
    is_missing_marker,
    unlabeled_mask,
)
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.loop.records import RoundRecord, WeightSummary, plain
from pseudolabel.loop.round import run_round
from pseudolabel.selftrain.delegation import DelegatesToEstimator
from pseudolabel.strategies.base import SelectionStrategy

__all__ = ["SelfTrainingClassifier"]


def _sample_weight_key(estimator: Any) -> str | None:
    """The fit keyword that carries per-row weights to ``estimator``, or None.

    ``sample_weight`` when its ``fit`` takes it; for a ``Pipeline`` (without metadata
    routing), ``<last step>__sample_weight`` when the final step's ``fit`` takes it.
    """
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        if last is not None and last != "passthrough" and _sample_weight_key(last):
            return f"{name}__sample_weight"
        return None
    return "sample_weight" if has_fit_parameter(estimator, "sample_weight") else None


class SelfTrainingClassifier(
    DelegatesToEstimator, ClassifierMixin, MetaEstimatorMixin, BaseEstimator
):
    """Self-training classifier: a drop-in for ``sklearn.semi_supervised.SelfTrainingClassifier``.

    Fits ``estimator`` on the labeled rows, predicts the unlabeled rows, adds the selected
    predictions as pseudo-labels, and refits, until ``max_iter`` rounds, no new pseudo-label,
    or no unlabeled row is left; then fits once more on everything labeled.

    With the scikit-learn parameters the behaviour is scikit-learn's, to the message: a row is
    taken when its largest class probability is strictly above ``threshold``
    (``criterion="threshold"``) or when it is among the ``k_best`` most confident
    (``criterion="k_best"``, ties broken by the lower row index). Code and tests written for
    scikit-learn's class keep working when the import is swapped.

    Parameters
    ----------
    estimator : estimator object
        An estimator implementing ``fit`` and ``predict_proba``. ``fit`` fits a clone of it,
        stored as ``estimator_``. As in scikit-learn, it must be given.
    threshold : float, default=0.75
        Decision threshold for ``criterion="threshold"``, in [0, 1). Use a calibrated
        classifier with it.
    criterion : {"threshold", "k_best"}, default="threshold"
        Selection criterion; ignored when ``strategy`` is given.
    k_best : int, default=10
        Rows added per round with ``criterion="k_best"``, >= 1.
    max_iter : int or None, default=10
        Maximum number of rounds, >= 0; ``None`` runs until no new label is added or every
        row is labeled (for ``rebuild`` strategies: until a pseudo-set repeats one of an
        earlier round, ``termination_condition_ = "no_change"``).
    verbose : bool, default=False
        Print one line per round.
    strategy : str or SelectionStrategy, default=None
        *Keyword-only extra.* A registered selection strategy name (``"flexmatch"``,
        ``"class_balanced"``, ...; looked up in ``fit`` through
        ``pseudolabel.plugins.make_strategy``) or a strategy instance (cloned in ``fit``).
        Overrides ``criterion``, ``threshold`` and ``k_best``. Strategies with ``rebuild``
        re-decide the pseudo-labels of the whole pool every round; those with ``reinitialize``
        start from a fresh clone of ``estimator`` every round; weights a strategy returns are
        passed to the estimator as ``sample_weight``.
    unlabeled : scalar, NaN or None, default=-1
        *Keyword-only extra.* The value of ``y`` that marks an unlabeled row. With another
        marker, -1 is an ordinary class. ``np.nan`` or ``None`` mark missing values (NaN in a
        float ``y``; None or NaN in an object ``y``). A string marker allows a string-dtype
        ``y``.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted estimator.
    classes_ : ndarray of shape (n_classes,)
        Class labels, from ``estimator_``.
    transduction_ : ndarray of shape (n_samples,)
        The labels of the final fit: the given labels plus the pseudo-labels; rows never
        pseudo-labeled keep the ``unlabeled`` marker.
    labeled_iter_ : ndarray of int64, shape (n_samples,)
        Round in which each row got its label: 0 for rows labeled in ``y``, -1 for rows never
        labeled. For ``rebuild`` strategies, the round since which the row's current
        pseudo-label has been held.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during ``fit``, when ``X`` has string column names.
    n_iter_ : int
        Number of self-training rounds (fits on relabeled data, the last fit excluded).
    history_ : list of dict
        *Extra.* One record per round, in ``PseudoLabeler.history_``'s shape (``round``,
        ``n_selected``, ``selected_per_class``, ``n_pseudo``, ``thresholds``,
        ``sample_weight``, ...; no guardrail, so scores are ``None`` and ``decision`` is
        ``"unchecked"``); what :func:`pseudolabel.plot.plot_rounds` draws.
    termination_condition_ : {"max_iter", "no_change", "all_labeled"}
        Why fitting stopped.
    strategy_ : SelectionStrategy
        The started strategy used for the selection (also for the scikit-learn criteria).
    pseudo_weight_ : ndarray of float64, shape (n_samples,)
        Weight of each row in the final fit from the strategy (1 for labeled rows and for
        strategies without weights, 0 for rows left unlabeled). A user ``sample_weight`` is
        multiplied on top of it.

    See Also
    --------
    pseudolabel.PseudoLabeler : our engine, with guardrails and the measured best defaults.

    Notes
    -----
    ``sample_weight`` is sliced to the rows of each fit (labeled plus pseudo-labeled rows).
    scikit-learn's class routes the full-length array to a fit on fewer rows and fails with a
    shape error.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from pseudolabel import SelfTrainingClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> y = y.copy()
    >>> y[np.random.RandomState(42).rand(len(y)) < 0.7] = -1
    >>> clf = SelfTrainingClassifier(LogisticRegression(), strategy="flexmatch").fit(X, y)
    >>> clf.termination_condition_ in ("max_iter", "no_change", "all_labeled")
    True
    """

    _parameter_constraints: dict = {
        # like scikit-learn: predict_proba is checked after the first fit, so that
        # meta-estimators that only expose it once fitted work
        "estimator": [HasMethods(["fit"])],
        "threshold": [Interval(Real, 0.0, 1.0, closed="left")],
        "criterion": [StrOptions({"threshold", "k_best"})],
        "k_best": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left"), None],
        "verbose": ["verbose"],
        "strategy": [str, HasMethods(["start", "select"]), None],
        "unlabeled": "no_validation",
    }

    def __init__(
        self,
        estimator: Any = None,
        threshold: float = 0.75,
        criterion: str = "threshold",
        k_best: int = 10,
        max_iter: int | None = 10,
        verbose: bool = False,
        *,
        strategy: Any = None,
        unlabeled: Any = -1,
    ) -> None:
        self.estimator = estimator
        self.threshold = threshold
        self.criterion = criterion
        self.k_best = k_best
        self.max_iter = max_iter
        self.verbose = verbose
        self.strategy = strategy
        self.unlabeled = unlabeled

    # ------------------------------------------------------------------ set-up helpers

    def _make_strategy(self) -> SelectionStrategy:
        """The strategy for this fit: an unstarted object we own (never the user's)."""
        if self.strategy is None:
            from pseudolabel.strategies.selection import KBestStrategy, ThresholdStrategy

            if self.criterion == "threshold":
                return ThresholdStrategy(threshold=self.threshold)
            return KBestStrategy(k=self.k_best)
        if isinstance(self.strategy, str):
            from pseudolabel.plugins import make_strategy

            strategy = make_strategy(self.strategy, kind="selection")
        else:
            strategy = copy_strategy(self.strategy)
        if not (hasattr(strategy, "start") and hasattr(strategy, "select")):
            raise ParameterError(
                f"strategy {self.strategy!r} is not a selection strategy (it needs start() "
                "and select())"
            )
        return strategy

    def _validate_xy(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        accept = ["csr", "csc", "lil", "dok"]
        if is_missing_marker(self.unlabeled):
            # NaN marks unlabeled rows: y must not go through the finiteness check
            if y is None:
                raise InputError(
                    "requires y to be passed, but the target y is None"
                )
            X = validate_data(self, X, accept_sparse=accept, ensure_all_finite=False)
            y = column_or_1d(np.asarray(y), warn=True)
            if y.shape[0] != X.shape[0]:
                raise InputError(
                    f"X has {X.shape[0]} rows but y has {y.shape[0]} entries"
                )
        else:
            X, y = validate_data(
                self, X, y, accept_sparse=accept, ensure_all_finite=False
            )
        if y.dtype.kind in ("U", "S"):
            if isinstance(self.unlabeled, str):
                y = y.astype(object)
            else:
                raise InputError(
                    "y has dtype string. If you wish to predict on string targets, use "
                    "dtype object, and use -1 as the label for unlabeled samples (or pass "
                    "the marker of unlabeled rows as unlabeled=<string>)."
                )
        return X, y

    def _fit_params(self, X: Any, sample_weight: Any, params: dict) -> dict:
        """Fit parameters for the estimator, full length (sliced per fit later)."""
        if _routing_enabled():
            if sample_weight is not None:
                params = {**params, "sample_weight": sample_weight}
            routed = process_routing(self, "fit", **params)
            return dict(routed.estimator.fit)
        if sample_weight is None:
            return {}
        return {_sample_weight_key(self.estimator_): sample_weight}

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any, sample_weight: Any = None, **params: Any) -> SelfTrainingClassifier:
        """Fit the self-training classifier on ``X``, ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, labeled and unlabeled rows together.
        y : array-like of shape (n_samples,)
            Labels; unlabeled rows hold the ``unlabeled`` marker (-1 by default).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights. Each fit receives the weights of the rows it uses (multiplied
            by the strategy's pseudo-label weights where it returns some).
        **params : dict
            Metadata routed to the estimator when ``enable_metadata_routing=True``
            (arrays of length n_samples are sliced like ``sample_weight``).

        Returns
        -------
        self : SelfTrainingClassifier
            Fitted estimator.
        """
        _raise_for_params(params, self, "fit")
        self.estimator_ = clone(self.estimator)
        X, y, labeled, fit_params = self._check_training_input(X, y, sample_weight, params)
        self.strategy_ = self._make_strategy()
        pseudo_set, any_weights = self._run_rounds(X, y, labeled, fit_params)
        pool = np.flatnonzero(~labeled)
        if self.n_iter_ == self.max_iter:
            self.termination_condition_ = "max_iter"
        if pseudo_set.size == pool.shape[0]:
            self.termination_condition_ = "all_labeled"

        if getattr(self.strategy_, "reinitialize", False) and self.n_iter_ > 0:
            self.estimator_ = clone(self.estimator)
        self._fit_estimator(X, fit_params, any_weights)
        self.classes_ = self.estimator_.classes_
        self.pseudo_weight_ = self._pseudo_weight
        del self._has_label, self._pseudo_weight
        return self

    def _check_training_input(
        self, X: Any, y: Any, sample_weight: Any, params: dict
    ) -> tuple[Any, np.ndarray, np.ndarray, dict]:
        """Validated ``X`` and ``y``, the mask of labeled rows and the estimator's fit params."""
        X, y = self._validate_xy(X, y)
        n_samples = X.shape[0]

        unlabeled = unlabeled_mask(y, self.unlabeled)
        labeled = ~unlabeled
        n_labeled = int(labeled.sum())
        check_label_types(y[labeled])
        if n_labeled == 0:
            raise InputError(
                f"y has no labeled row: all {n_samples} entries are the unlabeled marker "
                f"{self.unlabeled!r}; label at least one row per class"
            )
        if sample_weight is not None:
            sample_weight = column_or_1d(np.asarray(sample_weight), warn=True)
            if sample_weight.shape[0] != n_samples:
                raise InputError(
                    f"sample_weight has {sample_weight.shape[0]} entries but X has "
                    f"{n_samples} rows"
                )
            if not _routing_enabled() and _sample_weight_key(self.estimator_) is None:
                raise ParameterError(
                    f"sample_weight was given but {type(self.estimator_).__name__}.fit does "
                    "not accept sample_weight"
                )
        fit_params = self._fit_params(X, sample_weight, params)

        if n_labeled == n_samples:
            warnings.warn("y contains no unlabeled samples", UserWarning)
        if (
            self.strategy is None
            and self.criterion == "k_best"
            and self.k_best > n_samples - n_labeled
        ):
            warnings.warn(
                "k_best is larger than the amount of unlabeled samples. All unlabeled "
                "samples will be labeled in the first iteration",
                UserWarning,
            )

        return X, y, labeled, fit_params

    def _run_rounds(
        self, X: Any, y: np.ndarray, labeled: np.ndarray, fit_params: dict
    ) -> tuple[PseudoSet, bool]:
        """The self-training rounds; the final pseudo-set and whether any weights were given.

        Sets ``n_iter_`` and, when a round ends the run, ``termination_condition_``.
        """
        strategy = self.strategy_
        n_labeled = int(labeled.sum())
        # the scikit-learn criteria predict only the rows still unlabeled, like scikit-learn;
        # a strategy sees the whole pool every round (with the taken rows excluded unless it
        # rebuilds), so that its pool statistics are whole-pool statistics
        sklearn_mode = self.strategy is None
        rebuild = bool(getattr(strategy, "rebuild", False))
        reinitialize = bool(getattr(strategy, "reinitialize", False))
        pool = np.flatnonzero(~labeled)  # rows of X in the unlabeled pool
        pseudo_set = PseudoSet.empty()
        self._hold(y, labeled, pool, pseudo_set, None)
        any_weights = False
        self.n_iter_ = 0
        self.history_ = []
        started = False
        # pseudo-sets seen so far (rebuild strategies): a repeat ends the run, so a cycle
        # between pseudo-sets cannot loop forever with max_iter=None
        seen = {pseudo_set.key()}

        from pseudolabel.plugins import emit_labels_selected, emit_round_end

        def more_rounds() -> bool:
            if self.max_iter is not None and self.n_iter_ >= self.max_iter:
                return False
            if rebuild:
                # a rebuilt pseudo-set may cover the whole pool and still change next round
                return pool.shape[0] > 0
            return pseudo_set.size < pool.shape[0]

        while more_rounds():
            t_round = time.perf_counter()
            self.n_iter_ += 1
            if reinitialize and self.n_iter_ > 1:
                self.estimator_ = clone(self.estimator)
            self._fit_estimator(X, fit_params, any_weights)
            classes = self.estimator_.classes_
            if not started:
                self._check_predict_proba()
                strategy.start(
                    n_classes=len(classes),
                    n_labeled=n_labeled,
                    n_unlabeled=int(pool.shape[0]),
                    class_prior=self._class_prior(y[labeled], classes),
                    random_state=None,
                )
                started = True
                emit_round_end(
                    source="self_training", estimator=type(self.estimator_).__name__,
                    round=0, n_selected=0,
                )

            result = run_round(
                pseudo_set, strategy=strategy, n_pool=pool.shape[0], n_classes=len(classes),
                predict=lambda rows: self._predict_pool(X, pool[rows], len(classes)),
                round=self.n_iter_, rebuild=rebuild, predict_all=not sklearn_mode,
            )
            pseudo_set = result.pseudo_set
            any_weights = any_weights or result.weights is not None
            if rebuild:
                key = pseudo_set.key()
                changed = key not in seen
                seen.add(key)
            else:
                changed = result.n_selected > 0
            self._hold(y, labeled, pool, pseudo_set, classes)
            self.history_.append(RoundRecord(
                round=self.n_iter_, n_predicted=result.n_predicted,
                n_selected=result.n_selected, n_new=result.n_new,
                selected_per_class={plain(c): int(n) for c, n in zip(classes, result.per_class)},
                n_pseudo=pseudo_set.size, thresholds=plain(result.thresholds),
                sample_weight=WeightSummary.of(pseudo_set.weights, pseudo_set.size),
                validation_score=None, reference_score=None, validation_brier=None,
                reference_brier=None, accepted=True, decision="unchecked", temperature=None,
                seconds=time.perf_counter() - t_round,
            ).as_dict())

            selected = pool[result.rows]
            if result.n_selected:
                emit_labels_selected(
                    source="self_training", round=self.n_iter_, indices=selected,
                    labels=classes[result.labels], confidence=result.confidence,
                    estimator=type(self.estimator_).__name__,
                )
            emit_round_end(
                source="self_training", estimator=type(self.estimator_).__name__,
                round=self.n_iter_, n_selected=result.n_selected,
                n_selected_per_class=dict(zip(classes.tolist(), result.per_class.tolist())),
                thresholds=result.thresholds,
            )

            if not changed:
                self.termination_condition_ = "no_change"
                break

            if self.verbose:
                if rebuild:
                    print(
                        f"End of iteration {self.n_iter_}, pseudo-labeled "
                        f"{result.n_selected} of {pool.shape[0]} unlabeled rows."
                    )
                else:
                    print(f"End of iteration {self.n_iter_}, added {result.n_selected} new "
                          "labels.")

            exhausted = getattr(strategy, "exhausted", None)
            if exhausted is not None and exhausted(self.n_iter_):
                self.termination_condition_ = "no_change"
                break

        return pseudo_set, any_weights

    # ------------------------------------------------------------------ fit helpers

    def _hold(
        self, y: np.ndarray, labeled: np.ndarray, pool: np.ndarray, pseudo_set: PseudoSet,
        classes: np.ndarray | None,
    ) -> None:
        """The per-row state of a pseudo-set: ``transduction_``, ``labeled_iter_``, weights.

        scikit-learn's economy: the labels of the next fit (``transduction_``), which rows it
        uses, each row's round and weight, all over the rows of ``X``.
        """
        rows = pool[pseudo_set.rows]
        self.transduction_ = np.copy(y)
        self._has_label = labeled.copy()
        self.labeled_iter_ = np.where(labeled, 0, -1).astype(np.int64)
        self._pseudo_weight = np.where(labeled, 1.0, 0.0)
        if classes is not None and rows.size:
            self.transduction_[rows] = classes[pseudo_set.labels]
            self._has_label[rows] = True
            self.labeled_iter_[rows] = pseudo_set.round
            self._pseudo_weight[rows] = 1.0 if pseudo_set.weights is None else pseudo_set.weights

    def _fit_estimator(self, X: Any, fit_params: dict, any_weights: bool) -> None:
        rows = self._has_label
        positions = np.flatnonzero(rows)
        params = _check_method_params(X, fit_params, positions) if fit_params else {}
        if any_weights:
            key = "sample_weight" if _routing_enabled() else _sample_weight_key(self.estimator_)
            if key is None:
                raise ParameterError(
                    f"strategy {type(self.strategy_).__name__} returns sample weights for its "
                    f"pseudo-labels but {type(self.estimator_).__name__}.fit does not accept "
                    "sample_weight; use an estimator that does, or another strategy"
                )
            weights = self._pseudo_weight[positions]
            if params.get(key) is not None:
                weights = np.asarray(params[key], dtype=np.float64) * weights
            params[key] = weights
        self.estimator_.fit(X[safe_mask(X, rows)], self.transduction_[rows], **params)

    def _check_predict_proba(self) -> None:
        try:
            self.estimator_.predict_proba  # noqa: B018  (raises AttributeError if absent)
        except AttributeError as exc:
            raise AttributeError(
                f"{exc} -- SelfTrainingClassifier needs an estimator with predict_proba "
                f"(got {type(self.estimator_).__name__}); for SVC use probability=True or "
                "wrap it in CalibratedClassifierCV"
            ) from exc

    def _predict_pool(self, X: Any, rows: np.ndarray, n_classes: int) -> np.ndarray:
        """Probabilities of the rows ``rows`` of ``X`` (checked at the estimator boundary)."""
        mask = np.zeros(X.shape[0], dtype=bool)
        mask[rows] = True
        proba = self.estimator_.predict_proba(X[safe_mask(X, mask)])
        return check_estimator_proba(proba, n_classes=n_classes, rows=rows,
                                     source=type(self.estimator_).__name__)

    @staticmethod
    def _class_prior(y_labeled: np.ndarray, classes: np.ndarray) -> np.ndarray | None:
        uniq, counts = np.unique(y_labeled, return_counts=True)
        if uniq.shape != classes.shape or not np.array_equal(uniq, classes):
            return None
        return counts / counts.sum()

    # ------------------------------------------------------------------ delegation

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator).input_tags
        tags.input_tags.sparse = inner.sparse
        # fit leaves finiteness checks to the estimator (as scikit-learn's class does)
        tags.input_tags.allow_nan = getattr(inner, "allow_nan", False)
        return tags

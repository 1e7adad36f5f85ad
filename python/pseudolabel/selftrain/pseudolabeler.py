"""``PseudoLabeler``: self-training with a guardrail, calibration and a per-round history.

One round of self-training (:func:`pseudolabel.loop.round.run_round`): predict the pool, let
the strategy decide which rows get which pseudo-labels (and weights), refit on labels +
pseudo-labels. ``PseudoLabeler`` adds what a production pipeline needs on top of that loop:

* a **guardrail** (:mod:`pseudolabel.selftrain.guardrail`) that accepts a round only when
  out-of-fold (or held-out) accuracy on the labeled rows does not fall, and rolls it back
  otherwise, so the engine does not make a model worse than the labels alone;
* optional **calibration** of the pool probabilities (temperature scaling fitted on the
  guardrail's out-of-fold predictions, see :mod:`pseudolabel.calibration`);
* **speed** options: continued boosting (``continue_fit``) instead of refitting, per-class
  caps on pseudo-labels, and predicting only the rows still undecided;
* a per-round ``history_`` and the ``pseudolabel_round_end`` /
  ``pseudolabel_labels_selected`` plugin events;
* ``strategy="auto"`` (the default): a portfolio of pseudo-label sources, each guarded, the
  one with the best out-of-fold evidence kept (:mod:`pseudolabel.selftrain.portfolio`).

``fit`` runs named steps: read the input, set up the chains (:mod:`pseudolabel.selftrain.chain`),
score the labels-only baseline, run the rounds of each portfolio member
(:mod:`pseudolabel.selftrain.rounds`), keep the best, fit the final model, set the fitted state.
"""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from pseudolabel import kernels
from pseudolabel._compat import (
    HasMethods,
    Interval,
    ParameterConstraintError,
    StrOptions,
    validate_parameters,
)
from pseudolabel._validation import copy_strategy, default_estimator, numeric_features
from pseudolabel.exceptions import ParameterError, PseudolabelWarning
from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.selftrain.chain import Chain, FitData, fit_chain, make_chains, take_rows
from pseudolabel.selftrain.guardrail import (
    GUARDRAILS,
    Evaluation,
    evaluate,
    make_splits,
    resolve_mode,
)
from pseudolabel.selftrain.rounds import FitRun, run_rounds
from pseudolabel.selftrain.inputs import (
    TrainingInput,
    check_X,
    fitted_rows,
    read_training_input,
)

__all__ = ["PseudoLabeler", "DEFAULT_STRATEGY"]

#: The strategy ``PseudoLabeler()`` uses: the portfolio of :mod:`pseudolabel.selftrain.portfolio`,
#: each member judged by the guardrail on the problem at hand (see the README).
DEFAULT_STRATEGY = "auto"
#: Candidate batches a round tries before it counts as rolled back (default ``max_attempts``)
DEFAULT_MAX_ATTEMPTS = 2


class PseudoLabeler(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Self-training classifier with a guardrail, calibration and per-round history.

    ``PseudoLabeler()`` with no arguments, or with just an estimator, is the recommended
    configuration: the strategy and guardrail defaults come from the quality benchmark in
    ``benches/bench_quality.py`` (see the README).

    Parameters
    ----------
    estimator : estimator object with ``predict_proba``, default=None
        A scikit-learn classifier, wrapped through :func:`pseudolabel.plugins.as_backend`.
        ``None`` (and no ``backend``) uses a scaled logistic regression.
    backend : str or Backend, default=None
        A registered backend name (``"lightgbm"``, ``"xgboost"``, ``"sklearn"``, a plugin's)
        or a :class:`~pseudolabel.backends.base.Backend` instance. Exclusive with
        ``estimator``.
    backend_params : dict, default=None
        Keyword arguments for the backend named by ``backend``.
    strategy : "auto", str or SelectionStrategy, default="auto"
        A registered selection strategy name or a strategy object. The strategy decides which
        rows get which pseudo-labels each round, their sample weights, and whether the
        pseudo-set is rebuilt (``rebuild``) and the model refit from scratch
        (``reinitialize``) every round. ``"auto"`` runs every member of
        :data:`pseudolabel.selftrain.portfolio.PORTFOLIO` with the guardrail and keeps the
        one with the best out-of-fold evidence, or the labels alone when none helps; the
        best is kept only when it gets significantly more out-of-fold rows right than the
        labels alone (paired sign test, one standard error: the best of several members is
        an optimistic estimate), else the labels-only model is (``strategy_`` then names
        the first member and ``termination_condition_`` is ``"guardrail"``) (cost:
        one guarded fit per member, the labels-only fits shared). The plugin round events
        fire for every member's rounds (``extra["strategy"]`` names the member).
    strategy_params : dict, default=None
        Keyword arguments for the strategy named by ``strategy``.
    max_iter : int, default=10
        Maximum number of self-training rounds.
    guardrail : {"auto", "cv", "holdout", "none"}, default="auto"
        How a round is judged. ``"cv"`` runs ``n_folds`` extra self-training chains, each on
        the labeled rows minus one fold, and accepts a round only when the pooled
        out-of-fold evaluation on the labeled rows says it helps; a rejected round is rolled
        back. ``"holdout"`` trains on the labeled rows
        minus a stratified ``holdout_fraction`` and scores on it, then refits once on every
        labeled row and the accepted pseudo-labels (one fit per round instead of
        ``n_folds + 1``). ``"auto"``: ``"cv"`` up to 20,000 rows (labeled + pool), else
        ``"holdout"``. ``"cv"`` on at most 12 labeled rows, or fewer than ``n_folds`` in
        every class (and 2 or more in each), uses leave-one-out chains (``n_labeled + 1``
        fits a round), so small label sets are judged too; on fewer than 60 validation rows
        a round must not lose a row on balance and must lower the Brier score. ``"none"``
        accepts every round. The rule: a round is accepted when it loses no out-of-fold
        row on balance against the labels-only model and it either is significantly more
        accurate than the last accepted round (paired sign test, one standard error) or
        has a Brier score at most ``1 + tolerance`` times that round's.
    n_folds : int, default=3
        Folds for ``guardrail="cv"`` (and for out-of-fold calibration without a guardrail).
    holdout_fraction : float, default=0.25
        Share of the labeled rows held out by ``guardrail="holdout"``.
    tolerance : float, default=0.01
        Relative increase of the out-of-fold Brier score a round may cause and still be
        accepted (see the guardrail rule below).
    patience : int, default=1
        Stop after this many consecutive rolled-back rounds.
    max_attempts : int, default=2
        Candidate batches a round tries: the strategy's selection, then, after a rollback,
        the same selection capped at half as many rows per class, and so on. A round costs
        at most ``max_attempts`` times the fits of one attempt.
    calibration : {"temperature"} or None, default=None
        Calibrate the pool probabilities before selection by temperature scaling fitted on
        out-of-fold predictions for the labeled rows.
    max_pseudo_per_class : int or None, default=None
        Cap on the pseudo-labels of one class added in a round (the most confident are kept).
    continue_training : {"auto", True, False}, default="auto"
        Add ``n_more`` boosting rounds on labels + pseudo-labels (``Backend.continue_fit``)
        instead of refitting from scratch. ``"auto"``: when the backend can and the strategy
        does not ask to reinitialize the model.
    n_more : int, default=25
        Boosting rounds added per self-training round with continued training.
    predict_pool : {"undecided", "all"}, default="undecided"
        Rows predicted each round for strategies that accumulate pseudo-labels: only those
        without one yet, or the whole pool (strategies that rebuild always see the whole
        pool).
    unlabeled : scalar or None, default=-1
        Marker of unlabeled rows in ``y``. ``None`` or ``np.nan`` mark missing values
        (NaN/None) as unlabeled, so that -1 can be a real class.
    classes : array-like or None, default=None
        The full label space. A class listed here with no labeled row is an error; without
        it the classes are those of the labeled rows.
    random_state : int, RandomState or None, default=None
        Seeds fold splits and the strategies.
    verbose : bool, default=False
        Print one line per round.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    backend_ : Backend
        The final fitted backend.
    estimator_ : estimator
        The final fitted scikit-learn estimator, when the backend wraps one.
    transduction_ : ndarray of shape (n_samples,)
        Labels of the training rows (``X`` then ``X_unlabeled``): the given label, the
        accepted pseudo-label, or the unlabeled marker for rows never labeled.
    labeled_iter_ : ndarray of shape (n_samples,)
        Round in which a row got its label: 0 for labeled rows, -1 for never.
    pseudo_confidence_ : ndarray of shape (n_samples,)
        Model confidence of the accepted pseudo-label when it was selected (NaN elsewhere).
    n_iter_ : int
        Rounds run.
    termination_condition_ : {"max_iter", "no_change", "all_labeled", "guardrail"}
    history_ : list of dict
        One record per round: ``round``, ``n_predicted``, ``n_selected``, ``n_new``,
        ``selected_per_class``, ``n_pseudo``, ``thresholds``, ``sample_weight`` (min, mean,
        max, sum of the pseudo-label weights), ``validation_score``, ``reference_score``,
        ``validation_brier``, ``accepted``, ``decision`` (``"accepted"``, ``"rolled_back"``
        or ``"unchecked"``), ``temperature``, ``seconds``, ``validation_ece`` and
        ``reference_ece`` (top-label expected calibration error of the round's and the last
        accepted round's out-of-fold probabilities), ``strategy`` (the portfolio member) and
        ``attempts`` (candidate batches tried).
    portfolio_ : list of dict
        One entry per strategy tried (one unless ``strategy="auto"``): ``strategy``,
        ``validation_score`` and ``validation_brier`` of its last accepted round (the labels
        alone when ``n_accepted`` is 0), ``n_accepted``.
    strategy_ : str
        The strategy whose model was kept.
    guardrail_ : str
        The guardrail mode used ("cv", "holdout" or "none").
    continue_training_ : bool
        Whether rounds added boosting rounds to the model (``continue_fit``) instead of
        refitting it.
    baseline_score_ : float or None
        Out-of-fold / held-out accuracy of the labels-only model.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from pseudolabel import PseudoLabeler
    >>> X, y = load_iris(return_X_y=True)
    >>> y_partial = y.copy()
    >>> y_partial[np.random.default_rng(0).random(len(y)) > 0.2] = -1
    >>> model = PseudoLabeler(random_state=0).fit(X, y_partial)
    >>> model.predict(X[:3])
    array([0, 0, 0])
    """


    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"]), None],
        "backend": [str, HasMethods(["fit", "predict_proba", "clone"]), None],
        "backend_params": [dict, None],
        "strategy": [str, HasMethods(["select"])],
        "strategy_params": [dict, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "guardrail": [StrOptions(set(GUARDRAILS)), "boolean", None],
        "n_folds": [Interval(Integral, 2, None, closed="left")],
        "holdout_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
        "tolerance": [Interval(Real, 0.0, 1.0, closed="both")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "max_attempts": [Interval(Integral, 1, None, closed="left")],
        "calibration": [StrOptions({"temperature"}), None],
        "max_pseudo_per_class": [Interval(Integral, 1, None, closed="left"), None],
        "continue_training": [StrOptions({"auto"}), "boolean"],
        "n_more": [Interval(Integral, 1, None, closed="left")],
        "predict_pool": [StrOptions({"undecided", "all"})],
        "unlabeled": "no_validation",
        "classes": ["array-like", None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        backend=None,
        backend_params=None,
        strategy=DEFAULT_STRATEGY,
        strategy_params=None,
        max_iter=10,
        guardrail="auto",
        n_folds=3,
        holdout_fraction=0.25,
        tolerance=0.01,
        patience=1,
        max_attempts=DEFAULT_MAX_ATTEMPTS,
        calibration=None,
        max_pseudo_per_class=None,
        continue_training="auto",
        n_more=25,
        predict_pool="undecided",
        unlabeled=-1,
        classes=None,
        random_state=None,
        verbose=False,
    ):
        self.estimator = estimator
        self.backend = backend
        self.backend_params = backend_params
        self.strategy = strategy
        self.strategy_params = strategy_params
        self.max_iter = max_iter
        self.guardrail = guardrail
        self.n_folds = n_folds
        self.holdout_fraction = holdout_fraction
        self.tolerance = tolerance
        self.patience = patience
        self.max_attempts = max_attempts
        self.calibration = calibration
        self.max_pseudo_per_class = max_pseudo_per_class
        self.continue_training = continue_training
        self.n_more = n_more
        self.predict_pool = predict_pool
        self.unlabeled = unlabeled
        self.classes = classes
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------------------------
    # set-up: parameters, backend, strategy
    # ----------------------------------------------------------------------------------

    def _check_params(self) -> None:
        """The constraints, then the rules that tie two parameters together."""
        validate_parameters(self)
        for name in ("max_iter", "n_folds", "patience", "max_attempts", "n_more",
                     "max_pseudo_per_class"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)):  # an int to scikit-learn's constraints
                raise ParameterConstraintError(
                    f"The {name!r} parameter of {type(self).__name__} must be an int, not a "
                    f"bool. Got {value!r} instead."
                )
        if self.estimator is not None and self.backend is not None:
            raise ParameterError("pass either estimator= or backend=, not both")
        if self.backend_params and not isinstance(self.backend, str):
            raise ParameterError("backend_params needs backend= set to a backend name")
        if self.strategy_params and not isinstance(self.strategy, str):
            raise ParameterError("strategy_params needs strategy= set to a strategy name")

    def _make_backend(self, X: Any) -> Any:
        """The backend to fit: ``backend``, ``estimator``, or the default model for ``X``
        (a DataFrame with string, category or missing values gets the default preprocessing
        of :mod:`pseudolabel.features.preprocessing`, as ``pseudolabel train`` does)."""
        from pseudolabel import plugins

        if isinstance(self.backend, str):
            return plugins.make_backend(self.backend, **(self.backend_params or {}))
        if self.backend is not None:
            return self.backend.clone()
        estimator = self.estimator
        if estimator is None:
            from pseudolabel.features.preprocessing import default_estimator_for

            estimator = default_estimator_for(X)
            if estimator is None:
                estimator = default_estimator(sparse=sparse.issparse(X))
        if not hasattr(estimator, "predict_proba"):
            raise ParameterError(
                f"estimator {type(estimator).__name__} has no predict_proba: self-training "
                "needs class probabilities (for SVC pass probability=True; wrap other "
                "classifiers in sklearn.calibration.CalibratedClassifierCV)"
            )
        return plugins.as_backend(clone(estimator))

    def _make_strategies(self) -> list[tuple[str, Any]]:
        """The strategies to try, by name: the portfolio for ``"auto"``, else the one given."""
        from pseudolabel import plugins
        from pseudolabel.selftrain.portfolio import portfolio_names

        if self.strategy == "auto":
            return [(name, plugins.make_strategy(name, kind="selection"))
                    for name in portfolio_names()]
        if isinstance(self.strategy, str):
            return [(self.strategy, plugins.make_strategy(
                self.strategy, kind="selection", **(self.strategy_params or {})
            ))]
        strategy = copy_strategy(self.strategy)
        return [(str(getattr(strategy, "name", type(strategy).__name__)), strategy)]

    # ----------------------------------------------------------------------------------
    # fit
    # ----------------------------------------------------------------------------------

    def fit(self, X, y, X_unlabeled=None, sample_weight=None):
        """Self-train on the labeled rows of ``X`` and the unlabeled pool.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels; rows equal to ``unlabeled`` (default -1) belong to the pool.
        X_unlabeled : same type as X, default=None
            More unlabeled rows, appended to the pool.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows of ``X``: labeled rows keep theirs, pseudo-labeled rows of
            ``X`` multiply it into the strategy's weight.

        Returns
        -------
        self : PseudoLabeler
        """
        started = time.perf_counter()
        self._check_params()
        train = read_training_input(self, X, y, X_unlabeled, sample_weight)
        self.classes_ = train.classes
        if train.pool_rows.size == 0:
            warnings.warn("y contains no unlabeled samples", PseudolabelWarning, stacklevel=2)
        from pseudolabel.selftrain.portfolio import (
            Member,
            beats_labels_alone,
            best_member,
            labels_only,
        )

        if self.strategy == "auto" and self.strategy_params:
            raise ParameterError("strategy_params needs strategy= set to a strategy name")
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        prototype = self._make_backend(train.X)
        members: list[Member] = []
        first: FitRun | None = None
        baseline: Evaluation | None = None
        numeric = numeric_features(train.X)
        for name, strategy in self._make_strategies():
            if (self.strategy == "auto" and not numeric
                    and getattr(strategy, "needs_numeric_features", False)):
                continue  # e.g. a graph over categorical columns: not a candidate here
            run = self._set_up(train, strategy, name, seed, prototype, first)
            if first is None:
                first = run
                baseline = self._baseline(run, started)
            run_rounds(self, run, baseline)
            members.append(Member(name, run.reference, run.n_accepted, {
                "run": run, "history_": self.history_, "n_iter_": self.n_iter_,
                "termination_condition_": self.termination_condition_,
            }))
        kept = best_member(members)
        if len(members) > 1 and not beats_labels_alone(kept, baseline):
            kept = labels_only(members[0])  # the best of several, but not significantly
        run = kept.state["run"]
        self.history_ = kept.state["history_"]
        self.n_iter_ = kept.state["n_iter_"]
        self.termination_condition_ = kept.state["termination_condition_"]
        self.portfolio_ = [member.summary() for member in members]
        self.strategy_ = kept.name
        self.continue_training_ = run.continued
        self._fit_final_model(run)
        self._set_fitted_state(train, run.main.pseudo_set, X_unlabeled is not None)
        return self

    def _set_up(
        self, train: TrainingInput, strategy: Any, strategy_name: str, seed: int,
        prototype: Any, first: FitRun | None,
    ) -> FitRun:
        """Guardrail mode and the started, fitted chains of one strategy.

        ``first`` is the first portfolio member's set-up: its labels-only models are shared
        (the splits depend only on the seed), so a member costs no extra labels-only fits.
        """
        reinitialize = bool(getattr(strategy, "reinitialize", False))
        can_continue = bool(getattr(getattr(prototype, "capabilities", None),
                                    "continued_training", False))
        if self.continue_training is True and not can_continue:
            raise ParameterError(
                f"continue_training=True but backend {getattr(prototype, 'name', prototype)!r} "
                "cannot continue training"
            )
        n_classes = train.classes.size
        n_labeled = train.labeled_rows.size
        if first is not None:
            mode = first.mode
            splits = [(c.train, c.val) for c in first.chains if c is not first.main] or None
            if mode == "holdout":
                splits = [(first.main.train, first.main.val)]
        else:
            mode = resolve_mode(self.guardrail, train.n_rows)
            splits = make_splits(mode, train.y_encoded, n_classes, seed, n_folds=self.n_folds,
                                 holdout_fraction=self.holdout_fraction)
        if splits is None and mode != "none":
            warnings.warn(
                f"too few labeled rows ({n_labeled}) for guardrail={mode!r}; every round "
                "is accepted unchecked",
                PseudolabelWarning,
                stacklevel=3,
            )
            mode = "none"
        self.guardrail_ = mode
        chains, main = make_chains(mode, splits, strategy, n_labeled)
        data = first.data if first is not None else FitData(
            X_labeled=take_rows(train.X, train.labeled_rows),
            X_pool=take_rows(train.X, train.pool_rows), y_encoded=train.y_encoded,
            labeled_rows=train.labeled_rows, pool_rows=train.pool_rows,
            sample_weight=train.sample_weight, n_classes=n_classes, prototype=prototype,
            seed=seed, n_more=self.n_more,
        )
        class_prior = np.bincount(train.y_encoded, minlength=n_classes) / n_labeled
        for chain in chains:
            if hasattr(chain.strategy, "start"):
                chain.strategy.start(
                    n_classes=n_classes, n_labeled=int(chain.train.size),
                    n_unlabeled=int(train.pool_rows.size), class_prior=class_prior,
                    random_state=seed,
                )
        for i, chain in enumerate(chains):
            chain.backend = (fit_chain(data, chain, chain.pseudo_set, from_scratch=True)
                             if first is None else first.initial[i])
        name = (type(self.estimator).__name__ if self.estimator is not None
                else str(getattr(prototype, "name", type(prototype).__name__)))
        return FitRun(
            data=data, chains=chains, main=main, eval_chains=[c for c in chains if c.val.size],
            mode=mode, rebuild=bool(getattr(strategy, "rebuild", False)),
            reinitialize=reinitialize,
            continued=bool(self.continue_training) and can_continue and not reinitialize,
            estimator_name=name, strategy_name=strategy_name,
            initial=[chain.backend for chain in chains],
        )

    def _baseline(self, run: FitRun, started: float) -> Evaluation | None:
        """Round 0: the labels-only models' evaluation, reported as the baseline."""
        from pseudolabel import plugins

        baseline = evaluate(run.data, run.eval_chains)
        self.baseline_score_ = None if baseline is None else baseline.accuracy
        self.baseline_brier_ = None if baseline is None else baseline.brier
        plugins.emit_round_end(
            source="self_training", estimator=run.estimator_name, round=0, n_selected=0,
            score=self.baseline_score_, accepted=True, seconds=time.perf_counter() - started,
            extra={"decision": "baseline", "guardrail": run.mode},
        )
        self._log(
            f"round 0: labels only ({run.data.y_encoded.size} labeled, "
            f"{run.data.pool_rows.size} in the pool), guardrail {run.mode}"
            + ("" if baseline is None else f", validation {baseline.accuracy:.4f}")
        )
        return baseline

    def _fit_final_model(self, run: FitRun) -> None:
        """The model users get: the main chain's, refit on every labeled row after a holdout."""
        main = run.main
        if run.mode == "holdout":
            final = Chain(np.arange(run.data.y_encoded.size), np.empty(0, np.int64), None)
            self.backend_ = fit_chain(run.data, final, main.pseudo_set, from_scratch=True)
        else:
            self.backend_ = main.backend
        estimator = getattr(self.backend_, "estimator_", None)
        if estimator is None:
            estimator = getattr(self.backend_, "estimator", None)
        if estimator is not None:
            self.estimator_ = estimator

    def _set_fitted_state(
        self, train: TrainingInput, pseudo_set: PseudoSet, has_more_rows: bool
    ) -> None:
        """``transduction_``, ``labeled_iter_`` and ``pseudo_confidence_`` over the rows."""
        self.transduction_, self.labeled_iter_, self.pseudo_confidence_ = fitted_rows(
            train, pseudo_set, self.unlabeled, has_more_rows
        )

    def _log(self, message: str) -> None:
        if self.verbose:
            print(f"[PseudoLabeler] {message}", flush=True)

    # ----------------------------------------------------------------------------------
    # prediction
    # ----------------------------------------------------------------------------------

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "backend_")
        return self.backend_.predict_proba(check_X(self, X, reset=False))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Most probable class of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        if proba.shape[0] == 0:
            return self.classes_[np.empty(0, np.int64)]
        return self.classes_[kernels.summarize(proba).label]

    def score(self, X, y, sample_weight=None):
        """Accuracy on the labeled rows of ``X``, ``y``.

        Rows whose label is the ``unlabeled`` marker are ignored, so that a partly labeled
        test fold (``cross_val_score``, ``GridSearchCV``) scores its labeled rows only; for
        other metrics use :func:`pseudolabel.model_selection.make_labeled_scorer`.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float

        Raises
        ------
        InputError
            Every row of ``y`` is unlabeled.
        """
        from pseudolabel.model_selection import labeled_subset

        X, y, sample_weight = labeled_subset(X, y, sample_weight, unlabeled=self.unlabeled)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        return tags

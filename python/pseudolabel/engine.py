"""``PseudoLabeler``: the self-training engine with a guardrail.

One round of self-training: predict the pool, let the strategy decide which rows get which
pseudo-labels (and weights), refit on labels + pseudo-labels. ``PseudoLabeler`` adds what a
production pipeline needs on top of that loop:

* a **guardrail** that accepts a round only when out-of-fold (or held-out) accuracy on the
  labeled rows does not fall, and rolls it back otherwise, so the engine does not make a
  model worse than the labels alone;
* optional **calibration** of the pool probabilities (temperature scaling fitted on the
  guardrail's out-of-fold predictions, see :mod:`pseudolabel.calibration`);
* **speed** options: continued boosting (``continue_fit``) instead of refitting, per-class
  caps on pseudo-labels, and predicting only the rows still undecided;
* a per-round ``history_`` and the ``pseudolabel_round_end`` /
  ``pseudolabel_labels_selected`` plugin events.

Scoring and selection run through :mod:`pseudolabel.kernels` (via the strategies); this module
only orchestrates.
"""

from __future__ import annotations

import copy
import numbers
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from pseudolabel import kernels
from pseudolabel._compat import safe_indexing, validate_data
from pseudolabel._validation import check_label_types
from pseudolabel.exceptions import (
    BackendError,
    InputError,
    ParameterError,
    ProbabilityError,
    PseudolabelWarning,
)

__all__ = ["PseudoLabeler", "DEFAULT_STRATEGY"]

#: The strategy ``PseudoLabeler()`` uses; chosen from ``benches/bench_quality.py`` (see README).
DEFAULT_STRATEGY = "class_balanced"

_GUARDRAILS = ("auto", "cv", "holdout", "none")
_CALIBRATIONS = ("temperature",)
# "auto" guardrail: cross-fitted chains (n_folds + 1 fits a round) up to this many rows in
# all, a held-out split (one fit a round) above, where fits are expensive and labels many
_AUTO_CV_MAX_ROWS = 20_000


# --------------------------------------------------------------------------------------
# small helpers over numpy / sparse / pandas rows
# --------------------------------------------------------------------------------------


def _is_dataframe(X: Any) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "columns")


def _take(X: Any, idx: np.ndarray) -> Any:
    return safe_indexing(X, idx, axis=0)


def _stack(parts: list[Any]) -> Any:
    parts = [p for p in parts if p.shape[0] > 0] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    if _is_dataframe(parts[0]):
        import pandas as pd

        return pd.concat(parts, axis=0, ignore_index=True)
    if any(sparse.issparse(p) for p in parts):
        return sparse.vstack(parts, format="csr")
    return np.concatenate(parts, axis=0)


def _default_estimator(sparse_input: bool) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(with_mean=not sparse_input), LogisticRegression(max_iter=1000)
    )


def _unlabeled_mask(y: np.ndarray, marker: Any) -> np.ndarray:
    """Boolean mask of the rows of ``y`` equal to the unlabeled marker (NaN/None: missing)."""
    if marker is None or (isinstance(marker, float) and np.isnan(marker)):
        import pandas as pd

        return np.asarray(pd.isna(y), dtype=bool)
    if y.dtype.kind in "OUS":
        y = y.astype(object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = y == marker
    return np.asarray(mask, dtype=bool).reshape(y.shape)


def _weights_summary(w: np.ndarray | None, n: int) -> dict[str, float]:
    if n == 0:
        return {"min": float("nan"), "mean": float("nan"), "max": float("nan"), "sum": 0.0}
    if w is None:
        return {"min": 1.0, "mean": 1.0, "max": 1.0, "sum": float(n)}
    return {
        "min": float(w.min()),
        "mean": float(w.mean()),
        "max": float(w.max()),
        "sum": float(w.sum()),
    }


def _to_python(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------------------
# one self-training chain: a training set (labeled rows + pseudo-set) and its model
# --------------------------------------------------------------------------------------


@dataclass
class _Chain:
    """One self-training run over a subset of the labeled rows.

    The main chain trains on every labeled row; guardrail chains leave a fold out and are
    scored on it. All chains see the whole pool.
    """

    train: np.ndarray  # indices into the labeled rows used for training
    val: np.ndarray  # indices into the labeled rows used for evaluation (may be empty)
    strategy: Any
    backend: Any = None
    # pseudo-set, as pool indices / encoded labels / weights / confidence / round
    p_idx: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    p_lab: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    p_w: np.ndarray | None = None
    p_conf: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    p_iter: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    n_boost: int = 0  # continued-boosting rounds added on top of the first fit

    def state(self) -> tuple:
        return (self.backend, self.p_idx, self.p_lab, self.p_w, self.p_conf, self.p_iter,
                self.n_boost)

    def restore(self, state: tuple) -> None:
        (self.backend, self.p_idx, self.p_lab, self.p_w, self.p_conf, self.p_iter,
         self.n_boost) = state


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
    strategy : str or SelectionStrategy, default=DEFAULT_STRATEGY
        A registered selection strategy name or a strategy object. The strategy decides which
        rows get which pseudo-labels each round, their sample weights, and whether the
        pseudo-set is rebuilt (``rebuild``) and the model refit from scratch
        (``reinitialize``) every round.
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
        ``"holdout"``.
        ``"none"`` accepts every round. The rule: a round is accepted when its out-of-fold
        accuracy is not significantly below the labels-only model's (paired sign test, one
        standard error) and it either is significantly more accurate than the last accepted
        round or has a Brier score at most ``1 + tolerance`` times that round's.
    n_folds : int, default=3
        Folds for ``guardrail="cv"`` (and for out-of-fold calibration without a guardrail).
    holdout_fraction : float, default=0.25
        Share of the labeled rows held out by ``guardrail="holdout"``.
    tolerance : float, default=0.01
        Relative increase of the out-of-fold Brier score a round may cause and still be
        accepted (see the guardrail rule below).
    patience : int, default=1
        Stop after this many consecutive rolled-back rounds.
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
        or ``"unchecked"``), ``temperature`` and ``seconds``.
    guardrail_ : str
        The guardrail mode used ("cv", "holdout" or "none").
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
    # parameter checks
    # ----------------------------------------------------------------------------------

    def _check_params(self) -> None:
        def integer(name: str, low: int, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
                    or value < low):
                raise ParameterError(
                    f"{name} must be an integer >= {low}"
                    f"{' or None' if allow_none else ''}, got {value!r}"
                )

        integer("max_iter", 1)
        integer("n_folds", 2)
        integer("patience", 1)
        integer("n_more", 1)
        integer("max_pseudo_per_class", 1, allow_none=True)
        if self.guardrail not in _GUARDRAILS and self.guardrail not in (True, False, None):
            raise ParameterError(
                f"guardrail must be one of {', '.join(map(repr, _GUARDRAILS))}, "
                f"True or False; got {self.guardrail!r}"
            )
        if not isinstance(self.holdout_fraction, numbers.Real) or not (
            0.0 < float(self.holdout_fraction) < 1.0
        ):
            raise ParameterError(
                f"holdout_fraction must be in (0, 1), got {self.holdout_fraction!r}"
            )
        if not isinstance(self.tolerance, numbers.Real) or not 0.0 <= float(self.tolerance) <= 1.0:
            raise ParameterError(f"tolerance must be in [0, 1], got {self.tolerance!r}")
        if self.calibration is not None and self.calibration not in _CALIBRATIONS:
            raise ParameterError(
                f"calibration must be None or one of {', '.join(map(repr, _CALIBRATIONS))}, "
                f"got {self.calibration!r}"
            )
        if self.continue_training not in ("auto", True, False):
            raise ParameterError(
                f"continue_training must be 'auto', True or False, got "
                f"{self.continue_training!r}"
            )
        if self.predict_pool not in ("undecided", "all"):
            raise ParameterError(
                f"predict_pool must be 'undecided' or 'all', got {self.predict_pool!r}"
            )
        if self.estimator is not None and self.backend is not None:
            raise ParameterError("pass either estimator= or backend=, not both")
        if self.backend_params is not None and not isinstance(self.backend_params, dict):
            raise ParameterError(
                f"backend_params must be a dict or None, got {type(self.backend_params)}"
            )
        if self.backend_params and not isinstance(self.backend, str):
            raise ParameterError("backend_params needs backend= set to a backend name")
        if self.strategy_params is not None and not isinstance(self.strategy_params, dict):
            raise ParameterError(
                f"strategy_params must be a dict or None, got {type(self.strategy_params)}"
            )
        if self.strategy_params and not isinstance(self.strategy, str):
            raise ParameterError("strategy_params needs strategy= set to a strategy name")

    def _make_backend(self, sparse_input: bool) -> Any:
        from pseudolabel import plugins

        if self.backend is not None:
            if isinstance(self.backend, str):
                return plugins.make_backend(self.backend, **(self.backend_params or {}))
            if hasattr(self.backend, "fit") and hasattr(self.backend, "predict_proba") and (
                hasattr(self.backend, "clone")
            ):
                return self.backend.clone()
            raise ParameterError(
                f"backend must be a registered backend name or a Backend, got "
                f"{type(self.backend).__name__}"
            )
        estimator = (
            _default_estimator(sparse_input) if self.estimator is None else self.estimator
        )
        if not hasattr(estimator, "predict_proba"):
            raise ParameterError(
                f"estimator {type(estimator).__name__} has no predict_proba: self-training "
                "needs class probabilities (for SVC pass probability=True; wrap other "
                "classifiers in sklearn.calibration.CalibratedClassifierCV)"
            )
        return plugins.as_backend(clone(estimator))

    def _make_strategy(self) -> Any:
        from pseudolabel import plugins

        if isinstance(self.strategy, str):
            return plugins.make_strategy(
                self.strategy, kind="selection", **(self.strategy_params or {})
            )
        if self.strategy is None:
            raise ParameterError("strategy must be a strategy name or object, got None")
        if not hasattr(self.strategy, "select"):
            raise ParameterError(
                f"strategy must be a registered strategy name or a SelectionStrategy, got "
                f"{type(self.strategy).__name__}"
            )
        return copy.deepcopy(self.strategy)

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
        t_start = time.perf_counter()
        self._check_params()
        X, y, n_x = self._validate_fit_input(X, y, X_unlabeled)
        n_total = X.shape[0]

        mask_unl = _unlabeled_mask(y, self.unlabeled)
        if X_unlabeled is not None:
            mask_unl[n_x:] = True
        lab_rows = np.flatnonzero(~mask_unl)
        pool_rows = np.flatnonzero(mask_unl)
        if lab_rows.size == 0:
            raise InputError(
                f"y has no labeled rows: all {n_total} rows are marked unlabeled "
                f"(unlabeled={self.unlabeled!r}); self-training needs some labels"
            )
        y_lab = y[lab_rows]
        check_label_types(y_lab)
        if y_lab.dtype.kind == "f" and np.isnan(y_lab.astype(float)).any():
            bad = lab_rows[np.isnan(y_lab.astype(float))][0]
            raise InputError(
                f"y holds NaN at row {bad}; mark unlabeled rows with the unlabeled marker "
                f"({self.unlabeled!r}) or pass unlabeled=np.nan"
            )
        if y_lab.dtype.kind == "O":
            import pandas as pd

            missing = np.asarray(pd.isna(y_lab), dtype=bool)
            if missing.any():
                raise InputError(
                    f"y holds a missing value at row {lab_rows[missing][0]}; pass "
                    "unlabeled=None to treat missing values as unlabeled"
                )
        check_classification_targets(y_lab)
        try:
            found = np.unique(y_lab)
        except TypeError as exc:
            raise InputError(f"y mixes label types that cannot be ordered: {exc}") from exc

        if self.classes is not None:
            classes = np.asarray(self.classes)
            if classes.ndim != 1 or len(np.unique(classes)) != len(classes):
                raise ParameterError("classes must be a 1-d array of distinct labels")
            classes = np.unique(classes)
            unknown = np.setdiff1d(found, classes)
            if unknown.size:
                raise InputError(
                    f"y holds labels not listed in classes: {unknown.tolist()[:10]}"
                )
            absent = np.setdiff1d(classes, found)
            if absent.size:
                raise InputError(
                    f"class {_to_python(absent[0])!r} has no labeled row (classes without labels: "
                    f"{absent.tolist()[:10]}); give at least one labeled example per class"
                )
        else:
            classes = found
        if classes.size < 2:
            raise InputError(
                f"the labeled rows hold only one class ({classes[0]!r}); self-training "
                "needs labeled rows of at least 2 classes"
            )
        self.classes_ = classes
        n_classes = classes.size
        y_enc = np.searchsorted(classes, y_lab).astype(np.int64)

        sw = None
        if sample_weight is not None:
            sw = column_or_1d(np.asarray(sample_weight, dtype=np.float64))
            if sw.shape[0] != n_x:
                raise InputError(
                    f"sample_weight has {sw.shape[0]} entries, X has {n_x} rows"
                )
            if not np.all(np.isfinite(sw)) or (sw < 0).any():
                raise InputError("sample_weight must be finite and non-negative")
            sw = np.concatenate([sw, np.ones(n_total - n_x)])

        if pool_rows.size == 0:
            warnings.warn("y contains no unlabeled samples", PseudolabelWarning, stacklevel=2)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        proto = self._make_backend(sparse.issparse(X))
        strategy_proto = self._make_strategy()
        reinit = bool(getattr(strategy_proto, "reinitialize", False))
        rebuild = bool(getattr(strategy_proto, "rebuild", False))
        caps = getattr(proto, "capabilities", None)
        can_continue = bool(getattr(caps, "continued_training", False))
        if self.continue_training is True and not can_continue:
            raise ParameterError(
                f"continue_training=True but backend {getattr(proto, 'name', proto)!r} "
                "cannot continue training"
            )
        self._continue = bool(self.continue_training) and can_continue and not reinit

        # ---- the chains ---------------------------------------------------------------
        n_lab = lab_rows.size
        mode = self.guardrail
        if mode is True:
            mode = "auto"
        if mode is False or mode is None:
            mode = "none"
        if mode == "auto":
            mode = "cv" if n_total <= _AUTO_CV_MAX_ROWS else "holdout"
        splits = self._splits(mode, y_enc, n_classes, seed)
        if splits is None:
            if mode != "none":
                warnings.warn(
                    f"too few labeled rows ({n_lab}) for guardrail={mode!r}; every round is "
                    "accepted unchecked",
                    PseudolabelWarning,
                    stacklevel=2,
                )
            mode = "none"
        self.guardrail_ = mode
        everything = np.arange(n_lab)
        empty = np.empty(0, np.int64)

        def strategy_copy():
            return copy.deepcopy(strategy_proto)

        if mode == "cv":
            chains = [_Chain(tr, va, strategy_copy()) for tr, va in splits]
            main = _Chain(everything, empty, strategy_copy())
            chains.append(main)
        elif mode == "holdout":
            tr, va = splits[0]
            main = _Chain(tr, va, strategy_copy())
            chains = [main]
        else:
            main = _Chain(everything, empty, strategy_copy())
            chains = [main]
        eval_chains = [c for c in chains if c.val.size]

        ctx = _FitContext(
            X=X, y_enc=y_enc, lab_rows=lab_rows, pool_rows=pool_rows, sw=sw,
            n_classes=n_classes, proto=proto, seed=seed,
        )
        ctx.X_lab = _take(X, lab_rows)
        ctx.X_pool = _take(X, pool_rows)
        class_prior = np.bincount(y_enc, minlength=n_classes) / n_lab
        for chain in chains:
            if hasattr(chain.strategy, "start"):
                chain.strategy.start(
                    n_classes=n_classes,
                    n_labeled=int(chain.train.size),
                    n_unlabeled=int(pool_rows.size),
                    class_prior=class_prior,
                    random_state=seed,
                )
            chain.backend = self._fit_chain(ctx, chain, chain.p_idx, chain.p_lab, chain.p_w,
                                            from_scratch=True)

        # round 0: the labels-only reference
        base_eval = self._evaluate(ctx, eval_chains)
        ref_acc, ref_brier, oof_p, oof_y, base_correct = base_eval
        ref_correct = base_correct
        self.baseline_score_ = ref_acc
        self.baseline_brier_ = ref_brier
        temperature = None
        if self.calibration == "temperature":
            if oof_p is None:
                oof_p, oof_y = self._oof_predictions(ctx, seed)
            temperature = self._fit_temperature(oof_p, oof_y)

        self.history_: list[dict[str, Any]] = []
        self.n_iter_ = 0
        self.termination_condition_ = "max_iter"
        rolled_back = 0
        from pseudolabel import plugins

        self._estimator_name = (
            type(self.estimator).__name__ if self.estimator is not None
            else str(getattr(proto, "name", type(proto).__name__))
        )
        plugins.emit_round_end(
            source="self_training", estimator=self._estimator_name, round=0, n_selected=0,
            score=ref_acc, accepted=True, seconds=time.perf_counter() - t_start,
            extra={"decision": "baseline", "guardrail": mode},
        )
        self._log(
            f"round 0: labels only ({n_lab} labeled, {pool_rows.size} in the pool), "
            f"guardrail {mode}"
            + ("" if ref_acc is None else f", validation {ref_acc:.4f}")
        )

        if pool_rows.size == 0:
            self.termination_condition_ = "all_labeled"
        for rnd in range(1, self.max_iter + 1) if pool_rows.size else ():
            t0 = time.perf_counter()
            saved = [c.state() for c in chains]
            records = []
            for chain in chains:
                records.append(
                    self._round(ctx, chain, rnd, temperature, rebuild)
                )
            main_rec = records[-1] if mode == "cv" else records[0]
            self.n_iter_ = rnd
            if main_rec["stop"] is not None:
                for chain, state in zip(chains, saved):
                    chain.restore(state)
                self.termination_condition_ = main_rec["stop"]
                self._log(f"round {rnd}: {main_rec['stop_message']}; stopping")
                self.n_iter_ = rnd - 1
                break
            for chain, rec in zip(chains, records):
                if rec["stop"] is None:
                    chain.backend = self._fit_chain(
                        ctx, chain, rec["p_idx"], rec["p_lab"], rec["p_w"],
                        from_scratch=reinit or not self._continue,
                    )
            if mode == "none":
                acc = brier = None
                reference_brier = None
                accepted, decision = True, "unchecked"
            else:
                acc, brier, fold_p, fold_y, correct = self._evaluate(ctx, eval_chains)
                accepted = _accept(brier, ref_brier, correct, ref_correct, base_correct,
                                   self.tolerance)
                decision = "accepted" if accepted else "rolled_back"
            reference, reference_brier = ref_acc, ref_brier
            if accepted:
                for chain, rec in zip(chains, records):
                    if rec["stop"] is None:
                        chain.p_idx, chain.p_lab, chain.p_w = rec["p_idx"], rec["p_lab"], rec["p_w"]
                        chain.p_conf, chain.p_iter = rec["p_conf"], rec["p_iter"]
                if mode != "none":
                    ref_acc, ref_brier, ref_correct = acc, brier, correct
                    if self.calibration == "temperature":
                        temperature = self._fit_temperature(fold_p, fold_y)
                rolled_back = 0
            else:
                for chain, state in zip(chains, saved):
                    chain.restore(state)
                rolled_back += 1
            rec = main_rec
            record = {
                "round": rnd,
                "n_predicted": rec["n_predicted"],
                "n_selected": rec["n_selected"],
                "n_new": rec["n_new"],
                "selected_per_class": {
                    _to_python(c): int(n) for c, n in zip(classes, rec["per_class"])
                },
                "n_pseudo": int(rec["p_idx"].size),
                "thresholds": _to_python(rec["thresholds"]),
                "sample_weight": _weights_summary(rec["p_w"], rec["p_idx"].size),
                "validation_score": acc,
                "reference_score": None if mode == "none" else reference,
                "validation_brier": brier,
                "reference_brier": reference_brier,
                "accepted": accepted,
                "decision": decision,
                "temperature": temperature,
                "seconds": time.perf_counter() - t0,
            }
            self.history_.append(record)
            self._emit(plugins, record, rec, pool_rows)
            self._log(
                f"round {rnd}: selected {rec['n_selected']} ({rec['n_new']} new), pseudo-set "
                f"{record['n_pseudo']}, validation "
                f"{'-' if acc is None else f'{acc:.4f}'} vs {'-' if mode == 'none' else f'{reference:.4f}'}"
                f" -> {decision} ({record['seconds']:.2f}s)"
            )
            if rolled_back >= self.patience:
                self.termination_condition_ = "guardrail"
                break
            if not rebuild and main.p_idx.size == pool_rows.size:
                self.termination_condition_ = "all_labeled"
                break

        # ---- the final model --------------------------------------------------------------
        if mode == "holdout":
            final = _Chain(everything, empty, None, p_idx=main.p_idx, p_lab=main.p_lab,
                           p_w=main.p_w)
            self.backend_ = self._fit_chain(ctx, final, main.p_idx, main.p_lab, main.p_w,
                                            from_scratch=True)
        else:
            self.backend_ = main.backend
        est = getattr(self.backend_, "estimator_", None)
        if est is None:
            est = getattr(self.backend_, "estimator", None)
        if est is not None:
            self.estimator_ = est

        # ---- fitted state over the training rows ------------------------------------------
        if y.dtype.kind in "iub" and (
            self.unlabeled is None or isinstance(self.unlabeled, numbers.Integral)
        ):
            transduction = y.copy()
            if X_unlabeled is not None:
                transduction[n_x:] = self.unlabeled if self.unlabeled is not None else -1
        else:
            transduction = y.astype(object)
            if X_unlabeled is not None:
                transduction[n_x:] = self.unlabeled
        rows = pool_rows[main.p_idx]
        transduction[rows] = classes[main.p_lab]
        self.transduction_ = transduction
        labeled_iter = np.full(n_total, -1, dtype=np.int64)
        labeled_iter[lab_rows] = 0
        labeled_iter[rows] = main.p_iter
        self.labeled_iter_ = labeled_iter
        conf = np.full(n_total, np.nan)
        conf[rows] = main.p_conf
        self.pseudo_confidence_ = conf
        return self

    # ----------------------------------------------------------------------------------
    # fit internals
    # ----------------------------------------------------------------------------------

    def _validate_fit_input(self, X, y, X_unlabeled):
        if y is None:
            raise InputError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        if _is_dataframe(X):
            validate_data(self, X, skip_check_array=True, reset=True)
            if X.shape[0] == 0:
                raise InputError("X has no rows")
        else:
            X = validate_data(
                self, X, accept_sparse=["csr", "csc"], dtype="numeric",
                ensure_all_finite=False, reset=True,
            )
            if sparse.issparse(X):
                X = X.tocsr()
        # y may hold NaN/None as the unlabeled marker, so it is not checked for finiteness
        y = column_or_1d(np.asarray(y) if not hasattr(y, "dtype") else y, warn=True)
        y = np.asarray(y)
        if X.shape[0] != y.shape[0]:
            raise InputError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
        if y.dtype.kind in "US":
            y = y.astype(object)
        n_x = X.shape[0]
        if X_unlabeled is not None:
            if _is_dataframe(X):
                if not _is_dataframe(X_unlabeled):
                    raise InputError("X is a DataFrame, so X_unlabeled must be one too")
                if list(X_unlabeled.columns) != list(X.columns):
                    raise InputError("X_unlabeled must have the same columns as X")
                Xu = X_unlabeled
            else:
                Xu = validate_data(
                    self, X_unlabeled, accept_sparse=["csr", "csc"], dtype="numeric",
                    ensure_all_finite=False, reset=False,
                )
            if Xu.shape[0] == 0:
                raise InputError("X_unlabeled has no rows")
            X = _stack([X, Xu])
            y_u = np.empty(Xu.shape[0], dtype=y.dtype)
            if y.dtype.kind in "iu" and isinstance(self.unlabeled, numbers.Integral):
                y_u[:] = self.unlabeled
            else:
                y = y.astype(object)
                y_u = np.full(Xu.shape[0], self.unlabeled, dtype=object)
            y = np.concatenate([y, y_u])
        return X, y, n_x

    def _splits(self, mode, y_enc, n_classes, seed):
        from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

        n = y_enc.size
        counts = np.bincount(y_enc, minlength=n_classes)
        if mode == "none":
            return None
        if mode == "cv":
            if n < 2 * self.n_folds or counts.max() < self.n_folds:
                return None
            k = int(min(self.n_folds, n))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
                return [(tr, va) for tr, va in cv.split(np.zeros(n), y_enc)]
        # holdout
        n_val = max(int(round(self.holdout_fraction * n)), n_classes)
        if n - n_val < n_classes or counts.min() < 2:
            return None
        sss = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        return [next(sss.split(np.zeros(n), y_enc))]

    def _fit_chain(self, ctx, chain, p_idx, p_lab, p_w, *, from_scratch):
        """Fit (or continue) the chain's model on its labeled rows + the given pseudo-set."""
        lab = chain.train
        X_parts = [_take(ctx.X_lab, lab)]
        y_parts = [ctx.y_enc[lab]]
        w_parts = [None if ctx.sw is None else ctx.sw[ctx.lab_rows[lab]]]
        if p_idx.size:
            X_parts.append(_take(ctx.X_pool, p_idx))
            y_parts.append(p_lab)
            w = np.ones(p_idx.size) if p_w is None else np.asarray(p_w, dtype=np.float64)
            if ctx.sw is not None:
                w = w * ctx.sw[ctx.pool_rows[p_idx]]
            w_parts.append(w if (p_w is not None or ctx.sw is not None) else None)
        X_train = _stack(X_parts)
        y_train = np.concatenate(y_parts)
        if all(w is None for w in w_parts):
            weights = None
        else:
            weights = np.concatenate(
                [np.ones(len(yp)) if w is None else w for w, yp in zip(w_parts, y_parts)]
            )
        classes = np.arange(ctx.n_classes)
        try:
            if from_scratch or chain.backend is None:
                backend = ctx.proto.clone()
                self._seed_backend(backend, ctx.seed)
                return backend.fit(X_train, y_train, sample_weight=weights, classes=classes) \
                    or backend
            backend = copy.deepcopy(chain.backend)
            out = backend.continue_fit(X_train, y_train, sample_weight=weights,
                                       n_more=self.n_more)
            return out if out is not None else backend
        except (BackendError, ParameterError, InputError):
            raise
        except ValueError as exc:
            if weights is not None and "sample_weight" in str(exc):
                raise BackendError(
                    f"backend {getattr(ctx.proto, 'name', ctx.proto)!r} rejected the "
                    f"pseudo-label sample weights: {exc}"
                ) from exc
            raise

    @staticmethod
    def _seed_backend(backend, seed):
        # Backends take their random_state from their own params; nothing to do here
        # unless the backend exposes set_random_state (plugins may).
        setter = getattr(backend, "set_random_state", None)
        if callable(setter):
            setter(seed)

    def _predict_chain(self, ctx, chain, X_rows, what):
        P = chain.backend.predict_proba(X_rows)
        return _check_proba(P, X_rows.shape[0], ctx.n_classes, ctx.proto, what)

    def _round(self, ctx, chain, rnd, temperature, rebuild):
        """Predict the pool, let the strategy decide; returns the candidate pseudo-set."""
        n_pool = ctx.pool_rows.size
        decided = np.zeros(n_pool, dtype=bool)
        decided[chain.p_idx] = True
        if rebuild or self.predict_pool == "all":
            rows = np.arange(n_pool)
            exclude = None if rebuild else np.flatnonzero(decided)
        else:
            rows = np.flatnonzero(~decided)
            exclude = None
        out = {"stop": None, "stop_message": "", "n_predicted": int(rows.size),
               "n_selected": 0, "n_new": 0, "per_class": np.zeros(ctx.n_classes, np.int64),
               "thresholds": None, "p_idx": chain.p_idx, "p_lab": chain.p_lab,
               "p_w": chain.p_w, "p_conf": chain.p_conf, "p_iter": chain.p_iter}
        if rows.size == 0:
            out["stop"], out["stop_message"] = "all_labeled", "every pool row is labeled"
            return out
        P = self._predict_chain(ctx, chain, _take(ctx.X_pool, rows), "the unlabeled pool")
        if temperature is not None:
            from pseudolabel.calibration import apply_temperature

            P = apply_temperature(P, temperature)
        decision = chain.strategy.select(P, round=rnd, exclude=exclude)
        idx = np.asarray(decision.indices, dtype=np.int64)
        lab = np.asarray(decision.labels, dtype=np.int64)
        w = None if decision.weights is None else np.asarray(decision.weights, np.float64)
        if idx.size and (idx.min() < 0 or idx.max() >= rows.size):
            raise ParameterError(
                f"strategy {type(chain.strategy).__name__} selected row {int(idx.max())} "
                f"outside the {rows.size} rows it was given"
            )
        if idx.size and (lab.min() < 0 or lab.max() >= ctx.n_classes):
            raise ParameterError(
                f"strategy {type(chain.strategy).__name__} returned label outside 0.."
                f"{ctx.n_classes - 1}"
            )
        if exclude is not None and idx.size:
            keep = ~decided[rows[idx]]
            idx, lab = idx[keep], lab[keep]
            w = None if w is None else w[keep]
        conf = P[idx, lab].astype(np.float64)
        if self.max_pseudo_per_class is not None and idx.size:
            keep = _cap_per_class(lab, conf, self.max_pseudo_per_class)
            idx, lab, conf = idx[keep], lab[keep], conf[keep]
            w = None if w is None else w[keep]
        pool_idx = rows[idx]
        out["n_selected"] = int(idx.size)
        out["per_class"] = np.bincount(lab, minlength=ctx.n_classes)
        out["thresholds"] = decision.thresholds
        out["decision"] = decision
        out["selected_conf"] = conf
        out["selected_pool_idx"] = pool_idx
        out["selected_labels"] = lab
        if rebuild:
            # rows that keep the same label keep the round they were first given it
            old_iter = np.full(n_pool, -1, np.int64)
            old_lab = np.full(n_pool, -1, np.int64)
            old_iter[chain.p_idx] = chain.p_iter
            old_lab[chain.p_idx] = chain.p_lab
            same = old_lab[pool_idx] == lab
            it = np.where(same, old_iter[pool_idx], rnd)
            out["n_new"] = int((~same).sum())
            # unchanged: same rows with the same labels and no weights to refresh
            changed = (pool_idx.size != chain.p_idx.size or not same.all()
                       or w is not None or chain.p_w is not None)
            out.update(p_idx=pool_idx, p_lab=lab, p_w=w, p_conf=conf, p_iter=it)
            if not changed:
                out["stop"] = "no_change"
                out["stop_message"] = "the pseudo-set did not change"
        else:
            out["n_new"] = int(idx.size)
            if idx.size == 0:
                out["stop"] = "no_change"
                out["stop_message"] = "no new pseudo-label was selected"
                return out
            old_w = chain.p_w
            if w is None and old_w is None:
                new_w = None
            else:
                new_w = np.concatenate([
                    np.ones(chain.p_idx.size) if old_w is None else old_w,
                    np.ones(idx.size) if w is None else w,
                ])
            out.update(
                p_idx=np.concatenate([chain.p_idx, pool_idx]),
                p_lab=np.concatenate([chain.p_lab, lab]),
                p_w=new_w,
                p_conf=np.concatenate([chain.p_conf, conf]),
                p_iter=np.concatenate([chain.p_iter, np.full(idx.size, rnd, np.int64)]),
            )
        return out

    def _evaluate(self, ctx, eval_chains):
        """Pooled accuracy and Brier score of the chains' models on their validation rows."""
        if not eval_chains:
            return None, None, None, None, None
        probas, truths = [], []
        for chain in eval_chains:
            X_val = _take(ctx.X_lab, chain.val)
            probas.append(self._predict_chain(ctx, chain, X_val, "the validation rows"))
            truths.append(ctx.y_enc[chain.val])
        P = np.concatenate(probas)
        y_true = np.concatenate(truths)
        pred = kernels.summarize(P).label
        correct = pred == y_true
        acc = float(np.mean(correct))
        onehot = np.zeros_like(P, dtype=np.float64)
        onehot[np.arange(y_true.size), y_true] = 1.0
        brier = float(np.mean(np.sum((P - onehot) ** 2, axis=1)))
        return acc, brier, P, y_true, correct

    def _oof_predictions(self, ctx, seed):
        """Out-of-fold probabilities of labels-only models for the labeled rows."""
        from sklearn.model_selection import StratifiedKFold

        counts = np.bincount(ctx.y_enc, minlength=ctx.n_classes)
        k = int(min(self.n_folds, max(2, counts.max())))
        if ctx.y_enc.size < 2 * k:
            return None, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            splits = list(cv.split(np.zeros(ctx.y_enc.size), ctx.y_enc))
        chains = []
        for tr, va in splits:
            chain = _Chain(tr, va, None)
            chain.backend = self._fit_chain(ctx, chain, chain.p_idx, chain.p_lab, None,
                                            from_scratch=True)
            chains.append(chain)
        _, _, P, y_true, _ = self._evaluate(ctx, chains)
        return P, y_true

    @staticmethod
    def _fit_temperature(P, y_true):
        if P is None:
            return None
        from pseudolabel.calibration import fit_temperature

        return fit_temperature(P, y_true)

    def _emit(self, plugins, record, rec, pool_rows):
        """Fire the plugin events for one round (the main chain's selection)."""
        name = self._estimator_name
        if rec is not None and "selected_pool_idx" in rec and rec["selected_pool_idx"].size:
            plugins.emit_labels_selected(
                source="self_training",
                round=record["round"],
                indices=pool_rows[rec["selected_pool_idx"]],  # rows of X (+ X_unlabeled)
                labels=self.classes_[rec["selected_labels"]],
                confidence=rec["selected_conf"],
                estimator=name,
            )
        thresholds = record["thresholds"]
        plugins.emit_round_end(
            source="self_training",
            estimator=name,
            round=record["round"],
            n_selected=record["n_selected"],
            n_selected_per_class=record["selected_per_class"],
            thresholds=thresholds,
            score=record["validation_score"],
            accepted=record["accepted"],
            seconds=record["seconds"],
            extra={k: record[k] for k in ("decision", "n_new", "n_pseudo", "reference_score",
                                          "validation_brier", "sample_weight", "temperature")},
        )

    def _log(self, message: str) -> None:
        if self.verbose:
            print(f"[PseudoLabeler] {message}", flush=True)

    # ----------------------------------------------------------------------------------
    # prediction
    # ----------------------------------------------------------------------------------

    def _check_X(self, X):
        check_is_fitted(self, "backend_")
        if _is_dataframe(X):
            validate_data(self, X, skip_check_array=True, reset=False)
            return X
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype="numeric",
                          ensure_all_finite=False, reset=False)
        return X.tocsr() if sparse.issparse(X) else X

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._check_X(X)
        P = self.backend_.predict_proba(X)
        return _check_proba(P, X.shape[0], self.classes_.size, self.backend_, "X")

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
        P = self.predict_proba(X)
        if P.shape[0] == 0:
            return self.classes_[np.empty(0, np.int64)]
        return self.classes_[kernels.summarize(P).label]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        return tags


@dataclass
class _FitContext:
    X: Any
    y_enc: np.ndarray
    lab_rows: np.ndarray
    pool_rows: np.ndarray
    sw: np.ndarray | None
    n_classes: int
    proto: Any
    seed: int
    X_lab: Any = None
    X_pool: Any = None


def _check_proba(P, n_rows, n_classes, backend, what):
    P = np.asarray(P)
    name = getattr(backend, "name", type(backend).__name__)
    if P.ndim != 2 or P.shape != (n_rows, n_classes):
        raise BackendError(
            f"backend {name!r} returned probabilities of shape {P.shape} for {what}; "
            f"expected ({n_rows}, {n_classes})"
        )
    if P.dtype.kind != "f":
        P = P.astype(np.float64)
    finite = np.isfinite(P)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ProbabilityError(
            f"backend {name!r} returned a non-finite probability ({P[row, col]}) for {what} "
            f"at row {row}, column {col}"
        )
    return P


def _paired(correct, other):
    """``gained - lost`` rows of ``correct`` against ``other``, and its standard error."""
    lost = int(np.sum(other & ~correct))
    gained = int(np.sum(~other & correct))
    return gained - lost, float(np.sqrt(lost + gained))


def _accept(brier, ref_brier, correct, ref_correct, base_correct, tolerance):
    """The guardrail's rule: is a round's out-of-fold evaluation good enough to keep?

    Everything is measured on labeled rows the candidate models did not train on. With
    ``gained``/``lost`` the rows only the candidate / only the other model gets right, a
    difference is *significant* when ``|gained - lost| > sqrt(gained + lost)`` (a paired sign
    test at one standard error). A round is accepted when its accuracy is not significantly
    below the labels-only model's (comparing with the labels-only model, not the last round,
    stops small losses from compounding) and either

    * its accuracy is significantly above the last accepted round's, or
    * its Brier score is at most ``(1 + tolerance)`` times the last accepted round's. The
      Brier score is a proper scoring rule that moves with every row's probability, so it
      separates rounds on a few dozen rows where accuracy moves in steps of one row.
    """
    diff_base, se_base = _paired(correct, base_correct)
    if diff_base < -se_base:
        return False
    diff_ref, se_ref = _paired(correct, ref_correct)
    if diff_ref > se_ref:
        return True
    return brier <= ref_brier * (1.0 + tolerance) + 1e-12


def _cap_per_class(labels: np.ndarray, conf: np.ndarray, cap: int) -> np.ndarray:
    """Mask keeping, per label, the ``cap`` most confident rows (ties: lower position)."""
    order = np.lexsort((np.arange(labels.size), -conf, labels))
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.arange(labels.size) - starts
    keep = np.zeros(labels.size, dtype=bool)
    keep[order[rank < cap]] = True
    return keep

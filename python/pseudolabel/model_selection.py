"""scikit-learn model selection over partly labeled ``y``: a scorer and a splitter that skip the unlabeled rows.

Self-training takes its unlabeled rows in ``y`` itself (``-1``, or ``None``/NaN with
``unlabeled=None``), so ``cross_val_score`` and ``GridSearchCV`` hand every test fold some
unlabeled rows. Scored as they are, those rows count as errors (``-1`` is never predicted) or
make every score NaN (``None``), and ``StratifiedKFold`` refuses ``y`` with ``None`` in it.

* :func:`make_labeled_scorer` (:class:`LabeledScorer`): any scikit-learn metric name, or scorer,
  computed on the labeled rows of the test fold only;
* :class:`LabeledStratifiedKFold`: stratified folds in which each class's labeled rows, and the
  unlabeled rows, are spread evenly, so every test fold holds labeled rows to score;
* :func:`labeled_subset`: the rows of ``X``, ``y`` (and ``sample_weight``) that are labeled; the
  estimators' own ``score`` methods use it too.

``PseudoLabeler.score`` and ``SelfTrainingClassifier.score`` ignore unlabeled rows themselves, so
``GridSearchCV(..., cv=LabeledStratifiedKFold())`` without ``scoring=`` is right as well.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state, safe_mask

from pseudolabel._validation import is_missing_marker, unlabeled_mask
from pseudolabel.exceptions import InputError, ParameterError

__all__ = [
    "FROM_ESTIMATOR",
    "LabeledScorer",
    "LabeledStratifiedKFold",
    "labeled_subset",
    "make_labeled_scorer",
]


class _FromEstimator:
    """The marker of unlabeled rows is the scored estimator's own ``unlabeled`` parameter."""

    def __repr__(self) -> str:
        return "FROM_ESTIMATOR"


#: Default of :func:`make_labeled_scorer`'s ``unlabeled``: use the estimator's ``unlabeled``
#: (the last step's, for a ``Pipeline``), ``-1`` when it has none.
FROM_ESTIMATOR: Any = _FromEstimator()


def _as_label_array(y: Any) -> np.ndarray:
    if hasattr(y, "to_numpy"):  # pandas Series
        y = y.to_numpy()
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise InputError(f"y must be 1-D, got shape {arr.shape}")
    return arr.astype(object) if arr.dtype.kind in "US" else arr


def _plain_labels(y: np.ndarray) -> np.ndarray:
    """Object labels that are all numbers become a numeric array (``None`` marked them)."""
    if y.dtype.kind != "O" or y.size == 0:
        return y
    values = y.tolist()
    if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64)
    return y


def _take(values: Any, mask: np.ndarray) -> Any:
    if hasattr(values, "iloc"):  # DataFrame / Series: by position
        return values.iloc[np.flatnonzero(mask)]
    if isinstance(values, list):
        return [v for v, keep in zip(values, mask) if keep]
    return values[safe_mask(values, mask)]


def labeled_subset(
    X: Any, y: Any, sample_weight: Any = None, *, unlabeled: Any = -1, what: str = "score"
) -> tuple[Any, np.ndarray, Any]:
    """The rows of ``X``, ``y`` and ``sample_weight`` whose label is not the ``unlabeled`` marker.

    Parameters
    ----------
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), optional
    unlabeled : scalar or None, default=-1
        The marker of unlabeled rows; ``None`` or NaN mark missing values.
    what : str
        What needs the labeled rows, for the error message.

    Returns
    -------
    X_labeled, y_labeled, sample_weight_labeled
        ``y_labeled`` is a numpy array (numbers when every label is a number);
        ``sample_weight_labeled`` is ``None`` when ``sample_weight`` is.

    Raises
    ------
    InputError
        Every row of ``y`` is unlabeled, or ``y`` does not match ``X`` in length.
    """
    y_arr = _as_label_array(y)
    mask = ~unlabeled_mask(y_arr, unlabeled)
    n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
    if n_rows != y_arr.shape[0]:
        raise InputError(f"X has {n_rows} rows but y has {y_arr.shape[0]} labels")
    if not mask.any():
        raise InputError(
            f"every row of y is unlabeled (marker {unlabeled!r}): {what} needs labeled rows; "
            "split with pseudolabel.model_selection.LabeledStratifiedKFold so that every test "
            "fold holds some"
        )
    if mask.all():
        return X, _plain_labels(y_arr), sample_weight
    weight = None if sample_weight is None else np.asarray(sample_weight)[mask]
    return _take(X, mask), _plain_labels(y_arr[mask]), weight


def _estimator_marker(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    if steps:  # a Pipeline: the final step holds the marker
        estimator = steps[-1][1]
    return getattr(estimator, "unlabeled", -1)


class LabeledScorer:
    """A scorer for ``scoring=`` that computes a metric on the labeled rows of the test fold.

    Build it with :func:`make_labeled_scorer`. Called as ``scorer(estimator, X, y)`` (the
    scikit-learn scorer protocol), it drops the rows whose label is the unlabeled marker and
    scores the rest with the wrapped scikit-learn scorer.

    Parameters
    ----------
    scoring : str or callable, default="accuracy"
        A scikit-learn metric name (``"accuracy"``, ``"balanced_accuracy"``, ``"f1_macro"``,
        ``"roc_auc_ovr"``, ``"neg_log_loss"``...) or a scorer ``(estimator, X, y) -> float``.
    unlabeled : scalar, None or FROM_ESTIMATOR, default=FROM_ESTIMATOR
        The marker of unlabeled rows; by default the estimator's own ``unlabeled``.
    """

    def __init__(self, scoring: Any = "accuracy", *, unlabeled: Any = FROM_ESTIMATOR) -> None:
        if not (isinstance(scoring, str) or callable(scoring)):
            raise ParameterError(
                f"scoring must be a scikit-learn metric name or a scorer, got {scoring!r}"
            )
        try:
            self._scorer = get_scorer(scoring)
        except ValueError as exc:
            raise ParameterError(f"unknown scoring {scoring!r}: {exc}") from exc
        self.scoring = scoring
        self.unlabeled = unlabeled

    def __call__(self, estimator: Any, X: Any, y: Any, sample_weight: Any = None,
                 **kwargs: Any) -> float:
        marker = _estimator_marker(estimator) if self.unlabeled is FROM_ESTIMATOR else self.unlabeled
        X_l, y_l, weight = labeled_subset(
            X, y, sample_weight, unlabeled=marker, what=f"scoring {self.scoring!r}"
        )
        if weight is not None:
            kwargs["sample_weight"] = weight
        return float(self._scorer(estimator, X_l, y_l, **kwargs))

    def __repr__(self) -> str:
        return f"make_labeled_scorer({self.scoring!r}, unlabeled={self.unlabeled!r})"


def make_labeled_scorer(scoring: Any = "accuracy", *, unlabeled: Any = FROM_ESTIMATOR) -> LabeledScorer:
    """A scorer for ``GridSearchCV`` / ``cross_val_score`` that ignores unlabeled rows.

    Parameters
    ----------
    scoring : str or callable, default="accuracy"
        Any scikit-learn metric name (see ``sklearn.metrics.get_scorer_names()``) or scorer.
    unlabeled : scalar, None or FROM_ESTIMATOR, default=FROM_ESTIMATOR
        The marker of unlabeled rows in ``y``. By default the scored estimator's own
        ``unlabeled`` parameter (the last step's for a ``Pipeline``; ``-1`` if it has none).

    Returns
    -------
    LabeledScorer

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> from pseudolabel.model_selection import LabeledStratifiedKFold, make_labeled_scorer
    >>> scoring = make_labeled_scorer("balanced_accuracy")
    """
    return LabeledScorer(scoring, unlabeled=unlabeled)


class LabeledStratifiedKFold(StratifiedKFold):
    """Stratified k-fold over partly labeled ``y``: each class's labeled rows, and the unlabeled rows, spread over the folds.

    The strata are the labeled classes plus one stratum of unlabeled rows, so every fold gets
    its share of each class and of the pool (scikit-learn's ``StratifiedKFold`` would treat
    ``-1`` as a class and refuses ``None``). Every test fold holds at least one labeled row,
    and a class with fewer labeled rows than folds is still spread (one row per fold).

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds (at least 2, and at most the number of labeled rows).
    shuffle : bool, default=False
        Shuffle each stratum before splitting.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle.
    unlabeled : scalar or None, default=-1
        The marker of unlabeled rows in ``y``; ``None`` or NaN mark missing values (use the
        same value as the estimator's ``unlabeled``).
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state: Any = None,
                 unlabeled: Any = -1) -> None:
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)
        self.unlabeled = unlabeled

    def strata(self, y: Any) -> np.ndarray:
        """Stratum of each row: the labeled class's index, or the number of classes when unlabeled."""
        y_arr = _as_label_array(y)
        mask = unlabeled_mask(y_arr, self.unlabeled)
        labeled = _plain_labels(y_arr[~mask])
        n_labeled = labeled.shape[0]
        if n_labeled < self.n_splits:
            raise InputError(
                f"y has {n_labeled} labeled row(s) (marker {self.unlabeled!r}); "
                f"LabeledStratifiedKFold(n_splits={self.n_splits}) needs at least one per test "
                "fold"
            )
        try:
            classes, codes = np.unique(labeled, return_inverse=True)
        except TypeError as exc:
            hint = "" if is_missing_marker(self.unlabeled) else (
                "; if missing values mark the unlabeled rows, pass unlabeled=None"
            )
            raise InputError(f"the labels of y cannot be sorted: {exc}{hint}") from exc
        strata = np.full(y_arr.shape[0], classes.shape[0], dtype=np.int64)
        strata[~mask] = codes.reshape(-1)
        return strata

    def split(self, X: Any, y: Any, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Train and test row indices of each fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels with the unlabeled marker.
        groups : ignored

        Yields
        ------
        train, test : numpy.ndarray
        """
        if y is None:
            raise InputError("LabeledStratifiedKFold.split needs y")
        strata = self.strata(y)
        n_rows = strata.shape[0]
        n_rows_X = X.shape[0] if hasattr(X, "shape") else len(X)
        if n_rows_X != n_rows:
            raise InputError(f"X has {n_rows_X} rows but y has {n_rows} labels")
        folds = self.test_folds(strata)
        rows = np.arange(n_rows)
        for fold in range(self.n_splits):
            test = folds == fold
            yield rows[~test], rows[test]

    def test_folds(self, strata: np.ndarray) -> np.ndarray:
        """The test fold of each row.

        The rows are ordered stratum by stratum (labeled classes first, the unlabeled rows last;
        shuffled within each stratum when ``shuffle``) and dealt to the folds in turn, so each
        stratum's rows are spread over the folds with counts that differ by at most one, and
        the first ``n_splits`` labeled rows land in different folds.
        """
        rng = check_random_state(self.random_state) if self.shuffle else None
        ordered = []
        for stratum in range(int(strata.max()) + 1):
            members = np.flatnonzero(strata == stratum)
            if rng is not None:
                members = rng.permutation(members)
            ordered.append(members)
        order = np.concatenate(ordered)
        folds = np.empty(strata.shape[0], dtype=np.int64)
        folds[order] = np.arange(order.shape[0]) % self.n_splits
        return folds

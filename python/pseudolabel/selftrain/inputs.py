"""The training input of ``PseudoLabeler``: rows, the unlabeled pool, the classes, the weights.

``fit`` reads ``X`` (+ ``X_unlabeled``), ``y`` and ``sample_weight`` once through
:func:`read_training_input`, which validates them and returns a :class:`TrainingInput`:
the rows, which of them are labeled and which form the pool, the classes and the labels
encoded as class indices.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from pseudolabel._compat import validate_data
from pseudolabel._validation import check_label_types, unlabeled_mask
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.loop.records import plain
from pseudolabel.selftrain.chain import is_dataframe, stack_rows

__all__ = ["TrainingInput", "check_X", "fitted_rows", "read_training_input"]


@dataclass(frozen=True)
class TrainingInput:
    """Validated training input.

    ``X`` holds the rows of ``X`` then ``X_unlabeled``; ``y`` their labels (the unlabeled
    marker for ``X_unlabeled``); ``n_x`` the rows of ``X``; ``labeled_rows`` / ``pool_rows``
    positions in ``X``; ``classes`` the label space; ``y_encoded`` the labeled rows' labels as
    class indices; ``sample_weight`` the user's weights over every row (1 for ``X_unlabeled``)
    or ``None``.
    """

    X: Any
    y: np.ndarray
    n_x: int
    labeled_rows: np.ndarray
    pool_rows: np.ndarray
    classes: np.ndarray
    y_encoded: np.ndarray
    sample_weight: np.ndarray | None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def check_X(estimator: Any, X: Any, *, reset: bool) -> Any:
    """Validate feature rows (numeric, sparse as CSR, DataFrames as they are)."""
    if is_dataframe(X):
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        return X
    X = validate_data(estimator, X, accept_sparse=["csr", "csc"], dtype="numeric",
                      ensure_all_finite=False, reset=reset)
    return X.tocsr() if sparse.issparse(X) else X


def _rows_and_labels(estimator: Any, X: Any, y: Any, X_unlabeled: Any) -> tuple[Any, np.ndarray, int]:
    marker = estimator.unlabeled
    if y is None:
        raise InputError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None"
        )
    X = check_X(estimator, X, reset=True)
    if is_dataframe(X) and X.shape[0] == 0:
        raise InputError("X has no rows")
    # y may hold NaN/None as the unlabeled marker, so it is not checked for finiteness
    y = np.asarray(column_or_1d(np.asarray(y) if not hasattr(y, "dtype") else y, warn=True))
    if X.shape[0] != y.shape[0]:
        raise InputError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    if y.dtype.kind in "US":
        y = y.astype(object)
    n_x = X.shape[0]
    if X_unlabeled is None:
        return X, y, n_x
    if is_dataframe(X):
        if not is_dataframe(X_unlabeled):
            raise InputError("X is a DataFrame, so X_unlabeled must be one too")
        if list(X_unlabeled.columns) != list(X.columns):
            raise InputError("X_unlabeled must have the same columns as X")
        X_more = X_unlabeled
    else:
        shape = X_unlabeled.shape if hasattr(X_unlabeled, "shape") else np.shape(X_unlabeled)
        if is_dataframe(X_unlabeled) or tuple(shape[1:]) != tuple(X.shape[1:]):
            # in a Pipeline, X has been through the transformers and X_unlabeled has not
            raise InputError(
                f"X_unlabeled ({type(X_unlabeled).__name__}, shape {tuple(shape)}) does "
                f"not match X ({type(X).__name__}, shape {X.shape}): inside a Pipeline, "
                "X_unlabeled skips the pipeline's transformers. Put the unlabeled rows in X "
                f"with y set to the unlabeled marker ({marker!r}) instead"
            )
        X_more = check_X(estimator, X_unlabeled, reset=False)
    if X_more.shape[0] == 0:
        raise InputError("X_unlabeled has no rows")
    X = stack_rows([X, X_more])
    if y.dtype.kind in "iu" and isinstance(marker, numbers.Integral):
        y_more = np.full(X_more.shape[0], marker, dtype=y.dtype)
    else:
        y = y.astype(object)
        y_more = np.full(X_more.shape[0], marker, dtype=object)
    return X, np.concatenate([y, y_more]), n_x


def _check_labeled(y_labeled: np.ndarray, labeled_rows: np.ndarray, marker: Any) -> np.ndarray:
    """The classes found among the labeled rows (after refusing NaN, None, mixed types)."""
    check_label_types(y_labeled)
    if y_labeled.dtype.kind == "f" and np.isnan(y_labeled.astype(float)).any():
        bad = labeled_rows[np.isnan(y_labeled.astype(float))][0]
        raise InputError(
            f"y holds NaN at row {bad}; mark unlabeled rows with the unlabeled marker "
            f"({marker!r}) or pass unlabeled=np.nan"
        )
    if y_labeled.dtype.kind == "O":
        import pandas as pd

        missing = np.asarray(pd.isna(y_labeled), dtype=bool)
        if missing.any():
            raise InputError(
                f"y holds a missing value at row {labeled_rows[missing][0]}; pass "
                "unlabeled=None to treat missing values as unlabeled"
            )
    check_classification_targets(y_labeled)
    try:
        return np.unique(y_labeled)
    except TypeError as exc:
        raise InputError(f"y mixes label types that cannot be ordered: {exc}") from exc


def _classes(found: np.ndarray, given: Any) -> np.ndarray:
    """The label space: ``given`` (every class with a labeled row) or the labels found."""
    if given is None:
        classes = found
    else:
        classes = np.asarray(given)
        if classes.ndim != 1 or len(np.unique(classes)) != len(classes):
            raise ParameterError("classes must be a 1-d array of distinct labels")
        classes = np.unique(classes)
        unknown = np.setdiff1d(found, classes)
        if unknown.size:
            raise InputError(f"y holds labels not listed in classes: {unknown.tolist()[:10]}")
        absent = np.setdiff1d(classes, found)
        if absent.size:
            raise InputError(
                f"class {plain(absent[0])!r} has no labeled row (classes without labels: "
                f"{absent.tolist()[:10]}); give at least one labeled example per class"
            )
    if classes.size < 2:
        raise InputError(
            f"the labeled rows hold only one class ({classes[0]!r}); self-training "
            "needs labeled rows of at least 2 classes"
        )
    return classes


def _sample_weight(sample_weight: Any, n_x: int, n_rows: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    weight = column_or_1d(np.asarray(sample_weight, dtype=np.float64))
    if weight.shape[0] != n_x:
        raise InputError(f"sample_weight has {weight.shape[0]} entries, X has {n_x} rows")
    if not np.all(np.isfinite(weight)) or (weight < 0).any():
        raise InputError("sample_weight must be finite and non-negative")
    return np.concatenate([weight, np.ones(n_rows - n_x)])


def read_training_input(
    estimator: Any, X: Any, y: Any, X_unlabeled: Any, sample_weight: Any
) -> TrainingInput:
    """Validate the arguments of ``PseudoLabeler.fit`` (sets ``n_features_in_``)."""
    X, y, n_x = _rows_and_labels(estimator, X, y, X_unlabeled)
    unlabeled = unlabeled_mask(y, estimator.unlabeled)
    if X_unlabeled is not None:
        unlabeled[n_x:] = True
    labeled_rows = np.flatnonzero(~unlabeled)
    pool_rows = np.flatnonzero(unlabeled)
    if labeled_rows.size == 0:
        raise InputError(
            f"y has no labeled rows: all {X.shape[0]} rows are marked unlabeled "
            f"(unlabeled={estimator.unlabeled!r}); self-training needs some labels"
        )
    y_labeled = y[labeled_rows]
    found = _check_labeled(y_labeled, labeled_rows, estimator.unlabeled)
    classes = _classes(found, estimator.classes)
    y_encoded = np.searchsorted(classes, y_labeled).astype(np.int64)
    weight = _sample_weight(sample_weight, n_x, X.shape[0])
    return TrainingInput(X, y, n_x, labeled_rows, pool_rows, classes, y_encoded, weight)


def fitted_rows(
    train: TrainingInput, pseudo_set: PseudoSet, marker: Any, has_more_rows: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``transduction_``, ``labeled_iter_`` and ``pseudo_confidence_`` over the training rows.

    The label of each row (given, pseudo-label, or the unlabeled marker), the round it got it
    (0: given, -1: never) and the confidence of its pseudo-label (NaN elsewhere).
    """
    y, n_x = train.y, train.n_x
    if y.dtype.kind in "iub" and (marker is None or isinstance(marker, numbers.Integral)):
        transduction = y.copy()
        if has_more_rows:
            transduction[n_x:] = marker if marker is not None else -1
    else:
        transduction = y.astype(object)
        if has_more_rows:
            transduction[n_x:] = marker
    rows = train.pool_rows[pseudo_set.rows]
    transduction[rows] = train.classes[pseudo_set.labels]
    labeled_iter = np.full(train.n_rows, -1, dtype=np.int64)
    labeled_iter[train.labeled_rows] = 0
    labeled_iter[rows] = pseudo_set.round
    confidence = np.full(train.n_rows, np.nan)
    confidence[rows] = pseudo_set.confidence
    return transduction, labeled_iter, confidence

"""Checks and defaults of estimator input that every loop shares.

One home for what the loops would otherwise each do their own way:

* :func:`unlabeled_mask`: which rows of ``y`` hold the unlabeled marker;
* :func:`check_label_types`: labeled rows must not mix label types;
* :func:`check_estimator_proba`: the probability check at the boundary of a plain
  scikit-learn estimator (a :class:`~pseudolabel.backends.base.Backend` checks its own output in
  ``predict_proba``; the kernels validate every probability they score);
* :func:`default_estimator`: the one model used when none is given (a standardized logistic
  regression);
* :func:`copy_strategy`: the one way to copy a strategy (scikit-learn's ``clone``);
* :func:`numeric_features`: whether every feature of ``X`` is a number.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError, ProbabilityError

__all__ = [
    "check_estimator_proba",
    "check_label_types",
    "copy_strategy",
    "default_estimator",
    "is_missing_marker",
    "numeric_features",
    "unlabeled_mask",
]

#: probabilities this far outside [0, 1] are float round-off and get clipped
PROBA_TOLERANCE = 1e-9


def is_missing_marker(marker: Any) -> bool:
    """True for the unlabeled markers that mean "missing value": ``None`` and NaN."""
    if marker is None:
        return True
    return isinstance(marker, (float, np.floating)) and bool(np.isnan(marker))


def unlabeled_mask(y: np.ndarray, marker: Any) -> np.ndarray:
    """Boolean mask of the rows of ``y`` that hold the unlabeled ``marker``.

    ``None`` or NaN mark missing values as unlabeled (NaN in a float ``y``, None or NaN in an
    object ``y``; an integer ``y`` has none). A marker that cannot be compared with the labels
    is a :class:`ParameterError`.
    """
    if is_missing_marker(marker):
        if y.dtype.kind == "f":
            return np.isnan(y)
        if y.dtype.kind == "O":
            import pandas as pd

            return np.asarray(pd.isna(y), dtype=bool)
        return np.zeros(y.shape[0], dtype=bool)
    if y.dtype.kind in "US":
        y = y.astype(object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = np.asarray(y == marker)
    if mask.shape != y.shape:
        raise ParameterError(
            f"unlabeled={marker!r} cannot be compared with the labels in y (dtype {y.dtype})"
        )
    return mask.astype(bool, copy=False)


def _kind(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, (str, np.str_)):
        return "str"
    return type(value).__name__


def check_label_types(y_labeled: np.ndarray, what: str = "y") -> None:
    """Refuse labeled rows whose labels mix types (``1`` and ``"a"``): classes cannot be ordered.

    Numbers of any kind (int and float) count as one type. Only object arrays can mix types,
    so typed arrays pass at no cost.
    """
    if y_labeled.dtype.kind != "O" or y_labeled.size == 0:
        return
    kinds: dict[str, object] = {}
    for value in y_labeled:
        kind = _kind(value)
        kinds.setdefault("number" if kind in ("int", "float") else kind, value)
        if len(kinds) > 1:
            shown = ", ".join(f"{k} ({v!r})" for k, v in kinds.items())
            raise InputError(
                f"{what} mixes label types among its labeled rows: {shown}; "
                "use one type for every label (all strings or all numbers)"
            )


def check_estimator_proba(
    proba: Any, *, n_classes: int, rows: np.ndarray, source: str
) -> np.ndarray:
    """Check the ``predict_proba`` output of a scikit-learn estimator for the given rows.

    ``rows`` are the rows of ``X`` that were predicted (named in errors); ``source`` names the
    estimator. Returns a float array of shape ``(rows.size, n_classes)``.

    A model fitted on a single class gives that class to every row. LightGBM and XGBoost fit
    such labels as a binary problem and report a second column for a class that does not
    exist; its first column is the one class, and only that column is kept.
    Values within :data:`PROBA_TOLERANCE` of [0, 1] are clipped (round-off of a
    normalisation); NaN, infinity and values further out are a :class:`ProbabilityError`
    naming the row of ``X`` and the class column.
    """
    proba = np.asarray(proba)
    if n_classes == 1 and proba.ndim == 2 and proba.shape == (rows.shape[0], 2):
        proba = proba[:, :1]
    if proba.ndim != 2 or proba.shape != (rows.shape[0], n_classes):
        raise ProbabilityError(
            f"{source}.predict_proba returned shape {proba.shape}, expected "
            f"({rows.shape[0]}, {n_classes})"
        )
    if proba.dtype.kind != "f":
        proba = proba.astype(np.float64)
    finite = np.isfinite(proba)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        raise ProbabilityError(
            f"{source}.predict_proba returned {proba[row, column]} for row {int(rows[row])} of "
            f"X, class {column}; probabilities must be finite"
        )
    outside = (proba < 0.0) | (proba > 1.0)
    if outside.any():
        far = (proba < -PROBA_TOLERANCE) | (proba > 1.0 + PROBA_TOLERANCE)
        if far.any():
            row, column = np.argwhere(far)[0]
            raise ProbabilityError(
                f"{source}.predict_proba returned {proba[row, column]} for row "
                f"{int(rows[row])} of X, class {column}; probabilities must lie in [0, 1]"
            )
        proba = np.clip(proba, 0.0, 1.0)
    return proba


def default_estimator(*, sparse: bool = False, **logistic_params: Any) -> Any:
    """The model every loop uses when none is given: standardized logistic regression.

    ``sparse=True`` scales without centring (centring would densify a sparse matrix).
    ``logistic_params`` go to ``LogisticRegression`` (``max_iter=1000`` unless given).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    params = {"max_iter": 1000, **logistic_params}
    return make_pipeline(StandardScaler(with_mean=not sparse), LogisticRegression(**params))


def copy_strategy(strategy: Any) -> Any:
    """An unstarted copy of a strategy (scikit-learn's ``clone``; never the caller's object).

    Strategies follow scikit-learn's parameter protocol, so ``clone`` builds a fresh object
    from the parameters; an object without ``get_params`` is deep-copied by ``clone``.
    """
    from sklearn.base import clone

    return clone(strategy, safe=False)


def numeric_features(X: Any) -> bool:
    """True when every feature of ``X`` is a number (or a bool): a sparse matrix, a numeric
    array, or a DataFrame whose columns all have numeric dtypes; False for string, category or
    object features."""
    from scipy import sparse

    if sparse.issparse(X):
        return True
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and not isinstance(dtypes, np.dtype):
        import pandas as pd

        return all(pd.api.types.is_numeric_dtype(d) or pd.api.types.is_bool_dtype(d)
                   for d in dtypes)
    return np.asarray(X).dtype.kind in "biuf"

"""Checks and defaults of estimator input that every loop shares.

One home for what the loops would otherwise each do their own way:

* :func:`unlabeled_mask`: which rows of ``y`` hold the unlabeled marker;
* :func:`check_label_types`: labeled rows must not mix label types;
* :func:`check_probabilities`: the one probability check (shape, dtype, round-off), run by
  every ``Backend.predict_proba`` (re-exported by :mod:`pseudolabel.backends`), by the
  strategies on the ``proba`` they are given and by calibration; the kernels validate the
  values they score; :func:`check_estimator_proba` runs it at the boundary of a plain
  scikit-learn estimator;
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
    "PROBA_TOLERANCE",
    "check_estimator_proba",
    "check_probabilities",
    "check_label_types",
    "copy_strategy",
    "default_estimator",
    "is_missing_marker",
    "numeric_features",
    "unlabeled_mask",
    "check_marker",
    "MISSING_TEXT",
]

#: Probabilities this far outside [0, 1] are float round-off (softmax, calibration) and are
#: clipped; anything further out is an error.
PROBA_TOLERANCE = 1e-9


def is_missing_marker(marker: Any) -> bool:
    """True for the unlabeled markers that mean "missing value": ``None`` and NaN."""
    if marker is None:
        return True
    return isinstance(marker, (float, np.floating)) and bool(np.isnan(marker))


#: the text of a missing value (``str(None)``, ``str(np.nan)``, pandas' ``<NA>``) and a CSV's
#: empty cell: as a label, ambiguous when None/NaN mark the unlabeled rows
MISSING_TEXT = frozenset({"", "None", "nan", "NaN", "<NA>", "NaT"})


def unlabeled_mask(y: np.ndarray, marker: Any) -> np.ndarray:
    """Boolean mask of the rows of ``y`` that hold the unlabeled ``marker``.

    ``None`` or NaN mark missing values as unlabeled (NaN in a float ``y``, None or NaN in an
    object ``y``; an integer ``y`` has none). A marker that cannot be compared with the labels
    is a :class:`ParameterError`; an ambiguous one (:func:`check_marker`) an
    :class:`InputError`.
    """
    if is_missing_marker(marker):
        if y.dtype.kind == "f":
            mask = np.isnan(y)
        elif y.dtype.kind == "O":
            import pandas as pd

            mask = np.asarray(pd.isna(y), dtype=bool)
        else:
            mask = np.zeros(y.shape[0], dtype=bool)
        check_marker(y, marker, mask)
        return mask
    if y.dtype.kind in "US":
        y = y.astype(object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = np.asarray(y == marker)
    if mask.shape != y.shape:
        raise ParameterError(
            f"unlabeled={marker!r} cannot be compared with the labels in y (dtype {y.dtype})"
        )
    mask = mask.astype(bool, copy=False)
    check_marker(y, marker, mask)
    return mask


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (``'-1'``, not ``np.str_('-1')``, in messages)."""
    return value.item() if isinstance(value, np.generic) else value


def check_marker(y: np.ndarray, marker: Any, mask: np.ndarray) -> None:
    """Refuse a labeled row of ``y`` (``~mask``) that may have been meant as unlabeled.

    * None/NaN as the marker and a label that is the text of a missing value (``"None"``,
      ``"nan"``, ``""``...: :data:`MISSING_TEXT`);
    * any other marker and a missing value (None, NaN) in a labeled row;
    * a label that reads as the marker but is not equal to it (``"-1"`` for ``-1``, ``-1``
      for ``"-1"``, ``" "`` for ``""``).

    The :class:`InputError` names the row and the value, never a class named ``"None"``.
    """
    labeled = np.flatnonzero(~mask)
    if labeled.size == 0:
        return
    kind = y.dtype.kind
    if is_missing_marker(marker):
        if kind not in "OUS":
            return
        for row in labeled:
            v = _plain(y[row])
            if isinstance(v, str) and v.strip() in MISSING_TEXT:
                raise InputError(
                    f"y holds the text {v!r} at row {row}, and unlabeled={marker!r} marks missing "
                    f"values (None/NaN) as unlabeled: is {v!r} a class or a missing label? Set "
                    f"the row to None to mark it unlabeled, or pass unlabeled={v!r} to make "
                    "that text the marker"
                )
        return
    if kind == "f" or kind == "O":
        import pandas as pd

        missing = np.asarray(pd.isna(y[labeled]), dtype=bool)
        if missing.any():
            r = int(labeled[np.flatnonzero(missing)[0]])
            raise InputError(
                f"y holds a missing value ({_plain(y[r])!r}) at row {r}, but the unlabeled "
                f"marker is {marker!r}, so the row would count as labeled: pass "
                f"unlabeled=None to treat missing values as unlabeled, or set the row to "
                f"{marker!r}"
            )
    text = str(marker).strip()
    hits: Any
    if kind in "iuf":
        if not isinstance(marker, str):
            return
        try:
            number = float(text)
        except ValueError:
            return
        hits = labeled[y[labeled] == number]
    elif kind in "OUS":
        hits = [row for row in labeled if str(y[row]).strip() == text]
    else:
        return
    if len(hits):
        r = int(hits[0])
        v = _plain(y[r])
        raise InputError(
            f"y holds {v!r} at row {r}, which reads as the unlabeled marker {marker!r} but is "
            f"not equal to it ({type(v).__name__}, the marker is a {type(marker).__name__}): "
            f"pass unlabeled={v!r} if it marks the unlabeled rows, or use one type for the "
            "labels and the marker"
        )


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


def check_probabilities(
    proba: Any,
    *,
    n_rows: int | None = None,
    n_classes: int | None = None,
    source: str,
    floats_only: bool = False,
    check_values: bool = False,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """The one check of a probability matrix; returns it ready for the kernels.

    Checks the shape (2-d, ``(n_rows, n_classes)``; ``None`` accepts any size) and the dtype,
    and returns a C-contiguous array: float32 stays float32 (the float32 kernels take it as it
    is), any other numeric dtype becomes float64 (``floats_only=True`` refuses integers and
    bools instead). Values within :data:`PROBA_TOLERANCE` of [0, 1] are clipped (round-off of
    a softmax, a normalisation or a calibration); the caller's array is never modified.

    The values themselves (NaN, infinity, outside [0, 1]) are left to the Rust kernels, which
    name the row and column when they score the matrix, unless ``check_values=True``: then
    they are checked here, and with ``rows`` the error also names ``rows[i]``, the row of
    ``X`` the matrix row came from (a plain estimator's predictions of a subset of ``X``).

    Raises
    ------
    ProbabilityError
        Wrong shape or dtype; with ``check_values``, a value that is not finite or not in [0, 1].
    """
    arr = np.asarray(proba)
    if arr.ndim != 2 or (n_rows is not None and arr.shape[0] != n_rows) or (
        n_classes is not None and arr.shape[1] != n_classes
    ):
        expected = (
            f"({'n_rows' if n_rows is None else n_rows}, "
            f"{'n_classes' if n_classes is None else n_classes})"
        )
        if n_rows is None or n_classes is None:
            expected = f"shape {expected}"  # "expected shape (n_rows, 3)"
        raise ProbabilityError(
            f"{source} returned probabilities of shape {arr.shape}, expected {expected}"
        )
    if arr.dtype not in (np.float32, np.float64):
        if arr.dtype.kind not in ("f" if floats_only else "biuf"):
            raise ProbabilityError(
                f"{source} returned probabilities of dtype {arr.dtype}, expected floats"
            )
        arr = arr.astype(np.float64)
    with np.errstate(invalid="ignore"):
        round_off = ((arr < 0.0) & (arr >= -PROBA_TOLERANCE)) | (
            (arr > 1.0) & (arr <= 1.0 + PROBA_TOLERANCE)
        )
    if round_off.any():
        arr = np.where(round_off, np.clip(arr, 0.0, 1.0), arr)  # a new array, same dtype
    if check_values:
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
        if bad.any():
            row, column = (int(i) for i in np.argwhere(bad)[0])
            of_x = "" if rows is None else f" (row {int(rows[row])} of X, class {column})"
            raise ProbabilityError(
                f"{source}: probability {arr[row, column]} at row {row}, column {column}{of_x} "
                "is not finite or not in [0, 1]"
            )
    return np.ascontiguousarray(arr)


def check_estimator_proba(
    proba: Any, *, n_classes: int, rows: np.ndarray, source: str
) -> np.ndarray:
    """:func:`check_probabilities` of a plain scikit-learn estimator's predictions of ``rows``.

    ``rows`` are the rows of ``X`` that were predicted (named in errors); ``source`` names the
    estimator. The values are checked here (a :class:`ProbabilityError` naming the row of
    ``X`` and the class column). A model fitted on a single class gives that class to every
    row: LightGBM and XGBoost fit such labels as a binary problem and report a second column
    for a class that does not exist; its first column is the one class, and only that column
    is kept.
    """
    proba = np.asarray(proba)
    if n_classes == 1 and proba.ndim == 2 and proba.shape == (rows.shape[0], 2):
        proba = proba[:, :1]
    return check_probabilities(proba, n_rows=rows.shape[0], n_classes=n_classes,
                               source=f"{source}.predict_proba", check_values=True,
                               rows=rows)


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

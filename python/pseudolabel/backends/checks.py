"""The checks at a backend's boundary: labels and sample weights in, probabilities out.

:func:`check_probabilities` (defined in :mod:`pseudolabel._validation`, the one probability
check, re-exported here) checks a model's ``predict_proba`` output (shape and dtype; the Rust
kernels validate the values when they score them).
:meth:`Backend.predict_proba <pseudolabel.backends.base.Backend.predict_proba>` runs it on every
prediction, so whatever a backend returns reaches the strategies and kernels as a C-contiguous
float32 or float64 array of the right shape. Code that calls a plain scikit-learn estimator (not
a backend) can use the same function.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pseudolabel._validation import PROBA_TOLERANCE, check_probabilities
from pseudolabel.exceptions import InputError, ParameterError

__all__ = ["PROBA_TOLERANCE", "check_probabilities", "check_sample_weight", "encode_labels"]

def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray:
    """Validate sample weights: 1-D, length ``n``, finite, non-negative, not all zero."""
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"sample_weight must be numeric: {exc}") from exc
    if w.ndim != 1 or len(w) != n:
        raise InputError(f"sample_weight must have shape ({n},), got {w.shape}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"sample_weight must be finite and non-negative; row {row} has {w[row]!r}"
        )
    if not (w > 0).any():
        raise InputError("sample_weight is zero for every row")
    return w


def encode_labels(y: Any, classes: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Map labels to column indices of the label space.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    classes : array-like, optional
        The label space in column order (unique). Default: ``np.unique(y)``.

    Returns
    -------
    indices : numpy.ndarray of int64
        ``classes[indices] == y``.
    classes : numpy.ndarray
        The label space.

    Raises
    ------
    InputError
        ``y`` is not 1-D, is empty, holds NaN/None, mixes label types, or holds labels outside
        ``classes``.
    ParameterError
        ``classes`` is empty or has duplicates.
    """
    y = _labels_array(y, "y")
    if len(y) == 0:
        raise InputError("y is empty")
    if classes is None:
        try:
            classes_ = np.unique(y)
        except TypeError as exc:
            raise InputError(f"y mixes label types that cannot be sorted: {exc}") from exc
    else:
        classes_ = _labels_array(classes, "classes")
        if len(classes_) == 0:
            raise ParameterError("classes is empty")
        try:
            uniq = np.unique(classes_)
        except TypeError as exc:
            raise ParameterError(f"classes mixes label types that cannot be sorted: {exc}") from exc
        if len(uniq) != len(classes_):
            raise ParameterError("classes has duplicate entries")
    try:
        sorter = np.argsort(classes_, kind="stable")
        sorted_classes = classes_[sorter]
        pos = np.searchsorted(sorted_classes, y)
    except TypeError as exc:
        raise InputError(
            f"y (dtype {y.dtype}) cannot be compared with classes (dtype {classes_.dtype}): {exc}"
        ) from exc
    pos_clipped = np.minimum(pos, len(classes_) - 1)
    found = sorted_classes[pos_clipped] == y
    if not np.all(found):
        unknown = list(dict.fromkeys(_plain(v) for v in y[~found]))
        shown = ", ".join(repr(v) for v in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise InputError(
            f"y has {len(unknown)} label(s) outside classes: {shown}; "
            f"classes are {[_plain(c) for c in classes_[:20]]}"
        )
    return sorter[pos_clipped].astype(np.int64), classes_


def _labels_array(values: Any, what: str) -> np.ndarray:
    if hasattr(values, "to_numpy"):  # pandas Series / Categorical
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{what} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        if nan.any():
            raise InputError(f"{what} has NaN at row {int(np.flatnonzero(nan)[0])}")
    elif arr.dtype.kind == "O":
        for i, v in enumerate(arr):  # object labels are few in practice; find the bad one
            if v is None or (isinstance(v, float) and v != v):
                raise InputError(f"{what} has a missing label ({v!r}) at row {i}")
    elif arr.dtype.kind not in "biuUS":
        raise InputError(f"{what} has unsupported dtype {arr.dtype}")
    return arr


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value

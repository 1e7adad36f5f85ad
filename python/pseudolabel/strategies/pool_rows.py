"""The rows a diverse query strategy measures: pool and labeled features as numeric arrays.

Distances are taken between rows *as the learner's model sees them* (``context.prepare``,
see :class:`~pseudolabel.strategies.context.QueryContext`); float32 stays float32.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.strategies.context import QueryContext
from pseudolabel.strategies.query import n_rows

__all__ = ["pool_features", "labeled_features", "check_positive", "numeric_rows",
           "standardize_columns"]



def pool_features(context: QueryContext, X: Any, what: str) -> np.ndarray:
    """Rows of ``X`` as the model sees them, numeric, float32 kept (else float64)."""
    return numeric_rows(context.prepare(X), what)


def numeric_rows(X: Any, what: str) -> np.ndarray:
    """Prepared rows as a 2-d numeric array (sparse densified), float32 kept, else float64;
    ``InputError`` naming ``what`` otherwise."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    arr = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    if arr.dtype.kind not in "fiub":
        raise InputError(
            f"{what} measures distances between rows and needs numeric features, got "
            f"dtype {arr.dtype}"
        )
    if arr.ndim != 2:
        raise InputError(f"{what} needs 2-d features (rows x features), got shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


def labeled_features(context: QueryContext, dtype: np.dtype, what: str) -> np.ndarray | None:
    X_lab = context.X_labeled
    if X_lab is None or n_rows(X_lab) == 0:
        return None
    return pool_features(context, X_lab, what).astype(dtype, copy=False)


def check_positive(name: str, value: Any, *, allow: tuple[Any, ...] = ()) -> None:
    if value in allow and not isinstance(value, bool):
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        extra = "".join(f" or {a!r}" for a in allow)
        raise ParameterError(f"{name} must be a positive integer{extra}, got {value!r}")


def standardize_columns(X: np.ndarray) -> np.ndarray:
    """Each column of float rows ``X`` centred and scaled to unit variance (constant ones: 0)."""
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)

"""Scoring and selection kernels over probability matrices (the Rust core).

Every function takes ``P``, an ``(N, C)`` array of class probabilities (the output of
``predict_proba``), as float32 or float64. C-contiguous arrays are read in place without a
copy; any other layout (Fortran order, strided views) gives the same results. The work runs
on a pool of native threads with the GIL released, and results never depend on the number
of threads. Ties always go to the lower row index.

Invalid probabilities (NaN, infinity, values outside [0, 1]) raise
:class:`~pseudolabel.exceptions.ProbabilityError` naming the first offending row and column.
The range check is exact: a model whose probabilities overshoot 1 by round-off should be
clipped by the caller (the estimators in this package do so within 1e-9).
``N == 0`` is not an error: it gives empty results.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pseudolabel import _core
from pseudolabel.exceptions import InputError, ParameterError

__all__ = [
    "Summary",
    "Selection",
    "TopK",
    "summarize",
    "select",
    "quantile",
    "set_num_threads",
    "get_num_threads",
    "SCORES",
]

ScoreName = Literal["confidence", "margin", "entropy"]
#: The per-row scores that ``select`` and ``TopK`` rank by.
SCORES: tuple[str, ...] = ("confidence", "margin", "entropy")


@dataclass(frozen=True, eq=False)
class Summary:
    """Per-row and per-class statistics of a probability matrix.

    Attributes
    ----------
    label : ndarray of int64, shape (N,)
        The argmax of each row; the lowest column wins ties.
    confidence : ndarray, shape (N,)
        The row maximum, in P's dtype.
    margin : ndarray, shape (N,)
        The maximum minus the second-largest value: 0 when the top two tie, the maximum
        itself when C == 1.
    entropy : ndarray, shape (N,), or None
        ``-sum(p * ln p)`` with ``0 ln 0 = 0``; only computed when asked for.
    class_counts : ndarray of int64, shape (C,)
        How many rows have each class as their argmax.
    class_mean : ndarray of float64, shape (C,)
        The mean of each column (NaN when N == 0). Sums run in float64 across blocks of 8
        rows and in P's dtype within a block, so float32 input carries float32-sized
        round-off (about 1e-7 relative), the same for every layout and thread count.
    """

    label: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray
    entropy: np.ndarray | None
    class_counts: np.ndarray
    class_mean: np.ndarray


@dataclass(frozen=True, eq=False)
class Selection:
    """Selected rows, best first.

    Attributes
    ----------
    indices : ndarray of int64
        Row indices into P (global row numbers for :class:`TopK`).
    labels : ndarray of int64
        The argmax column of each selected row.
    scores : ndarray of float64
        The score each row was ranked by.
    """

    indices: np.ndarray
    labels: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def _as_proba(P, name: str = "P") -> np.ndarray:
    """Check dtype and shape; return an array the core can borrow (no copy when possible)."""
    if not isinstance(P, np.ndarray):
        if hasattr(P, "to_numpy"):  # pandas
            P = P.to_numpy()
        else:
            P = np.asarray(P)
    if P.dtype not in (np.float32, np.float64):
        raise InputError(
            f"{name} must hold float32 or float64 probabilities, got dtype {P.dtype}; "
            f"convert with {name}.astype(np.float64)"
        )
    if not P.dtype.isnative:
        P = P.astype(P.dtype.newbyteorder("="))
    if P.ndim != 2:
        raise InputError(
            f"{name} must be 2-dimensional (rows x classes), got {P.ndim} dimension(s) "
            f"with shape {P.shape}"
        )
    if P.shape[1] == 0:
        raise InputError(f"{name} must have at least one class column, got shape {P.shape}")
    return P


def _check_score(score: str) -> str:
    if score not in SCORES:
        raise ParameterError(f"score must be one of {', '.join(map(repr, SCORES))}; got {score!r}")
    return score


def _check_k(k) -> int | None:
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ParameterError(f"k must be a non-negative integer or None, got {k!r}")
    if k < 0:
        raise ParameterError(f"k must not be negative, got {k}")
    return int(k)


def _per_class_k(per_class_k, n_classes: int) -> np.ndarray | None:
    if per_class_k is None:
        return None
    if isinstance(per_class_k, numbers.Integral) and not isinstance(per_class_k, bool):
        if per_class_k < 0:
            raise ParameterError(f"per_class_k must not be negative, got {per_class_k}")
        return np.full(n_classes, int(per_class_k), dtype=np.int64)
    arr = np.asarray(per_class_k)
    if arr.ndim != 1 or arr.shape[0] != n_classes:
        raise ParameterError(
            f"per_class_k must be an integer or an array of {n_classes} integers "
            f"(one per class), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "iu":
        raise ParameterError(f"per_class_k must hold integers, got dtype {arr.dtype}")
    if (arr < 0).any():
        c = int(np.flatnonzero(arr < 0)[0])
        raise ParameterError(f"per_class_k must not be negative (class {c} has {arr[c]})")
    return arr.astype(np.int64)


def _thresholds(threshold, n_classes: int) -> tuple[float | None, np.ndarray | None]:
    if threshold is None:
        return None, None
    if isinstance(threshold, numbers.Real) and not isinstance(threshold, bool):
        t = float(threshold)
        if np.isnan(t):
            raise ParameterError("threshold must not be NaN")
        return t, None
    arr = np.asarray(threshold, dtype=np.float64)
    if arr.ndim == 0:
        return _thresholds(float(arr), n_classes)
    if arr.ndim != 1 or arr.shape[0] != n_classes:
        raise ParameterError(
            f"threshold must be a number or an array of {n_classes} values (one per class), "
            f"got shape {arr.shape}"
        )
    if np.isnan(arr).any():
        c = int(np.flatnonzero(np.isnan(arr))[0])
        raise ParameterError(f"threshold for class {c} is NaN")
    return None, np.ascontiguousarray(arr)


def _exclude(exclude, n_rows: int) -> np.ndarray | None:
    if exclude is None:
        return None
    arr = np.asarray(exclude)
    if arr.dtype != np.bool_:
        raise ParameterError(f"exclude must be a boolean mask, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ParameterError(
            f"exclude must be a boolean mask of length {n_rows} (one per row), got shape {arr.shape}"
        )
    return np.ascontiguousarray(arr)


def summarize(P, *, entropy: bool = False) -> Summary:
    """Score every row of ``P`` in one pass.

    Parameters
    ----------
    P : array-like of shape (N, C), float32 or float64
        Class probabilities.
    entropy : bool, default=False
        Also compute the Shannon entropy (natural log) of each row.

    Returns
    -------
    Summary
        ``label``, ``confidence``, ``margin``, ``entropy``, ``class_counts``, ``class_mean``.
    """
    P = _as_proba(P)
    label, conf, margin, ent, counts, mean = _core.summarize(P, bool(entropy))
    return Summary(label, conf, margin, ent, counts, mean)


def select(
    P,
    *,
    score: ScoreName = "confidence",
    threshold=None,
    inclusive: bool = False,
    k: int | None = None,
    per_class_k=None,
    largest: bool = True,
    exclude=None,
) -> Selection:
    """Select rows of ``P`` by a per-row score.

    Filters apply in this order: ``exclude``, then ``threshold``, then ``per_class_k``, then
    ``k``. The result is ordered best first (largest score first when ``largest``, smallest
    first otherwise), ties going to the lower row index.

    Parameters
    ----------
    P : array-like of shape (N, C), float32 or float64
        Class probabilities.
    score : {"confidence", "margin", "entropy"}, default="confidence"
        What to rank rows by.
    threshold : float or array-like of shape (C,), optional
        Keep rows whose score is ``> threshold`` (``>=`` with ``inclusive``); with
        ``largest=False``, ``<`` (``<=``). An array gives one threshold per predicted class.
        Thresholds are rounded to P's dtype before comparing, as numpy does for a Python
        float against a float32 array.
    inclusive : bool, default=False
        Compare with ``>=`` / ``<=`` instead of strict inequality.
    k : int, optional
        Keep at most the best ``k`` rows of what remains. ``k=0`` keeps nothing.
    per_class_k : int or array-like of shape (C,), optional
        Keep at most this many rows per predicted class.
    largest : bool, default=True
        Rank the largest scores first. ``False`` picks the least confident rows, as active
        learning does (or, with ``score="entropy"``, the most certain ones).
    exclude : array-like of bool, shape (N,), optional
        Rows to skip.

    Returns
    -------
    Selection
        ``indices``, ``labels`` (argmax column) and ``scores`` of the kept rows, best first.
    """
    P = _as_proba(P)
    n, c = P.shape
    scalar, per_class = _thresholds(threshold, c)
    indices, labels, scores = _core.select(
        P,
        _check_score(score),
        scalar,
        per_class,
        bool(inclusive),
        _check_k(k),
        _per_class_k(per_class_k, c),
        bool(largest),
        _exclude(exclude, n),
    )
    return Selection(indices, labels, scores)


def quantile(P, q: float, *, per_class: bool = False):
    """The exact ``q``-quantile of row confidence (numpy's default "linear" method).

    Parameters
    ----------
    P : array-like of shape (N, C), float32 or float64
        Class probabilities.
    q : float in [0, 1]
        The quantile; ``0.8`` is the 80th percentile.
    per_class : bool, default=False
        Compute one quantile per predicted class, over the rows whose argmax is that class.

    Returns
    -------
    float or ndarray of float64, shape (C,)
        NaN where there are no rows (N == 0, or a class that no row predicts).
    """
    P = _as_proba(P)
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 <= float(q) <= 1.0:
        raise ParameterError(f"q must be a number within [0, 1], got {q!r}")
    out = _core.quantile(P, float(q), bool(per_class))
    return out if per_class else float(out[0])


def set_num_threads(n: int) -> None:
    """Set the number of native threads the kernels use (at least 1).

    The default is the number of CPUs, or ``PSEUDOLABEL_NUM_THREADS`` when set. Results do
    not depend on it.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ParameterError(f"the number of threads must be an integer >= 1, got {n!r}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of native threads the kernels use."""
    return int(_core.get_num_threads())


class TopK:
    """Streaming top-k: push chunks of rows, merge accumulators, read the result.

    ``result()`` equals ``select(P_all, k=k, per_class_k=per_class_k, ...)`` on the
    concatenation of every chunk pushed (into this accumulator or any merged into it), with
    row indices in the global numbering given by each push's ``offset``. Memory stays
    O(k + sum(per_class_k)). Accumulators are picklable, so partial results can travel
    between processes (the tree reduction of ``pseudolabel.dask``).

    Parameters
    ----------
    k : int, optional
        Keep the best ``k`` rows overall.
    per_class_k : int or array-like of shape (C,), optional
        Keep at most this many rows per predicted class. At least one of ``k`` and
        ``per_class_k`` is required.
    score, largest, threshold, inclusive
        As in :func:`select`.
    """

    def __init__(
        self,
        k: int | None = None,
        *,
        per_class_k=None,
        score: ScoreName = "confidence",
        largest: bool = True,
        threshold=None,
        inclusive: bool = False,
    ):
        if k is None and per_class_k is None:
            raise ParameterError("TopK needs k, per_class_k, or both")
        self.k = _check_k(k)
        self.per_class_k = per_class_k
        self.score = _check_score(score)
        self.largest = bool(largest)
        self.threshold = threshold
        self.inclusive = bool(inclusive)
        self.n_classes: int | None = None
        self.n_rows = 0  # rows pushed, including merged accumulators
        self._indices = np.empty(0, dtype=np.int64)
        self._labels = np.empty(0, dtype=np.int64)
        self._scores = np.empty(0, dtype=np.float64)

    def _quotas(self) -> np.ndarray | None:
        if self.per_class_k is None or self.n_classes is None:
            return None
        return _per_class_k(self.per_class_k, self.n_classes)

    def _set_classes(self, c: int) -> None:
        if self.n_classes is None:
            self.n_classes = c
        elif self.n_classes != c:
            raise InputError(
                f"chunk has {c} class columns but earlier chunks had {self.n_classes}"
            )

    def push(self, P_chunk, offset: int, *, exclude=None) -> TopK:
        """Add the rows of ``P_chunk``; its first row has global index ``offset``."""
        if isinstance(offset, bool) or not isinstance(offset, numbers.Integral) or offset < 0:
            raise ParameterError(f"offset must be a non-negative integer, got {offset!r}")
        P_chunk = _as_proba(P_chunk, "P_chunk")
        self._set_classes(P_chunk.shape[1])
        part = select(
            P_chunk,
            score=self.score,
            threshold=self.threshold,
            inclusive=self.inclusive,
            k=self.k,
            per_class_k=self._quotas(),
            largest=self.largest,
            exclude=exclude,
        )
        self.n_rows += P_chunk.shape[0]
        self._absorb(part.indices + np.int64(offset), part.labels, part.scores)
        return self

    def merge(self, other: TopK) -> TopK:
        """Fold another accumulator (same parameters) into this one."""
        if not isinstance(other, TopK):
            raise ParameterError(f"can only merge another TopK, got {type(other).__name__}")
        if (other.k, other.score, other.largest, other.inclusive) != (
            self.k, self.score, self.largest, self.inclusive
        ) or not _same(other.per_class_k, self.per_class_k) or not _same(
            other.threshold, self.threshold
        ):
            raise ParameterError("cannot merge TopK accumulators with different parameters")
        if other.n_classes is not None:
            self._set_classes(other.n_classes)
        self.n_rows += other.n_rows
        self._absorb(other._indices, other._labels, other._scores)
        return self

    def _absorb(self, indices, labels, scores) -> None:
        self._indices, self._labels, self._scores = _core.reduce_candidates(
            np.concatenate([self._indices, indices]),
            np.concatenate([self._labels, labels]),
            np.concatenate([self._scores, scores]),
            self.k,
            self._quotas(),
            self.largest,
        )

    def result(self) -> Selection:
        """The best rows seen so far, best first."""
        return Selection(self._indices.copy(), self._labels.copy(), self._scores.copy())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The accumulator's whole state as named arrays (for ``np.savez``; no pickle).

        Optional parameters that are None are left out; :meth:`from_arrays` rebuilds an
        equal accumulator.
        """
        arrays: dict[str, np.ndarray] = {
            "score": np.array(self.score),
            "largest": np.array(self.largest),
            "inclusive": np.array(self.inclusive),
            "n_rows": np.array(self.n_rows, dtype=np.int64),
            "indices": self._indices.copy(),
            "labels": self._labels.copy(),
            "scores": self._scores.copy(),
        }
        if self.k is not None:
            arrays["k"] = np.array(self.k, dtype=np.int64)
        if self.per_class_k is not None:
            arrays["per_class_k"] = np.asarray(self.per_class_k, dtype=np.int64)
        if self.threshold is not None:
            arrays["threshold"] = np.asarray(self.threshold, dtype=np.float64)
        if self.n_classes is not None:
            arrays["n_classes"] = np.array(self.n_classes, dtype=np.int64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> TopK:
        """Rebuild an accumulator saved by :meth:`to_arrays` (a dict or an ``NpzFile``).

        Raises
        ------
        ParameterError
            A required array is missing or has the wrong shape.
        """
        required = ("score", "largest", "inclusive", "n_rows", "indices", "labels", "scores")
        missing = [name for name in required if name not in arrays]
        if missing:
            raise ParameterError(f"TopK state lacks array(s) {', '.join(missing)}")

        def scalar_or_array(name: str):
            value = np.asarray(arrays[name])
            return value.item() if value.ndim == 0 else value

        k = int(arrays["k"]) if "k" in arrays else None
        per_class_k = scalar_or_array("per_class_k") if "per_class_k" in arrays else None
        threshold = scalar_or_array("threshold") if "threshold" in arrays else None
        topk = cls(k, per_class_k=per_class_k, score=str(np.asarray(arrays["score"])),
                   largest=bool(arrays["largest"]), threshold=threshold,
                   inclusive=bool(arrays["inclusive"]))
        indices = np.asarray(arrays["indices"], dtype=np.int64)
        labels = np.asarray(arrays["labels"], dtype=np.int64)
        scores = np.asarray(arrays["scores"], dtype=np.float64)
        if not (indices.ndim == labels.ndim == scores.ndim == 1
                and len(indices) == len(labels) == len(scores)):
            raise ParameterError("TopK state arrays indices, labels and scores must be 1-D "
                                 "and of one length")
        topk.n_classes = int(arrays["n_classes"]) if "n_classes" in arrays else None
        topk.n_rows = int(arrays["n_rows"])
        topk._indices, topk._labels, topk._scores = indices, labels, scores
        return topk

    def __len__(self) -> int:
        return len(self._indices)

    def __repr__(self) -> str:
        return (
            f"TopK(k={self.k}, per_class_k={self.per_class_k!r}, score={self.score!r}, "
            f"largest={self.largest}, rows_pushed={self.n_rows}, kept={len(self)})"
        )


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(np.asarray(a), np.asarray(b))

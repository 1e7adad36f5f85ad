"""Score and select rows of probability matrices: summarize, select, quantile, TopK, threads.

The kernels of :mod:`pseudolabel.kernels` that rank rows by confidence, margin or entropy
(see the package docstring for the contract every kernel shares).
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
    "MAX_NUM_THREADS",
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


_INT64_MAX = int(np.iinfo(np.int64).max)


def _as_proba(P, name: str = "P") -> np.ndarray:
    """Coerce to a 2-D float32/float64 array in native byte order (no copy when possible).

    The core checks everything else (class columns, values).
    """
    if not isinstance(P, np.ndarray):
        if hasattr(P, "to_numpy"):  # pandas
            P = P.to_numpy()
        else:
            P = np.asarray(P)
    if P.dtype.kind != "f" or P.dtype.itemsize not in (4, 8):
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
    return P


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_int64(value, name: str, what: str = "a non-negative integer") -> int:
    """An integer parameter as a Python int within int64 (the core checks its sign)."""
    if not _is_integer(value):
        raise ParameterError(f"{name} must be {what}, got {value!r}")
    value = int(value)
    if value > _INT64_MAX:
        raise ParameterError(f"{name} must be below 2**63, got {value}")
    if value < -_INT64_MAX:
        raise ParameterError(f"{name} must not be negative, got {value}")
    return value


def _as_score(score: object) -> ScoreName:
    if not isinstance(score, str):
        raise ParameterError(f"score must be one of {', '.join(map(repr, SCORES))}; got {score!r}")
    return score  # type: ignore[return-value]  # the core checks the name


def _as_k(k) -> int | None:
    if k is None:
        return None
    return _as_int64(k, "k", "a non-negative integer or None")


def _as_counts(per_class_k, n_classes: int | None) -> np.ndarray | None:
    """``per_class_k`` as an int64 array; a scalar is repeated for each of ``n_classes``
    (once when the number of classes is not known yet)."""
    if per_class_k is None:
        return None
    what = "an array of integers" if n_classes is None else f"an array of {n_classes} integers"
    if _is_integer(per_class_k):
        count = _as_int64(per_class_k, "per_class_k")
        return np.full(1 if n_classes is None else n_classes, count, dtype=np.int64)
    if isinstance(per_class_k, (str, bytes, bool)):
        raise ParameterError(f"per_class_k must be an integer or {what}, got {per_class_k!r}")
    arr = np.asarray(per_class_k)
    if arr.ndim != 1:
        raise ParameterError(
            f"per_class_k must be an integer or {what} (one per class), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "iu":
        raise ParameterError(f"per_class_k must hold integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > _INT64_MAX:
        raise ParameterError(f"per_class_k must be below 2**63, got {arr.max()}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _as_thresholds(threshold) -> tuple[float | None, np.ndarray | None]:
    """``threshold`` as one float or a float64 array of per-class values."""
    if threshold is None:
        return None, None
    if _is_number(threshold):
        return float(threshold), None
    if isinstance(threshold, (str, bytes, bool)):
        raise ParameterError(f"threshold must be a number or an array of numbers, got {threshold!r}")
    arr = np.asarray(threshold)
    if arr.dtype.kind not in "iuf":
        raise ParameterError(
            f"threshold must be a number or an array of numbers, got dtype {arr.dtype}"
        )
    if arr.ndim == 0:
        return float(arr), None
    if arr.ndim != 1:
        raise ParameterError(
            f"threshold must be a number or an array of per-class values, got shape {arr.shape}"
        )
    return None, np.ascontiguousarray(arr, dtype=np.float64)


def _as_mask(exclude) -> np.ndarray | None:
    if exclude is None:
        return None
    arr = np.asarray(exclude)
    if arr.dtype != np.bool_:
        raise ParameterError(f"exclude must be a boolean mask, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ParameterError(f"exclude must be a boolean mask (one per row), got shape {arr.shape}")
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
    scalar, per_class = _as_thresholds(threshold)
    indices, labels, scores = _core.select(
        P,
        _as_score(score),
        scalar,
        per_class,
        bool(inclusive),
        _as_k(k),
        _as_counts(per_class_k, P.shape[1]),
        bool(largest),
        _as_mask(exclude),
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
    if not _is_number(q):
        raise ParameterError(f"q must be a number within [0, 1], got {q!r}")
    out = _core.quantile(P, float(q), bool(per_class))
    return out if per_class else float(out[0])


#: The most native threads the kernels accept: 4 x the CPUs, and at least 256.
MAX_NUM_THREADS: int = int(_core.MAX_NUM_THREADS)


def set_num_threads(n: int) -> None:
    """Set the number of native threads the kernels use.

    ``n`` must lie in ``1 ..`` :data:`MAX_NUM_THREADS` (4 x the CPUs, at least 256); a
    larger value raises :class:`~pseudolabel.exceptions.ParameterError` rather than start
    thousands of threads. The default is the number of CPUs, or ``PSEUDOLABEL_NUM_THREADS``
    when set (the same bounds apply). Work that fits in one block of rows runs on the
    calling thread. Results do not depend on the number of threads.
    """
    if not _is_integer(n):
        raise ParameterError(f"the number of threads must be an integer >= 1, got {n!r}")
    _core.set_num_threads(max(min(int(n), _INT64_MAX), -_INT64_MAX))


def get_num_threads() -> int:
    """The number of native threads the kernels use."""
    return int(_core.get_num_threads())


class TopK:
    """Streaming top-k: push chunks of rows, merge accumulators, read the result.

    ``result()`` equals ``select(P_all, k=k, per_class_k=per_class_k, ...)`` on the
    concatenation of every chunk pushed (into this accumulator or any merged into it), with
    row indices in the global numbering given by each push's ``offset``. Chunks may come in
    any order, but each row may be seen once: pushing rows that were already pushed, or
    merging an accumulator that saw some of the same rows (or itself), raises
    :class:`~pseudolabel.exceptions.ParameterError` naming the overlapping rows. Memory
    stays O(k + sum(per_class_k)) plus one entry per run of consecutive rows pushed.
    Accumulators are picklable, so partial results can travel between processes (the tree
    reduction of ``pseudolabel.dask``).

    The whole state is plain arrays: the kept candidates (``_indices``, ``_labels``,
    ``_scores``) and the row ranges seen (``_ranges``, int64 of shape (m, 2), each row a
    half-open ``[start, stop)``, sorted and disjoint).

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
        self.k = _as_k(k)
        self.per_class_k = per_class_k
        self.score = _as_score(score)
        self.largest = bool(largest)
        self.threshold = threshold
        self.inclusive = bool(inclusive)
        _as_thresholds(threshold)
        # the core checks score, k and per_class_k now rather than at the first push
        _core.select(np.zeros((0, 1)), self.score, k=self.k, largest=self.largest)
        _core.reduce_candidates(
            *_empty_candidates(), self.k, _as_counts(per_class_k, None), self.largest
        )
        self.n_classes: int | None = None
        self.n_rows = 0  # rows pushed, including merged accumulators
        self._indices, self._labels, self._scores = _empty_candidates()
        self._ranges = np.empty((0, 2), dtype=np.int64)

    def _quotas(self) -> np.ndarray | None:
        if self.per_class_k is None or self.n_classes is None:
            return None
        return _as_counts(self.per_class_k, self.n_classes)

    def _set_classes(self, c: int) -> None:
        if self.n_classes is None:
            self.n_classes = c
        elif self.n_classes != c:
            raise InputError(
                f"chunk has {c} class columns but earlier chunks had {self.n_classes}"
            )

    def _check_new_rows(self, start: int, stop: int) -> None:
        """Refuse rows ``[start, stop)`` if any of them was already pushed."""
        overlap = _overlapping(self._ranges, start, stop)
        if overlap is not None:
            first, last = max(start, overlap[0]), min(stop, overlap[1])
            raise ParameterError(
                f"rows [{start}, {stop}) overlap rows [{overlap[0]}, {overlap[1]}) already "
                f"pushed (rows {first}..{last - 1} would count twice)"
            )

    def push(self, P_chunk, offset: int, *, exclude=None) -> TopK:
        """Add the rows of ``P_chunk``; its first row has global index ``offset``."""
        if not _is_integer(offset) or offset < 0:
            raise ParameterError(f"offset must be a non-negative integer, got {offset!r}")
        P_chunk = _as_proba(P_chunk, "P_chunk")
        start, stop = int(offset), int(offset) + P_chunk.shape[0]
        if stop > _core.MAX_ROWS:
            raise ParameterError(
                f"offset {offset} + {P_chunk.shape[0]} rows passes the largest row index "
                f"supported (2**40)"
            )
        self._check_new_rows(start, stop)
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
        self._absorb(part.indices + np.int64(offset), part.labels, part.scores)
        self.n_rows += P_chunk.shape[0]
        self._ranges = _add_range(self._ranges, start, stop)
        return self

    def merge(self, other: TopK) -> TopK:
        """Fold another accumulator (same parameters, different rows) into this one."""
        if not isinstance(other, TopK):
            raise ParameterError(f"can only merge another TopK, got {type(other).__name__}")
        if (other.k, other.score, other.largest, other.inclusive) != (
            self.k, self.score, self.largest, self.inclusive
        ) or not _same(other.per_class_k, self.per_class_k) or not _same(
            other.threshold, self.threshold
        ):
            raise ParameterError("cannot merge TopK accumulators with different parameters")
        for start, stop in other._ranges.tolist():
            self._check_new_rows(start, stop)
        if other.n_classes is not None:
            self._set_classes(other.n_classes)
        self._absorb(other._indices, other._labels, other._scores)
        self.n_rows += other.n_rows
        ranges = self._ranges
        for start, stop in other._ranges.tolist():
            ranges = _add_range(ranges, start, stop)
        self._ranges = ranges
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
            "ranges": self._ranges.copy(),
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
        topk = cls(k, per_class_k=per_class_k, score=_as_score(str(np.asarray(arrays["score"]))),
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
        ranges = np.asarray(arrays["ranges"], dtype=np.int64)
        if ranges.ndim != 2 or ranges.shape[1] != 2:
            raise ParameterError(f"TopK state array ranges must have shape (m, 2), got {ranges.shape}")
        topk._indices, topk._labels, topk._scores = indices, labels, scores
        topk._ranges = ranges
        return topk

    def __len__(self) -> int:
        return len(self._indices)

    def __repr__(self) -> str:
        return (
            f"TopK(k={self.k}, per_class_k={self.per_class_k!r}, score={self.score!r}, "
            f"largest={self.largest}, rows_pushed={self.n_rows}, kept={len(self)})"
        )


def _empty_candidates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)


def _overlapping(ranges: np.ndarray, start: int, stop: int) -> tuple[int, int] | None:
    """The range of ``ranges`` (sorted, disjoint, half-open) that meets ``[start, stop)``."""
    if stop <= start or len(ranges) == 0:
        return None
    at = int(np.searchsorted(ranges[:, 0], stop, side="left")) - 1
    if at >= 0 and ranges[at, 1] > start:
        return int(ranges[at, 0]), int(ranges[at, 1])
    return None


def _add_range(ranges: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``ranges`` with ``[start, stop)`` added (disjoint from them), touching ranges joined."""
    if stop <= start:
        return ranges
    at = int(np.searchsorted(ranges[:, 0], start))
    out = np.insert(ranges, at, (start, stop), axis=0)
    joined = [out[0].tolist()]
    for lo, hi in out[1:].tolist():
        if lo == joined[-1][1]:
            joined[-1][1] = hi
        else:
            joined.append([lo, hi])
    return np.array(joined, dtype=np.int64).reshape(-1, 2)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(np.asarray(a), np.asarray(b))

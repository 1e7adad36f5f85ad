"""Type stubs for the native module ``pseudolabel._core`` (kept true by tests/test_stub.py).

This is the raw binding layer; use :mod:`pseudolabel.kernels`, which coerces arguments into
these types (the core checks their values).
"""

import numpy as np
import numpy.typing as npt

__all__ = [
    "summarize",
    "select",
    "reduce_candidates",
    "quantile",
    "set_num_threads",
    "get_num_threads",
    "ENV_NUM_THREADS",
    "MAX_NUM_THREADS",
    "MAX_ROWS",
    "sinkhorn",
    "min_distance_update",
    "kcenter_greedy",
    "kmeans_pp_factored",
    "ranked_batch",
]

ENV_NUM_THREADS: str
MAX_NUM_THREADS: int
MAX_ROWS: int

def summarize(
    p: npt.NDArray[np.float32] | npt.NDArray[np.float64], entropy: bool = False
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.floating],
    npt.NDArray[np.floating],
    npt.NDArray[np.floating] | None,
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
]: ...
def select(
    p: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    score: str = "confidence",
    threshold: float | None = None,
    class_thresholds: npt.NDArray[np.float64] | None = None,
    inclusive: bool = False,
    k: int | None = None,
    per_class_k: npt.NDArray[np.int64] | None = None,
    largest: bool = True,
    exclude: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def reduce_candidates(
    indices: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    k: int | None = None,
    per_class_k: npt.NDArray[np.int64] | None = None,
    largest: bool = True,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def quantile(
    p: npt.NDArray[np.float32] | npt.NDArray[np.float64], q: float, per_class: bool = False
) -> npt.NDArray[np.float64]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def sinkhorn(
    p: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    rho: float,
    regularization: float,
    n_iter: int,
    keep: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

# diverse batches (squared Euclidean distances between feature rows)
_Features = npt.NDArray[np.float32] | npt.NDArray[np.float64]

def min_distance_update(
    pool: _Features,
    centers: _Features,
    current_min: npt.NDArray[np.float64],
    nearest: npt.NDArray[np.int64] | None = None,
    center_offset: int = 0,
) -> None: ...
def kcenter_greedy(
    pool: _Features, centers: _Features, k: int, exclude: npt.NDArray[np.bool_] | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def kmeans_pp_factored(
    a: _Features,
    h: _Features,
    k: int,
    draws: npt.NDArray[np.float64],
    exclude: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]: ...
def ranked_batch(
    candidates: _Features,
    uncertainty: npt.NDArray[np.float64],
    labeled: _Features,
    n: int,
    n_unlabeled: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...

"""Distances between feature rows for diverse batches: min-distance, k-center, k-means++, ranked batch.

Squared Euclidean distances over float32 or float64 rows, summed in float64 in the Rust
core; results are independent of the thread count and ties go to the lower row. Used by
:mod:`pseudolabel.strategies.diversity`.
"""

from __future__ import annotations

import numpy as np

from pseudolabel import _core
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.kernels.scoring import _as_int64, _as_mask

__all__ = ["min_distance_update", "kcenter_greedy", "kmeans_pp_factored", "ranked_batch"]



def _as_features(X, name: str, dtype=None) -> np.ndarray:
    """``X`` as a C-contiguous 2-D float32/float64 array (``dtype`` when given: the pool's)."""
    arr = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    if arr.ndim != 2:
        raise InputError(f"{name} must be 2-dimensional (rows x features), got shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise InputError(f"{name} must hold numbers to measure distances, got dtype {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("="))


def _as_centers(centers, pool: np.ndarray) -> np.ndarray:
    if centers is None:
        return np.empty((0, pool.shape[1]), dtype=pool.dtype)
    return _as_features(centers, "centers", pool.dtype)


def min_distance_update(X_pool, centers, current_min=None, *, nearest=None,
                        center_offset: int = 0) -> np.ndarray:
    """``min(current_min, squared distance to the nearest of centers)`` for every pool row.

    ``current_min`` (float64, one per row; infinity when None) is updated in place when it
    is a contiguous float64 array, and returned. ``nearest`` (int64, one per row), when
    given, is set in place to ``center_offset + j`` for rows whose minimum center ``j``
    lowered (the lowest ``j`` on ties). Memory beyond the arguments is O(1).
    """
    pool = _as_features(X_pool, "X_pool")
    cent = _as_centers(centers, pool)
    if current_min is None:
        current_min = np.full(pool.shape[0], np.inf)
    elif not (isinstance(current_min, np.ndarray) and current_min.dtype == np.float64
              and current_min.flags.c_contiguous and current_min.flags.writeable):
        current_min = np.array(current_min, dtype=np.float64)
    if nearest is not None and not (isinstance(nearest, np.ndarray) and nearest.dtype == np.int64
                                    and nearest.flags.c_contiguous and nearest.flags.writeable):
        raise ParameterError("nearest must be a writeable, contiguous int64 array")
    if current_min.ndim != 1:
        raise ParameterError(f"current_min must be 1-dimensional, got shape {current_min.shape}")
    _core.min_distance_update(pool, cent, current_min, nearest,
                              _as_int64(center_offset, "center_offset", "an integer"))
    return current_min


def kcenter_greedy(X_pool, k: int, *, centers=None, exclude=None) -> tuple[np.ndarray, np.ndarray]:
    """k-center greedy (farthest-first): ``k`` rows, each farthest from its nearest center.

    Centers are ``centers`` (e.g. the labeled rows) and the rows picked so far; without
    centers the first pick is the lowest available row. Returns the row indices in pick
    order and each pick's squared distance to its nearest center when it was picked.
    Exact (the picks of the naive algorithm) but prunes, by the triangle inequality, the
    centers whose rows a new pick cannot come nearer to.
    """
    pool = _as_features(X_pool, "X_pool")
    return _core.kcenter_greedy(pool, _as_centers(centers, pool), _as_int64(k, "k"),
                                _as_mask(exclude))


def kmeans_pp_factored(gradient_factor, embedding, k: int, *, draws,
                       exclude=None) -> np.ndarray:
    """k-means++ seeding over gradient embeddings ``g_i = a_i (outer) h_i``, never formed.

    ``gradient_factor`` is ``a`` (n x C, e.g. ``p - onehot(argmax p)``), ``embedding`` is
    ``h`` (n x d). ``|g_i - g_j|^2 = |a_i|^2 |h_i|^2 + |a_j|^2 |h_j|^2 - 2 (a_i.a_j)(h_i.h_j)``.
    The first pick is the largest ``|g_i|`` (lowest row on ties); pick ``t`` is drawn with
    probability proportional to the squared distance to the nearest pick, using
    ``draws[t - 1]`` in [0, 1) (``k - 1`` values: pass ``rng.random(k - 1)``).
    """
    a = _as_features(gradient_factor, "gradient_factor")
    h = _as_features(embedding, "embedding", a.dtype)
    u = np.ascontiguousarray(draws, dtype=np.float64)
    if u.ndim != 1:
        raise ParameterError(f"draws must be 1-dimensional, got shape {u.shape}")
    return _core.kmeans_pp_factored(a, h, _as_int64(k, "k"), u, _as_mask(exclude))


def ranked_batch(candidates, uncertainty, labeled, n: int, *,
                 n_unlabeled: int) -> tuple[np.ndarray, np.ndarray]:
    """Ranked batch-mode picks (Cardoso et al. 2017) among ``candidates``.

    Each pick maximizes ``alpha * (1 - 1 / (1 + d)) + (1 - alpha) * u``, ``d`` the Euclidean
    distance to the nearest labeled or picked row and ``alpha = n_unl / (n_unl + n_lab)`` at
    pick ``j`` (``n_unl = n_unlabeled - j``, ``n_lab = len(labeled) + j``). Returns the
    positions into ``candidates`` in pick order and each pick's score.
    """
    cand = _as_features(candidates, "candidates")
    lab = _as_centers(labeled, cand)
    u = np.ascontiguousarray(uncertainty, dtype=np.float64)
    if u.ndim != 1:
        raise ParameterError(f"uncertainty must be 1-dimensional, got shape {u.shape}")
    return _core.ranked_batch(cand, u, lab, _as_int64(n, "n"), _as_int64(n_unlabeled, "n_unlabeled"))

"""Scoring and selection kernels over probability matrices (the Rust core).

Every function takes ``P``, an ``(N, C)`` array of class probabilities (the output of
``predict_proba``), as float32 or float64 (float32 stays float32; big-endian arrays are
converted with a copy). C-contiguous arrays are read in place without a copy; any other
layout (Fortran order, strided views) gives the same results. The work runs
on a pool of native threads with the GIL released, and results never depend on the number
of threads. Ties always go to the lower row index.

Invalid probabilities (NaN, infinity, values outside [0, 1]) raise
:class:`~pseudolabel.exceptions.ProbabilityError` naming the first offending row and column.
The range check is exact: a model whose probabilities overshoot 1 by round-off should be
clipped by the caller (the estimators in this package do so within 1e-9).
``N == 0`` is not an error: it gives empty results.

This module only coerces Python objects (pandas, lists, scalars) into the arrays and numbers
the native core takes, refusing what cannot be one (a string for ``k``); the core checks
every value (signs, lengths, NaN, ranges) and names the parameter in its error.

The package splits them by job: :mod:`~pseudolabel.kernels.scoring` (summarize, select,
quantile, ``TopK``, the thread count), :mod:`~pseudolabel.kernels.allocation` (Sinkhorn
allocation) and :mod:`~pseudolabel.kernels.distance` (distances for diverse batches).
"""

from __future__ import annotations

from pseudolabel.kernels import allocation, distance, scoring
from pseudolabel.kernels.allocation import Allocation, sinkhorn
from pseudolabel.kernels.distance import (
    kcenter_greedy,
    kmeans_pp_factored,
    min_distance_update,
    ranked_batch,
)
from pseudolabel.kernels.scoring import (
    MAX_NUM_THREADS,
    SCORES,
    Selection,
    Summary,
    TopK,
    get_num_threads,
    quantile,
    select,
    set_num_threads,
    summarize,
)

__all__ = [*scoring.__all__, *allocation.__all__, *distance.__all__]

"""Sinkhorn allocation of rows to classes under class-proportion bounds (the Rust core).

The optimal-transport kernel of Confident Sinkhorn Allocation (Nguyen et al., ICML 2023),
used by :mod:`pseudolabel.strategies.allocation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pseudolabel import _core
from pseudolabel.exceptions import ParameterError
from pseudolabel.kernels.scoring import (
    _INT64_MAX,
    _as_proba,
    _is_integer,
    _is_number,
)


__all__ = ["Allocation", "sinkhorn"]


@dataclass(frozen=True, eq=False)
class Allocation:
    """The Sinkhorn plan of :func:`sinkhorn`.

    Attributes
    ----------
    plan : ndarray of float64, shape (N, C)
        ``Q_ij = u_i K_ij v_j``: how much of row ``i`` goes to class ``j``. Each kept row's
        entries plus its slack entry ``u_i v_C`` sum to 1; rows not kept are all zero.
    row_scale : ndarray of float64, shape (n_kept + 1,)
        ``u``: the kept rows' scales in row order, then the slack row's.
    col_scale : ndarray of float64, shape (C + 1,)
        ``v``: the classes' scales, then the slack column's.
    """

    plan: np.ndarray
    row_scale: np.ndarray
    col_scale: np.ndarray


def _as_bounds(values, name: str) -> np.ndarray:
    try:
        arr = np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a 1-d array of numbers, got {values!r}") from exc
    return arr


def sinkhorn(
    P,
    *,
    upper,
    lower,
    rho: float = 1.0,
    regularization: float = 0.1,
    n_iter: int = 100,
    keep=None,
) -> Allocation:
    r"""Sinkhorn allocation of rows to classes under class-proportion bounds.

    The optimal-transport step of Confident Sinkhorn Allocation (Nguyen, Farfade and van den
    Hengel, "Confident Sinkhorn Allocation for Pseudo-Labeling", ICML 2023). With ``n``
    kept rows, cost :math:`1 - p_{ij}` and kernel :math:`K = \exp(-(1 - P) / \varepsilon)`,
    a slack column (a row's unassigned mass) and a slack row (the classes' room between
    their bounds), both of cost 0, the marginals are

    .. math::

        a = (1, \dots, 1,\ n\rho(\textstyle\sum w^+ - \sum w^-)),\qquad
        b = (n\rho w^+_1, \dots, n\rho w^+_C,\ n(1 - \rho\textstyle\sum w^-)).

    Each of ``n_iter`` iterations sets :math:`v = b / K^\top u`, then :math:`u = a / K v`
    (a zero denominator gives a zero scale). One fused pass over the rows per iteration,
    on the kernels' thread pool; bitwise the same results for any number of threads.

    Parameters
    ----------
    P : array-like of shape (N, C), float32 or float64
        Class probabilities (the kernel runs in float64).
    upper, lower : array-like of shape (C,)
        :math:`w^+` and :math:`w^-`, the bounds of each class's share (the paper uses 1.1
        and 0.9 times the labeled class proportions); ``0 <= lower <= upper``.
    rho : float in (0, 1], default=1.0
        The fraction of the kept rows to allocate; ``rho * sum(lower) < 1``.
    regularization : float > 0, default=0.1
        :math:`\varepsilon`, the entropic regularization.
    n_iter : int >= 1, default=100
        Sinkhorn iterations (the paper runs 100).
    keep : bool mask of shape (N,), optional
        The rows that passed the confidence filter; the others take no part (zero plan
        rows, and their values are not read).

    Returns
    -------
    Allocation
    """
    P = _as_proba(P)
    if not _is_integer(n_iter):
        raise ParameterError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    for name, value in (("rho", rho), ("regularization", regularization)):
        if not _is_number(value):
            raise ParameterError(f"{name} must be a number, got {value!r}")
    mask = None
    if keep is not None:
        mask = np.asarray(keep)
        if mask.dtype != np.bool_ or mask.ndim != 1:
            raise ParameterError(
                f"keep must be a 1-d boolean mask, got dtype {mask.dtype} with shape {mask.shape}"
            )
        mask = np.ascontiguousarray(mask)
    plan, row_scale, col_scale = _core.sinkhorn(
        P,
        _as_bounds(upper, "upper"),
        _as_bounds(lower, "lower"),
        float(rho),
        float(regularization),
        max(min(int(n_iter), _INT64_MAX), -_INT64_MAX),
        mask,
    )
    return Allocation(plan, row_scale, col_scale)



"""Optimal-transport allocation of pseudo-labels: Confident Sinkhorn Allocation (``sinkhorn``).

Nguyen, Farfade and van den Hengel, "Confident Sinkhorn Allocation for Pseudo-Labeling",
ICML 2023. A confidence filter first drops the rows whose prediction is uncertain; the kept
rows are then *allocated* to classes by Sinkhorn iterations over the ``N x C`` probability
matrix under class-proportion bounds (``(1 +- slack)`` times the labeled class proportions),
with a slack column for rows left unassigned and a slack row for the classes' room between
their bounds (:func:`pseudolabel.kernels.sinkhorn`, a fused multi-threaded Rust kernel). No
confidence threshold is tuned: the bounds and the allocated fraction decide how many rows
each class gets.

Two strategies: ``sinkhorn`` filters on the model's own probabilities (the paper's entropy
confidence) and needs nothing else; ``csa`` is the paper's default, an ensemble of bootstrap
members (through :class:`~pseudolabel.strategies.base.RoundContext`) whose mean is
allocated, filtered by the paper's Welch t-test between the two leading classes.

This module is a built-in plugin: ``pseudolabel_add_strategies`` registers ``sinkhorn`` and
``csa``.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import ParameterError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.strategies.base import Decision, SelectionStrategy
from pseudolabel.strategies.committee import member_probabilities

__all__ = ["SinkhornStrategy", "ConfidentSinkhornStrategy", "auto_regularization",
           "entropy_filter", "ttest_filter", "pseudolabel_add_strategies"]

#: The confidence filters: without members the paper's entropy score on the model's own
#: probabilities.
CONFIDENCE_FILTERS: tuple[str, ...] = ("entropy", "none")


def auto_regularization(n_rows: int, n_classes: int) -> float:
    """The paper's regularization by the ratio of rows to classes (more rows: smoother plan).

    0.5 from 200 rows per class, 0.2 from 100, 0.1 from 50, else 0.05 (the reference code's
    ladder without its unreachable first rung).
    """
    ratio = n_rows / max(n_classes, 1)
    if ratio >= 200:
        return 0.5
    if ratio >= 100:
        return 0.2
    if ratio >= 50:
        return 0.1
    return 0.05


def entropy_filter(proba: np.ndarray) -> np.ndarray:
    """Rows whose certainty ``1 - H(p)`` exceeds half the mean certainty (the paper's entropy
    confidence: ``confidence - 0.5 * mean(confidence) > 0``)."""
    summary = kernels.summarize(proba, entropy=True)
    assert summary.entropy is not None
    certainty = 1.0 - summary.entropy.astype(np.float64)
    if certainty.size == 0:
        return np.zeros(0, dtype=bool)
    return certainty - 0.5 * float(np.mean(certainty)) > 0


def ttest_filter(members: np.ndarray) -> np.ndarray:
    r"""The paper's t-test confidence: is the leading class of the members' mean reliably
    ahead of the second?

    With ``M`` members, means :math:`\bar p_1 \ge \bar p_2` of the two leading classes of the
    mean and the members' variances :math:`s_1^2, s_2^2` (``ddof=0``), a row is kept when

    .. math:: \frac{\bar p_1 - \bar p_2}{\sqrt{(0.1 + s_1^2 + s_2^2) / M}} > t_{0.975}(\nu),
              \qquad \nu = \frac{(s_1^2 + s_2^2)^2}{(s_1^4 + s_2^4) / (M - 1)}

    (Welch-Satterthwaite degrees of freedom; where both variances are 0 the reference code
    gets NaN, here :math:`\nu = M - 1`, the most conservative limit).
    """
    from scipy import stats

    n_members, n_rows, n_classes = members.shape
    if n_rows == 0 or n_classes < 2:
        return np.zeros(n_rows, dtype=bool)
    mean = members.mean(axis=0)
    order = np.argsort(-mean, axis=1, kind="stable")
    rows = np.arange(n_rows)
    first, second = order[:, 0], order[:, 1]
    var1 = members[:, rows, first].var(axis=0)
    var2 = members[:, rows, second].var(axis=0)
    t = (mean[rows, first] - mean[rows, second]) / np.sqrt((0.1 + var1 + var2) / n_members)
    squares = var1**2 + var2**2
    dof = np.divide((var1 + var2) ** 2 * (n_members - 1), squares,
                    out=np.full(n_rows, float(n_members - 1)), where=squares > 0)
    return t - stats.t.ppf(0.975, dof) > 0


class SinkhornStrategy(SelectionStrategy):
    r"""Confident Sinkhorn Allocation (CSA, Nguyen et al., ICML 2023).

    Each round ``r``:

    1. **confidence filter**: keep the rows not excluded whose certainty passes the filter
       (``"entropy"``: :math:`1 - H(p_i) > \tfrac12\,\overline{1 - H}`, the paper's entropy
       score; ``"none"``: every row);
    2. **allocation**: Sinkhorn iterations (:func:`pseudolabel.kernels.sinkhorn`) with
       :math:`w^\pm = (1 \pm \text{slack})\,\pi` (:math:`\pi` the labeled class proportions)
       and the allocated fraction :math:`\rho_r = \min(1, r \cdot \text{fraction})`;
    3. **assignment**: each kept row goes to the class of its largest plan entry; a row is
       taken only if the model's own probability for that class exceeds 0.5, and each
       class keeps at most :math:`\lfloor \rho_r \pi_c n \rfloor` rows (``n`` the pool rows
       not excluded), those with the largest plan entry first (ties: lower row index).

    The pseudo-set is re-decided every round (``rebuild``), so the allocated fraction grows
    with the rounds as the paper's does.

    Parameters
    ----------
    fraction : float in (0, 1], default=0.2
        :math:`\rho` grows by this much per round (five rounds to the whole pool).
    slack : float in (0, 1), default=0.1
        The class-proportion bounds are :math:`(1 \pm \text{slack})\,\pi` (the paper: 0.1).
    regularization : float > 0 or "auto", default="auto"
        The entropic regularization; ``"auto"``: :func:`auto_regularization`.
    n_iter : int >= 1, default=100
        Sinkhorn iterations (the paper runs 100).
    confidence_filter : {"entropy", "none"}, default="entropy"
        Which rows take part in the allocation.
    min_probability : float in [0, 1), default=0.5
        A row's probability for its allocated class must exceed this (the paper: 0.5).

    References
    ----------
    Nguyen, Farfade, van den Hengel, "Confident Sinkhorn Allocation for Pseudo-Labeling",
    ICML 2023 (arXiv:2206.05880). Cuturi, "Sinkhorn Distances", NeurIPS 2013.
    """

    name = "sinkhorn"
    rebuild = True

    def __init__(
        self,
        fraction: float = 0.2,
        slack: float = 0.1,
        regularization: float | str = "auto",
        n_iter: int = 100,
        confidence_filter: str = "entropy",
        min_probability: float = 0.5,
    ) -> None:
        self.fraction = fraction
        self.slack = slack
        self.regularization = regularization
        self.n_iter = n_iter
        self.confidence_filter = confidence_filter
        self.min_probability = min_probability

    def _validate_params(self) -> None:
        cls = type(self).__name__
        checks: list[tuple[str, Any, float, float, bool, bool]] = [
            ("fraction", self.fraction, 0.0, 1.0, False, True),
            ("slack", self.slack, 0.0, 1.0, False, False),
            ("min_probability", self.min_probability, 0.0, 1.0, True, False),
        ]
        for name, value, low, high, low_in, high_in in checks:
            ok = isinstance(value, Real) and not isinstance(value, bool)
            if ok:
                v = float(value)
                ok = (v >= low if low_in else v > low) and (v <= high if high_in else v < high)
            if not ok:
                left, right = "[" if low_in else "(", "]" if high_in else ")"
                raise ParameterError(
                    f"{cls}: {name} must be in {left}{low:g}, {high:g}{right}, got {value!r}"
                )
        reg = self.regularization
        if reg != "auto" and not (
            isinstance(reg, Real) and not isinstance(reg, bool) and np.isfinite(reg) and reg > 0
        ):
            raise ParameterError(
                f"{cls}: regularization must be a number > 0 or 'auto', got {reg!r}"
            )
        n_iter = self.n_iter
        if isinstance(n_iter, bool) or not isinstance(n_iter, Integral) or n_iter < 1:
            raise ParameterError(f"{cls}: n_iter must be an integer >= 1, got {n_iter!r}")
        if self.confidence_filter not in CONFIDENCE_FILTERS:
            raise ParameterError(
                f"{cls}: confidence_filter must be one of {list(CONFIDENCE_FILTERS)}, got "
                f"{self.confidence_filter!r}"
            )

    def _filter(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The probabilities to allocate and the rows passing the confidence filter (``None``:
        every row)."""
        if self.confidence_filter == "entropy":
            return proba, entropy_filter(proba)
        return proba, None

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        n_rows, n_classes = proba.shape
        candidates = np.ones(n_rows, dtype=bool) if exclude is None else ~exclude
        keep = candidates.copy()
        proba, passed = self._filter(proba)
        if passed is not None:
            keep &= passed
        rho = min(1.0, float(self.fraction) * int(round))
        n_kept = int(keep.sum())
        prior = self.class_prior_
        regularization = (
            auto_regularization(n_kept, n_classes)
            if self.regularization == "auto"
            else float(self.regularization)
        )
        info: dict[str, Any] = dict(rho=rho, regularization=regularization, n_kept=n_kept)
        if n_kept == 0:
            return Decision.empty(reason="no row passed the confidence filter", **info)
        slack = float(self.slack)
        allocation = kernels.sinkhorn(
            proba, upper=prior * (1 + slack), lower=prior * (1 - slack), rho=rho,
            regularization=regularization, n_iter=int(self.n_iter), keep=keep,
        )
        return assign(allocation.plan, proba, keep, quota(prior, rho, int(candidates.sum())),
                      float(self.min_probability), info)


def quota(prior: np.ndarray, rho: float, n_candidates: int) -> np.ndarray:
    """Rows each class may take: ``floor(rho * prior_c * n_candidates)``."""
    return np.floor(rho * prior * n_candidates + 1e-9).astype(np.int64)


def assign(plan: np.ndarray, proba: np.ndarray, keep: np.ndarray, per_class: np.ndarray,
           min_probability: float, info: dict[str, Any]) -> Decision:
    """Take each kept row's largest plan entry, where the model agrees (``p > min``), up to
    ``per_class`` rows per class ranked by that entry."""
    plan = np.clip(plan, 0.0, 1.0)
    labels = plan.argmax(axis=1)
    rows = np.arange(plan.shape[0])
    eligible = (
        keep
        & (plan[rows, labels] > 0)
        & (proba[rows, labels].astype(np.float64) > min_probability)
    )
    sel = kernels.select(plan, per_class_k=per_class, exclude=~eligible)
    info = dict(info, per_class_quota=per_class.tolist())
    return Decision(sel.indices, sel.labels, None, None, info, scores=sel.scores)


class ConfidentSinkhornStrategy(SinkhornStrategy):
    r"""Confident Sinkhorn Allocation as in the paper: an ensemble, a t-test, an allocation.

    Each round fits ``n_members`` members on stratified bootstrap resamples of the labeled
    rows (``RoundContext.make_member``; the paper uses 10 XGBoost models), keeps the rows
    that pass :func:`ttest_filter`, and allocates the members' mean probabilities exactly as
    :class:`SinkhornStrategy` does (the loop's own ``proba`` is not used). Cost:
    ``n_members`` fits and pool predictions per round.

    Parameters
    ----------
    n_members : int >= 2, default=10
    fraction, slack, regularization, n_iter, min_probability
        As for :class:`SinkhornStrategy`.

    References
    ----------
    Nguyen, Farfade, van den Hengel, "Confident Sinkhorn Allocation for Pseudo-Labeling",
    ICML 2023 (arXiv:2206.05880).
    """

    name = "csa"
    needs_context = True

    def __init__(
        self,
        n_members: int = 10,
        fraction: float = 0.2,
        slack: float = 0.1,
        regularization: float | str = "auto",
        n_iter: int = 100,
        min_probability: float = 0.5,
    ) -> None:
        super().__init__(fraction=fraction, slack=slack, regularization=regularization,
                         n_iter=n_iter, confidence_filter="none",
                         min_probability=min_probability)
        self.n_members = n_members

    def _validate_params(self) -> None:
        super()._validate_params()
        n = self.n_members
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 2:
            raise ParameterError(
                f"{type(self).__name__}: n_members must be an integer >= 2, got {n!r}"
            )

    def _filter(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        assert self.context_ is not None
        members = member_probabilities(self.context_, int(self.n_members), self.n_classes_,
                                       self._rng)
        return np.clip(members.mean(axis=0), 0.0, 1.0), ttest_filter(members)


SELECTION_STRATEGIES = {"sinkhorn": SinkhornStrategy, "csa": ConfidentSinkhornStrategy}


@hookimpl
def pseudolabel_add_strategies(registry: Any) -> None:
    """Register ``sinkhorn`` (the model's own probabilities) and ``csa`` (the paper's
    ensemble and t-test)."""
    registry.add_strategy(
        "sinkhorn", SinkhornStrategy, kind="selection",
        description="Confident Sinkhorn Allocation: optimal-transport allocation under class "
                    "proportions (Nguyen et al. 2023)",
    )
    registry.add_strategy(
        "csa", ConfidentSinkhornStrategy, kind="selection",
        description="Confident Sinkhorn Allocation with bootstrap members and the paper's "
                    "t-test filter (Nguyen et al. 2023)",
    )

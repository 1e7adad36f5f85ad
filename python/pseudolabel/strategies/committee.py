"""Committee agreement as a pseudo-label source: bootstrap members must agree (``committee``).

A row is pseudo-labeled only where a committee of models fitted on bootstrap resamples of the
labeled rows agrees with the loop's own model, is confident on average, and varies little:
the uncertainty-aware selection of UPS (Rizve et al., ICLR 2021), with the spread of the
members' probabilities in place of MC-dropout's, and the agreement rule of tri-training
(Zhou & Li, 2005) generalised to ``M`` members.

This module is a built-in plugin: ``pseudolabel_add_strategies`` registers the strategy as
``committee``.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import ParameterError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.strategies.base import Decision, RoundContext, SelectionStrategy

__all__ = ["CommitteeStrategy", "member_probabilities", "committee_mask",
           "pseudolabel_add_strategies"]


def stratified_bootstrap(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row positions of a bootstrap resample that keeps every class's count."""
    parts = []
    for cls in np.unique(y):
        rows = np.flatnonzero(y == cls)
        parts.append(rng.choice(rows, size=rows.size, replace=True))
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def member_probabilities(context: RoundContext, n_members: int, n_classes: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Fit ``n_members`` members on stratified bootstrap resamples of the labeled rows and
    return their probabilities on the pool, shape ``(n_members, n_pool, n_classes)``.

    A member's columns are placed by its ``classes_`` (class indices), so a member that
    never saw a class gives it probability 0.
    """
    if context.make_member is None:
        raise ParameterError(
            "a committee needs RoundContext.make_member (a factory of unfitted estimators); "
            "this loop's context has none"
        )
    y = context.y_labeled
    X = context.X_labeled
    out = np.zeros((n_members, context.n_pool, n_classes), dtype=np.float64)
    if context.n_pool == 0:
        return out
    for m in range(n_members):
        rows = stratified_bootstrap(y, rng)
        member = context.make_member()
        X_boot = X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows]
        if context.sample_weight is None:
            member.fit(X_boot, y[rows])
        else:
            member.fit(X_boot, y[rows], sample_weight=context.sample_weight[rows])
        proba = np.asarray(member.predict_proba(context.X_pool), dtype=np.float64)
        columns = np.asarray(member.classes_).astype(np.int64)
        out[m][:, columns] = proba
    return out


def committee_mask(members: np.ndarray, proba: np.ndarray, *, agreement: float,
                   threshold: float, max_std: float) -> tuple[np.ndarray, np.ndarray]:
    """Which rows the committee vouches for, and the committee's mean probabilities.

    A row qualifies when the label ``c`` of the members' mean is also the argmax of
    ``proba`` (the loop's model), at least ``agreement`` of the members vote ``c``, the
    mean probability of ``c`` is at least ``threshold``, and the members' standard
    deviation of that probability is at most ``max_std``.
    """
    mean = members.mean(axis=0)
    n = mean.shape[0]
    rows = np.arange(n)
    label = mean.argmax(axis=1)
    votes = (members.argmax(axis=2) == label[None, :]).mean(axis=0)
    spread = members[:, rows, label].std(axis=0)
    ok = (
        (proba.argmax(axis=1) == label)
        & (votes >= agreement - 1e-12)
        & (mean[rows, label] >= threshold)
        & (spread <= max_std)
    )
    return ok, mean


class CommitteeStrategy(SelectionStrategy):
    r"""Pseudo-label where bootstrap members agree and their spread is small (UPS; tri-training).

    Each round fits ``n_members`` members (``RoundContext.make_member()``) on stratified
    bootstrap resamples of the labeled rows and predicts the pool. With :math:`\bar p` the
    members' mean and :math:`c_i = \arg\max_c \bar p_{ic}`, row ``i`` is taken when

    - the loop's model predicts :math:`c_i` too (the model is one more voter);
    - at least ``agreement`` of the members predict :math:`c_i` (1.0: unanimous, as in
      tri-training where the other members must agree);
    - :math:`\bar p_{ic_i} \ge` ``threshold`` (UPS's confidence condition);
    - :math:`\mathrm{std}_m\, p^{(m)}_{ic_i} \le` ``max_std`` (UPS's uncertainty
      condition, with the members' spread as the uncertainty).

    Rows are ranked by :math:`\bar p_{ic_i}` (ties: lower row index); the pseudo-set is
    re-decided every round. Cost: ``n_members`` fits on the labeled rows and as many pool
    predictions per round.

    Parameters
    ----------
    n_members : int >= 2, default=5
    agreement : float in (0, 1], default=1.0
    threshold : float in [0, 1], default=0.7
        UPS's :math:`\tau_p` (0.7 in the paper).
    max_std : float >= 0, default=0.1
        UPS's :math:`\kappa_p` on the members' standard deviation.

    References
    ----------
    Rizve, Duarte, Rawat, Shah, "In Defense of Pseudo-Labeling: An Uncertainty-Aware
    Pseudo-label Selection Framework for Semi-Supervised Learning", ICLR 2021. Zhou & Li,
    "Tri-Training: Exploiting Unlabeled Data Using Three Classifiers", IEEE TKDE 2005.
    """

    name = "committee"
    rebuild = True
    needs_context = True

    def __init__(self, n_members: int = 5, agreement: float = 1.0, threshold: float = 0.7,
                 max_std: float = 0.1) -> None:
        self.n_members = n_members
        self.agreement = agreement
        self.threshold = threshold
        self.max_std = max_std

    def _validate_params(self) -> None:
        cls = type(self).__name__
        n = self.n_members
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 2:
            raise ParameterError(f"{cls}: n_members must be an integer >= 2, got {n!r}")
        for name, value, low, high, low_in in (
            ("agreement", self.agreement, 0.0, 1.0, False),
            ("threshold", self.threshold, 0.0, 1.0, True),
            ("max_std", self.max_std, 0.0, np.inf, True),
        ):
            ok = isinstance(value, Real) and not isinstance(value, bool)
            ok = ok and (value >= low if low_in else value > low) and value <= high
            if not ok:
                raise ParameterError(
                    f"{cls}: {name} must be in {'[' if low_in else '('}{low:g}, {high:g}], "
                    f"got {value!r}"
                )

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        assert self.context_ is not None
        members = member_probabilities(self.context_, int(self.n_members), self.n_classes_,
                                       self._rng)
        ok, mean = committee_mask(members, proba, agreement=float(self.agreement),
                                  threshold=float(self.threshold), max_std=float(self.max_std))
        if exclude is not None:
            ok &= ~exclude
        sel = kernels.select(np.clip(mean, 0.0, 1.0), exclude=~ok)
        return Decision(sel.indices, sel.labels, None, float(self.threshold),
                        dict(n_members=int(self.n_members), n_agreed=int(ok.sum())),
                        scores=sel.scores)


SELECTION_STRATEGIES = {"committee": CommitteeStrategy}


@hookimpl
def pseudolabel_add_strategies(registry: Any) -> None:
    """Register committee agreement as ``committee``."""
    registry.add_strategy(
        "committee", CommitteeStrategy, kind="selection",
        description="bootstrap members must agree with a small spread (UPS; tri-training)",
    )

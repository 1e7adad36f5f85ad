"""The portfolio of ``PseudoLabeler(strategy="auto")``: the sources it tries and how it keeps one.

Which pseudo-label source helps depends on the problem: class-balanced quotas suit a model
whose confidence ranks rows well, a confidence threshold one whose probabilities are
calibrated, graph propagation or optimal-transport allocation problems where the model's own
predictions are poor. So ``strategy="auto"`` does not bet on one: each member of
:data:`PORTFOLIO` that is registered runs its own guarded self-training on the same folds,
and :func:`best_member` keeps the one whose last accepted round has the best out-of-fold
evidence, or the labels alone when no member's round was accepted. A member that reads the features as
numbers (``needs_numeric_features``, e.g. graph propagation) is skipped when they are not (a
table with categorical columns). No rule looks at a
dataset's name or size; the choice is made on the labeled rows of the problem at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pseudolabel.selftrain.guardrail import Evaluation

__all__ = ["PORTFOLIO", "Member", "best_member", "portfolio_names"]

#: members of ``strategy="auto"``, tried in this order (names not registered are skipped)
PORTFOLIO: tuple[str, ...] = ("class_balanced", "label_spreading", "sinkhorn")


@dataclass
class Member:
    """One portfolio member's finished run: its evidence and the fitted state it would leave."""

    name: str
    reference: Evaluation | None
    n_accepted: int
    state: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The ``portfolio_`` entry: the member's name, evidence and accepted rounds."""
        return {
            "strategy": self.name,
            "validation_score": None if self.reference is None else self.reference.accuracy,
            "validation_brier": None if self.reference is None else self.reference.brier,
            "n_accepted": self.n_accepted,
        }


def portfolio_names() -> list[str]:
    """The members of :data:`PORTFOLIO` that are registered selection strategies."""
    from pseudolabel import plugins

    registered = set(plugins.get_plugin_manager().strategies.names("selection"))
    return [name for name in PORTFOLIO if name in registered]


def best_member(members: list[Member]) -> Member:
    """The member with the best evidence: most accurate out-of-fold, then lowest Brier score.

    A member with no accepted round stands for the labels alone; ties keep the earlier
    member, so when nothing helps the first member (which then holds the labels-only model)
    is kept.
    """
    best = members[0]
    for member in members[1:]:
        if member.n_accepted == 0 or member.reference is None:
            continue
        if best.n_accepted == 0 or best.reference is None:
            best = member
            continue
        if (member.reference.accuracy, -member.reference.brier) > (
            best.reference.accuracy, -best.reference.brier
        ):
            best = member
    return best

"""The portfolio of ``PseudoLabeler(strategy="auto")``: the sources it tries and how it keeps one.

Which pseudo-label source helps depends on the problem: class-balanced quotas suit a model
whose confidence ranks rows well, a confidence threshold one whose probabilities are
calibrated, graph propagation or optimal-transport allocation problems where the model's own
predictions are poor. So ``strategy="auto"`` does not bet on one: each member of
:data:`PORTFOLIO` that is registered runs its own guarded self-training on the same folds,
and :func:`best_member` keeps the one whose last accepted round has the best out-of-fold
evidence, or the labels alone when no member's round was accepted; the best member is kept
only when its evidence is significantly better than the labels alone
(:func:`beats_labels_alone`), else the labels-only model is (:func:`labels_only`). A member that reads the features as
numbers (``needs_numeric_features``, e.g. graph propagation) is skipped when they are not (a
table with categorical columns). No rule looks at a
dataset's name or size; the choice is made on the labeled rows of the problem at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pseudolabel.selftrain.guardrail import SMALL_EVIDENCE_ROWS, Evaluation

__all__ = ["PORTFOLIO", "Member", "beats_labels_alone", "best_member", "labels_only",
           "portfolio_names"]

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


def beats_labels_alone(member: Member, baseline: Evaluation | None) -> bool:
    """Is the kept member's evidence significantly better than the labels-only model's?

    The portfolio keeps the best of several members judged on the same labeled rows, so the
    winner's out-of-fold accuracy is biased upwards (the luckiest of several noisy
    estimates, a winner's curse that grows as the evidence shrinks). So a member is kept
    over the labels alone only when it gets significantly more of those rows right:
    ``gained - lost > sqrt(gained + lost)``, the guardrail's paired sign test at one
    standard error, with ``gained``/``lost`` the rows only the member / only the labels-only
    model gets right. A member with no accepted round, or no evidence, stands as it is.
    """
    if member.n_accepted == 0 or member.reference is None or baseline is None:
        return True
    gained = int(np.sum(member.reference.correct & ~baseline.correct))
    lost = int(np.sum(~member.reference.correct & baseline.correct))
    return bool(gained - lost > np.sqrt(gained + lost))


def labels_only(first: Member) -> Member:
    """The labels-only outcome: the first member's run, its main chain back to its start.

    The main chain's first model is the labels-only one (kept in ``FitRun.initial``); its
    ``history_`` stays the first member's (what was tried), ``n_accepted`` is 0.
    """
    from pseudolabel.loop.pseudoset import PseudoSet

    run = first.state["run"]
    run.main.backend = run.initial[run.chains.index(run.main)]
    run.main.pseudo_set = PseudoSet.empty()
    state = dict(first.state, termination_condition_="guardrail")
    return Member(first.name, first.reference, 0, state)

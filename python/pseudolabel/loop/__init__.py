"""The loop core that the self-training estimators share: the pseudo-set, the round, the records.

* :mod:`pseudolabel.loop.pseudoset`: :class:`PseudoSet`, the pseudo-labels held over a pool;
* :mod:`pseudolabel.loop.round`: :func:`run_round`, predict -> select -> update;
* :mod:`pseudolabel.loop.records`: typed records of a round.
"""

from __future__ import annotations

from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.loop.records import RoundRecord, RoundResult, WeightSummary
from pseudolabel.loop.round import cap_per_class, run_round

__all__ = ["PseudoSet", "RoundRecord", "RoundResult", "WeightSummary", "cap_per_class",
           "run_round"]

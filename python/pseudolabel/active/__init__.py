"""Active learning: ask a human about the rows the model is least sure of.

* :mod:`pseudolabel.active.learner`: :class:`ActiveLearner` (teach, refit, query, its
  ``QueryContext``);
* :mod:`pseudolabel.active.run`: the loop of :meth:`ActiveLearner.run`;
* :mod:`pseudolabel.active.pseudo_labels`: the CEAL pseudo-labels on the shared loop core;
* :mod:`pseudolabel.active.stopping`: the stabilizing-predictions stopping signal;
* :mod:`pseudolabel.active.curve`: :class:`LearningCurve`;
* :mod:`pseudolabel.active.labels`: label checks and the oracle's answers.
"""

from __future__ import annotations

from pseudolabel.active.curve import LearningCurve
from pseudolabel.active.learner import ActiveLearner
from pseudolabel.active.stopping import StabilizingPredictions, StoppingSignal, cohen_kappa

__all__ = ["ActiveLearner", "LearningCurve", "StabilizingPredictions", "StoppingSignal",
           "cohen_kappa"]

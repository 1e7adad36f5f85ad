"""Self-training estimators: the drop-in ``SelfTrainingClassifier`` and the ``PseudoLabeler``.

* :mod:`pseudolabel.selftrain.classifier`: ``SelfTrainingClassifier`` (scikit-learn's, with
  strategies); :mod:`pseudolabel.selftrain.delegation`: its fitted estimator's methods;
* :mod:`pseudolabel.selftrain.pseudolabeler`: ``PseudoLabeler`` (guardrail, calibration,
  history); :mod:`pseudolabel.selftrain.history`: its per-round record and plugin events;
* :mod:`pseudolabel.selftrain.guardrail`: splits, evaluation, the acceptance test, out-of-fold
  predictions;
* :mod:`pseudolabel.selftrain.chain`: one training set and its model (fit / continue / predict);
* :mod:`pseudolabel.selftrain.inputs`: the validated training input of ``PseudoLabeler``.

Both estimators run their rounds through :mod:`pseudolabel.loop`. The names are imported on
first access so that ``import pseudolabel.selftrain`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DEFAULT_STRATEGY", "PseudoLabeler", "SelfTrainingClassifier"]

_HOMES = {
    "SelfTrainingClassifier": "pseudolabel.selftrain.classifier",
    "PseudoLabeler": "pseudolabel.selftrain.pseudolabeler",
    "DEFAULT_STRATEGY": "pseudolabel.selftrain.pseudolabeler",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pseudolabel.selftrain' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

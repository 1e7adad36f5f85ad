"""pseudolabel: pseudo-labeling (self-training) and active learning with a Rust core.

The public API is re-exported here. Estimators are imported lazily so that
``import pseudolabel`` stays fast and never imports LightGBM, XGBoost or Dask.
"""

from __future__ import annotations

import importlib
from typing import Any

from pseudolabel import exceptions
from pseudolabel._version import __version__

# submodules imported on first attribute access
_SUBMODULES = {"kernels", "plugins", "testing"}
# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "hookimpl": "pseudolabel.hookspecs",
    "make_backend": "pseudolabel.plugins",
    "make_strategy": "pseudolabel.plugins",
    "as_backend": "pseudolabel.plugins",
    "PseudoLabeler": "pseudolabel.selftrain.pseudolabeler",
    "SelfTrainingClassifier": "pseudolabel.selftrain.classifier",
    "ActiveLearner": "pseudolabel.active",
    "LearningCurve": "pseudolabel.active",
    "StoppingSignal": "pseudolabel.active",
    "QueryContext": "pseudolabel.strategies.base",
}

__all__ = ["__version__", "exceptions", *sorted(_SUBMODULES), *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f"pseudolabel.{name}")
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pseudolabel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


"""Model backends, and the built-in plugin that registers them.

This package is registered as the built-in plugin ``pseudolabel.backends`` through the same
``pseudolabel_add_backends`` hook that third-party plugins implement. Importing it never imports
LightGBM or XGBoost: they are imported when a backend first fits or loads a model.

=========  ==========================================================  ============================
name       model                                                        saved as
=========  ==========================================================  ============================
sklearn    any scikit-learn classifier with ``predict_proba``          skops (``model.skops``)
lightgbm   ``lightgbm.LGBMClassifier`` (parameters passed through)      LightGBM text (``model.txt``)
xgboost    ``xgboost.XGBClassifier`` (parameters passed through)        XGBoost UBJ (``model.ubj``)
=========  ==========================================================  ============================
"""

from __future__ import annotations

from pseudolabel.backends.base import Backend, Capabilities
from pseudolabel.backends.checks import check_probabilities
from pseudolabel.backends.lightgbm import LightGBMBackend
from pseudolabel.backends.sklearn import SklearnBackend
from pseudolabel.backends.xgboost import XGBoostBackend
from pseudolabel.hookspecs import hookimpl
from pseudolabel.registry import BackendRegistry

__all__ = [
    "Backend",
    "Capabilities",
    "SklearnBackend",
    "LightGBMBackend",
    "XGBoostBackend",
    "check_probabilities",
]


@hookimpl
def pseudolabel_add_backends(registry: BackendRegistry) -> None:
    """Register the built-in ``sklearn``, ``lightgbm`` and ``xgboost`` backends."""
    registry.add_backend(
        "sklearn", SklearnBackend, description="any scikit-learn classifier with predict_proba"
    )
    registry.add_backend(
        "lightgbm",
        LightGBMBackend,
        description='LightGBM gradient boosting (pip install "pseudolabel[lightgbm]")',
    )
    registry.add_backend(
        "xgboost",
        XGBoostBackend,
        description='XGBoost gradient boosting (pip install "pseudolabel[xgboost]")',
    )

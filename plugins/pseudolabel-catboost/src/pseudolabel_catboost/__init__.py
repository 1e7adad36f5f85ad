"""pseudolabel plugin: a ``catboost`` backend (``catboost.CatBoostClassifier``).

Installed, it is discovered through the ``pseudolabel`` entry-point group; nothing imports it
by hand. CatBoost itself is imported only when a model is fitted or loaded.
"""

from __future__ import annotations

from typing import Any

from pseudolabel.hookspecs import hookimpl

from pseudolabel_catboost.backend import CatBoostBackend

__version__ = "0.1.0"
__all__ = ["CatBoostBackend", "pseudolabel_add_backends", "__version__"]


@hookimpl
def pseudolabel_add_backends(registry: Any) -> None:
    """Register the ``catboost`` backend."""
    registry.add_backend(
        "catboost",
        CatBoostBackend,
        description="CatBoost gradient boosting with native categorical features",
    )

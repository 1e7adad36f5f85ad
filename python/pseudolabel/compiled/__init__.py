"""Compiled tree inference for ``pseudolabel label --engine``: engine choice, cache, compilers.

The native engine is the backend's own ``predict_proba``. The compiled engine turns a
bundle's tree model into machine code on the labeling machine (lleaves for LightGBM,
xgboost-c for XGBoost, Treelite + TL2cgen for LightGBM, XGBoost and scikit-learn forests),
caches it locally
(:mod:`pseudolabel.compiled.cache`; never from the bundle) and predicts the same
probabilities (within 1e-6) faster. Install with ``pip install 'pseudolabel[compiled]'``.
"""

from pseudolabel.compiled.cache import CACHE_ENV, cache_root
from pseudolabel.compiled.engine import (
    ENGINES,
    PAYBACK_ROWS,
    CompiledModel,
    EngineChoice,
    choose_engine,
    compiled_model,
)

__all__ = ["CACHE_ENV", "ENGINES", "PAYBACK_ROWS", "CompiledModel", "EngineChoice", "cache_root",
           "choose_engine", "compiled_model"]

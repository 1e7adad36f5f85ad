"""The ``lightgbm`` backend: ``lightgbm.LGBMClassifier``, saved as LightGBM's text model.

LightGBM is imported only when a model is fitted or loaded, so ``import pseudolabel`` works
without it; a missing LightGBM raises :class:`~pseudolabel.exceptions.MissingDependencyError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.backends.base import Backend, Capabilities, import_optional
from pseudolabel.exceptions import BackendError, InputError

__all__ = ["LightGBMBackend"]


def _import_lightgbm() -> Any:
    return import_optional(
        "lightgbm",
        'the "lightgbm" backend needs LightGBM: pip install "pseudolabel[lightgbm]"'
    )


class LightGBMBackend(Backend):
    """LightGBM gradient-boosted trees.

    Parameters
    ----------
    **params
        Passed straight to ``lightgbm.LGBMClassifier`` (``n_estimators``, ``learning_rate``,
        ``num_leaves``, ``random_state``, ``n_jobs``, ...). ``verbosity=-1`` is the default
        unless ``verbose``/``verbosity`` is given.

    Notes
    -----
    * pandas DataFrames go to LightGBM untouched: ``category`` columns are native categorical
      features (LightGBM stores the category mapping in the model file).
    * :meth:`continue_fit` adds ``n_more`` trees with ``init_model``.
    * Saved as LightGBM's text model (``model.txt``), readable with
      ``lightgbm.Booster(model_file=...)``. Probabilities come from the booster in both the
      fitted and the loaded backend, so a round trip gives identical probabilities.
    """

    name = "lightgbm"
    capabilities = Capabilities(
        sample_weight=True, continued_training=True, categorical=True, threads=True
    )
    estimator_types = ("lightgbm.sklearn.LGBMClassifier",)
    model_file = "model.txt"

    def _model_params(self, **override: Any) -> dict[str, Any]:
        params = dict(self._params)
        if "verbose" not in params and "verbosity" not in params:
            params["verbosity"] = -1
        params.update(override)
        return params

    def _train(self, X: Any, y: np.ndarray, sample_weight: Any, init_model: Any, **override: Any) -> None:
        lgb = _import_lightgbm()
        clf = lgb.LGBMClassifier(**self._model_params(**override))
        try:
            clf.fit(X, y, sample_weight=sample_weight, init_model=init_model)
        except lgb.basic.LightGBMError as exc:
            raise BackendError(f"LightGBM failed to fit: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise InputError(f"LightGBM rejected the input or parameters: {exc}") from exc
        self.booster_ = clf.booster_

    def _fit_model(self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        self._train(X, y, sample_weight, None)

    def _continue_model(
        self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None, n_more: int
    ) -> None:
        self._train(X, y, sample_weight, self.booster_, n_estimators=n_more)

    def _predict_model(self, X: Any) -> np.ndarray:
        lgb = _import_lightgbm()
        try:
            raw = self.booster_.predict(X)
        except lgb.basic.LightGBMError as exc:
            raise BackendError(f"LightGBM failed to predict: {exc}") from exc
        except ValueError as exc:
            raise InputError(f"LightGBM rejected the input: {exc}") from exc
        raw = np.asarray(raw)  # LightGBM predicts in float64; whatever it returns is kept
        if raw.ndim == 1:  # binary objective: probability of class 1
            return np.column_stack([1.0 - raw, raw])
        return raw

    def _save_model(self, directory: Path) -> None:
        self.booster_.save_model(str(directory / self.model_file))

    def _load_model(self, directory: Path, meta: dict[str, Any]) -> None:
        lgb = _import_lightgbm()
        self.booster_ = lgb.Booster(model_file=str(directory / meta["model_file"]))

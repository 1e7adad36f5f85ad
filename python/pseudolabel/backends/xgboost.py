"""The ``xgboost`` backend: ``xgboost.XGBClassifier``, saved as XGBoost's UBJ model.

XGBoost is imported only when a model is fitted or loaded, so ``import pseudolabel`` works
without it; a missing XGBoost raises :class:`~pseudolabel.exceptions.MissingDependencyError`.
The ``xgboost-cpu`` wheel provides the same module without ~700 MB of CUDA libraries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.backends.base import Backend, Capabilities, import_optional
from pseudolabel.exceptions import BackendError, InputError

__all__ = ["XGBoostBackend"]


def _import_xgboost() -> Any:
    return import_optional(
        "xgboost",
        'the "xgboost" backend needs XGBoost: pip install "pseudolabel[xgboost]" '
        '(or pip install xgboost-cpu for a CPU-only wheel without CUDA libraries)'
    )


class XGBoostBackend(Backend):
    """XGBoost gradient-boosted trees.

    Parameters
    ----------
    **params
        Passed straight to ``xgboost.XGBClassifier`` (``n_estimators``, ``max_depth``,
        ``learning_rate``, ``random_state``, ``n_jobs``, ...). ``enable_categorical=True`` is
        the default, so pandas ``category`` columns are used natively; pass
        ``enable_categorical=False`` to refuse them.

    Notes
    -----
    * :meth:`continue_fit` adds ``n_more`` trees through ``xgb_model``.
    * Saved as XGBoost's UBJ model (``model.ubj``), readable with
      ``xgboost.XGBClassifier().load_model(...)``; category mappings are stored with it.
    """

    name = "xgboost"
    capabilities = Capabilities(
        sample_weight=True, continued_training=True, categorical=True, threads=True
    )
    estimator_types = ("xgboost.sklearn.XGBClassifier",)
    model_file = "model.ubj"

    def _model_params(self, **override: Any) -> dict[str, Any]:
        params = dict(self._params)
        params.setdefault("enable_categorical", True)
        params.update(override)
        return params

    def _train(self, X: Any, y: np.ndarray, sample_weight: Any, xgb_model: Any, **override: Any) -> None:
        xgb = _import_xgboost()
        clf = xgb.XGBClassifier(**self._model_params(**override))
        try:
            clf.fit(X, y, sample_weight=sample_weight, xgb_model=xgb_model, verbose=False)
        except xgb.core.XGBoostError as exc:
            raise BackendError(f"XGBoost failed to fit: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise InputError(f"XGBoost rejected the input: {exc}") from exc
        self.model_ = clf

    def _fit_model(self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        self._train(X, y, sample_weight, None)

    def _continue_model(
        self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None, n_more: int
    ) -> None:
        self._train(X, y, sample_weight, self.model_.get_booster(), n_estimators=n_more)

    def _predict_model(self, X: Any) -> np.ndarray:
        xgb = _import_xgboost()
        try:
            return self.model_.predict_proba(X)
        except xgb.core.XGBoostError as exc:
            raise BackendError(f"XGBoost failed to predict: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise InputError(f"XGBoost rejected the input: {exc}") from exc

    def _save_model(self, directory: Path) -> None:
        self.model_.save_model(str(directory / self.model_file))

    def _load_model(self, directory: Path, meta: dict[str, Any]) -> None:
        xgb = _import_xgboost()
        clf = xgb.XGBClassifier(**self._model_params())
        clf.load_model(str(directory / meta["model_file"]))
        self.model_ = clf

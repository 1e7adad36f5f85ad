"""The ``catboost`` backend: ``catboost.CatBoostClassifier``, saved in CatBoost's ``cbm`` format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pseudolabel.backends.base import Backend, Capabilities
from pseudolabel.exceptions import BackendError, InputError, MissingDependencyError

__all__ = ["CatBoostBackend"]

_QUIET_KEYS = ("verbose", "logging_level", "silent", "verbose_eval")
#: the category a missing value of a pandas ``category`` column becomes (CatBoost takes
#: categorical features as strings and has no missing categorical value of its own)
MISSING_CATEGORY = "__missing__"


def _fill_missing_categories(X: Any) -> Any:
    """``X`` with missing cells of ``category`` columns as :data:`MISSING_CATEGORY`."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None:
        return X
    import pandas as pd

    cats = [c for c, dt in dtypes.items()
            if isinstance(dt, pd.CategoricalDtype) and X[c].isna().any()]
    if not cats:
        return X
    X = X.copy()
    for c in cats:
        col = X[c]
        if MISSING_CATEGORY not in col.cat.categories:
            col = col.cat.add_categories([MISSING_CATEGORY])
        X[c] = col.fillna(MISSING_CATEGORY)
    return X


def _import_catboost() -> Any:
    try:
        import catboost
    except ImportError as exc:
        raise MissingDependencyError(
            'the "catboost" backend needs CatBoost: pip install catboost'
        ) from exc
    return catboost


class CatBoostBackend(Backend):
    """CatBoost gradient-boosted trees.

    Parameters
    ----------
    **params
        Passed straight to ``catboost.CatBoostClassifier`` (``iterations``, ``depth``,
        ``learning_rate``, ``random_seed``, ``thread_count``, ``cat_features``, ...). Defaults
        added unless given: ``verbose=False`` and ``allow_writing_files=False`` (no
        ``catboost_info/`` directory in the working directory).

    Notes
    -----
    * pandas ``category`` columns are passed to CatBoost as categorical features
      (``cat_features``) unless ``cat_features`` is given explicitly; their missing cells
      become the category ``"__missing__"`` (CatBoost refuses NaN in categorical features).
    * :meth:`continue_fit` adds ``n_more`` trees with ``init_model``.
    * Saved in CatBoost's own binary model format (``model.cbm``), never pickle.
    """

    name = "catboost"
    capabilities = Capabilities(
        sample_weight=True, continued_training=True, categorical=True, threads=True
    )
    estimator_types = ("catboost.core.CatBoostClassifier",)
    model_file = "model.cbm"

    @classmethod
    def from_estimator(cls, estimator: Any) -> CatBoostBackend:
        return cls(**estimator.get_params())

    def _model_params(self, **override: Any) -> dict[str, Any]:
        params = dict(self._params)
        if not any(k in params for k in _QUIET_KEYS):
            params["verbose"] = False
        params.setdefault("allow_writing_files", False)
        params.update(override)
        return params

    def _cat_features(self, X: Any) -> list[Any] | None:
        if "cat_features" in self._params:
            return None  # the user's choice, passed through the constructor
        dtypes = getattr(X, "dtypes", None)
        if dtypes is None:
            return None
        import pandas as pd

        cats = [c for c, dt in dtypes.items() if isinstance(dt, pd.CategoricalDtype)]
        return cats or None

    def _train(self, X: Any, y: np.ndarray, sample_weight: Any, init_model: Any, **override: Any) -> None:
        catboost = _import_catboost()
        clf = catboost.CatBoostClassifier(**self._model_params(**override))
        X = _fill_missing_categories(X)
        try:
            clf.fit(
                X, y, sample_weight=sample_weight, cat_features=self._cat_features(X),
                init_model=init_model,
            )
        except catboost.CatBoostError as exc:
            raise BackendError(f"CatBoost failed to fit: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise InputError(f"CatBoost rejected the input: {exc}") from exc
        self.model_ = clf

    def _fit_model(self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        self._train(X, y, sample_weight, None)

    def _continue_model(
        self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None, n_more: int
    ) -> None:
        self._train(X, y, sample_weight, self.model_, iterations=n_more)

    def _predict_model(self, X: Any) -> np.ndarray:
        catboost = _import_catboost()
        try:
            return np.asarray(self.model_.predict_proba(_fill_missing_categories(X)),
                              dtype=np.float64)
        except catboost.CatBoostError as exc:
            raise InputError(f"CatBoost failed to predict: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise InputError(f"CatBoost rejected the input: {exc}") from exc

    def _save_model(self, directory: Path) -> None:
        self.model_.save_model(str(directory / self.model_file), format="cbm")

    def _load_model(self, directory: Path, meta: dict[str, Any]) -> None:
        catboost = _import_catboost()
        clf = catboost.CatBoostClassifier()
        clf.load_model(str(directory / meta["model_file"]), format="cbm")
        self.model_ = clf

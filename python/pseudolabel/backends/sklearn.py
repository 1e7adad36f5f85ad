"""The ``sklearn`` backend: any scikit-learn classifier with ``predict_proba``, saved with skops."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.backends.base import Backend, Capabilities
from pseudolabel.backends.out_of_bag import bagged_forest, forest_out_of_bag_proba
from pseudolabel.exceptions import BackendError, BundleError, InputError, ParameterError

__all__ = ["SklearnBackend"]


class SklearnBackend(Backend):
    """Wrap a scikit-learn classifier (anything with ``fit`` and ``predict_proba``).

    Parameters
    ----------
    estimator : estimator instance
        An unfitted (or fitted: it is cloned) classifier with ``predict_proba``. Estimators with
        only ``decision_function`` (``LinearSVC``, ``SVC(probability=False)``, ``RidgeClassifier``)
        are refused: wrap them in ``sklearn.calibration.CalibratedClassifierCV``.

    Notes
    -----
    * ``fit`` fits a clone; the estimator passed in is never modified.
    * ``capabilities.out_of_bag`` is true for a random forest or extra-trees classifier with
      ``bootstrap=True`` (or a ``Pipeline`` ending in one): :meth:`out_of_bag_proba` then
      averages, for a training row, the trees whose bootstrap sample missed it
      (:mod:`pseudolabel.backends.out_of_bag`).
    * ``capabilities.sample_weight`` is true when the estimator's ``fit`` (or, for a
      ``Pipeline``, its last step's ``fit``) takes ``sample_weight``.
    * Saved with `skops <https://skops.readthedocs.io>`_ (``model.skops``), never pickle.
      :meth:`load` refuses types that are neither trusted by skops by default nor defined in
      scikit-learn itself, unless they are listed in ``trusted=`` (a custom estimator class,
      for example).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from pseudolabel.plugins import make_backend
    >>> backend = make_backend("sklearn", estimator=LogisticRegression())
    """

    name = "sklearn"
    capabilities = Capabilities(
        sample_weight=True, continued_training=False, categorical=False, threads=False
    )
    model_file = "model.skops"

    def __init__(self, estimator: Any = None) -> None:
        if estimator is None:
            raise ParameterError(
                "the 'sklearn' backend needs an estimator, e.g. "
                "make_backend('sklearn', estimator=LogisticRegression())"
            )
        if isinstance(estimator, type):
            raise ParameterError(
                f"estimator must be an instance, got the class {estimator.__name__}; "
                f"use {estimator.__name__}()"
            )
        if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
            raise ParameterError(
                f"estimator must be a scikit-learn estimator with fit(), got {type(estimator).__name__}"
            )
        _check_predict_proba(estimator)
        super().__init__(estimator=estimator)
        self.estimator = estimator
        # instance-level capabilities: they depend on the wrapped estimator
        self.capabilities = replace(  # type: ignore[misc]
            type(self).capabilities,
            sample_weight=_sample_weight_param(estimator) is not None,
            threads=_has_n_jobs(estimator),
            out_of_bag=bagged_forest(estimator) is not None,
        )

    @classmethod
    def from_estimator(cls, estimator: Any) -> SklearnBackend:
        return cls(estimator=estimator)

    def clone(self) -> SklearnBackend:
        from sklearn.base import clone

        return type(self)(estimator=clone(self.estimator))

    def __repr__(self) -> str:
        return f"SklearnBackend(estimator={self.estimator!r})"

    # -- model ----------------------------------------------------------------------------

    def _fit_model(self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        from sklearn.base import clone

        est = clone(self.estimator)
        kwargs: dict[str, Any] = {}
        if sample_weight is not None:
            param = _sample_weight_param(est)
            if param is None:  # pragma: no cover - capabilities.sample_weight guards this
                raise BackendError(f"{type(est).__name__} does not accept sample_weight")
            kwargs[param] = sample_weight
        try:
            est.fit(X, y, **kwargs)
        except ValueError as exc:
            raise InputError(f"{type(est).__name__}.fit rejected the input: {exc}") from exc
        if not hasattr(est, "predict_proba"):
            _check_predict_proba(est)
        classes = getattr(est, "classes_", None)
        k = int(y.max()) + 1
        if classes is None or not np.array_equal(np.asarray(classes), np.arange(k)):
            raise BackendError(
                f"{type(est).__name__} did not learn the classes it was given (classes_="
                f"{classes!r}); the sklearn backend needs a single-output classifier"
            )
        self.estimator_ = est

    def _predict_model(self, X: Any) -> np.ndarray:
        try:
            return self.estimator_.predict_proba(X)
        except ValueError as exc:
            raise InputError(
                f"{type(self.estimator_).__name__}.predict_proba rejected the input: {exc}"
            ) from exc

    def _out_of_bag_model(
        self, X: Any, rows: np.ndarray, n_fit_rows: int
    ) -> tuple[np.ndarray, np.ndarray]:
        return forest_out_of_bag_proba(self.estimator_, X, rows, n_fit_rows)

    def _save_model(self, directory: Path) -> None:
        import skops.io as sio

        sio.dump(self.estimator_, directory / self.model_file)

    def _params_to_json(self) -> None:
        return None  # the estimator (and so its parameters) lives in model.skops

    @classmethod
    def _from_metadata(
        cls,
        meta: dict[str, Any],
        directory: Path,
        *,
        trusted: list[str] | None = None,
        **kwargs: Any,
    ) -> SklearnBackend:
        import skops.io as sio
        from sklearn.base import clone

        if kwargs:
            raise ParameterError(f"the sklearn backend's load() got unexpected {sorted(kwargs)}")

        file = directory / meta["model_file"]
        untrusted = sio.get_untrusted_types(file=file)
        allowed = set(trusted or ())
        # Types defined by scikit-learn itself (KDTree, distance metrics, calibrators...) are
        # trusted like the estimators skops already trusts; anything else must be listed.
        # numpy.dtype: what SimpleImputer records of its input (the default preprocessing)
        refused = [t for t in untrusted if t not in allowed and t != "numpy.dtype"
                   and not t.startswith("sklearn.")]
        if refused:
            raise BundleError(
                f"{file} holds types skops does not trust by default: {refused}; check them, "
                "then load with trusted=[...] listing them"
            )
        estimator_ = sio.load(file, trusted=list(untrusted) or None)
        backend = cls(estimator=clone(estimator_))
        backend.estimator_ = estimator_
        return backend

    def _load_model(self, directory: Path, meta: dict[str, Any]) -> None:
        pass  # done in _from_metadata


def _check_predict_proba(estimator: Any) -> None:
    if hasattr(estimator, "predict_proba"):
        return
    name = type(estimator).__name__
    if hasattr(estimator, "decision_function"):
        raise ParameterError(
            f"{name} has no predict_proba, only decision_function; pseudo-labeling needs "
            f"calibrated probabilities: wrap it as CalibratedClassifierCV({name}(...)) "
            "(sklearn.calibration)"
        )
    raise ParameterError(f"{name} has no predict_proba; the sklearn backend needs a classifier with predict_proba")


def _sample_weight_param(estimator: Any) -> str | None:
    """Keyword under which ``fit`` takes sample weights (``None``: it does not)."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import has_fit_parameter

    if isinstance(estimator, Pipeline):
        step_name, last = estimator.steps[-1]
        if last is None or last == "passthrough":
            return None
        inner = _sample_weight_param(last)
        return None if inner is None else f"{step_name}__{inner}"
    try:
        return "sample_weight" if has_fit_parameter(estimator, "sample_weight") else None
    except (TypeError, ValueError):  # pragma: no cover - exotic fit signatures
        return None


def _has_n_jobs(estimator: Any) -> bool:
    try:
        return any(k == "n_jobs" or k.endswith("__n_jobs") for k in estimator.get_params(deep=True))
    except Exception:  # pragma: no cover - broken get_params
        return False

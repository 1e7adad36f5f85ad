"""The scikit-learn estimator and the checked parameters ``pseudolabel train`` fits with.

``--estimator`` names one of :data:`NAMED_ESTIMATORS` or any classifier as ``module:Class``;
``--param`` names are checked against the estimator's parameters, and a typo lists the close
matches (:func:`check_param_names`).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any

from pseudolabel.exceptions import ParameterError

__all__ = ["NAMED_ESTIMATORS", "DEFAULT_ESTIMATOR", "estimator_class", "make_estimator",
           "check_param_names", "backend_estimator_class"]

#: ``--estimator`` names -> scikit-learn classes (module, class name)
NAMED_ESTIMATORS: dict[str, tuple[str, str]] = {
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression"),
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier"),
    "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingClassifier"),
}
DEFAULT_ESTIMATOR = "logistic_regression"
# parameters a named estimator gets unless the user sets them
_NAMED_DEFAULTS: dict[str, dict[str, Any]] = {"logistic_regression": {"max_iter": 1000}}
# model classes of the built-in boosting backends, for checking --param names
_BACKEND_CLASSES = {"lightgbm": ("lightgbm", "LGBMClassifier"),
                    "xgboost": ("xgboost", "XGBClassifier")}


def estimator_class(spec: str) -> type:
    """The class named by ``spec``: a :data:`NAMED_ESTIMATORS` key or ``module:Class``."""
    if spec in NAMED_ESTIMATORS:
        module, name = NAMED_ESTIMATORS[spec]
    elif ":" in spec:
        module, _, name = spec.partition(":")
    else:
        close = difflib.get_close_matches(spec, list(NAMED_ESTIMATORS), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ParameterError(
            f"--estimator {spec!r} is not a known name; {hint}use one of "
            f"{', '.join(NAMED_ESTIMATORS)} or module:Class (e.g. "
            "sklearn.ensemble:ExtraTreesClassifier)"
        )
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ParameterError(f"--estimator {spec!r}: cannot import module {module!r} ({exc})"
                             ) from exc
    except AttributeError:
        raise ParameterError(f"--estimator {spec!r}: module {module!r} has no {name!r}"
                             ) from None
    if not isinstance(cls, type) or not hasattr(cls, "fit") or not hasattr(cls, "get_params"):
        raise ParameterError(f"--estimator {spec!r} is not a scikit-learn estimator class")
    return cls


def check_param_names(cls: type, params: Mapping[str, Any], *, strict: bool = True,
                      what: str | None = None) -> None:
    """Refuse ``params`` that ``cls`` does not take, listing close matches.

    With ``strict=False`` (model libraries that pass unknown keywords on to their native
    parameters, such as LightGBM and XGBoost) only a name close to a known one is refused,
    as a likely typo.
    """
    try:
        known = sorted(cls().get_params(deep=False))
    except Exception:  # a class that cannot be built without arguments: nothing to check
        return
    label = what or cls.__name__
    for name in params:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=3)
        if close:
            raise ParameterError(
                f"--param {name}: {label} has no parameter {name!r}; did you mean "
                f"{', '.join(close)}?"
            )
        if strict:
            raise ParameterError(
                f"--param {name}: {label} has no parameter {name!r}; its parameters are "
                f"{', '.join(known)}"
            )


def make_estimator(spec: str | None, params: Mapping[str, Any]) -> Any:
    """An unfitted estimator for ``--estimator spec`` with checked ``params``."""
    spec = spec or DEFAULT_ESTIMATOR
    cls = estimator_class(spec)
    check_param_names(cls, params)
    kwargs = {**_NAMED_DEFAULTS.get(spec, {}), **params}
    try:
        estimator = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"--estimator {spec}: {exc}") from exc
    if not hasattr(estimator, "predict_proba"):
        raise ParameterError(
            f"--estimator {spec}: {cls.__name__} has no predict_proba; self-training and "
            "labeling need class probabilities (wrap it in "
            "sklearn.calibration.CalibratedClassifierCV)"
        )
    return estimator


def backend_estimator_class(backend: str) -> type | None:
    """The model class of a built-in boosting backend (None if unknown or not installed)."""
    spec = _BACKEND_CLASSES.get(backend)
    if spec is None:
        return None
    try:
        return getattr(importlib.import_module(spec[0]), spec[1])
    except ImportError:
        return None

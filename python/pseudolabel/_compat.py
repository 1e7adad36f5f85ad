"""The only module that imports private scikit-learn helpers.

scikit-learn moves and renames its underscore helpers between releases; keeping every such
import here means one place to fix when it does.
"""

from __future__ import annotations

from sklearn.utils import _safe_indexing as safe_indexing  # noqa: F401  (stable since 0.24)

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data  # noqa: F401
except ImportError:  # pragma: no cover - scikit-learn < 1.6

    def validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        """Fallback for ``sklearn.utils.validation.validate_data`` (added in 1.6)."""
        if kwargs.pop("skip_check_array", False):
            reset = kwargs.get("reset", True)
            estimator._check_n_features(X, reset=reset)
            estimator._check_feature_names(X, reset=reset)
            return X
        if "ensure_all_finite" in kwargs:
            kwargs["force_all_finite"] = kwargs.pop("ensure_all_finite")
        return estimator._validate_data(X, y, **kwargs)

# parameter validation of our estimators (their ``_parameter_constraints``)
from sklearn.base import _fit_context  # noqa: E402,F401  (>= 1.3)
from sklearn.utils._param_validation import (  # noqa: E402,F401
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)

from pseudolabel.exceptions import ParameterError  # noqa: E402


class ParameterConstraintError(ParameterError, InvalidParameterError):
    """A parameter outside its ``_parameter_constraints``: both our ``ParameterError`` and
    scikit-learn's ``InvalidParameterError``, so either ``except`` clause catches it."""


def validate_parameters(estimator: object) -> None:
    """Check ``estimator``'s parameters against its ``_parameter_constraints``.

    scikit-learn's message names the parameter, what it must be and the value it got; the
    error is a :class:`ParameterConstraintError`.
    """
    try:
        estimator._validate_params()  # type: ignore[attr-defined]
    except InvalidParameterError as exc:
        raise ParameterConstraintError(str(exc)) from None

from sklearn.utils.metadata_routing import (  # noqa: E402,F401
    _raise_for_params,
    _routing_enabled,
)
from sklearn.utils.validation import _check_method_params  # noqa: E402,F401

try:  # scikit-learn >= 1.6
    from sklearn.utils import get_tags  # noqa: F401
except ImportError:  # pragma: no cover - scikit-learn < 1.6

    def get_tags(estimator):  # type: ignore[no-redef]
        """Minimal stand-in: only ``input_tags.sparse`` is used by pseudolabel."""
        from types import SimpleNamespace

        sparse = not estimator._get_tags().get("X_types", ["2darray"]) == ["2darray"]
        return SimpleNamespace(input_tags=SimpleNamespace(sparse=sparse))

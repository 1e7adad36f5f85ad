"""The strategies' parameters: scikit-learn's get/set protocol and the checks of their values.

:class:`ParamsMixin` gives every strategy ``get_params``/``set_params``/``clone``/``repr`` from
its ``__init__`` signature; :func:`check_real`, :func:`check_int` and :func:`check_bool` are
the value checks strategies run in ``_validate_params`` (a :class:`ParameterError` naming the
strategy and the parameter). Imports numpy only.
"""

from __future__ import annotations

import inspect
import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from pseudolabel.exceptions import ParameterError

__all__ = ["ParamsMixin", "check_bool", "check_int", "check_real"]


# ---------------------------------------------------------------------------------------------
# parameters: a tiny get_params/set_params so that sklearn.base.clone and repr work
# ---------------------------------------------------------------------------------------------


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``repr`` from the ``__init__`` signature.

    Like scikit-learn estimators, a strategy's ``__init__`` only stores its parameters under
    the same names, so ``sklearn.base.clone(strategy)`` and :meth:`clone` give an unstarted
    copy with the same parameters.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        sig = inspect.signature(init)
        names = []
        for p in sig.parameters.values():
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters of this object.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of nested objects that have ``get_params``
            (as ``name__param``).

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        out: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, sub in value.get_params(deep=True).items():
                    out[f"{name}__{key}"] = sub
            out[name] = value
        return out

    def set_params(self, **params: Any) -> ParamsMixin:
        """Set constructor parameters (``name`` or ``name__nested``); returns ``self``."""
        valid = set(self._param_names())
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ParameterError(
                    f"invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are {sorted(valid)}"
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def clone(self) -> Any:
        """Return an unstarted copy with the same parameters (nested objects cloned too)."""
        params = {}
        for name, value in self.get_params(deep=False).items():
            params[name] = value.clone() if isinstance(value, ParamsMixin) else value
        return type(self)(**params)

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name, value in self.get_params(deep=False).items():
            default = sig.parameters[name].default
            try:
                same = default is not inspect.Parameter.empty and bool(value == default)
            except Exception:  # arrays and friends: always show them
                same = False
            if not same:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


# ---------------------------------------------------------------------------------------------
# value checks of a strategy's parameters (raised when the strategy starts)
# ---------------------------------------------------------------------------------------------


def check_real(
    owner: object,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    closed: str = "both",
) -> float:
    """Check that ``value`` is a real number in the interval; return it as float."""
    cls = type(owner).__name__
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(float(value)):
        raise ParameterError(f"{cls}: {name} must be a real number, got {value!r}")
    v = float(value)
    low_ok = low is None or (v >= low if closed in ("both", "left") else v > low)
    high_ok = high is None or (v <= high if closed in ("both", "right") else v < high)
    if not (low_ok and high_ok):
        left = "(" if low is None or closed in ("right", "neither") else "["
        right = ")" if high is None or closed in ("left", "neither") else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ParameterError(f"{cls}: {name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def check_int(owner: object, name: str, value: Any, low: int) -> int:
    cls = type(owner).__name__
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ParameterError(f"{cls}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_bool(owner: object, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{type(owner).__name__}: {name} must be a bool, got {value!r}")
    return bool(value)

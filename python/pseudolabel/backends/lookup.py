"""Backend lookup: a registered name, an estimator or a saved directory -> a :class:`Backend`.

The plugin manager only holds the registry of factories; this module builds backends from it and
checks that a factory returned a :class:`~pseudolabel.backends.base.Backend`. It is re-exported as
``pseudolabel.plugins.make_backend`` / ``as_backend`` / ``load_backend``.
"""

from __future__ import annotations

import os
from typing import Any

from pseudolabel.backends.base import Backend
from pseudolabel.exceptions import ParameterError, PluginError
from pseudolabel.plugins import get_plugin_manager

__all__ = ["make_backend", "as_backend", "load_backend"]


def make_backend(name: str, **params: Any) -> Backend:
    """Create the backend registered as ``name`` with ``params``.

    Parameters
    ----------
    name : str
        A registered backend name (``"sklearn"``, ``"lightgbm"``, ``"xgboost"``, or one from
        a plugin; ``pseudolabel plugins`` lists them).
    **params
        Passed to the backend factory, e.g. ``estimator=LogisticRegression()`` for
        ``"sklearn"`` or LightGBM parameters for ``"lightgbm"``.

    Returns
    -------
    Backend
        An unfitted backend.

    Raises
    ------
    UnknownNameError
        ``name`` is not registered; the message lists the known backends.
    ParameterError
        The factory rejected the parameters.
    """
    if not isinstance(name, str):
        raise ParameterError(f"backend name must be a str, got {type(name).__name__}")
    entry = get_plugin_manager().backends.get(name)
    try:
        backend = entry.factory(**params)
    except TypeError as exc:
        raise ParameterError(
            f"backend {name!r} (plugin {entry.plugin!r}) rejected the parameters "
            f"{sorted(params)}: {exc}"
        ) from exc
    if not isinstance(backend, Backend):
        raise PluginError(
            f"backend {name!r} from plugin {entry.plugin!r} returned "
            f"{type(backend).__name__}, which is not a pseudolabel.backends.Backend"
        )
    return backend


def as_backend(obj: Any, **params: Any) -> Backend:
    """Turn a backend name, a :class:`Backend` or an estimator instance into a ``Backend``.

    * a ``Backend`` is returned as is;
    * a ``str`` is looked up with :func:`make_backend` (``params`` are passed on);
    * an estimator whose class a registered backend claims (its ``estimator_types``; the
      built-ins claim ``lightgbm.LGBMClassifier`` and ``xgboost.XGBClassifier``) becomes that
      native backend with the estimator's parameters that differ from their defaults (see
      :meth:`Backend.from_estimator`), so it is saved in the library's own format (LightGBM
      text, XGBoost UBJ) rather than through skops;
    * any other estimator with ``fit`` goes to the ``sklearn`` backend.

    The estimator passed in is never fitted or modified: backends fit a clone.
    """
    if isinstance(obj, Backend):
        if params:
            raise ParameterError(
                f"parameters {sorted(params)} can only be given with a backend name, not with "
                f"a {type(obj).__name__} instance"
            )
        return obj
    if isinstance(obj, str):
        return make_backend(obj, **params)
    if params:
        raise ParameterError(
            f"parameters {sorted(params)} can only be given with a backend name, not with an "
            "estimator instance (set them on the estimator)"
        )
    if not hasattr(obj, "fit"):
        raise ParameterError(
            f"expected a backend name, a pseudolabel Backend or an estimator with fit(), got "
            f"{type(obj).__name__}"
        )
    qualnames = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(obj).__mro__}
    top_names = {f"{cls.__module__.split('.')[0]}.{cls.__qualname__}" for cls in type(obj).__mro__}
    for entry in get_plugin_manager().backends:
        factory = entry.factory
        claimed = getattr(factory, "estimator_types", ())
        if isinstance(factory, type) and issubclass(factory, Backend) and claimed:
            if any(t in qualnames or t in top_names for t in claimed):
                return factory.from_estimator(obj)
    return make_backend("sklearn", estimator=obj)


def load_backend(path: str | os.PathLike[str], **kwargs: Any) -> Backend:
    """Load a backend saved with :meth:`Backend.save`, whatever its type.

    The backend name recorded in the saved metadata is looked up in the registry, so a model
    saved by a plugin backend loads as long as that plugin is installed. The same as
    ``Backend.load(path, **kwargs)``.
    """
    return Backend.load(path, **kwargs)

"""Strategy lookup: a registered name (or an instance) and a kind -> a strategy.

Re-exported as ``pseudolabel.plugins.make_strategy``.
"""

from __future__ import annotations

from typing import Any

from pseudolabel.exceptions import ParameterError
from pseudolabel.plugins import get_plugin_manager
from pseudolabel.registry import check_kind

__all__ = ["make_strategy"]


def make_strategy(name_or_instance: Any, *, kind: str, **params: Any) -> Any:
    """Create the ``kind`` strategy registered as ``name``; instances pass through.

    Parameters
    ----------
    name_or_instance : str or strategy instance
        A registered strategy name, or an already-built strategy (returned unchanged).
    kind : {"selection", "query"}
        Self-training selection strategy or active-learning query strategy.
    **params
        Passed to the strategy factory (only with a name).

    Raises
    ------
    UnknownNameError
        The name is not registered for ``kind``; the message lists the known ones.
    ParameterError
        ``kind`` is invalid, ``params`` came with an instance, or the factory rejected them.
    """
    check_kind(kind)
    if not isinstance(name_or_instance, str):
        if name_or_instance is None:
            raise ParameterError(f"expected a {kind} strategy name or instance, got None")
        if params:
            raise ParameterError(
                f"parameters {sorted(params)} can only be given with a strategy name, not "
                f"with a {type(name_or_instance).__name__} instance"
            )
        return name_or_instance
    entry = get_plugin_manager().strategies.get(name_or_instance, kind)
    try:
        return entry.factory(**params)
    except TypeError as exc:
        raise ParameterError(
            f"{kind} strategy {name_or_instance!r} (plugin {entry.plugin!r}) rejected the "
            f"parameters {sorted(params)}: {exc}"
        ) from exc

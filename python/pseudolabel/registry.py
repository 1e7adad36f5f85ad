"""The backend and strategy registries that registration hooks fill (a leaf: imports no plugin code).

``pseudolabel_add_backends(registry)`` receives a :class:`BackendRegistry` and
``pseudolabel_add_strategies(registry)`` a :class:`StrategyRegistry`; each remembers which
plugin registered which name, refuses invalid or duplicate names, and can roll back what one
plugin added. The registries store factories without knowing what they build: checking that a
backend factory returns a :class:`~pseudolabel.backends.Backend` is the job of the backend lookup
(:mod:`pseudolabel.backends.lookup`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pseudolabel.exceptions import DuplicateNameError, ParameterError, PluginError, UnknownNameError

__all__ = [
    "DISABLE_ENV",
    "STRATEGY_KINDS",
    "RegistryEntry",
    "BackendRegistry",
    "StrategyRegistry",
    "check_kind",
]

#: Environment variable: comma-separated plugin names to skip, or ``all``.
DISABLE_ENV = "PSEUDOLABEL_DISABLE_PLUGINS"
#: The two kinds of strategies.
STRATEGY_KINDS: tuple[str, ...] = ("selection", "query")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered backend or strategy.

    Attributes
    ----------
    name : str
        The name users look it up by.
    kind : str
        ``"backend"`` or ``"strategy"``.
    factory : callable
        Class or callable taking the parameters as keyword arguments.
    plugin : str
        Name of the plugin that registered it.
    version : str or None
        Version of that plugin's distribution, when known.
    description : str
        One-line description given at registration.
    strategy_kind : str or None
        ``"selection"`` or ``"query"`` for strategies, ``None`` for backends.
    """

    name: str
    kind: str
    factory: Callable[..., Any]
    plugin: str
    version: str | None
    description: str = ""
    strategy_kind: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view used by ``pseudolabel plugins --json``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "version": self.version,
            "strategy_kind": self.strategy_kind,
            "description": self.description,
        }


class _Registry:
    """Shared bookkeeping: which plugin is registering right now, and roll-back."""

    _kind = ""

    def __init__(self) -> None:
        self._entries: dict[tuple[str | None, str], RegistryEntry] = {}
        self._plugin: str | None = None
        self._version: str | None = None

    @contextlib.contextmanager
    def registering(self, plugin: str, version: str | None) -> Iterator[None]:
        """Attribute everything added inside the block to ``plugin`` (the manager's job)."""
        self._plugin, self._version = plugin, version
        try:
            yield
        finally:
            self._plugin, self._version = None, None

    def rollback(self, plugin: str) -> None:
        """Remove every entry ``plugin`` added (its registration hook failed half-way)."""
        for key in [k for k, e in self._entries.items() if e.plugin == plugin]:
            del self._entries[key]

    def _check_new(self, name: Any, factory: Any, what: str) -> str:
        if self._plugin is None:
            raise PluginError(
                f"{what}s can only be added from a pseudolabel_add_{what}s hook "
                "(register a plugin instead of calling the registry directly)"
            )
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise PluginError(
                f"plugin {self._plugin!r} registered an invalid {what} name {name!r}: use "
                "letters, digits, '_', '-' and '.', starting with a letter or digit"
            )
        if not callable(factory):
            raise PluginError(
                f"plugin {self._plugin!r} registered {what} {name!r} with a factory that is "
                f"not callable: {factory!r}"
            )
        return name

    def _insert(self, key: tuple[str | None, str], label: str, entry: RegistryEntry) -> None:
        """Add ``entry`` under ``key``; a name taken by another plugin is an error."""
        if key in self._entries:
            other = self._entries[key].plugin
            raise DuplicateNameError(
                f"{label} {entry.name!r} is registered twice: by plugin {other!r} and by "
                f"plugin {self._plugin!r}; uninstall or disable one of them "
                f"({DISABLE_ENV}={self._plugin})"
            )
        self._entries[key] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: (e.strategy_kind or "", e.name)))


class BackendRegistry(_Registry):
    """Registry handed to ``pseudolabel_add_backends``; maps backend names to factories."""

    _kind = "backend"

    def add_backend(
        self, name: str, factory: Callable[..., Any], *, description: str = ""
    ) -> None:
        """Register a backend.

        Parameters
        ----------
        name : str
            Name users pass to :func:`pseudolabel.plugins.make_backend` (letters, digits,
            ``_ - .``).
        factory : callable
            A :class:`~pseudolabel.backends.Backend` subclass, or a callable that takes the
            backend parameters as keyword arguments and returns a ``Backend``.
        description : str, optional
            One line shown by ``pseudolabel plugins``.

        Raises
        ------
        DuplicateNameError
            If another plugin already registered ``name``; the message names both plugins.
        """
        name = self._check_new(name, factory, "backend")
        entry = RegistryEntry(
            name, "backend", factory, self._plugin or "", self._version, str(description)
        )
        self._insert((None, name), "backend", entry)

    def get(self, name: str) -> RegistryEntry:
        """Return the entry for ``name``; :class:`UnknownNameError` lists the known names."""
        try:
            return self._entries[(None, name)]
        except (KeyError, TypeError):
            known = ", ".join(self.names()) or "(none)"
            raise UnknownNameError(
                f"unknown backend {name!r}; known backends: {known}"
            ) from None

    def names(self) -> list[str]:
        """Sorted names of every registered backend."""
        return sorted(name for _, name in self._entries)

    def __contains__(self, name: object) -> bool:
        return (None, name) in self._entries


class StrategyRegistry(_Registry):
    """Registry handed to ``pseudolabel_add_strategies``; names are unique per kind."""

    _kind = "strategy"

    def add_strategy(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        kind: str = "selection",
        description: str = "",
    ) -> None:
        """Register a selection strategy (``kind="selection"``) or query strategy (``"query"``).

        Parameters
        ----------
        name : str
            Name users pass to :func:`pseudolabel.plugins.make_strategy`.
        factory : callable
            Strategy class or a callable taking the strategy parameters as keyword arguments.
        kind : {"selection", "query"}
            Self-training selection strategy or active-learning query strategy. A selection
            strategy and a query strategy may share a name.
        description : str, optional
            One line shown by ``pseudolabel plugins``.

        Raises
        ------
        DuplicateNameError
            If another plugin already registered ``name`` for the same ``kind``.
        """
        name = self._check_new(name, factory, "strategy")
        if kind not in STRATEGY_KINDS:
            raise PluginError(
                f"plugin {self._plugin!r} registered strategy {name!r} with kind {kind!r}; "
                f"kind must be one of {', '.join(map(repr, STRATEGY_KINDS))}"
            )
        entry = RegistryEntry(
            name, "strategy", factory, self._plugin or "", self._version, str(description), kind
        )
        self._insert((kind, name), f"{kind} strategy", entry)

    def get(self, name: str, kind: str) -> RegistryEntry:
        """Return the entry for ``name`` of ``kind``; unknown names list the known ones."""
        check_kind(kind)
        try:
            return self._entries[(kind, name)]
        except (KeyError, TypeError):
            known = ", ".join(self.names(kind)) or "(none)"
            raise UnknownNameError(
                f"unknown {kind} strategy {name!r}; known {kind} strategies: {known}"
            ) from None

    def names(self, kind: str) -> list[str]:
        """Sorted names of the registered strategies of ``kind``."""
        check_kind(kind)
        return sorted(name for k, name in self._entries if k == kind)

    def __contains__(self, key: object) -> bool:
        """``(kind, name) in registry``."""
        return key in self._entries


def check_kind(kind: Any) -> str:
    """Return ``kind`` if it is a strategy kind; a :class:`ParameterError` otherwise."""
    if kind not in STRATEGY_KINDS:
        raise ParameterError(
            f"strategy kind must be one of {', '.join(map(repr, STRATEGY_KINDS))}, got {kind!r}"
        )
    return kind

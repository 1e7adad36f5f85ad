"""Plugin manager, backend and strategy registries, and name lookup.

pseudolabel is extended with `pluggy <https://pluggy.readthedocs.io>`_ plugins. A plugin is a
module (or any object) with functions marked by :data:`hookimpl` that implement the hooks in
:mod:`pseudolabel.hookspecs`. Backends and strategies are registered through registry objects
passed to ``pseudolabel_add_backends(registry)`` / ``pseudolabel_add_strategies(registry)``; the
built-in ones (modules :data:`BUILTIN_PLUGINS`) are registered exactly like third-party ones.

Discovery
---------
* Built-in plugin modules are always registered (version = pseudolabel's version).
* External plugins come from the entry-point group ``pseudolabel``::

      [project.entry-points.pseudolabel]
      catboost = "pseudolabel_catboost"

  The entry-point name is the plugin name.
* ``PSEUDOLABEL_DISABLE_PLUGINS=name1,name2`` skips those entry points; ``all`` skips every
  external plugin (built-ins cannot be disabled).
* A plugin that fails to import, or implements a ``pseudolabel_*`` hook that does not exist, is
  skipped with a :class:`~pseudolabel.exceptions.PluginWarning` that names it; the rest keep
  working.
* Two plugins registering the same backend name, or the same strategy name for the same kind,
  raise :class:`~pseudolabel.exceptions.DuplicateNameError` naming both plugins.

Lookup
------
:func:`make_backend`, :func:`as_backend` and :func:`make_strategy` use the process-wide manager
returned by :func:`get_plugin_manager`. Tests (and applications that want full control) use
:func:`isolated_plugin_manager` to run with a fresh manager that holds the built-ins and only the
plugins they register, whatever happens to be installed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.metadata
import json
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from pseudolabel import hookspecs
from pseudolabel._version import __version__
from pseudolabel.exceptions import (
    DuplicateNameError,
    ParameterError,
    PluginError,
    PluginWarning,
    UnknownNameError,
)
from pseudolabel.hookspecs import PROJECT_NAME, LabelsSelected, RoundSummary, hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from pseudolabel.backends.base import Backend

__all__ = [
    "ENTRY_POINT_GROUP",
    "DISABLE_ENV",
    "BUILTIN_PLUGINS",
    "STRATEGY_KINDS",
    "hookimpl",
    "RegistryEntry",
    "BackendRegistry",
    "StrategyRegistry",
    "PluginManager",
    "create_plugin_manager",
    "get_plugin_manager",
    "set_plugin_manager",
    "isolated_plugin_manager",
    "make_backend",
    "as_backend",
    "load_backend",
    "make_strategy",
    "emit_round_end",
    "emit_labels_selected",
    "list_plugins",
    "hook_names",
    "register_commands",
]

#: The entry-point group external plugins are discovered from.
ENTRY_POINT_GROUP = PROJECT_NAME
#: Environment variable: comma-separated plugin names to skip, or ``all``.
DISABLE_ENV = "PSEUDOLABEL_DISABLE_PLUGINS"
#: Built-in plugin modules, registered through the same hooks as external plugins.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "pseudolabel.backends",
    "pseudolabel.strategies.selection",
    "pseudolabel.strategies.query",
    "pseudolabel.strategies.diversity",
)
#: The two kinds of strategies.
STRATEGY_KINDS: tuple[str, ...] = ("selection", "query")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


# --------------------------------------------------------------------------------------------
# registries


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
    def _registering(self, plugin: str, version: str | None) -> Iterator[None]:
        self._plugin, self._version = plugin, version
        try:
            yield
        finally:
            self._plugin, self._version = None, None

    def _rollback(self, plugin: str) -> None:
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
        self, name: str, factory: Callable[..., Backend], *, description: str = ""
    ) -> None:
        """Register a backend.

        Parameters
        ----------
        name : str
            Name users pass to :func:`make_backend` (letters, digits, ``_ - .``).
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
            Name users pass to :func:`make_strategy`.
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
        _check_kind(kind)
        try:
            return self._entries[(kind, name)]
        except (KeyError, TypeError):
            known = ", ".join(self.names(kind)) or "(none)"
            raise UnknownNameError(
                f"unknown {kind} strategy {name!r}; known {kind} strategies: {known}"
            ) from None

    def names(self, kind: str) -> list[str]:
        """Sorted names of the registered strategies of ``kind``."""
        _check_kind(kind)
        return sorted(name for k, name in self._entries if k == kind)

    def __contains__(self, key: object) -> bool:
        """``(kind, name) in registry``."""
        return key in self._entries


def _check_kind(kind: Any) -> str:
    if kind not in STRATEGY_KINDS:
        raise ParameterError(
            f"strategy kind must be one of {', '.join(map(repr, STRATEGY_KINDS))}, got {kind!r}"
        )
    return kind


# --------------------------------------------------------------------------------------------
# the plugin manager


class PluginManager(pluggy.PluginManager):
    """``pluggy.PluginManager("pseudolabel")`` with the backend and strategy registries.

    Use :func:`create_plugin_manager` (fresh manager) or :func:`get_plugin_manager` (the
    process-wide one) rather than instantiating this class directly.

    Attributes
    ----------
    blocked_plugins : list of str
        Entry-point plugins skipped because of ``PSEUDOLABEL_DISABLE_PLUGINS``.
    failed_plugins : dict
        Plugin name -> reason, for plugins skipped because they failed to load.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self._versions: dict[str, str | None] = {}
        self._lock = threading.RLock()
        self._backends: BackendRegistry | None = None
        self._strategies: StrategyRegistry | None = None
        self._building = False
        self.blocked_plugins: list[str] = []
        self.failed_plugins: dict[str, str] = {}
        self.builtin_plugins: list[str] = []

    # -- registration ---------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None, *, version: str | None = None):
        """Register ``plugin`` (see :meth:`pluggy.PluginManager.register`).

        Also checks that every ``pseudolabel_*`` hook the plugin implements exists (a typo in a
        hook name is an error, not a silently ignored function), records the plugin's version
        (``version`` or the version of the distribution that ships it), and makes the
        registries rebuild on next use.
        """
        with self._lock:
            registered = super().register(plugin, name)
            if registered is None:  # blocked
                return None
            try:
                self._check_plugin_hooks(plugin, registered)
            except PluginError:
                super().unregister(plugin)
                raise
            self._versions[registered] = version if version is not None else _guess_version(plugin)
            self._invalidate()
            return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        with self._lock:
            if name is None and plugin is not None:
                name = self.get_name(plugin)
            result = super().unregister(plugin=plugin, name=name)
            if name is not None:
                self._versions.pop(name, None)
            self._invalidate()
            return result

    def _check_plugin_hooks(self, plugin: object, name: str) -> None:
        for caller in self.get_hookcallers(plugin) or ():
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not impl.optionalhook:
                    raise PluginError(
                        f"plugin {name!r} implements unknown hook {caller.name!r}; known hooks: "
                        + ", ".join(hook_names())
                    )

    def plugin_version(self, name: str) -> str | None:
        """Version of the plugin registered under ``name`` (``None`` when unknown)."""
        return self._versions.get(name)

    def _invalidate(self) -> None:
        self._backends = None
        self._strategies = None

    # -- registries -----------------------------------------------------------------------

    @property
    def backends(self) -> BackendRegistry:
        """The backend registry, built from every plugin's ``pseudolabel_add_backends``."""
        with self._lock:
            if self._backends is None:
                registry = BackendRegistry()
                self._run_registration("pseudolabel_add_backends", registry)
                self._backends = registry
            return self._backends

    @property
    def strategies(self) -> StrategyRegistry:
        """The strategy registry, built from every plugin's ``pseudolabel_add_strategies``."""
        with self._lock:
            if self._strategies is None:
                registry = StrategyRegistry()
                self._run_registration("pseudolabel_add_strategies", registry)
                self._strategies = registry
            return self._strategies

    def _run_registration(self, hook_name: str, registry: _Registry) -> None:
        # Each implementation is called on its own so that the registry knows which plugin is
        # registering (for duplicate errors and `pseudolabel plugins`), and so that one broken
        # external plugin is skipped with a warning instead of taking the others down.
        if self._building:
            raise PluginError(
                f"a {hook_name} implementation looked up a backend or strategy while the "
                "registries were being built; look names up at call time instead"
            )
        self._building = True
        try:
            caller = getattr(self.hook, hook_name)
            kwargs = {"registry": registry}
            for impl in caller.get_hookimpls():
                plugin_name = impl.plugin_name
                if impl.hookwrapper or impl.wrapper:
                    raise PluginError(
                        f"plugin {plugin_name!r}: {hook_name} cannot be a hook wrapper"
                    )
                with registry._registering(plugin_name, self.plugin_version(plugin_name)):
                    try:
                        impl.function(*[kwargs[arg] for arg in impl.argnames])
                    except DuplicateNameError:
                        raise
                    except Exception as exc:
                        if plugin_name in self.builtin_plugins:
                            raise
                        registry._rollback(plugin_name)
                        reason = f"{hook_name} raised {type(exc).__name__}: {exc}"
                        self.failed_plugins[plugin_name] = reason
                        warnings.warn(
                            f"pseudolabel plugin {plugin_name!r} is skipped: {reason}",
                            PluginWarning,
                            stacklevel=4,
                        )
        finally:
            self._building = False

    # -- discovery ------------------------------------------------------------------------

    def register_builtins(self) -> None:
        """Register the built-in plugin modules that exist (see :data:`BUILTIN_PLUGINS`)."""
        for module_name in BUILTIN_PLUGINS:
            if self.has_plugin(module_name):
                continue
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                # Only a module that does not exist (in this build) is skipped; an import error
                # inside an existing built-in module is a bug and propagates.
                if exc.name is not None and module_name.startswith(exc.name) and (
                    exc.name == module_name or module_name.startswith(exc.name + ".")
                ):
                    continue
                raise
            self.register(module, name=module_name, version=__version__)
            self.builtin_plugins.append(module_name)

    def load_entrypoint_plugins(self, disabled: str | None = None) -> list[str]:
        """Register the plugins of the ``pseudolabel`` entry-point group.

        Parameters
        ----------
        disabled : str, optional
            Comma-separated plugin names to skip, or ``all``; defaults to the
            ``PSEUDOLABEL_DISABLE_PLUGINS`` environment variable.

        Returns
        -------
        list of str
            Names of the plugins registered.
        """
        blocked = _parse_disabled(os.environ.get(DISABLE_ENV, "") if disabled is None else disabled)
        loaded: list[str] = []
        seen: set[str] = set()
        for ep in sorted(_entry_points(), key=lambda e: e.name):
            if ep.name in seen:
                warnings.warn(
                    f"two installed distributions declare the pseudolabel plugin {ep.name!r}; "
                    f"the second one ({ep.value}) is ignored",
                    PluginWarning,
                    stacklevel=2,
                )
                continue
            seen.add(ep.name)
            if "all" in blocked or ep.name in blocked:
                self.blocked_plugins.append(ep.name)
                continue
            if self.has_plugin(ep.name) or self.is_blocked(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            origin = f"{ep.value}" + (f" from {dist.metadata['Name']} {dist.version}" if dist else "")
            try:
                plugin = ep.load()
            except Exception as exc:  # anything a broken third-party import can raise
                self._skip(ep.name, f"failed to import ({origin}): {type(exc).__name__}: {exc}")
                continue
            try:
                self.register(plugin, name=ep.name, version=dist.version if dist else None)
            except Exception as exc:
                self._skip(ep.name, f"could not be registered ({origin}): {exc}")
                continue
            loaded.append(ep.name)
        return loaded

    def _skip(self, name: str, reason: str) -> None:
        self.failed_plugins[name] = reason
        warnings.warn(
            f"pseudolabel plugin {name!r} {reason}; it is skipped, other plugins keep working",
            PluginWarning,
            stacklevel=3,
        )

    def entries(self) -> list[RegistryEntry]:
        """Every registered backend and strategy, backends first, sorted by name."""
        return [*self.backends, *self.strategies]


def _parse_disabled(value: str) -> set[str]:
    names = {part.strip() for part in value.split(",") if part.strip()}
    return {"all"} if any(n.lower() == "all" for n in names) else names


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


@functools.lru_cache(maxsize=None)
def _packages_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _guess_version(plugin: object) -> str | None:
    version = getattr(plugin, "__version__", None)
    if isinstance(version, str):
        return version
    module = getattr(plugin, "__module__", None) if not hasattr(plugin, "__file__") else None
    module = getattr(plugin, "__name__", None) if module is None else module
    if not isinstance(module, str):
        return None
    top = module.split(".")[0]
    if top == "pseudolabel":
        return __version__
    for dist in _packages_distributions().get(top, []):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            continue
    return None


def hook_names() -> list[str]:
    """Names of every hook specification in :mod:`pseudolabel.hookspecs`."""
    return sorted(
        name
        for name in dir(hookspecs)
        if name.startswith("pseudolabel_")
        and callable(getattr(hookspecs, name))
        and hasattr(getattr(hookspecs, name), f"{PROJECT_NAME}_spec")
    )


def create_plugin_manager(
    *, load_entrypoints: bool = True, builtins: bool = True, disabled: str | None = None
) -> PluginManager:
    """Build a new plugin manager.

    Parameters
    ----------
    load_entrypoints : bool, default=True
        Register the plugins of the ``pseudolabel`` entry-point group.
    builtins : bool, default=True
        Register the built-in backends and strategies.
    disabled : str, optional
        Overrides ``PSEUDOLABEL_DISABLE_PLUGINS`` (comma-separated names or ``all``).

    Returns
    -------
    PluginManager
    """
    pm = PluginManager()
    if builtins:
        pm.register_builtins()
    if load_entrypoints:
        pm.load_entrypoint_plugins(disabled)
    pm.check_pending()
    return pm


_global_lock = threading.RLock()
_global_pm: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager: built-ins plus entry-point plugins, created on first use."""
    global _global_pm
    with _global_lock:
        if _global_pm is None:
            _global_pm = create_plugin_manager()
        return _global_pm


def set_plugin_manager(pm: PluginManager | None) -> PluginManager | None:
    """Replace the process-wide manager (``None``: rebuild on next use); returns the old one."""
    global _global_pm
    if pm is not None and not isinstance(pm, PluginManager):
        raise ParameterError(f"expected a pseudolabel PluginManager, got {type(pm).__name__}")
    with _global_lock:
        old, _global_pm = _global_pm, pm
        return old


@contextlib.contextmanager
def isolated_plugin_manager(
    *plugins: object, load_entrypoints: bool = False, builtins: bool = True
) -> Iterator[PluginManager]:
    """Run a block with a fresh process-wide plugin manager.

    The manager holds the built-ins and exactly ``plugins`` (registered in order, named after
    their module or given as ``(name, plugin)`` pairs); installed entry-point plugins are not
    loaded unless ``load_entrypoints=True``. The previous manager is restored on exit. This is
    how tests stay independent of whatever happens to be installed.

    Examples
    --------
    >>> from pseudolabel.plugins import isolated_plugin_manager, make_backend
    >>> with isolated_plugin_manager() as pm:
    ...     "sklearn" in pm.backends
    True
    """
    pm = create_plugin_manager(load_entrypoints=load_entrypoints, builtins=builtins)
    for plugin in plugins:
        if isinstance(plugin, tuple) and len(plugin) == 2 and isinstance(plugin[0], str):
            pm.register(plugin[1], name=plugin[0])
        else:
            pm.register(plugin)
    old = set_plugin_manager(pm)
    try:
        yield pm
    finally:
        set_plugin_manager(old)


# --------------------------------------------------------------------------------------------
# lookup


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
    from pseudolabel.backends.base import Backend

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
    from pseudolabel.backends.base import Backend

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
    saved by a plugin backend loads as long as that plugin is installed.
    """
    from pseudolabel.backends.base import read_metadata

    meta = read_metadata(path)
    entry = get_plugin_manager().backends.get(meta["backend"])
    factory = entry.factory
    loader = getattr(factory, "load", None)
    if loader is None:
        raise PluginError(
            f"backend {meta['backend']!r} from plugin {entry.plugin!r} has no load() classmethod"
        )
    return loader(path, **kwargs)


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
    _check_kind(kind)
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


# --------------------------------------------------------------------------------------------
# events


def emit_round_end(**fields: Any) -> RoundSummary:
    """Build a :class:`~pseudolabel.hookspecs.RoundSummary` and call ``pseudolabel_round_end``.

    The loops call this once per round; ``fields`` are the ``RoundSummary`` fields. Returns the
    summary (handy for the caller's own history).
    """
    summary = RoundSummary(**fields)
    get_plugin_manager().hook.pseudolabel_round_end(summary=summary)
    return summary


def emit_labels_selected(**fields: Any) -> LabelsSelected:
    """Build a :class:`~pseudolabel.hookspecs.LabelsSelected` and call
    ``pseudolabel_labels_selected``. The arrays are copied and made read-only."""
    selection = LabelsSelected(**fields)
    get_plugin_manager().hook.pseudolabel_labels_selected(selection=selection)
    return selection


# --------------------------------------------------------------------------------------------
# `pseudolabel plugins`


def list_plugins(pm: PluginManager | None = None) -> list[dict[str, Any]]:
    """Every backend and strategy as ``{"name", "kind", "plugin", "version", ...}`` dicts."""
    pm = get_plugin_manager() if pm is None else pm
    return [entry.as_dict() for entry in pm.entries()]


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pseudolabel plugins`` to the command line."""
    p = subparsers.add_parser(
        "plugins",
        help="list the backends and strategies that plugins provide",
        description=(
            "List every backend and strategy with the plugin that provides it and that "
            f"plugin's version. {DISABLE_ENV}=name1,name2 (or 'all') blocks external plugins."
        ),
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of objects with keys name, kind, plugin, version "
        "(plus strategy_kind and description)",
    )
    p.set_defaults(func=_run_plugins_command)


def _run_plugins_command(args: argparse.Namespace) -> int:
    try:
        return _print_plugins(args)
    except BrokenPipeError:  # `pseudolabel plugins | head`: the reader went away, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _print_plugins(args: argparse.Namespace) -> int:
    pm = get_plugin_manager()
    rows = list_plugins(pm)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    table = [("NAME", "KIND", "PLUGIN", "VERSION", "DESCRIPTION")]
    for row in rows:
        kind = row["kind"] if row["strategy_kind"] is None else f"{row['kind']} ({row['strategy_kind']})"
        description = row["description"].replace("``", "")  # reST literals read badly here
        table.append((row["name"], kind, row["plugin"], row["version"] or "-", description))
    widths = [max(len(str(r[i])) for r in table) for i in range(4)]
    for r in table:
        cells = [str(c).ljust(w) for c, w in zip(r[:4], widths)]
        print("  ".join([*cells, r[4]]).rstrip())
    if pm.blocked_plugins:
        print(f"\nblocked by {DISABLE_ENV}: {', '.join(sorted(pm.blocked_plugins))}")
    for name, reason in sorted(pm.failed_plugins.items()):
        print(f"failed: {name}: {reason}")
    return 0

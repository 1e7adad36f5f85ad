"""The plugin manager: discovery, registration and the process-wide manager.

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
The manager holds registries (:mod:`pseudolabel.registry`) and knows nothing of what they
build. Name lookup lives next to what it builds: :func:`make_backend`, :func:`as_backend` and
:func:`load_backend` in :mod:`pseudolabel.backends.lookup`, :func:`make_strategy` in
:mod:`pseudolabel.strategies.lookup`; the event emitters in :mod:`pseudolabel.events`; the
``pseudolabel plugins`` command in :mod:`pseudolabel.cli.plugins`. They all use the process-wide
manager returned by :func:`get_plugin_manager`, and stay importable from this module
(``pseudolabel.plugins.make_backend``...), resolved on first access so that this module imports
none of them. Tests (and applications that want full control) use :func:`isolated_plugin_manager`
to run with a fresh manager that holds the built-ins and only the plugins they register, whatever
happens to be installed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pluggy

from pseudolabel import hookspecs
from pseudolabel._version import __version__
from pseudolabel.exceptions import DuplicateNameError, ParameterError, PluginError, PluginWarning
from pseudolabel.hookspecs import PROJECT_NAME, hookimpl
from pseudolabel.registry import (
    DISABLE_ENV,
    STRATEGY_KINDS,
    BackendRegistry,
    RegistryEntry,
    StrategyRegistry,
)

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
#: Built-in plugin modules, registered through the same hooks as external plugins.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "pseudolabel.backends",
    "pseudolabel.strategies.selection",
    "pseudolabel.strategies.query",
    "pseudolabel.strategies.allocation", "pseudolabel.strategies.graph",
    "pseudolabel.strategies.committee", "pseudolabel.strategies.diversity",
    "pseudolabel.strategies.typical",
)

#: Names defined next to what they look up or fire, re-exported here: name -> module.
_ELSEWHERE: dict[str, str] = {
    "make_backend": "pseudolabel.backends.lookup",
    "as_backend": "pseudolabel.backends.lookup",
    "load_backend": "pseudolabel.backends.lookup",
    "make_strategy": "pseudolabel.strategies.lookup",
    "emit_round_end": "pseudolabel.events",
    "emit_labels_selected": "pseudolabel.events",
    "list_plugins": "pseudolabel.cli.plugins",
    "register_commands": "pseudolabel.cli.plugins",
}


def __getattr__(name: str) -> Any:
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pseudolabel.plugins' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ELSEWHERE))


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

    def _run_registration(self, hook_name: str, registry: BackendRegistry | StrategyRegistry) -> None:
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
                with registry.registering(plugin_name, self.plugin_version(plugin_name)):
                    try:
                        impl.function(*[kwargs[arg] for arg in impl.argnames])
                    except DuplicateNameError:
                        raise
                    except Exception as exc:
                        if plugin_name in self.builtin_plugins:
                            raise
                        registry.rollback(plugin_name)
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

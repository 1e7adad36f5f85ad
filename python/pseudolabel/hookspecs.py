"""Every pluggy hook specification of pseudolabel (what each hook receives and when it is called).

Plugins implement these hooks with :data:`hookimpl`::

    from pseudolabel.hookspecs import hookimpl

    @hookimpl
    def pseudolabel_add_backends(registry):
        registry.add_backend("mymodel", MyBackend, description="my in-house model")

A plugin is any module or object with ``pseudolabel_*`` functions marked by ``hookimpl``. It is
found through the entry-point group ``pseudolabel`` (see :mod:`pseudolabel.plugins`) or
registered explicitly with ``get_plugin_manager().register(obj, name=...)``.

There are two families of hooks:

* **registration hooks** (``pseudolabel_add_backends``, ``pseudolabel_add_strategies``) receive
  a registry object and call its ``add_*`` method. They are called once per plugin manager, the
  first time a backend or strategy is looked up, and again after a plugin is registered or
  unregistered. The built-in backends and strategies are registered through these very hooks.
* **event hooks** (``pseudolabel_round_end``, ``pseudolabel_labels_selected``) are called by the
  self-training and active-learning loops for observers such as experiment trackers. They
  receive frozen dataclasses whose arrays are read-only copies, so an observer cannot change
  the run it watches. An exception raised by an observer propagates and stops the run: a
  tracker that silently loses rounds is worse than one that fails loudly.

No hook is ``firstresult``: every implementation is called and return values are ignored.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

from pseudolabel.registry import BackendRegistry, StrategyRegistry

if TYPE_CHECKING:  # pragma: no cover - typing only; the payloads sit above the plugin manager
    from pseudolabel.events import LabelsSelected, RoundSummary

__all__ = [
    "PROJECT_NAME",
    "hookspec",
    "hookimpl",
    "RoundSummary",
    "LabelsSelected",
    "pseudolabel_add_backends",
    "pseudolabel_add_strategies",
    "pseudolabel_round_end",
    "pseudolabel_labels_selected",
]

#: One name everywhere: the plugin manager, the entry-point group and the hook prefix.
PROJECT_NAME = "pseudolabel"

#: Marks a function in this module as a hook specification.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin's function as the implementation of a hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The event payloads live in :mod:`pseudolabel.events` (which fires the hooks and so imports the
#: plugin manager, which imports this module); they stay importable from here, resolved on first
#: access.
_PAYLOADS = ("RoundSummary", "LabelsSelected")


def __getattr__(name: str) -> Any:
    if name in _PAYLOADS:
        return getattr(importlib.import_module("pseudolabel.events"), name)
    raise AttributeError(f"module 'pseudolabel.hookspecs' has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# registration hooks


@hookspec
def pseudolabel_add_backends(registry: BackendRegistry) -> None:
    """Register model backends.

    Called once for every registered plugin the first time a backend is looked up (through
    :func:`pseudolabel.plugins.make_backend`, ``as_backend`` or ``pseudolabel plugins``), and
    again after plugins are registered or unregistered. Not ``firstresult``; the return value
    is ignored.

    Parameters
    ----------
    registry : pseudolabel.registry.BackendRegistry
        Call ``registry.add_backend(name, factory, *, description="")``. ``factory`` is a
        :class:`pseudolabel.backends.Backend` subclass or any callable that takes the backend
        parameters as keyword arguments and returns a ``Backend``. Registering a name that
        another plugin already registered raises :class:`~pseudolabel.exceptions.DuplicateNameError`.
    """


@hookspec
def pseudolabel_add_strategies(registry: StrategyRegistry) -> None:
    """Register pseudo-label selection strategies and active-learning query strategies.

    Called like :func:`pseudolabel_add_backends`, the first time a strategy is looked up.
    Not ``firstresult``; the return value is ignored.

    Parameters
    ----------
    registry : pseudolabel.registry.StrategyRegistry
        Call ``registry.add_strategy(name, factory, *, kind="selection", description="")``
        with ``kind="selection"`` for a :class:`~pseudolabel.strategies.base.SelectionStrategy`
        and ``kind="query"`` for a :class:`~pseudolabel.strategies.base.QueryStrategy`. Names are
        unique per kind; a duplicate raises :class:`~pseudolabel.exceptions.DuplicateNameError`.
    """


# --------------------------------------------------------------------------------------------
# event hooks


@hookspec
def pseudolabel_round_end(summary: RoundSummary) -> None:
    """Observe the end of one self-training or active-learning round.

    Called by the loops (``SelfTrainingClassifier``, ``PseudoLabeler``, ``ActiveLearner``...)
    after each round, including round 0 (the fit on labeled data only), through
    :func:`pseudolabel.events.emit_round_end`. Not ``firstresult``; return values are ignored.

    Parameters
    ----------
    summary : RoundSummary
        Frozen, read-only summary of the round.
    """


@hookspec
def pseudolabel_labels_selected(selection: LabelsSelected) -> None:
    """Observe the rows a loop has just labeled.

    Called through :func:`pseudolabel.events.emit_labels_selected` by the self-training loops
    once per round with a non-empty selection (before ``pseudolabel_round_end`` of that round),
    and by active learning for each batch of queried rows and each batch of pseudo-labels.
    Not ``firstresult``; return values are ignored.

    Parameters
    ----------
    selection : LabelsSelected
        Frozen record with read-only copies of the selected row indices, their labels and
        confidences.
    """

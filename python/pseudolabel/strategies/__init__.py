"""Strategies: which rows to pseudo-label (selection) and which rows to ask about (query).

Importing this package is cheap: it imports the base classes only. The built-in selection
strategies live in :mod:`pseudolabel.strategies.selection` (loaded on first access to one of
their names here) and are registered with the plugin manager under their ``name``; look them
up with ``pseudolabel.plugins.make_strategy(name, kind="selection")`` (defined in
:mod:`pseudolabel.strategies.lookup`). Query strategies live in :mod:`pseudolabel.strategies.query`.
"""

from __future__ import annotations

import importlib
from typing import Any

from pseudolabel.strategies.base import Decision, QueryStrategy, SelectionStrategy

# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    name: "pseudolabel.strategies.selection"
    for name in (
        "ThresholdStrategy",
        "KBestStrategy",
        "ClassBalancedStrategy",
        "CurriculumStrategy",
        "FlexMatchStrategy",
        "FreeMatchStrategy",
        "SoftMatchStrategy",
        "CEALStrategy",
        "SELECTION_STRATEGIES",
    )
}
_LAZY.update({
    "Aligned": "pseudolabel.strategies.alignment",
    "make_strategy": "pseudolabel.strategies.lookup",
})

__all__ = ["Decision", "QueryStrategy", "SelectionStrategy", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pseudolabel.strategies' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

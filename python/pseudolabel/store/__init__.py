"""The label store: every human, seed and pseudo label with its provenance.

:class:`LabelStore` (in :mod:`pseudolabel.store.base`) is the interface; :class:`SQLiteStore`
(in :mod:`pseudolabel.store.sqlite`) implements it in one SQLite file laid out as
:mod:`pseudolabel.store.layout` says; :func:`open_store` picks the implementation for a path. Persistence only: the ``query`` / ``teach`` / ``status``
commands that drive a store live in :mod:`pseudolabel.cli.store`.
"""

from pseudolabel.store.base import (
    GOLD_SOURCES,
    SOURCES,
    BatchInfo,
    CancelResult,
    ImportResult,
    LabelStore,
    RetractResult,
    StoreStatus,
)
from pseudolabel.store.layout import APPLICATION_ID, SCHEMA_VERSION
from pseudolabel.store.sqlite import SQLiteStore, open_store

__all__ = [
    "SOURCES",
    "GOLD_SOURCES",
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "LabelStore",
    "SQLiteStore",
    "ImportResult",
    "BatchInfo",
    "CancelResult",
    "RetractResult",
    "StoreStatus",
    "open_store",
]

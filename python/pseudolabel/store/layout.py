"""The on-disk layout of a SQLite label store: its tables and the markers that identify it.

A store is recognised by ``PRAGMA application_id`` (:data:`APPLICATION_ID`), the ``format``
entry of its ``meta`` table and the :data:`TABLES` it holds; :data:`SCHEMA_VERSION` says which
layout wrote it. Every statement of :data:`SCHEMA` is idempotent, so several writers may run
it on the same new file. A store of an older layout is upgraded when it is opened, by the
steps of :data:`MIGRATIONS` (see :mod:`pseudolabel.store.connection`).

Layout 2 added retractions: a label record is never deleted; a retracted one (say, of an
annotation deleted in Label Studio) holds the ``seq`` of its ``retractions`` record in
``labels.retracted`` and stops counting anywhere (current labels, conflicts, pending rows),
and the ``retractions`` table keeps what was retracted, when and why.
"""

from __future__ import annotations

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "FORMAT", "SCHEMA", "TABLES", "TABLES_OF",
           "MIGRATIONS"]

#: ``PRAGMA application_id`` of a pseudolabel store ("PLST").
APPLICATION_ID = 0x504C5354
#: Layout version, kept in the ``meta`` table.
SCHEMA_VERSION = 2
#: Format marker, kept in the ``meta`` table.
FORMAT = "pseudolabel-label-store"


_RETRACTIONS = """
CREATE TABLE IF NOT EXISTS retractions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    label TEXT NOT NULL,
    source TEXT NOT NULL,
    annotator TEXT NOT NULL,
    origin TEXT,
    reason TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS retractions_item ON retractions(item_id);
"""

#: The layout of a new store (the retractions table is added at the end).
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    added_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS classes (
    position INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS labels (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL REFERENCES items(id),
    label TEXT NOT NULL REFERENCES classes(name),
    source TEXT NOT NULL CHECK (source IN ('seed', 'human', 'pseudo')),
    annotator TEXT NOT NULL DEFAULT '',
    round INTEGER NOT NULL,
    confidence REAL,
    model_version TEXT,
    created_at TEXT NOT NULL,
    origin TEXT,
    retracted INTEGER,
    UNIQUE (item_id, label, source, annotator)
);
CREATE INDEX IF NOT EXISTS labels_item ON labels(item_id);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    round INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id TEXT NOT NULL REFERENCES batches(batch_id),
    item_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    score REAL,
    guess TEXT,
    PRIMARY KEY (batch_id, item_id)
);
CREATE INDEX IF NOT EXISTS batch_items_item ON batch_items(item_id);
CREATE TABLE IF NOT EXISTS imports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT,
    source TEXT NOT NULL,
    annotator TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    n_new INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
""" + _RETRACTIONS

#: The tables of a store of each layout version.
TABLES_OF: dict[int, set[str]] = {
    1: {"meta", "items", "classes", "labels", "batches", "batch_items", "imports"},
    2: {"meta", "items", "classes", "labels", "retractions", "batches", "batch_items", "imports"},
}
TABLES = TABLES_OF[SCHEMA_VERSION]

#: version -> the statements that upgrade a store of that version to the next one
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE labels ADD COLUMN retracted INTEGER",
        *(step.strip() for step in _RETRACTIONS.split(";") if step.strip()),
    ),
}

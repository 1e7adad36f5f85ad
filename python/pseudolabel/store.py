"""The label store: every human, seed and pseudo label with its provenance, and the
``pseudolabel query`` / ``teach`` / ``status`` commands that put humans in the loop.

:class:`LabelStore` is the small interface the commands (and any loop) code against;
:class:`SQLiteStore` implements it on Python's standard-library ``sqlite3``, the embedded
default. A server database is another ``LabelStore`` subclass; nothing else changes.

What the store records, per label: the item id, the label, its ``source`` (``seed``, ``human``
or ``pseudo``), the ``annotator``, the ``round``, a ``confidence``, the ``model_version`` that
asked (human) or produced (pseudo) it, and the time. Guarantees:

* importing the same labels twice adds nothing (a label is unique per item, label, source and
  annotator);
* an import is one transaction: an unknown id or class rejects the whole file, and nothing
  is written;
* concurrent writers are safe (WAL journal, ``BEGIN IMMEDIATE``, a busy timeout);
* a file that is not a pseudolabel store (corrupt, or another application's SQLite database)
  raises :class:`~pseudolabel.exceptions.StoreError` and is never modified.

Human labels always win: an item's *current* label is its latest seed or human label, and a
pseudo-label only when no human has labeled it.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError, OutputExistsError, ParameterError, StoreError

__all__ = [
    "SOURCES",
    "LabelStore",
    "SQLiteStore",
    "ImportResult",
    "BatchInfo",
    "open_store",
    "register_commands",
]

#: Where a label came from.
SOURCES: tuple[str, ...] = ("seed", "human", "pseudo")
#: Sources that count as ground truth (they beat pseudo-labels).
GOLD_SOURCES: tuple[str, ...] = ("seed", "human")

#: ``PRAGMA application_id`` of a pseudolabel store ("PLST").
APPLICATION_ID = 0x504C5354
#: Layout version, kept in the ``meta`` table.
SCHEMA_VERSION = 1
_FORMAT = "pseudolabel-label-store"


@dataclass(frozen=True)
class ImportResult:
    """What :meth:`LabelStore.add_labels` did.

    Attributes
    ----------
    n_rows : int
        Labels offered.
    n_new : int
        Labels written.
    n_duplicate : int
        Labels already in the store (skipped: importing twice adds nothing).
    n_new_items, n_new_classes : int
        Ids and classes the import added (only when allowed).
    """

    n_rows: int
    n_new: int
    n_duplicate: int
    n_new_items: int = 0
    n_new_classes: int = 0


@dataclass(frozen=True)
class BatchInfo:
    """A batch of rows sent to annotators (see :meth:`LabelStore.record_batch`)."""

    batch_id: str
    round: int
    model_version: str
    n_rows: int


@dataclass
class StoreStatus:
    """Counts for ``pseudolabel status``."""

    n_items: int
    n_labeled: int
    round: int
    n_batches: int
    n_pending: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> source -> n
    n_records: dict[str, int] = field(default_factory=dict)  # source -> label records
    n_conflicts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.n_items,
            "labeled": self.n_labeled,
            "round": self.round,
            "batches": self.n_batches,
            "pending": self.n_pending,
            "current_labels_by_class_and_source": self.counts,
            "label_records_by_source": self.n_records,
            "items_with_conflicting_human_labels": self.n_conflicts,
        }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _as_text_ids(ids: Any, what: str = "id") -> list[str]:
    """Ids (or class labels) as stripped text; integral floats become integers ("3.0" -> "3")."""
    import pandas as pd

    arr = np.asarray(ids)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    series = pd.Series(arr, dtype=object if arr.dtype.kind in "OUS" else arr.dtype)
    missing = series.isna().to_numpy()
    if missing.any():
        raise InputError(f"missing {what} at row {int(np.flatnonzero(missing)[0])}")
    if arr.dtype.kind == "f":
        frac = arr != np.floor(arr)
        if frac.any():
            row = int(np.flatnonzero(frac)[0])
            raise InputError(f"{what} {arr[row].item()!r} at row {row} is not an integer or a string")
        series = pd.Series(arr.astype(np.int64))
    elif arr.dtype.kind == "O" and pd.api.types.infer_dtype(series) not in ("string", "integer"):
        # only mixed columns need the per-value look (all-text ids, the usual case, skip it)
        is_float = series.map(lambda v: isinstance(v, float)).to_numpy()
        if is_float.any():
            vals = series[is_float].astype(float)
            bad = vals != np.floor(vals)
            if bad.any():
                row = int(np.flatnonzero(is_float)[np.flatnonzero(bad.to_numpy())[0]])
                raise InputError(f"{what} {arr[row]!r} at row {row} is not an integer or a string")
            values = series.to_numpy(dtype=object, copy=True)
            values[is_float] = vals.astype(np.int64).astype(object)  # Python ints: "4", not "4.0"
            series = pd.Series(values, dtype=object)
    text = series.astype(str).str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        raise InputError(f"empty {what} at row {int(np.flatnonzero(empty)[0])}")
    return text.tolist()


def _check_source(source: str) -> str:
    if source not in SOURCES:
        raise ParameterError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    return source


# ---------------------------------------------------------------------------------------------
# the interface
# ---------------------------------------------------------------------------------------------


class LabelStore(abc.ABC):
    """Where labels and their provenance live; what the loop and the commands code against.

    Ids and class labels are stored as text. Implementations must make every method that
    writes a single transaction (all or nothing) and safe under concurrent writers.
    """

    # -- items and classes ----------------------------------------------------------------------

    @abc.abstractmethod
    def add_items(self, ids: Sequence[Any]) -> int:
        """Register item ids (rows that may be labeled); returns how many were new."""

    @abc.abstractmethod
    def n_items(self) -> int:
        """Number of registered items."""

    @abc.abstractmethod
    def classes(self) -> list[str]:
        """The label space, in the order classes were added."""

    @abc.abstractmethod
    def add_classes(self, classes: Sequence[Any]) -> int:
        """Declare classes; returns how many were new."""

    # -- labels ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def add_labels(
        self,
        ids: Sequence[Any],
        labels: Sequence[Any],
        *,
        source: str,
        annotator: str | None = None,
        round: Any = None,
        confidence: Any = None,
        model_version: Any = None,
        allow_new_ids: bool = False,
        allow_new_classes: bool = False,
        origin: str | None = None,
    ) -> ImportResult:
        """Record labels, all or nothing.

        Parameters
        ----------
        ids, labels : sequences of the same length
        source : {"seed", "human", "pseudo"}
        annotator : str, optional
            Who labeled (one for all rows).
        round, confidence, model_version : scalar or sequence, optional
            Per-row or shared provenance. ``round`` defaults to the store's current round.
        allow_new_ids : bool, default=False
            Register unknown ids instead of rejecting the import (seeding).
        allow_new_classes : bool, default=False
            Declare unknown classes instead of rejecting the import (seeding).
        origin : str, optional
            Where the labels came from (a file name), kept in the import log.

        Raises
        ------
        InputError
            Unknown ids or classes (with the first few named), mismatched lengths, or one id
            given two different labels in the same import. Nothing is written.
        """

    @abc.abstractmethod
    def current_labels(self, *, include_pseudo: bool = False) -> Any:
        """One row per labeled item (pandas DataFrame): its winning label and provenance.

        Gold labels (seed, human) beat pseudo-labels; among gold labels the latest wins.
        Columns: ``id, label, source, annotator, round, confidence, model_version, created_at``.
        """

    @abc.abstractmethod
    def history(self, ids: Sequence[Any] | None = None) -> Any:
        """Every label record (of ``ids``), oldest first, as a pandas DataFrame."""

    # -- rounds and batches -----------------------------------------------------------------------

    @abc.abstractmethod
    def current_round(self) -> int:
        """The round of the latest batch (0 before any)."""

    @abc.abstractmethod
    def record_batch(
        self, ids: Sequence[Any], *, scores: Any, guesses: Any, model_version: str
    ) -> BatchInfo:
        """Record rows sent to annotators: starts a new round and registers the ids."""

    @abc.abstractmethod
    def pending_ids(self) -> list[str]:
        """Ids sent to annotators in a batch that have no gold label yet."""

    @abc.abstractmethod
    def status(self) -> StoreStatus:
        """Counts by source and class."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release the connection."""

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# SQLite
# ---------------------------------------------------------------------------------------------

_SCHEMA = """
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
"""

_TABLES = {"meta", "items", "classes", "labels", "batches", "batch_items", "imports"}


class SQLiteStore(LabelStore):
    """:class:`LabelStore` in one SQLite file (standard-library ``sqlite3``).

    Parameters
    ----------
    path : str or Path
        The database file.
    create : bool, default=False
        Create the store when the file does not exist (or is empty). Without it a missing
        file is a :class:`~pseudolabel.exceptions.StoreError`.
    timeout : float, default=60.0
        Seconds a writer waits for another writer's transaction to finish.

    Raises
    ------
    StoreError
        The file is missing (without ``create``), not an SQLite database, another
        application's database, or a store written by a newer pseudolabel.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False, timeout: float = 60.0):
        self.path = Path(path)
        exists = self.path.exists() and self.path.stat().st_size > 0
        if self.path.is_dir():
            raise StoreError(f"label store {str(self.path)!r} is a directory, not a file")
        if not exists and not create:
            raise StoreError(
                f"no label store at {str(self.path)!r}; create one by importing seed labels: "
                f"pseudolabel teach --store {self.path} --source seed seed.csv"
            )
        self._conn: sqlite3.Connection | None = None
        self._timeout = float(timeout)
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=float(timeout), isolation_level=None
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open label store {str(self.path)!r}: {exc}") from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._check_or_init(exists)
        except BaseException:
            self._conn.close()
            raise

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the label store {str(self.path)!r} is closed")
        return self._conn

    # -- opening ----------------------------------------------------------------------------------

    def _check_or_init(self, exists: bool) -> None:
        try:
            app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            tables = {
                r[0]
                for r in self._db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
            }
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{str(self.path)!r} is not a pseudolabel label store: {exc}"
            ) from exc
        tables.discard("sqlite_sequence")
        if app_id == 0 and not tables:
            self._init_schema()
            return
        if app_id != APPLICATION_ID:
            shown = ", ".join(sorted(tables)[:8]) or "none"
            raise StoreError(
                f"{str(self.path)!r} is an SQLite database but not a pseudolabel label store "
                f"(application_id {app_id:#x}, tables: {shown}); refusing to touch it"
            )
        try:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"label store {str(self.path)!r} is corrupt: {exc}") from exc
        if meta.get("format") != _FORMAT:
            raise StoreError(
                f"label store {str(self.path)!r} has no valid format marker; it is corrupt or "
                "not a pseudolabel label store"
            )
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"label store {str(self.path)!r} has schema version {version}, newer than this "
                f"pseudolabel understands ({SCHEMA_VERSION}); upgrade pseudolabel"
            )
        missing = _TABLES - tables
        if missing:
            raise StoreError(
                f"label store {str(self.path)!r} is corrupt: tables {sorted(missing)} are missing"
            )

    def _init_schema(self) -> None:
        # Two processes creating the same store at once: switching the journal to WAL (and the
        # first statements after the other process switched it) can answer "database is
        # locked" at once, without waiting for the busy timeout. Every step is idempotent,
        # so the creation is simply tried again until the timeout.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                self._try_init_schema()
                return
            except StoreError as exc:
                cause = exc.__cause__
                locked = isinstance(cause, sqlite3.OperationalError) and (
                    "locked" in str(cause) or "busy" in str(cause)
                )
                if not locked or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def _try_init_schema(self) -> None:
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
            with self._transaction() as cur:
                app_id = cur.execute("PRAGMA application_id").fetchone()[0]
                if app_id not in (0, APPLICATION_ID):  # someone else got there first
                    raise StoreError(f"{str(self.path)!r} was claimed by another application")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
                cur.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                cur.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("format", _FORMAT),
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("created_at", _now()),
                        ("round", "0"),
                    ],
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot create label store {str(self.path)!r}: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any error rolls everything back."""
        cur = self._db.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"label store {str(self.path)!r} is busy or read-only: {exc}") from exc
        try:
            yield cur
        except BaseException:
            self._db.rollback()
            raise
        else:
            try:
                cur.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._db.rollback()
                raise StoreError(f"could not commit to {str(self.path)!r}: {exc}") from exc

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"label store {str(self.path)!r}: {exc}") from exc

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._errors():
            return self._db.execute(sql, params).fetchall()

    # -- items and classes ------------------------------------------------------------------------

    def add_items(self, ids: Sequence[Any]) -> int:
        text = _as_text_ids(ids)
        with self._errors(), self._transaction() as cur:
            before = self._db.total_changes
            now = _now()
            cur.executemany(
                "INSERT OR IGNORE INTO items (id, added_at) VALUES (?, ?)", ((i, now) for i in text)
            )
            return self._db.total_changes - before

    def n_items(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM items")[0][0])

    def classes(self) -> list[str]:
        return [r[0] for r in self._read("SELECT name FROM classes ORDER BY position")]

    def add_classes(self, classes: Sequence[Any]) -> int:
        names = _as_text_ids(classes, "class")
        with self._errors(), self._transaction() as cur:
            return self._add_classes(cur, names)

    def _add_classes(self, cur: sqlite3.Cursor, names: list[str]) -> int:
        before = self._db.total_changes
        cur.executemany(
            "INSERT OR IGNORE INTO classes (position, name) VALUES "
            "((SELECT COALESCE(MAX(position), -1) + 1 FROM classes), ?)",
            ((n,) for n in dict.fromkeys(names)),
        )
        return self._db.total_changes - before

    # -- labels -----------------------------------------------------------------------------------

    def add_labels(
        self,
        ids: Sequence[Any],
        labels: Sequence[Any],
        *,
        source: str,
        annotator: str | None = None,
        round: Any = None,
        confidence: Any = None,
        model_version: Any = None,
        allow_new_ids: bool = False,
        allow_new_classes: bool = False,
        origin: str | None = None,
    ) -> ImportResult:
        _check_source(source)
        id_text = _as_text_ids(ids)
        label_text = _as_text_ids(labels, "label")
        n = len(id_text)
        if len(label_text) != n:
            raise InputError(f"got {n} ids but {len(label_text)} labels")
        rounds = _per_row(round, n, "round", int)
        confs = _per_row(confidence, n, "confidence", float)
        versions = _per_row(model_version, n, "model_version", str)
        if confs is not None:
            bad = [c for c in confs if c is not None and not (0.0 <= c <= 1.0) and c == c]
            if bad:
                raise InputError(f"confidence must lie in [0, 1], got {bad[0]!r}")
        # one id given two different labels in the same import is ambiguous
        import pandas as pd

        pairs = pd.DataFrame({"id": id_text, "label": label_text})
        distinct = pairs.drop_duplicates()
        clash = distinct["id"].duplicated(keep=False).to_numpy()
        if clash.any():
            bad_id = distinct["id"].to_numpy()[np.flatnonzero(clash)[0]]
            rows = pairs.index[pairs["id"] == bad_id].tolist()
            raise InputError(
                f"id {bad_id!r} is labeled {label_text[rows[0]]!r} at row {rows[0]} and "
                f"{label_text[rows[1]]!r} at row {rows[1]} of the same import; fix the file"
            )
        seen = dict.fromkeys(id_text)
        who = "" if annotator is None else str(annotator)
        with self._errors(), self._transaction() as cur:
            _fill_id_table(cur, seen)
            unknown = [
                r[0]
                for r in cur.execute(
                    "SELECT id FROM _ids WHERE id NOT IN (SELECT id FROM items) ORDER BY id"
                ).fetchall()
            ]
            cur.execute("DELETE FROM _ids")
            n_new_items = 0
            if unknown:
                if not allow_new_ids:
                    shown = ", ".join(repr(u) for u in unknown[:5])
                    raise InputError(
                        f"{len(unknown)} unknown id(s) not in the label store: {shown}"
                        f"{' ...' if len(unknown) > 5 else ''}; nothing was imported (ids come "
                        "from `pseudolabel query` batches or seed imports)"
                    )
                now = _now()
                cur.executemany(
                    "INSERT OR IGNORE INTO items (id, added_at) VALUES (?, ?)",
                    ((u, now) for u in unknown),
                )
                n_new_items = len(unknown)
            known = {r[0] for r in cur.execute("SELECT name FROM classes").fetchall()}
            new_classes = [c for c in dict.fromkeys(label_text) if c not in known]
            n_new_classes = 0
            if new_classes:
                if not allow_new_classes:
                    shown = ", ".join(repr(c) for c in new_classes[:5])
                    raise InputError(
                        f"unknown class(es) {shown}; the store's classes are "
                        f"{sorted(known) if known else '(none yet)'}; nothing was imported "
                        "(declare new classes with --allow-new-classes)"
                    )
                n_new_classes = self._add_classes(cur, new_classes)
            current_round = int(
                cur.execute("SELECT value FROM meta WHERE key = 'round'").fetchone()[0]
            )
            now = _now()
            rows = zip(
                id_text,
                label_text,
                [source] * n,
                [who] * n,
                [current_round] * n
                if rounds is None
                else [current_round if r is None else r for r in rounds],
                [None] * n if confs is None else confs,
                [None] * n if versions is None else versions,
                [now] * n,
                [origin] * n,
            )
            before = self._db.total_changes
            cur.executemany(
                "INSERT OR IGNORE INTO labels (item_id, label, source, annotator, round, "
                "confidence, model_version, created_at, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            n_new = self._db.total_changes - before
            cur.execute(
                "INSERT INTO imports (origin, source, annotator, n_rows, n_new, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (origin, source, who, n, n_new, now),
            )
        return ImportResult(
            n_rows=n,
            n_new=n_new,
            n_duplicate=n - n_new,
            n_new_items=n_new_items,
            n_new_classes=n_new_classes,
        )

    _CURRENT_SQL = """
        SELECT item_id, label, source, annotator, round, confidence, model_version, created_at
        FROM (
            SELECT *, ROW_NUMBER() OVER (
                PARTITION BY item_id
                ORDER BY CASE WHEN source = 'pseudo' THEN 1 ELSE 0 END, seq DESC
            ) AS rk
            FROM labels WHERE source IN ({sources})
        ) WHERE rk = 1
    """

    def _current_sql(self, include_pseudo: bool) -> str:
        sources = SOURCES if include_pseudo else GOLD_SOURCES
        return self._CURRENT_SQL.format(sources=", ".join(f"'{s}'" for s in sources))

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Cursor]:
        """A read transaction: every query inside sees the same state of the store."""
        with self._errors():
            cur = self._db.cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            finally:
                cur.execute("COMMIT")

    def current_labels(self, *, include_pseudo: bool = False) -> Any:
        import pandas as pd

        rows = self._read(self._current_sql(include_pseudo) + " ORDER BY item_id")
        columns = [
            "id", "label", "source", "annotator", "round", "confidence", "model_version",
            "created_at",
        ]
        return pd.DataFrame(rows, columns=columns)

    def history(self, ids: Sequence[Any] | None = None) -> Any:
        import pandas as pd

        sql = (
            "SELECT item_id, label, source, annotator, round, confidence, model_version, "
            "created_at, origin FROM labels"
        )
        if ids is None:
            rows = self._read(sql + " ORDER BY seq")
        else:
            text = _as_text_ids(ids)
            with self._snapshot() as cur:  # the temp table takes no write lock on the store
                try:
                    _fill_id_table(cur, text)
                    rows = cur.execute(
                        sql + " WHERE item_id IN (SELECT id FROM _ids) ORDER BY seq"
                    ).fetchall()
                finally:
                    cur.execute("DELETE FROM _ids")
        columns = [
            "id", "label", "source", "annotator", "round", "confidence", "model_version",
            "created_at", "origin",
        ]
        return pd.DataFrame(rows, columns=columns)

    # -- rounds and batches -------------------------------------------------------------------------

    def current_round(self) -> int:
        return int(self._read("SELECT value FROM meta WHERE key = 'round'")[0][0])

    def record_batch(
        self, ids: Sequence[Any], *, scores: Any, guesses: Any, model_version: str
    ) -> BatchInfo:
        text = _as_text_ids(ids)
        n = len(text)
        sc = _per_row(scores, n, "scores", float)
        gs = _per_row(guesses, n, "guesses", str)
        with self._errors(), self._transaction() as cur:
            round_ = int(cur.execute("SELECT value FROM meta WHERE key = 'round'").fetchone()[0]) + 1
            cur.execute("UPDATE meta SET value = ? WHERE key = 'round'", (str(round_),))
            batch_id = f"r{round_}-{uuid.uuid4().hex[:8]}"
            now = _now()
            cur.execute(
                "INSERT INTO batches (batch_id, round, model_version, n_rows, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (batch_id, round_, str(model_version), n, now),
            )
            cur.executemany(
                "INSERT OR IGNORE INTO items (id, added_at) VALUES (?, ?)", ((i, now) for i in text)
            )
            cur.executemany(
                "INSERT INTO batch_items (batch_id, item_id, rank, score, guess) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    (batch_id, text[k], k + 1, None if sc is None else sc[k],
                     None if gs is None else gs[k])
                    for k in range(n)
                ),
            )
        return BatchInfo(batch_id=batch_id, round=round_, model_version=str(model_version), n_rows=n)

    def batch(self, batch_id: str) -> BatchInfo:
        """The recorded batch ``batch_id``."""
        rows = self._read(
            "SELECT batch_id, round, model_version, n_rows FROM batches WHERE batch_id = ?",
            (str(batch_id),),
        )
        if not rows:
            raise InputError(f"unknown batch {batch_id!r}")
        b = rows[0]
        return BatchInfo(batch_id=b[0], round=int(b[1]), model_version=b[2], n_rows=int(b[3]))

    _PENDING_SQL = (
        "SELECT DISTINCT item_id FROM batch_items WHERE item_id NOT IN "
        "(SELECT item_id FROM labels WHERE source IN ('seed', 'human'))"
    )

    def pending_ids(self) -> list[str]:
        return [r[0] for r in self._read(self._PENDING_SQL + " ORDER BY item_id")]

    def status(self) -> StoreStatus:
        # counted by SQL in one snapshot: no label table is loaded into memory
        with self._snapshot() as cur:

            def one(sql: str) -> int:
                return int(cur.execute(sql).fetchone()[0])

            classes = [r[0] for r in cur.execute("SELECT name FROM classes ORDER BY position")]
            current = cur.execute(
                f"SELECT label, source, COUNT(*) FROM ({self._current_sql(True)}) "
                "GROUP BY label, source ORDER BY label, source"
            ).fetchall()
            records = dict(cur.execute("SELECT source, COUNT(*) FROM labels GROUP BY source"))
            conflicts = one(
                "SELECT COUNT(*) FROM (SELECT item_id FROM labels WHERE source IN "
                "('seed', 'human') GROUP BY item_id HAVING COUNT(DISTINCT label) > 1)"
            )
            n_items = one("SELECT COUNT(*) FROM items")
            round_ = one("SELECT value FROM meta WHERE key = 'round'")
            n_batches = one("SELECT COUNT(*) FROM batches")
            n_pending = one(f"SELECT COUNT(*) FROM ({self._PENDING_SQL})")
        counts: dict[str, dict[str, int]] = {c: {} for c in classes}
        for label, source, k in current:
            counts.setdefault(label, {})[source] = int(k)
        return StoreStatus(
            n_items=n_items,
            n_labeled=sum(int(k) for _, _, k in current),
            round=round_,
            n_batches=n_batches,
            n_pending=n_pending,
            counts=counts,
            n_records={s: int(records.get(s, 0)) for s in SOURCES},
            n_conflicts=conflicts,
        )


def _fill_id_table(cur: sqlite3.Cursor, ids: Any) -> None:
    """Put ``ids`` into the connection's temporary table ``_ids``, so that SQL can join any
    number of them (a list of bound parameters stops at SQLite's variable limit)."""
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS _ids (id TEXT PRIMARY KEY)")
    cur.execute("DELETE FROM _ids")
    cur.executemany("INSERT OR IGNORE INTO _ids (id) VALUES (?)", ((i,) for i in ids))


def _per_row(value: Any, n: int, what: str, cast: Any) -> list[Any] | None:
    """``None``, a scalar for every row, or one value per row (``None``/NaN kept as None)."""
    import pandas as pd

    if value is None:
        return None
    if np.ndim(value) == 0:
        v = value.item() if isinstance(value, np.generic) else value
        try:
            return [None if _missing(v) else cast(v)] * n
        except (TypeError, ValueError) as exc:
            raise InputError(f"invalid {what}: {exc}") from exc
    series = pd.Series(np.asarray(value, dtype=object).reshape(-1))
    if series.shape[0] != n:
        raise InputError(f"{what} has {series.shape[0]} entries for {n} rows")
    missing = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    try:
        if cast is str:
            converted = series.astype(str)
        else:
            numbers = pd.to_numeric(series.where(~missing, None), errors="raise")
            if cast is int:
                vals = numbers.to_numpy(dtype=np.float64)
                frac = ~missing & (vals != np.floor(np.where(missing, 0, vals)))
                if frac.any():
                    raise ValueError(f"{vals[np.flatnonzero(frac)[0]].item()!r} is not an integer")
                converted = pd.Series(np.where(missing, 0, vals).astype(np.int64))
            else:
                converted = numbers.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid {what}: {exc}") from exc
    out = np.array(converted.to_numpy(dtype=object), dtype=object, copy=True)
    out[missing] = None
    return [v.item() if isinstance(v, np.generic) else v for v in out.tolist()]


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN
    except Exception:
        return False


def open_store(path: str | os.PathLike[str], *, create: bool = False) -> LabelStore:
    """Open the label store at ``path`` (SQLite, the embedded default).

    The single place that picks an implementation: a server database would be chosen here
    from a URL scheme, and every caller would work unchanged.
    """
    text = os.fspath(path)
    if "://" in text and not text.startswith("sqlite://"):
        raise ParameterError(
            f"unsupported label store {text!r}: only SQLite files (a path or sqlite:///path) "
            "are supported"
        )
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    return SQLiteStore(text, create=create)


# ---------------------------------------------------------------------------------------------
# command line: query / teach / status
# ---------------------------------------------------------------------------------------------


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pseudolabel query``, ``teach`` and ``status``."""
    q = subparsers.add_parser(
        "query",
        help="write the pool rows a human should label next (with scores and the model's guess)",
        description=(
            "Fit a model on the store's labels (seed + human), score the unlabeled rows of the "
            "pool and write the N most useful ones to label, with their scores and the model's "
            "guess, plus an empty 'label' column for annotators. Rows already labeled, and rows "
            "sent out in earlier batches and not answered yet, are skipped. The batch is "
            "recorded in the store (a new round)."
        ),
    )
    q.add_argument("--store", required=True, help="label store (SQLite file)")
    q.add_argument("--input", required=True, help="the pool: a Parquet or CSV file")
    q.add_argument("--id-column", default="id", help="id column of the pool (default: id)")
    q.add_argument("--n", type=int, required=True, help="rows to write")
    q.add_argument("--output", required=True, help="CSV (or .parquet) file to write")
    q.add_argument("--strategy", default="entropy", help="query strategy (default: entropy)")
    q.add_argument("--backend", default="sklearn", help="model backend (default: sklearn = "
                   "logistic regression)")
    q.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="backend parameter (JSON values; repeatable)")
    q.add_argument("--model", default=None, metavar="BUNDLE",
                   help="score with a model bundle from `pseudolabel train` instead of fitting "
                        "one on the store's labels (--backend/--param are then ignored)")
    q.add_argument("--features", default=None,
                   help="comma-separated feature columns (default: every column but the id "
                        "and label columns)")
    q.add_argument("--use-pseudo", action="store_true",
                   help="also train on the store's pseudo-labels")
    q.add_argument("--requery-pending", action="store_true",
                   help="allow rows of earlier, unanswered batches")
    q.add_argument("--seed", type=int, default=0, help="random seed")
    q.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    q.set_defaults(func=_cmd_query)

    t = subparsers.add_parser(
        "teach",
        help="import labeled rows (annotators' batches, seed labels) into the label store",
        description=(
            "Import labels from CSV/Parquet files with an id column and a label column. Rows "
            "with an empty label are skipped (and counted). Each file is one transaction: an "
            "unknown id or class rejects the whole file. Importing a file twice adds nothing. "
            "--source seed creates the store if needed and registers new ids and classes."
        ),
    )
    t.add_argument("--store", required=True, help="label store (SQLite file)")
    t.add_argument("files", nargs="+", help="CSV or Parquet files")
    t.add_argument("--source", choices=SOURCES, default="human", help="default: human")
    t.add_argument("--annotator", default=None,
                   help="who labeled (default: the file's 'annotator' column, else none)")
    t.add_argument("--id-column", default="id")
    t.add_argument("--label-column", default="label")
    t.add_argument("--allow-new-classes", action="store_true",
                   help="declare unknown classes instead of rejecting the file")
    t.add_argument("--allow-new-ids", action="store_true",
                   help="register unknown ids instead of rejecting the file")
    t.set_defaults(func=_cmd_teach)

    s = subparsers.add_parser("status", help="label counts by source and class")
    s.add_argument("--store", required=True, help="label store (SQLite file)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=_cmd_status)


def _read_table(path: str, *, text_columns: Sequence[str] = ()) -> Any:
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix in (".csv", ".tsv", ".txt"):
            sep = "\t" if suffix == ".tsv" else ","
            return pd.read_csv(
                p, sep=sep, dtype={c: str for c in text_columns}, keep_default_na=False,
                na_values=[""],
            )
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    except Exception as exc:  # pyarrow / parser errors on corrupt files
        raise InputError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    raise InputError(f"{path}: unsupported file type {suffix!r} (use .csv, .tsv or .parquet)")


def _cmd_teach(args: argparse.Namespace) -> int:
    seeding = args.source == "seed"
    store = open_store(args.store, create=seeding)
    try:
        for path in args.files:
            table = _read_table(path, text_columns=(args.id_column, args.label_column))
            for col in (args.id_column, args.label_column):
                if col not in table.columns:
                    raise InputError(
                        f"{path} has no {col!r} column (columns: {list(table.columns)})"
                    )
            has_label = table[args.label_column].notna() & (
                table[args.label_column].astype(str).str.strip() != ""
            )
            rows = table[has_label]
            n_skipped = int((~has_label).sum())
            annotator = args.annotator
            if annotator is None and "annotator" in rows.columns:
                names = rows["annotator"].dropna().astype(str).unique()
                if len(names) > 1:
                    raise InputError(
                        f"{path} has several annotators ({', '.join(names[:5])}); import one "
                        "annotator's rows per file or pass --annotator"
                    )
                annotator = names[0] if len(names) else None
            round_ = rows["round"].to_numpy() if "round" in rows.columns else None
            version = rows["model_version"].to_numpy() if "model_version" in rows.columns else None
            conf = rows["confidence"].to_numpy() if "confidence" in rows.columns else None
            result = store.add_labels(
                rows[args.id_column].to_numpy(),
                rows[args.label_column].to_numpy(),
                source=args.source,
                annotator=annotator,
                round=round_,
                confidence=conf,
                model_version=version,
                allow_new_ids=seeding or args.allow_new_ids,
                allow_new_classes=seeding or args.allow_new_classes,
                origin=os.path.basename(path),
            )
            extra = f", {n_skipped} rows without a label skipped" if n_skipped else ""
            print(
                f"{path}: {result.n_new} new {args.source} labels, {result.n_duplicate} already "
                f"in the store{extra}"
                + (f", {result.n_new_items} new ids" if result.n_new_items else "")
                + (f", {result.n_new_classes} new classes" if result.n_new_classes else "")
            )
    finally:
        store.close()
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with open_store(args.store) as store:
        st = store.status()
    if args.json:
        print(json.dumps(st.as_dict(), indent=2, sort_keys=True))
        return 0
    print(f"label store {args.store}")
    print(f"  items {st.n_items}, labeled {st.n_labeled}, round {st.round}, "
          f"batches {st.n_batches}, sent out and not answered {st.n_pending}")
    width = max([5] + [len(c) for c in st.counts])
    print(f"  {'class':<{width}}  " + "  ".join(f"{s:>7}" for s in (*SOURCES, "total")))
    totals = dict.fromkeys(SOURCES, 0)
    for cls, by_source in st.counts.items():
        vals = [by_source.get(s, 0) for s in SOURCES]
        for s, v in zip(SOURCES, vals):
            totals[s] += v
        print(f"  {cls:<{width}}  " + "  ".join(f"{v:>7}" for v in (*vals, sum(vals))))
    vals = [totals[s] for s in SOURCES]
    print(f"  {'total':<{width}}  " + "  ".join(f"{v:>7}" for v in (*vals, sum(vals))))
    print("  label records by source: "
          + ", ".join(f"{s} {st.n_records.get(s, 0)}" for s in SOURCES))
    if st.n_conflicts:
        print(f"  {st.n_conflicts} items have conflicting human labels (the latest wins)")
    return 0


def _model_version(backend: str, params: dict[str, Any], labels: Any, strategy: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"backend": backend, "params": params, "strategy": strategy},
                        sort_keys=True, default=str).encode())
    if len(labels):  # the same bytes as one "id\x1flabel\x1e" update per row, in one go
        pairs = labels["id"].astype(str) + "\x1f" + labels["label"].astype(str) + "\x1e"
        h.update(pairs.str.cat().encode())
    return f"{backend}-{h.hexdigest()[:12]}"


def _cmd_query(args: argparse.Namespace) -> int:
    import pandas as pd

    from pseudolabel.active import ActiveLearner
    from pseudolabel.strategies.query import take_rows

    if args.n < 1:
        raise ParameterError(f"--n must be a positive integer, got {args.n}")
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    from pseudolabel.batch.bundle import parse_params  # the same --param as `train`

    params = parse_params(args.param)
    store = open_store(args.store)
    try:
        pool = _PoolFile(args.input, args.id_column)
        if args.id_column not in pool.columns:
            raise InputError(
                f"{args.input} has no {args.id_column!r} column (columns: {list(pool.columns)})"
            )
        ids = np.asarray(_as_text_ids(pool.ids()), dtype=object)
        dup = pd.Index(ids).duplicated()
        if dup.any():
            raise InputError(f"{args.input}: id {ids[np.flatnonzero(dup)[0]]!r} appears twice")
        bundle = None
        if args.model:
            from pseudolabel.batch.bundle import load_bundle

            if args.features:
                raise ParameterError("--features cannot be combined with --model (the bundle "
                                     "fixes its feature columns)")
            bundle = load_bundle(args.model)
            features = list(bundle.feature_columns)
        elif args.features:
            features = [c.strip() for c in args.features.split(",") if c.strip()]
        else:
            features = [c for c in pool.columns if c not in (args.id_column, "label")]
        missing = [c for c in features if c not in pool.columns]
        if missing:
            raise InputError(f"{args.input} has no feature column(s) {missing}")
        if not features:
            raise InputError(f"{args.input} has no feature columns besides {args.id_column!r}")
        X = pool.features(features)
        labels = store.current_labels(include_pseudo=args.use_pseudo)
        if labels.empty and bundle is None:
            raise InputError(
                f"the label store {args.store} has no labels yet; seed it first: "
                f"pseudolabel teach --store {args.store} --source seed seed.csv"
            )
        pos = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
        in_pool = labels["id"].isin(pos.index)
        n_outside = int((~in_pool).sum())
        if n_outside and n_outside == len(labels) and bundle is None:
            raise InputError(
                f"none of the store's {len(labels)} labeled ids is in {args.input} (column "
                f"{args.id_column!r}); is it the right pool?"
            )
        if n_outside:
            print(f"note: {n_outside} labeled ids are not in {args.input} and are not used",
                  file=sys.stderr)
        labels = labels[in_pool]
        lab_rows = pos[labels["id"]].to_numpy()
        exclude = np.zeros(len(ids), dtype=bool)
        exclude[lab_rows] = True
        if not args.requery_pending:
            pending = pd.Index(store.pending_ids())
            exclude[pos[pending[pending.isin(pos.index)]].to_numpy()] = True
        import warnings

        learner: Any
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if bundle is None:
                learner = ActiveLearner(
                    _cli_backend(args.backend, params), query_strategy=args.strategy,
                    classes=store.classes(), random_state=args.seed,
                )
                learner.fit(take_rows(X, lab_rows), labels["label"].to_numpy().astype(str))
                idx, scores = learner.query(X, args.n, exclude=exclude, return_scores=True)
                version = _model_version(args.backend, params, labels, args.strategy)
            else:
                learner = _BundleLearner(bundle, X, lab_rows, seed=args.seed)
                idx, scores = learner.query(X, args.n, args.strategy, exclude=exclude)
                version = f"bundle-{bundle.checksum[:12]}"
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        if idx.shape[0] == 0:
            raise InputError("no unlabeled rows left in the pool to query")
        P = np.asarray(learner.predict_proba(take_rows(X, idx)))
        guess = np.asarray(learner.classes_)[np.argmax(P, axis=1)]
        batch = pool.rows(idx)
        front = pd.DataFrame(
            {
                args.id_column: ids[idx],
                "label": "",
                "guess": guess,
                "guess_confidence": P.max(axis=1),
                "score": scores,
                "rank": np.arange(1, idx.shape[0] + 1),
            }
        )
        rest = batch.drop(columns=[args.id_column]).reset_index(drop=True)
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            info = None
            table = pd.concat([front, rest], axis=1)
            table.insert(6, "round", 0)
            table.insert(7, "batch", "")
            table.insert(8, "model_version", version)
            # write first, record the batch, then move into place: no half-written output
            _write_table(table, tmp, out.suffix)
            info = store.record_batch(ids[idx], scores=scores, guesses=guess, model_version=version)
            table["round"] = info.round
            table["batch"] = info.batch_id
            _write_table(table, tmp, out.suffix)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
        print(f"wrote {idx.shape[0]} rows to {out} (batch {info.batch_id}, round {info.round}, "
              f"strategy {args.strategy}, model {version}"
              + (f", trained on {len(labels)} labels)" if bundle is None else ")"))
    finally:
        store.close()
    return 0


class _PoolFile:
    """The pool of ``pseudolabel query``: a CSV read with pandas, or a Parquet file streamed.

    Parquet features are never loaded whole: :class:`_ParquetPool` serves row slices batch by
    batch, so scoring memory stays bounded by the chunk size.
    """

    def __init__(self, path: str, id_column: str) -> None:
        self.path = path
        self._df = None
        self._pf = None
        if Path(path).suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            if not Path(path).is_file():
                raise FileNotFoundError(f"no such file: {path}")
            try:
                self._pf = pq.ParquetFile(path)
            except Exception as exc:  # pyarrow raises several types on corrupt files
                raise InputError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
            self.columns = list(self._pf.schema_arrow.names)
        else:
            self._df = _read_table(path, text_columns=(id_column,))
            self.columns = list(self._df.columns)
        self.id_column = id_column

    def ids(self) -> np.ndarray:
        if self._pf is not None:
            col = self._pf.read(columns=[self.id_column]).column(self.id_column)
            return np.asarray(col.to_numpy(zero_copy_only=False))
        return self._df[self.id_column].to_numpy()

    def features(self, columns: list[str]) -> Any:
        if self._pf is not None:
            return _ParquetPool(self._pf, columns, path=self.path)
        return self._df[columns]

    def rows(self, indices: np.ndarray) -> Any:
        """Every column of rows ``indices``, in that order, as a DataFrame."""
        if self._pf is not None:
            import pyarrow as pa

            parts, order = [], []
            starts = _row_group_starts(self._pf)
            for g, sel in _by_row_group(starts, indices):
                table = self._pf.read_row_group(g)
                parts.append(table.take(pa.array(indices[sel] - starts[g])))
                order.append(sel)
            table = pa.concat_tables(parts)
            frame = table.to_pandas()
            frame.index = np.concatenate(order)
            return frame.sort_index().reset_index(drop=True)
        return self._df.iloc[indices].reset_index(drop=True)


def _row_group_starts(pf: Any) -> np.ndarray:
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _by_row_group(starts: np.ndarray, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(row group, positions in indices)`` for each row group that ``indices`` touch, in
    row-group order; one sort, not one pass over ``indices`` per group."""
    groups = np.searchsorted(starts, indices, side="right") - 1
    order = np.argsort(groups, kind="stable")
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    for sel in np.split(order, cuts):
        if sel.shape[0]:
            yield int(groups[sel[0]]), sel


class _ParquetPool:
    """Feature columns of a Parquet file as a read-only float matrix that is never loaded whole.

    Sequential row slices (``pool[a:b]``, how the query strategies walk a pool) stream record
    batches; fancy indexing (``pool[[i, j]]``) reads the row groups it needs one at a time.
    Memory stays bounded by one slice (or one row group).
    """

    ndim = 2

    def __init__(self, pf: Any, columns: list[str], *, path: str, batch_rows: int = 65_536):
        self._pf = pf
        self.columns = list(columns)
        self.path = path
        self.batch_rows = int(batch_rows)
        self.shape = (int(pf.metadata.num_rows), len(self.columns))
        self.dtype = np.dtype(np.float64)
        self._starts = _row_group_starts(pf)
        self._iter: Any = None
        self._buf = np.empty((0, self.shape[1]))
        self._buf_start = 0

    def __len__(self) -> int:
        return self.shape[0]

    def _convert(self, table: Any) -> np.ndarray:
        out = np.empty((table.num_rows, len(self.columns)), dtype=np.float64)
        for j, name in enumerate(self.columns):
            values = table.column(name).to_numpy(zero_copy_only=False)
            try:
                out[:, j] = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"{self.path}: feature column {name!r} is not numeric ({exc}); choose the "
                    "feature columns with --features"
                ) from exc
        return out

    def _slice(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.shape[0])
        if start >= stop:
            return np.empty((0, self.shape[1]))
        if self._iter is None or start < self._buf_start:  # (re)start from the first row
            self._iter = iter(self._pf.iter_batches(batch_size=self.batch_rows,
                                                    columns=self.columns))
            self._buf = np.empty((0, self.shape[1]))
            self._buf_start = 0
        while self._buf_start + self._buf.shape[0] < stop:
            arr = self._convert(next(self._iter))
            self._buf = np.concatenate([self._buf, arr]) if self._buf.shape[0] else arr
            if self._buf_start < start:  # drop rows before the slice
                drop = min(start - self._buf_start, self._buf.shape[0])
                self._buf = self._buf[drop:]
                self._buf_start += drop
        out = self._buf[start - self._buf_start : stop - self._buf_start].copy()
        self._buf = self._buf[stop - self._buf_start :]
        self._buf_start = stop
        return out

    def _take(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((indices.shape[0], self.shape[1]))
        if indices.shape[0] == 0:
            return out
        if indices.min() < 0 or indices.max() >= self.shape[0]:
            raise InputError(f"row index outside [0, {self.shape[0]})")
        for g, sel in _by_row_group(self._starts, indices):  # one row group at a time
            arr = self._convert(self._pf.read_row_group(g, columns=self.columns))
            out[sel] = arr[indices[sel] - self._starts[g]]
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                return self._take(np.arange(start, stop, step, dtype=np.int64))
            return self._slice(start, stop)
        arr = np.asarray(key)
        if arr.dtype == bool:
            arr = np.flatnonzero(arr)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"rows of a Parquet pool are indexed by slices or integers, got {key!r}")
        return self._take(arr.astype(np.int64).reshape(-1))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "a Parquet pool is never loaded whole; index rows by slices or integer arrays"
        )


class _BundleLearner:
    """A fitted model bundle seen as a learner by the query strategies (never refit).

    Provides ``predict_proba``, ``classes_`` and the labeled rows (for ``ranked_batch``).
    Committee strategies refit models on the labels, which a bundle cannot do.
    """

    def __init__(self, bundle: Any, X: Any, lab_rows: np.ndarray, *, seed: int) -> None:
        self.backend = bundle.backend
        self.classes_ = np.asarray(bundle.classes)
        self.chunk_size = 65_536
        self.rng_ = np.random.default_rng(seed)
        self.model_version_ = 1
        if lab_rows.shape[0]:
            from pseudolabel.strategies.query import take_rows

            self.X_labeled_ = np.asarray(take_rows(X, lab_rows))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.backend.predict_proba(X)

    def query(self, X: Any, n: int, strategy_name: str, *, exclude: np.ndarray) -> Any:
        import warnings

        from pseudolabel.exceptions import PseudolabelWarning
        from pseudolabel.plugins import make_strategy
        from pseudolabel.strategies.query import QueryByCommittee

        strategy = make_strategy(strategy_name, kind="query")
        if isinstance(strategy, QueryByCommittee):
            raise ParameterError(
                f"--strategy {strategy_name} fits a committee on the store's labels; with "
                "--model use an uncertainty, random or ranked_batch strategy, or drop --model"
            )
        available = int((~exclude).sum())
        if n > available:
            warnings.warn(
                f"asked for {n} rows but the pool has only {available} rows left to query; "
                f"returning all {available}",
                PseudolabelWarning,
                stacklevel=2,
            )
        return strategy.query(self, X, min(n, available), exclude=exclude)


def _cli_backend(name: str, params: dict[str, Any]) -> Any:
    """The model of ``pseudolabel query``: ``sklearn`` is a standardized logistic regression
    (``--param`` values go to ``LogisticRegression``); other backends get the params as is."""
    from pseudolabel.plugins import as_backend

    if name == "sklearn" and "estimator" not in params:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        params = {"max_iter": 1000, **params}
        try:
            model = LogisticRegression(**params)
        except TypeError as exc:
            raise ParameterError(f"invalid --param for LogisticRegression: {exc}") from exc
        return as_backend(make_pipeline(StandardScaler(), model))
    return as_backend(name, **params)


def _write_table(table: Any, path: Path, suffix: str) -> None:
    if suffix.lower() in (".parquet", ".pq"):
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False, sep="\t" if suffix.lower() == ".tsv" else ",")

"""The SQLite file under a label store: open it, check or create its layout, run transactions.

:class:`SQLiteFile` owns the connection of :class:`~pseudolabel.store.sqlite.SQLiteStore`:
it refuses a missing file (unless creating), a directory, a file that is not SQLite or is
another application's database, and a store written by a newer layout; it creates the
layout of :mod:`pseudolabel.store.layout` safely while other writers create the same file,
upgrades a store of an older layout in one transaction (its ``MIGRATIONS``);
and it gives the store its transactions (``BEGIN IMMEDIATE``) and read helpers, with every
SQLite error turned into :class:`~pseudolabel.exceptions.StoreError` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pseudolabel.exceptions import StoreError, StoreNotFoundError
from pseudolabel.store.base import _now
from pseudolabel.store.layout import (
    APPLICATION_ID,
    FORMAT,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
    TABLES_OF,
)

__all__ = ["SQLiteFile"]


class SQLiteFile:
    """The checked connection to one label store file (see :class:`SQLiteStore` for the
    parameters)."""


    def __init__(self, path: str | os.PathLike[str], *, create: bool = False, timeout: float = 60.0):
        self.path = Path(path)
        exists = self.path.exists() and self.path.stat().st_size > 0
        if self.path.is_dir():
            raise StoreError(f"label store {str(self.path)!r} is a directory, not a file")
        if not exists and not create:
            raise StoreNotFoundError(
                f"no label store at {str(self.path)!r}; create one by importing seed labels: "
                f"pseudolabel teach --store {self.path} --source seed seed.csv"
            )
        if not exists and not self.path.parent.is_dir():
            raise StoreNotFoundError(
                f"cannot create label store {str(self.path)!r}: the directory "
                f"{str(self.path.parent)!r} does not exist or is not a directory"
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
        app_id, tables, meta_read = self._read_header()
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
        if isinstance(meta_read, sqlite3.DatabaseError):
            raise StoreError(f"label store {str(self.path)!r} is corrupt: {meta_read}") from (
                meta_read)
        meta = meta_read
        if meta.get("format") != FORMAT:
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
        missing = TABLES_OF.get(version, TABLES_OF[SCHEMA_VERSION]) - tables
        if missing:
            raise StoreError(
                f"label store {str(self.path)!r} is corrupt: tables {sorted(missing)} are missing"
            )
        if version < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        """Upgrade the store to :data:`SCHEMA_VERSION`, one transaction for all the steps.

        The version is read again inside the transaction: another process that opened the
        same old store at the same time may have upgraded it first (then nothing is done).
        """
        try:
            with self._transaction() as cur:
                row = cur.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
                if version not in MIGRATIONS and version < SCHEMA_VERSION:
                    raise StoreError(f"label store {str(self.path)!r} has schema version "
                                     f"{version}, which this pseudolabel cannot upgrade")
                while version < SCHEMA_VERSION:
                    for statement in MIGRATIONS[version]:
                        cur.execute(statement)
                    version += 1
                cur.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                            (str(version),))
        except StoreError as exc:
            raise StoreError(f"label store {str(self.path)!r} has an older layout and could "
                             f"not be upgraded to version {SCHEMA_VERSION}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"label store {str(self.path)!r} has an older layout and could "
                             f"not be upgraded to version {SCHEMA_VERSION}: {exc}") from exc

    def _read_header(self) -> tuple[int, set[str], dict[str, str] | sqlite3.DatabaseError]:
        """``PRAGMA application_id``, the table names and the ``meta`` table (or the error
        reading it), read in ONE read transaction.

        Read apart, another writer's creation could commit between the reads, and the tables
        would be seen with application_id 0 (a foreign database), or another writer's upgrade
        could commit between them, and the new version be seen with the old tables. A store
        that another writer is switching to WAL can answer "locked" at once; that is retried
        until the busy timeout.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN")
                try:
                    app_id = int(cur.execute("PRAGMA application_id").fetchone()[0])
                    tables = {
                        r[0]
                        for r in cur.execute(
                            "SELECT name FROM sqlite_master WHERE type = 'table'"
                        ).fetchall()
                    }
                    meta: dict[str, str] | sqlite3.DatabaseError = {}
                    if app_id == APPLICATION_ID:
                        try:
                            meta = dict(cur.execute("SELECT key, value FROM meta").fetchall())
                        except sqlite3.DatabaseError as exc:
                            if "locked" in str(exc) or "busy" in str(exc):
                                raise
                            meta = exc
                finally:
                    if self._db.in_transaction:
                        cur.execute("COMMIT")
                return app_id, tables, meta
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" in text or "busy" in text) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                raise StoreError(
                    f"{str(self.path)!r} is not a pseudolabel label store: {exc}"
                ) from exc
            except sqlite3.DatabaseError as exc:
                raise StoreError(
                    f"{str(self.path)!r} is not a pseudolabel label store: {exc}"
                ) from exc

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
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
                cur.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                cur.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("format", FORMAT),
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

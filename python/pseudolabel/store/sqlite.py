"""The SQLite label store: :class:`SQLiteStore` (labels, batches, status) and :func:`open_store`.

Built on Python's standard-library ``sqlite3``, the embedded default. Guarantees:

* importing the same labels twice adds nothing (a label is unique per item, label, source and
  annotator);
* an import is one transaction: an unknown id or class rejects the whole file, and nothing
  is written;
* concurrent writers are safe (WAL journal, ``BEGIN IMMEDIATE``, a busy timeout), also while
  several of them create the same new store;
* a file that is not a pseudolabel store (corrupt, or another application's SQLite database)
  raises :class:`~pseudolabel.exceptions.StoreError` and is never modified.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.store.base import (
    GOLD_SOURCES,
    SOURCES,
    BatchInfo,
    CancelResult,
    ImportResult,
    LabelStore,
    RetractResult,
    StoreStatus,
    _check_source,
    _now,
    _per_row,
    as_text_ids,
)
from pseudolabel.store.connection import SQLiteFile

__all__ = ["SQLiteStore", "open_store"]


class SQLiteStore(SQLiteFile, LabelStore):
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

    # -- items and classes ------------------------------------------------------------------------

    def add_items(self, ids: Sequence[Any]) -> int:
        text = as_text_ids(ids)
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
        names = as_text_ids(classes, "class")
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
        annotator: str | Sequence[str | None] | None = None,
        round: Any = None,
        confidence: Any = None,
        model_version: Any = None,
        allow_new_ids: bool = False,
        allow_new_classes: bool = False,
        origin: str | None = None,
        reassert: bool = False,
        row_origins: Sequence[str] | None = None,
    ) -> ImportResult:
        _check_source(source)
        id_text = as_text_ids(ids)
        label_text = as_text_ids(labels, "label")
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
        if annotator is None or isinstance(annotator, str):
            whos = ["" if annotator is None else annotator] * n
        else:
            whos = ["" if a is None else a for a in (_per_row(annotator, n, "annotator", str)
                                                     or [None] * n)]
        who = whos[0] if len(set(whos)) == 1 else ""  # the import log's annotator
        if row_origins is not None and len(row_origins) != n:
            raise InputError(f"got {n} ids but {len(row_origins)} row origins")
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
            rows = list(zip(
                id_text,
                label_text,
                [source] * n,
                whos,
                [current_round] * n
                if rounds is None
                else [current_round if r is None else r for r in rounds],
                [None] * n if confs is None else confs,
                [None] * n if versions is None else versions,
                [now] * n,
                [origin] * n if row_origins is None else list(row_origins),
            ))
            before = self._db.total_changes
            cur.executemany(
                "INSERT OR IGNORE INTO labels (item_id, label, source, annotator, round, "
                "confidence, model_version, created_at, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            n_new = self._db.total_changes - before
            if n_new < n:  # a retracted label given again stands again, as the latest
                cur.executemany(
                    "UPDATE labels SET seq = (SELECT MAX(seq) FROM labels) + 1, retracted = NULL, "
                    "round = ?, confidence = ?, model_version = ?, created_at = ?, origin = ? "
                    "WHERE item_id = ? AND label = ? AND source = ? AND annotator = ? "
                    "AND retracted IS NOT NULL",
                    ((*row[4:], *row[:4]) for row in rows),
                )
                n_new += cur.rowcount
            if reassert and n_new < n:
                n_new += _reassert(cur, id_text, label_text, source, whos, now)
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

    def retract_labels(self, origins: Sequence[str], *, reason: str) -> RetractResult:
        wanted = [str(o) for o in origins]
        with self._errors(), self._transaction() as cur:
            _fill_id_table(cur, wanted)
            found = cur.execute(
                "SELECT seq, item_id, label, source, annotator, origin FROM labels "
                "WHERE retracted IS NULL AND origin IN (SELECT id FROM _ids) ORDER BY seq"
            ).fetchall()
            cur.execute("DELETE FROM _ids")
            now = _now()
            for seq, *record in found:
                cur.execute(
                    "INSERT INTO retractions (item_id, label, source, annotator, origin, reason, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", (*record, str(reason), now))
                cur.execute("UPDATE labels SET retracted = ? WHERE seq = ?",
                            (cur.lastrowid, seq))
        return RetractResult(len(found), list(dict.fromkeys(r[1] for r in found)))

    _CURRENT_SQL = """
        SELECT item_id, label, source, annotator, round, confidence, model_version, created_at
        FROM (
            SELECT *, ROW_NUMBER() OVER (
                PARTITION BY item_id
                ORDER BY CASE WHEN source = 'pseudo' THEN 1 ELSE 0 END, seq DESC
            ) AS rk
            FROM labels WHERE source IN ({sources}) AND retracted IS NULL
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

    def history(self, ids: Sequence[Any] | None = None, *,
                include_retracted: bool = False) -> Any:
        import pandas as pd

        columns = [
            "id", "label", "source", "annotator", "round", "confidence", "model_version",
            "created_at", "origin",
        ]
        sql = (
            "SELECT item_id, label, source, annotator, round, confidence, model_version, "
            "created_at, origin"
        )
        if include_retracted:
            sql += (", (SELECT r.created_at FROM retractions r WHERE r.seq = labels.retracted), "
                    "(SELECT r.reason FROM retractions r WHERE r.seq = labels.retracted)")
            columns += ["retracted_at", "retracted_by"]
        sql += " FROM labels WHERE " + ("1" if include_retracted else "retracted IS NULL")
        if ids is None:
            rows = self._read(sql + " ORDER BY seq")
        else:
            text = as_text_ids(ids)
            with self._snapshot() as cur:  # the temp table takes no write lock on the store
                try:
                    _fill_id_table(cur, text)
                    rows = cur.execute(
                        sql + " AND item_id IN (SELECT id FROM _ids) ORDER BY seq"
                    ).fetchall()
                finally:
                    cur.execute("DELETE FROM _ids")
        return pd.DataFrame(rows, columns=columns)

    # -- rounds and batches -------------------------------------------------------------------------

    def current_round(self) -> int:
        return int(self._read("SELECT value FROM meta WHERE key = 'round'")[0][0])

    def record_batch(
        self,
        ids: Sequence[Any],
        *,
        scores: Any,
        guesses: Any,
        model_version: str,
        before_commit: Callable[[BatchInfo], None] | None = None,
    ) -> BatchInfo:
        text = as_text_ids(ids)
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
            info = BatchInfo(batch_id=batch_id, round=round_, model_version=str(model_version),
                             n_rows=n)
            if before_commit is not None:
                before_commit(info)
        return info

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

    def cancel_batch(self, batch_id: str) -> CancelResult:
        with self._errors(), self._transaction() as cur:
            if cur.execute("SELECT 1 FROM batches WHERE batch_id = ?",
                           (str(batch_id),)).fetchone() is None:
                known = [r[0] for r in cur.execute(
                    "SELECT batch_id FROM batches ORDER BY round DESC LIMIT 5")]
                raise InputError(f"unknown batch {batch_id!r} (latest batches: "
                                 f"{', '.join(known) or 'none'})")
            answered = ("(SELECT item_id FROM labels WHERE source IN ('seed', 'human') "
                        "AND retracted IS NULL)")
            n_answered = int(cur.execute(
                f"SELECT COUNT(*) FROM batch_items WHERE batch_id = ? AND item_id IN {answered}",
                (str(batch_id),)).fetchone()[0])
            n_returned = cur.execute(
                f"DELETE FROM batch_items WHERE batch_id = ? AND item_id NOT IN {answered}",
                (str(batch_id),)).rowcount
        return CancelResult(str(batch_id), int(n_returned), n_answered)

    _PENDING_SQL = (
        "SELECT DISTINCT item_id FROM batch_items WHERE item_id NOT IN "
        "(SELECT item_id FROM labels WHERE source IN ('seed', 'human') AND retracted IS NULL)"
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
            records = dict(cur.execute("SELECT source, COUNT(*) FROM labels "
                                       "WHERE retracted IS NULL GROUP BY source"))
            n_retracted = one("SELECT COUNT(*) FROM labels WHERE retracted IS NOT NULL")
            conflicts = one(
                "SELECT COUNT(*) FROM (SELECT item_id FROM labels WHERE source IN "
                "('seed', 'human') AND retracted IS NULL GROUP BY item_id "
                "HAVING COUNT(DISTINCT label) > 1)"
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
            n_retracted=n_retracted,
        )


def _reassert(cur: sqlite3.Cursor, ids: list[str], labels: list[str], source: str,
              annotators: list[str], now: str) -> int:
    """Move each (id, label) record of ``source``/``annotator`` that is not its item's latest
    gold record to the end of the history; the number moved."""
    moved = 0
    gold = ", ".join(f"'{s}'" for s in GOLD_SOURCES)
    for item, label, annotator in dict.fromkeys(zip(ids, labels, annotators)):
        latest = cur.execute(
            f"SELECT label, source, annotator FROM labels WHERE item_id = ? AND source IN ({gold}) "
            "AND retracted IS NULL ORDER BY seq DESC LIMIT 1", (item,)).fetchone()
        if latest == (label, source, annotator) or (source not in GOLD_SOURCES):
            continue
        top = cur.execute("SELECT MAX(seq) FROM labels").fetchone()[0]
        cur.execute(
            "UPDATE labels SET seq = ?, created_at = ? WHERE item_id = ? AND label = ? "
            "AND source = ? AND annotator = ?", (top + 1, now, item, label, source, annotator))
        moved += cur.rowcount
    return moved


def _fill_id_table(cur: sqlite3.Cursor, ids: Any) -> None:
    """Put ``ids`` into the connection's temporary table ``_ids``, so that SQL can join any
    number of them (a list of bound parameters stops at SQLite's variable limit)."""
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS _ids (id TEXT PRIMARY KEY)")
    cur.execute("DELETE FROM _ids")
    cur.executemany("INSERT OR IGNORE INTO _ids (id) VALUES (?)", ((i,) for i in ids))


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

"""Retracted labels (an annotation deleted in Label Studio) in a real SQLite label store.

A retraction never deletes a record: the item's current label falls back to its latest
remaining label, or the item goes back to the pool, and every reader (current labels,
status, export, conflicts, pending rows, cancel, the commands) sees the same state. A store
written by the layout-1 code (its SQL is copied below) opens and is upgraded.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest

from pseudolabel.cli import main
from pseudolabel.store import SQLiteStore, open_store
from pseudolabel.store.layout import SCHEMA_VERSION


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    from pseudolabel.plugins import isolated_plugin_manager

    with isolated_plugin_manager():
        yield


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "labels.db", create=True)
    s.add_labels(["a", "b"], ["x", "y"], source="seed", allow_new_ids=True,
                 allow_new_classes=True, origin="seed.csv")
    s.add_classes(["z"])
    s.add_items(["c", "d"])
    yield s
    s.close()


def _human(store, item, label, annotation, annotator="7"):
    return store.add_labels([item], [label], source="human", annotator=annotator,
                            origin=f"label-studio annotation {annotation}", reassert=True)


def _current(store) -> dict:
    return dict(store.current_labels()[["id", "label"]].itertuples(index=False))


def test_a_retracted_label_falls_back_to_the_previous_one_or_the_pool(store):
    _human(store, "a", "y", 1)
    _human(store, "a", "z", 2, annotator="8")
    _human(store, "c", "z", 3)
    assert _current(store) == {"a": "z", "b": "y", "c": "z"}
    assert store.status().n_conflicts == 1

    result = store.retract_labels(["label-studio annotation 2"], reason="deleted")
    assert (result.n_retracted, result.ids) == (1, ["a"])
    assert _current(store) == {"a": "y", "b": "y", "c": "z"}
    store.retract_labels(["label-studio annotation 1", "label-studio annotation 3"],
                         reason="deleted")
    assert _current(store) == {"a": "x", "b": "y"}  # a: back to its seed label; c: the pool

    status = store.status()
    assert (status.n_labeled, status.n_conflicts, status.n_retracted) == (2, 0, 3)
    assert status.n_records == {"seed": 2, "human": 0, "pseudo": 0}
    assert status.counts["z"] == {}
    exported = store.export_labels().set_index("id")
    assert list(exported.index) == ["a", "b"]
    assert exported.loc["a", "origin"] == "seed.csv" and exported.loc["a", "n_gold"] == 1
    assert not exported["conflict"].any()
    assert store.conflicts().empty
    assert set(store.annotator_counts()["annotator"]) == {""}
    # the records stay, with their retraction
    assert len(store.history()) == 2
    full = store.history(include_retracted=True)
    retracted = full[full["retracted_at"].notna()]
    assert list(retracted["origin"]) == [f"label-studio annotation {k}" for k in (1, 2, 3)]
    assert set(retracted["retracted_by"]) == {"deleted"}
    # an origin that matches nothing, or an already retracted one, retracts nothing
    assert store.retract_labels(["label-studio annotation 2", "nope"],
                                reason="again").n_retracted == 0


def test_a_retracted_label_given_again_stands_again(store):
    _human(store, "a", "y", 1)
    store.retract_labels(["label-studio annotation 1"], reason="deleted")
    assert _current(store)["a"] == "x"
    result = _human(store, "a", "y", 4)  # a new annotation with the same choice
    assert (result.n_new, result.n_duplicate) == (1, 0)
    assert _current(store)["a"] == "y"
    history = store.history(["a"])
    assert list(history["origin"]) == ["seed.csv", "label-studio annotation 4"]
    # deleting the new annotation retracts the label again; the old origin is gone
    assert store.retract_labels(["label-studio annotation 1"], reason="x").n_retracted == 0
    assert store.retract_labels(["label-studio annotation 4"], reason="x").n_retracted == 1
    assert _current(store)["a"] == "x"
    # a plain import (teach) of the same label restores it too, and a second one adds nothing
    assert store.add_labels(["a"], ["y"], source="human", annotator="7",
                            origin="batch.csv").n_new == 1
    assert store.add_labels(["a"], ["y"], source="human", annotator="7",
                            origin="batch.csv").n_new == 0
    assert _current(store)["a"] == "y"


def test_pending_rows_and_cancel_see_retractions(store):
    batch = store.record_batch(["c", "d"], scores=[0.1, 0.2], guesses=["x", "y"],
                               model_version="m")
    _human(store, "c", "z", 3)
    assert store.pending_ids() == ["d"] and store.status().n_pending == 1
    store.retract_labels(["label-studio annotation 3"], reason="deleted")
    assert store.pending_ids() == ["c", "d"] and store.status().n_pending == 2
    result = store.cancel_batch(batch.batch_id)
    assert (result.n_returned, result.n_answered) == (2, 0)
    assert store.pending_ids() == []


def test_the_commands_see_retractions(store, tmp_path, capsys):
    _human(store, "a", "y", 1)
    _human(store, "c", "z", 3)
    store.retract_labels(["label-studio annotation 1", "label-studio annotation 3"],
                         reason="deleted")
    db = str(tmp_path / "labels.db")
    capsys.readouterr()
    assert main(["status", "--store", db, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["labeled"] == 2 and status["retracted_label_records"] == 2
    assert status["label_records_by_source"]["human"] == 0
    assert main(["status", "--store", db]) == 0
    assert "2 retracted label records" in capsys.readouterr().out
    assert main(["export", "--store", db, "--output", str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert dict(zip(out["id"], out["label"])) == {"a": "x", "b": "y"}
    assert set(out["source"]) == {"seed"}


V1_SCHEMA = """
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


def _old_store(path: Path) -> None:
    """A store exactly as the layout-1 code created and wrote it (no retractions)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("BEGIN IMMEDIATE")
        for statement in V1_SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
        con.execute(f"PRAGMA application_id = {0x504C5354}")
        con.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
            ("format", "pseudolabel-label-store"), ("schema_version", "1"),
            ("created_at", "2024-01-01T00:00:00.000+00:00"), ("round", "0")])
        con.executemany("INSERT INTO items (id, added_at) VALUES (?, ?)",
                        [("a", "t"), ("b", "t")])
        con.executemany("INSERT INTO classes (position, name) VALUES (?, ?)",
                        [(0, "x"), (1, "y")])
        con.executemany(
            "INSERT INTO labels (item_id, label, source, annotator, round, created_at, origin) "
            "VALUES (?, ?, ?, ?, 0, ?, ?)",
            [("a", "x", "seed", "", "2024-01-01", "seed.csv"),
             ("a", "y", "human", "7", "2024-01-02", "label-studio annotation 9")])
        con.execute("COMMIT")
    finally:
        con.close()


def test_an_old_layout_store_opens_and_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    _old_store(path)
    with open_store(path) as store:
        assert _current(store) == {"a": "y"}
        assert store.retract_labels(["label-studio annotation 9"], reason="d").n_retracted == 1
        assert _current(store) == {"a": "x"}
    con = sqlite3.connect(path)
    try:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        columns = [r[1] for r in con.execute("PRAGMA table_info(labels)")]
    finally:
        con.close()
    assert version == (str(SCHEMA_VERSION),) and "retracted" in columns
    with open_store(path) as store:  # opened again: nothing more to do
        assert _current(store) == {"a": "x"} and store.status().n_retracted == 1


def test_an_old_store_opened_by_several_writers_at_once_is_upgraded_once(tmp_path):
    path = tmp_path / "old.db"
    _old_store(path)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_and_label(k: int) -> None:
        try:
            start.wait()
            with open_store(path) as store:
                store.add_labels(["b"], ["x" if k % 2 else "y"], source="human",
                                 annotator=f"w{k}", origin=f"w{k}.csv")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_label, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(path) as store:
        assert len(store.history(["b"])) == 4
        assert store.status().n_retracted == 0

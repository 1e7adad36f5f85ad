"""Where a task's feature row comes from: the pool file by id, or the task's own data.

Label Studio sends each task's ``data`` object. Two ways to turn it into model input:

* :class:`PoolRows` (``serve --pool FILE``): ``data[id_column]`` is an id of the pool file,
  whose feature columns are the model's input (the file is the single source of features);
* :class:`TaskDataRows` (no pool): ``data`` holds the feature columns by name. Labeled tasks'
  rows are kept in a small SQLite file next to the label store
  (``labels.db.serve-rows.sqlite``), so a restarted server refits on the same rows.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError

__all__ = ["PoolRows", "TaskDataRows", "item_id_of"]


def item_id_of(task: dict[str, Any], id_column: str) -> str:
    """The store's item id of a task: ``data[id_column]`` when present, else ``ls-<task id>``."""
    data = task.get("data") or {}
    value = data.get(id_column)
    if value is not None and value != "":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)
    if task.get("id") is None:
        raise InputError(f"a task has neither an 'id' nor a {id_column!r} data field")
    return f"ls-{task['id']}"


def _number(value: Any, column: str, where: str) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool):
        raise InputError(f"{where}: feature {column!r} holds {value!r}, not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: feature {column!r} holds {value!r}, not a number") from None


def rows_from_data(datas: Sequence[dict[str, Any]], columns: Sequence[str],
                   names: Sequence[str]) -> np.ndarray:
    """The feature matrix (float64, NaN for empty cells) of task ``data`` objects."""
    X = np.empty((len(datas), len(columns)), dtype=np.float64)
    for i, (data, name) in enumerate(zip(datas, names)):
        missing = [c for c in columns if c not in data]
        if missing:
            raise InputError(f"task {name}: data has no feature column(s) {missing} "
                             f"(it has {sorted(data)})")
        X[i] = [_number(data[c], c, f"task {name}") for c in columns]
    return X


class PoolRows:
    """Feature rows of a pool file, looked up by id."""

    def __init__(self, path: str, id_column: str, features: Sequence[str] | None) -> None:
        import pandas as pd

        from pseudolabel.io_pool import PoolFile
        from pseudolabel.store.base import as_text_ids

        self.pool = PoolFile(path, id_column)
        if id_column not in self.pool.columns:
            raise InputError(f"{path} has no {id_column!r} column (columns: {self.pool.columns})")
        self.columns = list(features) if features else [
            c for c in self.pool.columns if c not in (id_column, "label")]
        absent = [c for c in self.columns if c not in self.pool.columns]
        if absent:
            raise InputError(f"{path} has no feature column(s) {absent}")
        ids = pd.Index(as_text_ids(self.pool.ids()))
        if ids.has_duplicates:
            raise InputError(f"{path}: id {ids[ids.duplicated()][0]!r} appears twice")
        self._position = pd.Series(np.arange(len(ids)), index=ids)
        self._X = self.pool.features(self.columns)
        self.path = path

    def known(self, item_ids: Sequence[str]) -> np.ndarray:
        """Which of ``item_ids`` are in the pool."""
        import pandas as pd

        return np.asarray(pd.Index(list(item_ids)).isin(self._position.index), dtype=bool)

    def rows(self, item_ids: Sequence[str]) -> np.ndarray:
        """The feature rows of ``item_ids`` (every id must be in the pool)."""
        from pseudolabel.strategies.query import take_rows

        absent = np.flatnonzero(~self.known(item_ids))
        if absent.size:
            raise InputError(f"id {item_ids[absent[0]]!r} is not in the pool {self.path}")
        positions = self._position[list(item_ids)].to_numpy()
        return np.asarray(take_rows(self._X, positions), dtype=np.float64)

    def task_rows(self, tasks: Sequence[dict[str, Any]], id_column: str) -> np.ndarray:
        return self.rows([item_id_of(t, id_column) for t in tasks])

    def remember(self, item_id: str, data: dict[str, Any]) -> None:
        """Nothing to keep: the pool has every row."""


class TaskDataRows:
    """Feature rows from tasks' data, with labeled tasks' rows kept next to the store."""

    def __init__(self, store_path: str, columns: Sequence[str]) -> None:
        if not columns:
            raise InputError("without --pool, pass --features (the task data fields the model "
                             "reads) or --model (a bundle knows its feature columns)")
        self.columns = list(columns)
        self.path = Path(f"{store_path}.serve-rows.sqlite")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS task_rows ("
                     "item_id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID")
        return conn

    def task_rows(self, tasks: Sequence[dict[str, Any]], id_column: str) -> np.ndarray:
        names = [str(t.get("id")) for t in tasks]
        return rows_from_data([t.get("data") or {} for t in tasks], self.columns, names)

    def remember(self, item_id: str, data: dict[str, Any]) -> None:
        """Keep a labeled task's feature values for later refits."""
        rows_from_data([data], self.columns, [item_id])  # refuse bad rows now, not at refit
        values = {c: data[c] for c in self.columns}
        conn = self._connect()
        try:
            conn.execute("INSERT OR REPLACE INTO task_rows VALUES (?, ?)",
                         (item_id, json.dumps(values)))
        finally:
            conn.close()

    def known(self, item_ids: Sequence[str]) -> np.ndarray:
        if not self.path.exists():
            return np.zeros(len(item_ids), dtype=bool)
        conn = self._connect()
        try:
            have = {r[0] for r in conn.execute("SELECT item_id FROM task_rows")}
        finally:
            conn.close()
        return np.asarray([i in have for i in item_ids], dtype=bool)

    def rows(self, item_ids: Sequence[str]) -> np.ndarray:
        conn = self._connect()
        try:
            found = dict(conn.execute("SELECT item_id, data FROM task_rows"))
        finally:
            conn.close()
        absent = [i for i in item_ids if i not in found]
        if absent:
            raise InputError(f"no feature row kept for item {absent[0]!r}")
        return rows_from_data([json.loads(found[i]) for i in item_ids], self.columns,
                              list(item_ids))

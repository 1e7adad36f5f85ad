"""Encoding a table chunk exactly as training did: numbers as float64, categories as recorded.

:func:`encode_table` turns the feature columns of a pyarrow Table (or a pandas DataFrame)
into the model's input for a :class:`~pseudolabel.features.schema.FeatureSchema`:

* a schema of numeric columns only gives a C-contiguous float64 matrix (nulls are NaN), the
  input every backend takes;
* otherwise a pandas DataFrame in the schema's column order: numeric columns as float64 with
  NaN, categorical columns as a pandas ``category`` dtype whose categories are the ones
  recorded at training time, in their recorded order (an empty or blank string is missing,
  as in training). A value never seen in training becomes
  missing (NaN), and :attr:`EncodedChunk.unseen` counts such cells per column, so that
  LightGBM, XGBoost and the default scikit-learn preprocessing see the same codes at
  training, labeling and query time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pseudolabel.exceptions import InputError
from pseudolabel.features.schema import CATEGORICAL, FeatureSchema, column_kind

__all__ = ["EncodedChunk", "UnseenCounts", "encode_table", "as_arrow"]


@dataclass
class UnseenCounts:
    """Cells per categorical column whose value was not among the training categories."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, other: Mapping[str, int] | UnseenCounts) -> UnseenCounts:
        items = other.counts if isinstance(other, UnseenCounts) else other
        for name, n in items.items():
            if n:
                self.counts[name] = self.counts.get(name, 0) + int(n)
        return self

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary_lines(self) -> list[str]:
        """One line per column with unseen categories, for a run summary."""
        return [f"column {name!r}: {n:,} cell(s) with a category not seen in training "
                "(encoded as missing)" for name, n in sorted(self.counts.items())]

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


@dataclass
class EncodedChunk:
    """A chunk encoded for the model: ``X`` (ndarray or DataFrame) and its unseen counts."""

    X: Any
    unseen: dict[str, int]

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def as_arrow(data: Any) -> pa.Table:
    """A pyarrow Table from a Table, RecordBatch or pandas DataFrame."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    try:
        return pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InputError(f"cannot read the table's columns ({exc})") from exc


def _numeric(col: pa.ChunkedArray, name: str, path: str, start: int) -> np.ndarray:
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if column_kind(t) != "numeric":
        raise InputError(
            f"{path}: feature column {name!r} has type {t}, expected numbers as in training "
            f"(rows {start}..{start + len(col) - 1})"
        )
    if (pa.types.is_floating(t) or pa.types.is_integer(t)) and col.null_count == 0:
        return col.to_numpy().astype(np.float64, copy=False)
    return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)


def _codes(col: pa.ChunkedArray, categories: tuple[str, ...], name: str, path: str,
           start: int) -> tuple[np.ndarray, int]:
    """Category codes (-1 = missing) and the number of non-null values not in ``categories``."""
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if column_kind(t) is None:
        raise InputError(f"{path}: feature column {name!r} has type {t}; the model was "
                         "trained on categories in it")
    text = col if pa.types.is_string(t) else pc.cast(col, pa.string())
    blank = pc.equal(pc.utf8_trim_whitespace(text), "")
    text = pc.if_else(blank, pa.scalar(None, pa.string()), text)  # a CSV's empty cell
    codes = pc.index_in(text, value_set=pa.array(categories, type=pa.string()))
    codes_np = codes.to_numpy(zero_copy_only=False)
    missing = np.isnan(codes_np) if codes_np.dtype.kind == "f" else np.zeros(len(codes_np), bool)
    unseen = int(missing.sum()) - int(text.null_count)
    out = np.where(missing, -1, np.nan_to_num(codes_np, nan=-1)).astype(np.int64)
    return out, unseen


def encode_table(schema: FeatureSchema, data: Any, *, path: str = "input",
                 start: int = 0, as_frame: bool = False) -> EncodedChunk:
    """The model's input for the feature columns of ``data`` (see the module docstring).

    Parameters
    ----------
    schema : FeatureSchema
    data : pyarrow.Table, RecordBatch or pandas.DataFrame
        Holds at least the schema's columns (others are ignored).
    path, start : str, int
        The file and the file row of ``data``'s first row, for error messages.
    as_frame : bool, default False
        A DataFrame even when every column is numeric (for a ``ColumnTransformer``).

    Raises
    ------
    InputError
        A feature column is missing, or holds values of a kind the model was not trained on.
    """
    table = as_arrow(data)
    missing = [c for c in schema.names if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: missing feature column(s) {', '.join(map(repr, missing))}")
    if schema.is_numeric and not as_frame:
        X = np.empty((table.num_rows, len(schema.columns)), dtype=np.float64)
        for j, c in enumerate(schema.columns):
            X[:, j] = _numeric(table.column(c.name), c.name, path, start)
        return EncodedChunk(X, {})
    import pandas as pd

    columns: dict[str, Any] = {}
    unseen: dict[str, int] = {}
    for c in schema.columns:
        col = table.column(c.name)
        if c.kind == CATEGORICAL:
            codes, n_unseen = _codes(col, c.categories, c.name, path, start)
            columns[c.name] = pd.Categorical.from_codes(
                codes, dtype=pd.CategoricalDtype(list(c.categories)))
            if n_unseen:
                unseen[c.name] = n_unseen
        else:
            columns[c.name] = _numeric(col, c.name, path, start)
    return EncodedChunk(pd.DataFrame(columns), unseen)

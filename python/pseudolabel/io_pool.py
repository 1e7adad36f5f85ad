"""Random access to a pool file: the rows ``pseudolabel query`` scores and writes out.

A query strategy walks the pool in row slices and then takes a few chosen rows by index;
:class:`PoolFile` serves both from a CSV or Parquet file. A Parquet pool is never loaded whole:
:class:`ParquetPool` streams slices record batch by record batch and reads only the row
groups a take touches. Whole tables (CSV, labeled files for ``teach``) are read by
:func:`read_frame` through the batch jobs' reader, :func:`pseudolabel.io.tables.read_table`,
with the id and label columns kept as text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError

__all__ = ["PoolFile", "ParquetPool", "read_frame", "row_group_starts", "by_row_group"]

#: suffixes of delimited text files, and their delimiter
_DELIMITED = {".csv": ",", ".txt": ",", ".tsv": "\t"}


def read_frame(path: str, *, text_columns: Sequence[str] = ()) -> Any:
    """A whole Parquet or CSV/TSV file as a pandas DataFrame; ``text_columns`` stay text.

    Empty cells are missing values; any other cell of a text column (``"NA"``, ``"007"``) is
    kept as written. Raises :class:`FileNotFoundError` or :class:`InputError` naming the file.
    """
    import pyarrow as pa

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        from pseudolabel.io.tables import read_table

        return read_table(str(p)).to_pandas()
    if suffix not in _DELIMITED:
        raise InputError(f"{path}: unsupported file type {suffix!r} (use .csv, .tsv or .parquet)")
    import pyarrow.csv as pcsv

    try:
        names = pcsv.open_csv(p, parse_options=pcsv.ParseOptions(delimiter=_DELIMITED[suffix]))
        present = set(names.schema.names)
        names.close()
        table = pcsv.read_csv(
            p,
            parse_options=pcsv.ParseOptions(delimiter=_DELIMITED[suffix]),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in text_columns if c in present},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read {suffix[1:]} file ({exc})") from exc
    return table.to_pandas()


class PoolFile:
    """The pool of ``pseudolabel query``: a CSV file read whole, or a Parquet file streamed.

    Parquet features are never loaded whole: :class:`ParquetPool` serves row slices batch by
    batch, so scoring memory stays bounded by the chunk size.
    """

    def __init__(self, path: str, id_column: str) -> None:
        self.path = path
        self._df: Any = None
        self._pf: Any = None
        if Path(path).suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            if not Path(path).is_file():
                raise FileNotFoundError(f"no such file: {path}")
            try:
                self._pf = pq.ParquetFile(path, pre_buffer=False)  # memory bounded by a slice
            except Exception as exc:  # pyarrow raises several types on corrupt files
                raise InputError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
            self.columns = list(self._pf.schema_arrow.names)
        else:
            self._df = read_frame(path, text_columns=(id_column,))
            self.columns = list(self._df.columns)
        self.id_column = id_column

    def ids(self) -> np.ndarray:
        if self._pf is not None:
            col = self._pf.read(columns=[self.id_column]).column(self.id_column)
            return np.asarray(col.to_numpy(zero_copy_only=False))
        return self._df[self.id_column].to_numpy()

    def features(self, columns: list[str]) -> Any:
        if self._pf is not None:
            return ParquetPool(self._pf, columns, path=self.path)
        return self._df[columns]

    def iter_feature_batches(self, columns: list[str]) -> Iterator[Any]:
        """The ``columns`` as pyarrow record batches (a Parquet pool streamed)."""
        if self._pf is not None:
            yield from self._pf.iter_batches(batch_size=65_536, columns=columns)
        else:
            yield from self.feature_table(columns).to_batches()

    def feature_table(self, columns: list[str]) -> Any:
        """The ``columns`` of every row as a pyarrow Table (loaded whole), for encoding
        categorical features (:mod:`pseudolabel.features`)."""
        import pyarrow as pa

        if self._pf is not None:
            return self._pf.read(columns=columns)
        return pa.Table.from_pandas(self._df[columns], preserve_index=False)

    def rows(self, indices: np.ndarray) -> Any:
        """Every column of rows ``indices``, in that order, as a DataFrame."""
        if self._pf is not None:
            import pyarrow as pa

            parts, order = [], []
            starts = row_group_starts(self._pf)
            for g, sel in by_row_group(starts, indices):
                table = self._pf.read_row_group(g)
                parts.append(table.take(pa.array(indices[sel] - starts[g])))
                order.append(sel)
            table = pa.concat_tables(parts)
            frame = table.to_pandas()
            frame.index = np.concatenate(order)
            return frame.sort_index().reset_index(drop=True)
        return self._df.iloc[indices].reset_index(drop=True)


def row_group_starts(pf: Any) -> np.ndarray:
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def by_row_group(starts: np.ndarray, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(row group, positions in indices)`` for each row group that ``indices`` touch, in
    row-group order; one sort, not one pass over ``indices`` per group."""
    groups = np.searchsorted(starts, indices, side="right") - 1
    order = np.argsort(groups, kind="stable")
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    for sel in np.split(order, cuts):
        if sel.shape[0]:
            yield int(groups[sel[0]]), sel


class ParquetPool:
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
        self._starts = row_group_starts(pf)
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
        for g, sel in by_row_group(self._starts, indices):  # one row group at a time
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

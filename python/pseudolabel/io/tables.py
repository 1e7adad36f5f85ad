"""The one table reader: Parquet, CSV and ``.npy`` inputs streamed in chunks of rows.

Every reader yields :class:`Chunk` objects of exactly ``chunk_rows`` rows (the last chunk of
a file may be shorter), whatever the block or row-group layout of the file, so the chunking
of a job depends only on the data and ``chunk_rows``. That makes a resumed run and a Dask
run cut the input at the same places as an uninterrupted local run.

* Parquet is read with :meth:`pyarrow.parquet.ParquetFile.iter_batches` (only the needed
  columns, without pre-buffering and with buffered page reads, so memory is bounded by
  ``chunk_rows`` however big the file; on resume, whole row groups before the first
  pending row are skipped).
* CSV is read with :func:`pyarrow.csv.open_csv` with feature columns parsed as ``float64``.
* ``.npy`` files are memory-mapped (``np.load(mmap_mode="r")``); their columns are the
  features in training order.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from pseudolabel.exceptions import InputError

if TYPE_CHECKING:
    import pyarrow.parquet as pq

__all__ = [
    "FORMATS",
    "Chunk",
    "InputFile",
    "expand_inputs",
    "inspect_input",
    "count_rows",
    "iter_chunks",
    "read_table",
    "table_to_matrix",
    "check_columns",
    "column_type",
    "content_fingerprint",
]

#: bytes a Parquet column reader buffers at a time (pages are streamed, not whole chunks)
PARQUET_BUFFER_BYTES = 1 << 20
#: file suffix -> format name
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".npy": "npy"}


@dataclass(frozen=True)
class InputFile:
    """One input file of a batch job.

    Attributes
    ----------
    path : str
        Absolute path.
    format : {"parquet", "csv", "npy"}
    n_rows : int or None
        Row count when the format stores it (Parquet, ``.npy``); None for CSV.
    columns : tuple of str or None
        Column names; None for ``.npy`` (positional features).
    size, mtime_ns : int
        Recorded in a job's manifest so that ``--resume`` refuses inputs that changed.
    """

    path: str
    format: str
    n_rows: int | None
    columns: tuple[str, ...] | None
    size: int
    mtime_ns: int

    def fingerprint(self) -> dict[str, object]:
        """What ``--resume`` compares: path, format, size, time and a content hash
        (:func:`content_fingerprint`)."""
        return {"path": self.path, "format": self.format, "size": self.size,
                "mtime_ns": self.mtime_ns,
                "content": content_fingerprint(self.path, self.format)}


@dataclass
class Chunk:
    """A block of consecutive rows of one input.

    Attributes
    ----------
    index : int
        Chunk number within its file (0-based).
    start : int
        Row number of the first row within its file.
    X : ndarray of shape (n_rows, n_features), float64, C-contiguous
    ids : pyarrow.Array or None
        The id column's values, None when the job numbers rows itself.
    """

    index: int
    start: int
    X: np.ndarray
    ids: pa.Array | None

    @property
    def n_rows(self) -> int:
        return self.X.shape[0]


#: a content fingerprint hashes this many evenly spaced blocks of this many bytes
FINGERPRINT_BLOCKS = 16
FINGERPRINT_BLOCK_BYTES = 1 << 16


def content_fingerprint(path: str, fmt: str) -> str:
    """A cheap hash of a file's content: sha256 over its size, ``FINGERPRINT_BLOCKS``
    evenly spaced blocks (first and last included; the whole file when it is small) and,
    for Parquet, the whole footer (schema, row-group layout and column statistics).

    About 1 MiB is read whatever the file's size. A change confined to bytes between the
    sampled blocks of a CSV or ``.npy`` file that keeps its size is not seen; in Parquet,
    such a change also changes the footer's statistics or offsets unless it keeps every
    column chunk's size, minimum and maximum.
    """
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            h.update(size.to_bytes(8, "little"))
            span = FINGERPRINT_BLOCKS * FINGERPRINT_BLOCK_BYTES
            if size <= span:
                h.update(fh.read())
            else:
                last = size - FINGERPRINT_BLOCK_BYTES
                for i in range(FINGERPRINT_BLOCKS):
                    fh.seek(last * i // (FINGERPRINT_BLOCKS - 1))
                    h.update(fh.read(FINGERPRINT_BLOCK_BYTES))
            if fmt == "parquet" and size >= 12:
                fh.seek(size - 8)
                footer = int.from_bytes(fh.read(4), "little")
                if 0 < footer <= size - 12:
                    fh.seek(size - 8 - footer)
                    h.update(fh.read(footer))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    return h.hexdigest()


def _format_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise InputError(
            f"{path}: unsupported input format {suffix or '(no suffix)'!r}; "
            f"expected one of {', '.join(sorted(FORMATS))}"
        )
    return fmt


def expand_inputs(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Resolve paths, globs and directories to a sorted list of input files.

    A directory stands for the supported files below it (hidden files and names starting
    with ``_`` are skipped, as pyarrow datasets do). Each pattern must match something.

    Raises
    ------
    InputError
        A pattern matches nothing, or a file has an unsupported suffix.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[str] = []
    for spec in inputs:
        spec = os.fspath(spec)
        if os.path.isdir(spec):
            found = []
            for root, dirs, files in os.walk(spec):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                found += [os.path.join(root, f) for f in files
                          if not f.startswith((".", "_")) and Path(f).suffix.lower() in FORMATS]
            if not found:
                raise InputError(f"{spec}: directory holds no {'/'.join(sorted(FORMATS))} files")
            out += sorted(found)
        elif glob.has_magic(spec):
            found = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
            if not found:
                raise InputError(f"{spec}: the pattern matches no file")
            out += found
        elif os.path.isfile(spec):
            out.append(spec)
        else:
            raise InputError(f"{spec}: no such file or directory")
    paths = [os.path.abspath(p) for p in out]
    for p in paths:
        _format_of(p)
    dupes = sorted(p for p, k in Counter(paths).items() if k > 1)
    if dupes:
        raise InputError(f"input file given more than once: {dupes[0]}")
    return paths


def inspect_input(path: str) -> InputFile:
    """Open ``path`` far enough to learn its format, columns and (when stored) row count.

    Raises
    ------
    InputError
        The file is not readable as its suffix says (corrupt Parquet, a ``.npy`` that is not
        a 2-D numeric array, an empty CSV).
    """
    fmt = _format_of(path)
    st = os.stat(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            n_rows, columns = pf.metadata.num_rows, tuple(pf.schema_arrow.names)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        try:
            reader = pcsv.open_csv(path)
            columns = tuple(reader.schema.names)
            reader.close()
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path}: not a readable CSV file ({exc})") from exc
        n_rows = None
    else:
        arr = _open_npy(path)
        n_rows, columns = arr.shape[0], None
    return InputFile(path, fmt, n_rows, columns, st.st_size, st.st_mtime_ns)


def _open_npy(path: str) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy file ({exc})") from exc
    if arr.ndim != 2:
        raise InputError(f"{path}: a .npy input must hold a 2-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{path}: a .npy input must be numeric, got dtype {arr.dtype}")
    return arr


def check_columns(info: InputFile, feature_columns: Sequence[str], id_column: str | None) -> None:
    """Raise :class:`InputError` naming the file and the columns it lacks."""
    if info.columns is None:
        if id_column is not None:
            raise InputError(
                f"{info.path}: a .npy file has no column names, so it has no id column "
                f"{id_column!r}; leave --id-column out to number rows"
            )
        return
    present = set(info.columns)
    missing = [c for c in feature_columns if c not in present]
    if id_column is not None and id_column not in present:
        missing.append(id_column)
    if missing:
        shown = ", ".join(repr(c) for c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise InputError(f"{info.path}: missing column(s) {shown}{more}")


def column_type(info: InputFile, column: str) -> pa.DataType:
    """The Arrow type of one column of a Parquet or CSV input."""
    if info.format == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(info.path).schema_arrow.field(column).type
    import pyarrow.csv as pcsv

    with pcsv.open_csv(info.path, convert_options=pcsv.ConvertOptions(
            include_columns=[column])) as reader:
        return reader.schema.field(column).type


def count_rows(info: InputFile) -> int:
    """Number of data rows of an input (streams CSV files once)."""
    if info.n_rows is not None:
        return info.n_rows
    import pyarrow.csv as pcsv

    first = info.columns[0] if info.columns else None
    convert = pcsv.ConvertOptions(include_columns=[first] if first else None,
                                  column_types={first: pa.string()} if first else None)
    n = 0
    try:
        with pcsv.open_csv(info.path, convert_options=convert) as reader:
            for batch in reader:
                n += batch.num_rows
    except pa.ArrowException as exc:
        raise InputError(f"{info.path}: cannot read CSV ({exc})") from exc
    return n


def _rebatch(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Regroup record batches into tables of exactly ``chunk_rows`` rows (last one shorter)."""
    buf: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        while batch.num_rows:
            take = min(chunk_rows - n, batch.num_rows)
            buf.append(batch.slice(0, take))
            n += take
            batch = batch.slice(take)
            if n == chunk_rows:
                yield pa.Table.from_batches(buf)
                buf, n = [], 0
    if n:
        yield pa.Table.from_batches(buf)


def table_to_matrix(table: pa.Table, feature_columns: Sequence[str], *, path: str,
                    start: int) -> np.ndarray:
    """Convert the feature columns of ``table`` to a C-contiguous float64 matrix.

    Nulls become NaN (the backend decides whether it can take them). ``path`` and ``start``
    (the file row of the table's first row) are used in error messages only.

    Raises
    ------
    InputError
        A feature column is not numeric (names file and column).
    """
    import pyarrow.compute as pc

    X = np.empty((table.num_rows, len(feature_columns)), dtype=np.float64)
    for j, name in enumerate(feature_columns):
        col = table.column(name)
        t = col.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                or pa.types.is_decimal(t) or pa.types.is_null(t)):
            raise InputError(
                f"{path}: feature column {name!r} has type {t}, expected numbers "
                f"(rows {start}..{start + table.num_rows - 1})"
            )
        if (pa.types.is_floating(t) or pa.types.is_integer(t)) and col.null_count == 0:
            X[:, j] = col.to_numpy()  # numpy converts while copying: no temporary column
        else:  # nulls become NaN; booleans and decimals become numbers
            X[:, j] = pc.cast(col, pa.float64()).to_numpy()
    return X


def iter_chunks(info: InputFile, feature_columns: Sequence[str], id_column: str | None,
                chunk_rows: int, *, start_chunk: int = 0) -> Iterator[Chunk]:
    """Stream ``info`` as :class:`Chunk` objects of ``chunk_rows`` rows.

    Parameters
    ----------
    info : InputFile
    feature_columns : sequence of str
        Columns to read as features, in the model's order (ignored for ``.npy``, whose
        columns are the features; their count must match).
    id_column : str or None
        Column passed through as ``Chunk.ids``.
    chunk_rows : int
    start_chunk : int, default 0
        Skip the chunks before this one (on resume); they are not converted.
    """
    if chunk_rows < 1:
        raise InputError(f"chunk_rows must be >= 1, got {chunk_rows}")
    path = info.path
    skip_rows = start_chunk * chunk_rows
    if info.format == "npy":
        arr = _open_npy(path)
        if arr.shape[1] != len(feature_columns):
            raise InputError(
                f"{path}: has {arr.shape[1]} columns, the model expects {len(feature_columns)} "
                "features"
            )
        for index, start in enumerate(range(skip_rows, arr.shape[0], chunk_rows),
                                      start=start_chunk):
            X = np.ascontiguousarray(arr[start:start + chunk_rows], dtype=np.float64)
            yield Chunk(index, start, X, None)
        return

    columns = list(dict.fromkeys([*feature_columns, *([id_column] if id_column else [])]))
    if info.format == "parquet":
        import pyarrow.parquet as pq

        # No pre-buffering (it keeps every column chunk read so far alive while iterating)
        # and buffered page reads: memory follows chunk_rows, not the file.
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=PARQUET_BUFFER_BYTES)
        meta = pf.metadata
        first_rg, rows_before = 0, 0
        while first_rg < meta.num_row_groups and \
                rows_before + meta.row_group(first_rg).num_rows <= skip_rows:
            rows_before += meta.row_group(first_rg).num_rows
            first_rg += 1
        batches = _parquet_batches(pf, path, columns, first_rg, rows_before, chunk_rows)
        drop = skip_rows - rows_before
    else:
        import pyarrow.csv as pcsv

        convert = pcsv.ConvertOptions(
            include_columns=columns,
            column_types={c: pa.float64() for c in feature_columns if c != id_column},
        )
        def _csv_batches() -> Iterator[pa.RecordBatch]:
            with pcsv.open_csv(path, convert_options=convert,
                               read_options=pcsv.ReadOptions(block_size=1 << 22)) as reader:
                yield from reader

        batches = _csv_batches()
        drop = skip_rows

    def _skipped(it: Iterator[pa.RecordBatch], n: int) -> Iterator[pa.RecordBatch]:
        for b in it:
            if n >= b.num_rows:
                n -= b.num_rows
                continue
            if n:
                b, n = b.slice(n), 0
            yield b

    index, start = start_chunk, skip_rows
    try:
        for table in _rebatch(_skipped(iter(batches), drop), chunk_rows):
            X = table_to_matrix(table, feature_columns, path=path, start=start)
            ids = table.column(id_column).combine_chunks() if id_column else None
            yield Chunk(index, start, X, ids)
            index += 1
            start += table.num_rows
    except pa.ArrowInvalid as exc:
        if info.format == "csv":
            _raise_csv_value_error(info, feature_columns, exc)
        raise InputError(f"{path}: cannot read rows after row {start} ({exc})") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _parquet_batches(pf: pq.ParquetFile, path: str, columns: list[str], first_rg: int,
                     rows_before: int, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of row groups ``first_rg`` on, one row group at a time, so that a
    corrupt page is reported with its row group and rows."""
    meta = pf.metadata
    start = rows_before
    for group in range(first_rg, meta.num_row_groups):
        n = meta.row_group(group).num_rows
        try:
            yield from pf.iter_batches(batch_size=batch_rows, columns=columns,
                                       row_groups=[group])
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{path}, row group {group} (rows {start}..{start + n - 1}): corrupt or "
                f"unreadable Parquet data ({_one_line(exc)})") from exc
        start += n


def _first_invalid(column: pa.Array) -> int | None:
    """Position of the first value of a string column that is not a number (bisection over
    casts of prefixes: a few casts, not one per value)."""
    import pyarrow.compute as pc

    def casts(n: int) -> bool:
        try:
            pc.cast(column.slice(0, n), pa.float64())
        except pa.ArrowInvalid:
            return False
        return True

    if casts(len(column)):
        return None
    lo, hi = 0, len(column)  # the prefix of length lo casts, that of length hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if casts(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _raise_csv_value_error(info: InputFile, feature_columns: Sequence[str],
                           exc: Exception) -> None:
    """Find the first feature value of a CSV file that is not a number; raise naming it.

    The file is read again with the feature columns as strings; values the reader takes
    for missing (empty cells, ``NA``, ...) are nulls there too, so the cell named is the
    first (lowest row, then leftmost feature) that the float reader refused.
    """
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(include_columns=list(feature_columns),
                                  column_types={c: pa.string() for c in feature_columns},
                                  strings_can_be_null=True)
    row = 0
    with pcsv.open_csv(info.path, convert_options=convert) as reader:
        for batch in reader:
            found = [(position, j) for j, name in enumerate(feature_columns)
                     if (position := _first_invalid(batch.column(name))) is not None]
            if found:
                position, j = min(found)
                name = feature_columns[j]
                value = batch.column(name)[position].as_py()
                raise InputError(
                    f"{info.path}, row {row + position}: feature {name!r} holds {value!r}, "
                    f"not a number (line {row + position + 2} of the file)") from exc
            row += batch.num_rows
    raise InputError(f"{info.path}: cannot read CSV ({_one_line(exc)})") from exc


def read_table(path: str) -> pa.Table:
    """Read a whole Parquet or CSV file into memory (training data)."""
    fmt = _format_of(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if fmt == "csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read {fmt} file ({exc})") from exc
    raise InputError(
        f"{path}: training data needs named columns (Parquet or CSV), not {fmt}"
    )

"""Crash-safe progress state of a ``label`` job: what is done, saved so a kill loses nothing.

Layout of the work directory (``STAGING/_pseudolabel_work``):

* ``job.json``: the job manifest (written once, before the first chunk);
* ``files/fNNNNN-sSSSSSS.json``: one state file per segment (``SEGMENT_CHUNKS`` chunks of one
  input) listing its finished chunks with their row and class counts;
* ``topk/part-FFFFF-CCCCCC.parquet.npz``: the TopK accumulator of one chunk of a global
  decision, saved as plain arrays (:meth:`kernels.TopK.to_arrays`, ``np.savez``) and loaded
  with ``allow_pickle=False``; never pickled;
* ``selection.npy``: the merged selection of a global decision;
* ``ready.json``: written when the finished output (the concatenated file, or the parts
  directory ``STAGING/parts``) is complete, naming it by device and inode; a rename keeps
  both, so after publishing, ``--resume`` recognizes the output as this job's own.

Every file is written to a temporary name and renamed into place, and a chunk is committed
in the order part, TopK state, segment state, so the state never names work that is not on
disk.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pseudolabel import kernels
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.io.atomic import atomic_write, atomic_write_bytes, atomic_write_json

__all__ = [
    "STATE_VERSION", "SEGMENT_CHUNKS", "WORK_NAME", "PARQUET_OPTIONS", "part_name",
    "segment_state_path", "read_segment_states", "write_segment_state", "topk_path",
    "topk_bytes", "load_topk", "write_table", "commit_chunk", "write_selection",
    "PARTS_NAME", "mark_ready", "is_ready", "published_output",
]

#: version of the work directory's layout (2: TopK states as ``.npz``, no pickle)
STATE_VERSION = 2
#: chunks per segment: the unit of state files and of Dask tasks within one big file
SEGMENT_CHUNKS = 32
WORK_NAME = "_pseudolabel_work"
#: the directory of final parts within the staging directory
PARTS_NAME = "parts"
READY_NAME = "ready.json"

# Dictionary encoding only pays for the label column: trying it on unique floats and ids
# costs three times the CPU of the whole write and makes larger files.
PARQUET_OPTIONS: dict[str, Any] = {"use_dictionary": ["label"], "compression": "snappy"}


def part_name(file_index: int, chunk_index: int) -> str:
    """The Parquet part of one chunk: ``part-FFFFF-CCCCCC.parquet``."""
    return f"part-{file_index:05d}-{chunk_index:06d}.parquet"


def segment_state_path(work: Path, index: int, segment: int) -> Path:
    """The state file of segment ``segment`` of input ``index``."""
    return work / "files" / f"f{index:05d}-s{segment:06d}.json"


def read_segment_states(work: Path, index: int) -> dict[int, dict[str, Any]]:
    """Segment number -> state, for every state file of input ``index``."""
    states: dict[int, dict[str, Any]] = {}
    for path in sorted((work / "files").glob(f"f{index:05d}-s*.json")):
        try:
            state = json.loads(path.read_text())
            states[int(state["segment"])] = state
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: corrupt state of an interrupted run ({exc}); start "
                             "again with --overwrite") from exc
    return states


def write_segment_state(work: Path, state: dict[str, Any]) -> None:
    """Replace a segment's state file atomically."""
    atomic_write_json(segment_state_path(work, int(state["index"]), int(state["segment"])),
                      state)


def topk_path(work: Path, part: str) -> Path:
    """Where the TopK state of the chunk written as ``part`` lives."""
    return work / "topk" / f"{part}.npz"


def topk_bytes(topk: kernels.TopK) -> bytes:
    """A TopK accumulator as ``.npz`` bytes (plain arrays only)."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = topk.to_arrays()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load_topk(path: Path) -> kernels.TopK:
    """Load a TopK state saved by :func:`topk_bytes`.

    Raises
    ------
    InputError
        The state is missing or corrupt, or was pickled by an older version (pickles are
        never loaded); the message says to start again with ``--overwrite``.
    """
    pickled = path.with_suffix("")  # the name an older version used: part-...parquet.topk
    pickled = pickled.with_name(pickled.name + ".topk")
    if not path.exists() and pickled.exists():
        raise InputError(f"{pickled}: the interrupted run was started by an older version "
                         "that saved its top-k state with pickle, which is not loaded; start "
                         "again with --overwrite")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return kernels.TopK.from_arrays(arrays)
    except (OSError, ValueError, zipfile.BadZipFile, ParameterError, KeyError) as exc:
        raise InputError(f"{path}: corrupt top-k state of an interrupted run ({exc}); "
                         "start again with --overwrite") from exc


def write_table(path: Path, table: pa.Table) -> None:
    """Write one Parquet part atomically."""
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, **PARQUET_OPTIONS))


def commit_chunk(part: Path, table: pa.Table, topk_file: Path, topk_data: bytes | None,
                 work: Path, state: dict[str, Any]) -> None:
    """Write one chunk's results in crash-safe order (each write atomic)."""
    write_table(part, table)
    if topk_data is not None:
        atomic_write_bytes(topk_file, topk_data)
    write_segment_state(work, state)


def write_selection(work: Path, rows: np.ndarray) -> None:
    """Record the merged selection of a global decision (``selection.npy``)."""
    buffer = io.BytesIO()
    np.save(buffer, rows, allow_pickle=False)
    atomic_write_bytes(work / "selection.npy", buffer.getvalue())


def _identity(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_dev, st.st_ino]


def mark_ready(work: Path, finished: Path) -> None:
    """Record that ``finished`` (the output-to-be) is complete."""
    atomic_write_json(work / READY_NAME, {"identity": _identity(finished)})


def _ready_identity(work: Path) -> list[int] | None:
    try:
        identity = json.loads((work / READY_NAME).read_text()).get("identity")
    except (OSError, ValueError, AttributeError):
        return None
    return identity if isinstance(identity, list) else None


def is_ready(work: Path, finished: Path) -> bool:
    """Whether ``finished`` is the complete output :func:`mark_ready` recorded."""
    identity = _ready_identity(work)
    return identity is not None and identity == _identity(finished)


def published_output(work: Path, output: Path) -> bool:
    """Whether ``output`` is this job's finished output, already moved into place."""
    return is_ready(work, output)

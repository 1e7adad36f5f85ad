"""The streaming ``label`` job: score a pool of rows in chunks, decide, write Parquet.

How a job runs
--------------
Input files are read chunk by chunk (:mod:`pseudolabel.io.tables`). Each chunk is scored by
the bundle's backend and summarized by :func:`pseudolabel.kernels.summarize`; its output
rows (id, label, confidence, margin, selected, optional probabilities) are written as one
Parquet part, ``part-FFFFF-CCCCCC.parquet`` (file number, chunk number).

Decisions:

* ``threshold``: ``selected`` is ``confidence > threshold`` (:func:`kernels.select`), known
  per chunk;
* ``top_k`` / ``per_class_k``: global. Every chunk is pushed into a fresh
  :class:`kernels.TopK`, which is saved beside the part and merged into the file's
  accumulator; files' accumulators are merged at the end. The merged result equals one
  in-memory ``select(P, k=...)`` over all rows (ties go to the lower row number). Parts are
  first written with ``selected = False`` to a pending area, then a finalization step
  rewrites them, one at a time, with the global decision;
* ``strategy``: a registered selection strategy applied to each chunk independently
  (``start`` then ``select(P, round=1)``). Only strategies whose decision for a row depends
  on that row alone give the same result as an in-memory run: of the built-ins, that is
  ``threshold``. Quota strategies (``k_best``, ``class_balanced``) take their quota per
  chunk, and adaptive ones (``curriculum``, ``flexmatch``, ``freematch``, ``softmatch``,
  ``ceal``) derive their thresholds from each chunk's rows; use ``top_k`` /
  ``per_class_k`` for global quotas.

Crash safety
------------
Everything is written under a staging directory beside the output
(``.NAME.pseudolabel-partial``). Parts are written to a temporary name and renamed. After
each chunk the state file of its segment (32 chunks of one input; also replaced
atomically) records what is done, so a job killed at any point resumes at the first chunk
not recorded; chunks are cut at the same rows, so the final output is identical to an
uninterrupted run. A lock file keeps a second live run on the same host out. Only when all parts are
final does the output appear: the staging directory is renamed to the output directory,
or its parts are concatenated into a temporary file that is renamed to the output file.
Memory stays bounded by one chunk plus the top-k accumulators.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import math
import os
import pickle
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pseudolabel.io.atomic import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    publish,
    remove_path,
)
from pseudolabel.batch.bundle import ModelBundle, load_bundle
from pseudolabel.io.tables import (
    Chunk,
    InputFile,
    check_columns,
    expand_inputs,
    inspect_input,
    iter_chunks,
    table_to_matrix,
)
from pseudolabel.exceptions import (
    BackendError,
    BundleError,
    InputError,
    OutputExistsError,
    ParameterError,
    ProbabilityError,
    PseudolabelError,
)

__all__ = ["DEFAULT_CHUNK_ROWS", "DecisionSpec", "LabelResult", "label"]

DEFAULT_CHUNK_ROWS = 100_000
#: chunks per segment: the unit of state files and of Dask tasks within one big file
SEGMENT_CHUNKS = 32
RESERVED_COLUMNS = ("label", "confidence", "margin", "selected")
DEFAULT_ID_NAME = "row"
SUMMARY_NAME = "_pseudolabel_summary.json"
_WORK = "_pseudolabel_work"
_STATE_VERSION = 1
# Testing hook (undocumented on purpose): seconds to sleep after each committed chunk, so a
# test can SIGKILL a job deterministically part-way.
_DELAY_ENV = "PSEUDOLABEL_BATCH_CHUNK_DELAY"


# ---------------------------------------------------------------------------- decisions
@dataclass(frozen=True)
class DecisionSpec:
    """Which rows a job marks ``selected``.

    Exactly one of the four options; built by :meth:`from_options`.
    """

    kind: str  # "threshold" | "top_k" | "per_class_k" | "strategy"
    value: Any
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def is_global(self) -> bool:
        return self.kind in ("top_k", "per_class_k")

    @classmethod
    def from_options(cls, *, threshold: float | None = None, top_k: int | None = None,
                     per_class_k: int | None = None, strategy: str | None = None,
                     strategy_params: Mapping[str, Any] | None = None) -> DecisionSpec:
        given = {k: v for k, v in (("threshold", threshold), ("top_k", top_k),
                                   ("per_class_k", per_class_k), ("strategy", strategy))
                 if v is not None}
        if len(given) != 1:
            raise ParameterError(
                "give exactly one decision: threshold, top_k, per_class_k or strategy "
                f"(got {', '.join(given) or 'none'})"
            )
        kind, value = next(iter(given.items()))
        if kind == "threshold":
            if isinstance(value, (bool, str)) or not isinstance(value, Real):
                raise ParameterError(f"threshold must be a number in [0, 1], got {value!r}")
            value = float(value)
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                raise ParameterError(f"threshold must be in [0, 1], got {value}")
        elif kind in ("top_k", "per_class_k"):
            if (isinstance(value, bool) or not isinstance(value, Real) or int(value) != value
                    or value < 0):
                raise ParameterError(f"{kind} must be a non-negative integer, got {value!r}")
            value = int(value)
        elif not isinstance(value, str) or not value:
            raise ParameterError(f"strategy must be a registered name, got {value!r}")
        if strategy_params and kind != "strategy":
            raise ParameterError("strategy_params only go with strategy=")
        return cls(kind, value, tuple(sorted((strategy_params or {}).items())))

    def describe(self) -> str:
        if self.kind == "threshold":
            return f"confidence > {self.value}"
        if self.kind == "top_k":
            return f"top {self.value} by confidence"
        if self.kind == "per_class_k":
            return f"top {self.value} per class by confidence"
        return f"strategy {self.value!r} per chunk"

    def as_json(self) -> dict:
        return {"kind": self.kind, "value": self.value, "params": dict(self.params)}

    def new_topk(self):
        from pseudolabel import kernels

        if self.kind == "top_k":
            return kernels.TopK(k=self.value)
        return kernels.TopK(per_class_k=self.value)


# ---------------------------------------------------------------------------- results
@dataclass
class LabelResult:
    """What a finished ``label`` job did.

    Attributes
    ----------
    output : Path
    rows : int
        Rows labeled.
    selected : int
        Rows with ``selected = True``.
    class_counts : dict
        Predicted label -> rows.
    selected_per_class : dict
        Predicted label -> selected rows.
    seconds : float
        Wall time of this invocation (a resumed job counts only its own time).
    files, chunks : int
    resumed : bool
        True when earlier work of an interrupted run was reused.
    """

    output: Path
    rows: int
    selected: int
    class_counts: dict
    selected_per_class: dict
    seconds: float
    files: int
    chunks: int
    resumed: bool = False
    decision: str = ""

    def summary_lines(self) -> list[str]:
        rate = self.rows / self.seconds if self.seconds > 0 else float("inf")
        lines = [
            f"labeled {self.rows:,} rows from {self.files} file(s) in {self.chunks} chunk(s) "
            f"in {self.seconds:.1f} s ({rate:,.0f} rows/s){' (resumed)' if self.resumed else ''}",
            f"selected {self.selected:,} rows ({self.decision})",
        ]
        for c, n in self.selected_per_class.items():
            lines.append(f"  class {c}: {n:,} selected of {self.class_counts.get(c, 0):,}")
        lines.append(f"output: {self.output}")
        return lines


@dataclass
class FileResult:
    """Per-input outcome of :func:`process_source` (sent back from Dask workers)."""

    index: int
    rows: int
    chunk_rows: list[int]
    class_counts: np.ndarray
    selected_counts: np.ndarray
    topk: Any = field(default=None, repr=False)
    first_chunk: int = 0


# ---------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to process one input; small and picklable."""

    bundle_path: str
    trust_pickle: bool
    bundle_checksum: str
    feature_columns: tuple[str, ...]
    id_column: str | None
    id_name: str
    id_type: Any
    label_type: Any
    n_classes: int
    proba_names: tuple[str, ...]
    decision: DecisionSpec
    chunk_rows: int
    staging: str
    segment_chunks: int = 32

    @property
    def work(self) -> Path:
        return Path(self.staging) / _WORK

    def schema(self) -> pa.Schema:
        fields = [pa.field(self.id_name, self.id_type), pa.field("label", self.label_type),
                  pa.field("confidence", pa.float64()), pa.field("margin", pa.float64()),
                  pa.field("selected", pa.bool_())]
        fields += [pa.field(n, pa.float64()) for n in self.proba_names]
        return pa.schema(fields)


def part_name(file_index: int, chunk_index: int) -> str:
    return f"part-{file_index:05d}-{chunk_index:06d}.parquet"


# Dictionary encoding only pays for the label column: trying it on unique floats and ids
# costs three times the CPU of the whole write and makes larger files.
_PARQUET_OPTIONS = {"use_dictionary": ["label"], "compression": "snappy"}


def _atomic_write_table(path: Path, table: pa.Table) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, **_PARQUET_OPTIONS))


# TopK states are written by this module into its own work directory. They are loaded
# with an unpickler that only resolves the few globals a TopK's pickle needs, so a
# tampered state file cannot run code.
_SAFE_GLOBALS = {
    ("pseudolabel.kernels", "TopK"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("copyreg", "_reconstructor"), ("builtins", "object"),
}


class _StateUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS or (module == "numpy.dtypes"
                                               and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a TopK state")


def _load_topk(path: Path):
    try:
        return _StateUnpickler(_io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, OSError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: corrupt top-k state of an interrupted run ({exc}); "
                         "start again with --overwrite") from exc


# ---------------------------------------------------------------------------- per worker
_BUNDLES: dict[tuple[str, str], ModelBundle] = {}


def _bundle_for(plan: Plan) -> ModelBundle:
    """Load (once per process) and verify the plan's bundle."""
    key = (plan.bundle_path, plan.bundle_checksum)
    b = _BUNDLES.get(key)
    if b is None:
        b = load_bundle(plan.bundle_path, trust_pickle=plan.trust_pickle)
        if b.checksum != plan.bundle_checksum:
            raise BundleError(f"{plan.bundle_path}: the bundle changed while the job ran")
        _BUNDLES.clear()
        _BUNDLES[key] = b
    return b


def _predict(bundle: ModelBundle, chunk: Chunk, where: str, feature_columns) -> np.ndarray:
    X = chunk.X
    try:
        P = bundle.backend.predict_proba(X)
    except Exception as exc:
        nan_rows = np.flatnonzero(np.isnan(X).any(axis=1))
        if len(nan_rows):
            r = int(nan_rows[0])
            col = feature_columns[int(np.flatnonzero(np.isnan(X[r]))[0])]
            raise InputError(
                f"{where}, row {chunk.start + r}: missing value (NaN) in feature {col!r}, "
                f"and backend {bundle.backend_name!r} cannot take missing values ({exc})"
            ) from exc
        if isinstance(exc, PseudolabelError):
            raise
        raise BackendError(
            f"{where}, rows {chunk.start}..{chunk.start + chunk.n_rows - 1}: backend "
            f"{bundle.backend_name!r} failed to predict ({type(exc).__name__}: {exc})"
        ) from exc
    P = np.asarray(P)
    if P.ndim != 2 or P.shape != (chunk.n_rows, len(bundle.classes)):
        raise BackendError(
            f"backend {bundle.backend_name!r} returned probabilities of shape {P.shape} for "
            f"{chunk.n_rows} rows and {len(bundle.classes)} classes"
        )
    if P.dtype not in (np.float32, np.float64):
        P = P.astype(np.float64)
    return np.ascontiguousarray(P)


def _score_chunk(plan: Plan, bundle: ModelBundle, chunk: Chunk, where: str, offset: int,
                 probabilities: bool):
    """Score one chunk; return (table, class_counts, selected_counts, chunk TopK or None)."""
    from pseudolabel import kernels

    P = _predict(bundle, chunk, where, plan.feature_columns)
    n, C = P.shape
    g0 = offset + chunk.start
    try:
        s = kernels.summarize(P)
    except ProbabilityError as exc:
        raise BackendError(f"{where}, rows {chunk.start}..{chunk.start + n - 1}: backend "
                           f"{bundle.backend_name!r} returned invalid probabilities: {exc}"
                           ) from exc
    topk = None
    d = plan.decision
    if d.kind == "threshold":
        # the summary already holds each row's confidence: no second pass over P (a Python
        # float is compared in P's dtype, as kernels.select does)
        mask = s.confidence > d.value
    else:
        mask = np.zeros(n, dtype=bool)
    if d.kind == "strategy":
        from pseudolabel.plugins import make_strategy

        strat = make_strategy(d.value, kind="selection", **dict(d.params))
        prior = bundle.class_prior
        strat.start(n_classes=C, n_labeled=int(bundle.manifest.get("training", {})
                                                .get("n_rows", 0)),
                    n_unlabeled=n, class_prior=prior if prior is not None else np.full(C, 1 / C),
                    random_state=0)
        mask[np.asarray(strat.select(P, round=1).indices, dtype=np.int64)] = True
    elif d.is_global:
        topk = d.new_topk()
        topk.push(P, g0)
    if chunk.ids is None:
        ids = pa.array(np.arange(g0, g0 + n, dtype=np.int64))
    else:
        try:
            ids = chunk.ids.cast(plan.id_type)
        except pa.ArrowException as exc:
            raise InputError(f"{where}: id column {plan.id_column!r} has type {chunk.ids.type}, "
                             f"other inputs have {plan.id_type} ({exc})") from exc
    labels = bundle.classes[s.label]
    cols = [ids, pa.array(labels if plan.label_type != pa.string() else labels.astype(str),
                          type=plan.label_type),
            pa.array(s.confidence.astype(np.float64, copy=False)),
            pa.array(s.margin.astype(np.float64, copy=False)), pa.array(mask)]
    if probabilities:
        cols += [pa.array(P[:, j].astype(np.float64)) for j in range(C)]
    table = pa.Table.from_arrays(cols, schema=plan.schema())
    class_counts = np.bincount(s.label, minlength=C).astype(np.int64)
    selected_counts = np.bincount(s.label[mask], minlength=C).astype(np.int64)
    return table, class_counts, selected_counts, topk


def _source_chunks(plan: Plan, source: Any, start_chunk: int, where: str):
    if isinstance(source, InputFile):
        return iter_chunks(source, plan.feature_columns, plan.id_column, plan.chunk_rows,
                           start_chunk=start_chunk)
    return _table_chunks(plan, source, start_chunk, where)


def _table_chunks(plan: Plan, frame: Any, start_chunk: int, where: str):
    """Chunks of an in-memory pandas DataFrame / pyarrow Table (a Dask partition)."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame,
                                                                           preserve_index=False)
    missing = [c for c in (*plan.feature_columns, *([plan.id_column] if plan.id_column else []))
               if c not in table.column_names]
    if missing:
        raise InputError(f"{where} is missing column(s) {', '.join(map(repr, missing))}")
    for index, start in enumerate(range(start_chunk * plan.chunk_rows, table.num_rows,
                                        plan.chunk_rows), start=start_chunk):
        t = table.slice(start, plan.chunk_rows)
        X = table_to_matrix(t, plan.feature_columns, path=where, start=start)
        ids = t.column(plan.id_column).combine_chunks() if plan.id_column else None
        yield Chunk(index, start, X, ids)


def _segment_state_path(work: Path, index: int, segment: int) -> Path:
    return work / "files" / f"f{index:05d}-s{segment:06d}.json"


def _commit_chunk(part: Path, table: pa.Table, topk_path: Path, topk_bytes: bytes | None,
                  state_path: Path, state_text: str) -> None:
    """Write one chunk's results in crash-safe order (each write atomic)."""
    _atomic_write_table(part, table)
    if topk_bytes is not None:
        atomic_write_bytes(topk_path, topk_bytes)
    atomic_write_bytes(state_path, state_text.encode())


class _Writer:
    """One background thread that runs write jobs in order, one in flight at a time."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="pseudolabel-writer")
        self._pending: Any = None

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        self.wait()
        self._pending = self._pool.submit(fn, *args)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


_END = object()


def _prefetch(iterator: Any, depth: int = 1):
    """Run ``iterator`` in a thread, ``depth`` items ahead; errors re-raise here."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in iterator:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as exc:  # handed to the consumer
            put((False, exc))

    thread = threading.Thread(target=run, name="pseudolabel-reader", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def process_source(plan: Plan, index: int, source: Any, offset: int, *, probabilities: bool,
                   segments: tuple[int, int | None] = (0, None), where: str | None = None,
                   on_rows: Callable[..., None] | None = None) -> FileResult:
    """Score the chunks of one input (file or partition), resuming from its state files.

    Runs in the driver for local jobs and on a worker for Dask jobs. The chunks of an input
    are grouped in segments of ``plan.segment_chunks``; each segment has a state file
    (``work/files/fNNNNN-sSSSSSS.json``) that lists its finished chunks, so a Dask job can
    score the segments of one big file on several workers and any run can resume any
    other's work. ``segments=(first, stop)`` limits the call to those segments (``stop``
    None: to the end of the input). Chunks already recorded are not scored again; their
    TopK states are reloaded and merged.

    Returns
    -------
    FileResult
        Counts and the TopK of the chunks in range; ``first_chunk`` is the first of them.
    """
    bundle = _bundle_for(plan)
    C = plan.n_classes
    S = plan.segment_chunks
    first_seg, stop_seg = segments
    where = where or (source.path if isinstance(source, InputFile) else f"partition {index}")
    work = plan.work
    out_dir = work / "pending" if plan.decision.is_global else Path(plan.staging)
    states: dict[int, dict[str, Any]] = {}
    for path in sorted((work / "files").glob(f"f{index:05d}-s*.json")):
        st = json.loads(path.read_text())
        seg = int(st["segment"])
        if seg < first_seg or (stop_seg is not None and seg >= stop_seg):
            continue
        if st.get("offset") != offset:
            raise InputError(
                f"{where}: the interrupted run saw this input at row {st.get('offset')}, now "
                f"at row {offset}; the inputs changed, start again with --overwrite")
        states[seg] = st
    topk = plan.decision.new_topk() if plan.decision.is_global else None
    for seg, st in sorted(states.items()):
        for j, c in enumerate(st["chunks"]):
            if topk is not None:
                topk.merge(_load_topk(work / "topk" / f"{part_name(index, seg * S + j)}.topk"))
            if on_rows is not None:
                on_rows(c["rows"], True)
    # The segment where the input ends, when a run has seen the end (complete, short).
    end_seg = min((seg for seg, st in states.items()
                   if st["complete"] and len(st["chunks"]) < S), default=None)
    # Segments in range that still need work; open-ended: up to the end if known, else up
    # to one past the last known segment.
    stop = stop_seg if stop_seg is not None else (
        end_seg + 1 if end_seg is not None else max([first_seg - 1, *states]) + 2)
    todo = [seg for seg in range(first_seg, stop) if not states.get(seg, {}).get("complete")]
    delay = float(os.environ.get(_DELAY_ENV, "0") or 0)
    if todo:
        start_seg = todo[0]
        start_chunk = start_seg * S + len(states.get(start_seg, {}).get("chunks", []))
        stop_chunk = None if stop_seg is None else stop_seg * S
        last_seg, ended = start_seg, True
        # Reading runs one chunk ahead in a thread, writing one chunk behind in another,
        # so on a machine with spare cores the backend's predict is the only serial step.
        # The writer commits each chunk in order: part, TopK state, then segment state.
        writer = _Writer()
        try:
            for chunk in _prefetch(_source_chunks(plan, source, start_chunk, where)):
                if stop_chunk is not None and chunk.index >= stop_chunk:
                    ended = False
                    break
                seg = last_seg = chunk.index // S
                st = states.setdefault(seg, {"index": index, "segment": seg, "offset": offset,
                                             "chunks": [], "complete": False})
                if st["complete"] or chunk.index % S < len(st["chunks"]):
                    continue  # done by another run (a Dask segment task)
                table, cc, sc, ctk = _score_chunk(plan, bundle, chunk, where, offset,
                                                  probabilities)
                name = part_name(index, chunk.index)
                ctk_bytes = None
                if ctk is not None and topk is not None:
                    ctk_bytes = pickle.dumps(ctk)
                    topk.merge(ctk)
                st["chunks"].append({"rows": chunk.n_rows, "class_counts": cc.tolist(),
                                     "selected_counts": sc.tolist()})
                st["complete"] = len(st["chunks"]) == S
                writer.submit(_commit_chunk, out_dir / name, table,
                              work / "topk" / f"{name}.topk", ctk_bytes,
                              _segment_state_path(work, index, seg),
                              json.dumps(st, indent=1, sort_keys=True) + "\n")
                if on_rows is not None:
                    on_rows(chunk.n_rows)
                if delay:
                    writer.wait()
                    time.sleep(delay)
        finally:
            writer.close()
        if ended:  # the input ended inside segment last_seg (or before it started)
            st = states.setdefault(last_seg, {"index": index, "segment": last_seg,
                                              "offset": offset, "chunks": [],
                                              "complete": False})
            if not st["complete"]:
                st["complete"] = True
                atomic_write_json(_segment_state_path(work, index, last_seg), st)
    rows: list[int] = []
    class_counts = np.zeros(C, dtype=np.int64)
    selected_counts = np.zeros(C, dtype=np.int64)
    for seg in sorted(states):
        for c in states[seg]["chunks"]:
            rows.append(int(c["rows"]))
            class_counts += np.asarray(c["class_counts"], dtype=np.int64)
            selected_counts += np.asarray(c["selected_counts"], dtype=np.int64)
    return FileResult(index, int(sum(rows)), rows, class_counts, selected_counts, topk,
                      first_chunk=first_seg * S)


def finalize_source(plan: Plan, index: int, offset: int, chunk_rows: Sequence[int],
                    selected_rows: np.ndarray) -> None:
    """Rewrite one input's pending parts with the global decision (idempotent).

    ``selected_rows`` holds the sorted global row numbers that are selected. A part whose
    final file exists is done; its pending file is removed only after the final one is in
    place, so a kill at any point leaves a state the next run completes.
    """
    work, final_dir = plan.work, Path(plan.staging)
    start = offset
    for ci, n in enumerate(chunk_rows):
        name = part_name(index, ci)
        final, pend = final_dir / name, work / "pending" / name
        if not final.exists():
            table = pq.read_table(pend, schema=plan.schema())
            lo, hi = np.searchsorted(selected_rows, [start, start + n])
            mask = np.zeros(n, dtype=bool)
            mask[selected_rows[lo:hi] - start] = True
            table = table.set_column(table.schema.get_field_index("selected"), "selected",
                                     pa.array(mask))
            _atomic_write_table(final, table)
        pend.unlink(missing_ok=True)
        start += n


# ---------------------------------------------------------------------------- progress
class Progress:
    """Rows done, rows/s and ETA: a tqdm bar on a terminal, plain log lines otherwise."""

    def __init__(self, total: int | None, *, mode: bool | None = None, stream=None,
                 interval: float = 5.0, prefix: str = "pseudolabel label") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.done, self.interval, self.prefix = total, 0, interval, prefix
        self.skipped = 0
        self.t0 = time.perf_counter()
        self._last = -math.inf
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = mode is not False and (mode is True or mode is None)
        self.bar = None
        if self.enabled and tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="rows", unit_scale=True, file=self.stream,
                            desc=prefix, dynamic_ncols=True)

    def __call__(self, n: int, skipped: bool = False) -> None:
        """Count ``n`` rows done; ``skipped`` rows (done by an earlier run) are not timed."""
        self.done += n
        self.skipped += n if skipped else 0
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self._log(now)

    def _log(self, now: float) -> None:
        dt = max(now - self.t0, 1e-9)
        rate = (self.done - self.skipped) / dt
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            msg = (f"{self.prefix}: {self.done:,}/{self.total:,} rows "
                   f"({100 * self.done / self.total:.1f}%), {rate:,.0f} rows/s, "
                   f"ETA {eta:.0f} s")
        else:
            msg = f"{self.prefix}: {self.done:,} rows, {rate:,.0f} rows/s"
        print(msg, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self._log(time.perf_counter())

    def log(self, msg: str) -> None:
        if self.enabled:
            print(f"{self.prefix}: {msg}", file=self.stream, flush=True)


# ---------------------------------------------------------------------------- the job
def _staging_for(output: Path) -> Path:
    return output.parent / f".{output.name}.pseudolabel-partial"


def _arrow_label_type(classes: np.ndarray) -> pa.DataType:
    kind = classes.dtype.kind
    return {"b": pa.bool_(), "i": pa.int64(), "u": pa.int64(), "f": pa.float64()}.get(
        kind, pa.string())


@dataclass
class Job:
    """A prepared job: verified bundle, plan, inputs, and whether it resumes earlier work."""

    plan: Plan
    bundle: ModelBundle
    output: Path
    sources: list[Any]
    resumed: bool
    probabilities: bool
    overwrite: bool
    spec: dict


def prepare_job(model: str | os.PathLike | ModelBundle, output: str | os.PathLike, *,
                sources: Sequence[Any], source_fingerprint: Any, id_column: str | None,
                decision: DecisionSpec, chunk_rows: int, probabilities: bool, resume: bool,
                overwrite: bool, trust_pickle: bool, id_type: pa.DataType | None = None,
                log: Callable[[str], None] | None = None) -> Job:
    """Validate everything that can be validated before a row is scored; set up staging."""
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) \
            or chunk_rows < 1:
        raise ParameterError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    bundle = model if isinstance(model, ModelBundle) else load_bundle(
        model, trust_pickle=trust_pickle)
    features = tuple(bundle.feature_columns)
    files = [s for s in sources if isinstance(s, InputFile)]
    if id_column is None and bundle.id_column and files and \
            all(f.columns is not None and bundle.id_column in f.columns for f in files):
        id_column = bundle.id_column
    for f in files:
        check_columns(f, features, id_column)
        if f.format == "npy":
            ncol = np.load(f.path, mmap_mode="r").shape[1]
            if ncol != len(features):
                raise InputError(f"{f.path}: has {ncol} columns, the model expects "
                                 f"{len(features)} features")
    if id_column is not None and id_type is None:
        id_type = _id_type_of(files[0], id_column) if files else pa.int64()
    id_name = id_column or DEFAULT_ID_NAME
    proba_names = tuple(f"proba_{c}" for c in bundle.classes) if probabilities else ()
    clash = {id_name, *proba_names} & set(RESERVED_COLUMNS)
    if clash or (id_name in proba_names) or len(set(proba_names)) != len(proba_names):
        raise ParameterError(f"output column name clash: {sorted(clash or {id_name})}; rename "
                             "the id column")
    output = Path(output).absolute()
    staging = _staging_for(output)
    spec = {
        "version": _STATE_VERSION, "bundle": bundle.checksum, "inputs": source_fingerprint,
        "id_column": id_column, "decision": decision.as_json(), "chunk_rows": int(chunk_rows),
        "probabilities": bool(probabilities), "output": str(output),
        "segment_chunks": SEGMENT_CHUNKS,
    }
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} already exists; pass --overwrite to replace it")
    resumed = False
    if staging.exists():
        _refuse_if_locked(staging / _WORK / "lock", staging)
        job_file = staging / _WORK / "job.json"
        if resume:
            try:
                old = json.loads(job_file.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise OutputExistsError(
                    f"{staging}: cannot resume, the interrupted run left no readable job "
                    f"manifest ({exc}); pass --overwrite to start over") from exc
            diff = [k for k in spec if old.get(k) != spec[k]]
            if diff:
                raise ParameterError(
                    f"cannot resume {staging}: it was started with different "
                    f"{', '.join(diff)}; run the same command, or pass --overwrite to start "
                    "over")
            resumed = True
            if log:
                log(f"resuming the interrupted run in {staging}")
        elif overwrite:
            shutil.rmtree(staging)
        else:
            raise OutputExistsError(
                f"an interrupted run left partial output in {staging}; pass --resume to finish "
                "it or --overwrite to start over")
    if not resumed:
        for d in ("files", "pending", "topk"):
            (staging / _WORK / d).mkdir(parents=True, exist_ok=True)
    _acquire_lock(staging / _WORK / "lock", staging)
    if not resumed:
        atomic_write_json(staging / _WORK / "job.json", spec)
    plan = Plan(
        bundle_path=str(bundle.path.absolute()), trust_pickle=trust_pickle,
        bundle_checksum=bundle.checksum, feature_columns=features, id_column=id_column,
        id_name=id_name, id_type=id_type if id_column else pa.int64(),
        label_type=_arrow_label_type(bundle.classes), n_classes=len(bundle.classes),
        proba_names=proba_names, decision=decision, chunk_rows=int(chunk_rows),
        staging=str(staging), segment_chunks=SEGMENT_CHUNKS,
    )
    _BUNDLES[(plan.bundle_path, plan.bundle_checksum)] = bundle
    return Job(plan, bundle, output, list(sources), resumed, probabilities, overwrite, spec)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _refuse_if_locked(path: Path, staging: Path) -> None:
    """Raise :class:`OutputExistsError` when a live run on this host holds ``path``."""
    try:
        other = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    pid = other.get("pid") if isinstance(other, dict) else None
    if other.get("host") == socket.gethostname() and pid != os.getpid() and _pid_alive(pid):
        raise OutputExistsError(
            f"{staging} is being written by another run (pid {pid}); wait for it to finish "
            "or stop it first")


def _acquire_lock(path: Path, staging: Path) -> None:
    """Refuse to share a staging directory with a live run on this host.

    A lock left by a run that was killed (its process is gone) is taken over; so is one
    held by this very process (an earlier call that was interrupted).
    """
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            _refuse_if_locked(path, staging)
            path.unlink(missing_ok=True)  # left by a run that is gone
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return
    raise OutputExistsError(f"{staging}: another run took the lock at the same time")


def _release_lock(path: Path) -> None:
    """Remove the lock ``path`` if this process holds it."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(holder, dict) and holder.get("pid") == os.getpid() \
            and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def _id_type_of(info: InputFile, id_column: str) -> pa.DataType:
    if info.format == "parquet":
        return pq.ParquetFile(info.path).schema_arrow.field(id_column).type
    import pyarrow.csv as pcsv

    with pcsv.open_csv(info.path, convert_options=pcsv.ConvertOptions(
            include_columns=[id_column])) as reader:
        return reader.schema.field(id_column).type


def pairwise_reduce(items: Sequence[Any], combine: Callable[[Any, Any], Any]) -> Any:
    """Combine ``items`` pairwise, level by level (a tree of depth log2(n)); None if empty.

    The local job merges TopK accumulators this way and the Dask job merges futures of
    them, so both reduce in the same order.
    """
    level = list(items)
    while len(level) > 1:
        nxt = [combine(a, b) for a, b in zip(level[::2], level[1::2])]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0] if level else None


def _merge_into(a: Any, b: Any) -> Any:
    a.merge(b)
    return a


def merge_topk(topks: Sequence[Any]):
    """Merge TopK accumulators pairwise (a tree, like the Dask reduction)."""
    return pairwise_reduce([t for t in topks if t is not None], _merge_into)


def selected_rows_of(job: Job, topk) -> tuple[np.ndarray, np.ndarray]:
    """Sorted global row numbers selected by a merged TopK, and their column labels."""
    if topk is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sel = topk.result()
    order = np.argsort(sel.indices, kind="stable")
    rows = np.asarray(sel.indices, dtype=np.int64)[order]
    atomic_write_bytes(job.plan.work / "selection.npy", _npy_bytes(rows))
    return rows, np.asarray(sel.labels, dtype=np.int64)[order]


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = _io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def complete_job(job: Job, results: Sequence[FileResult], *, selected_labels: np.ndarray | None,
                 seconds_since: float) -> LabelResult:
    """Write the summary, publish the output atomically, remove the work directory."""
    plan = job.plan
    classes = job.bundle.classes
    C = len(classes)
    class_counts = np.zeros(C, np.int64)
    selected_counts = np.zeros(C, np.int64)
    for r in results:
        class_counts += r.class_counts
        selected_counts += r.selected_counts
    if selected_labels is not None:
        selected_counts = np.bincount(selected_labels, minlength=C).astype(np.int64)
    as_key = (lambda c: c.item() if hasattr(c, "item") else c)
    result = LabelResult(
        output=job.output, rows=int(class_counts.sum()), selected=int(selected_counts.sum()),
        class_counts={as_key(c): int(n) for c, n in zip(classes, class_counts)},
        selected_per_class={as_key(c): int(n) for c, n in zip(classes, selected_counts)},
        seconds=time.perf_counter() - seconds_since, files=len(results),
        chunks=sum(len(r.chunk_rows) for r in results), resumed=job.resumed,
        decision=plan.decision.describe(),
    )
    staging = Path(plan.staging)
    parts = [staging / part_name(r.index, i) for r in results for i in range(len(r.chunk_rows))]
    summary = {"rows": result.rows, "selected": result.selected,
               "class_counts": {str(k): v for k, v in result.class_counts.items()},
               "selected_per_class": {str(k): v for k, v in result.selected_per_class.items()},
               "decision": plan.decision.as_json(), "model": plan.bundle_checksum,
               "chunk_rows": plan.chunk_rows, "parts": len(parts)}
    output = job.output
    if output.suffix.lower() in (".parquet", ".pq"):
        tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
        schema = plan.schema().with_metadata({"pseudolabel": json.dumps(summary,
                                                                        sort_keys=True)})
        try:
            with pq.ParquetWriter(tmp, schema, **_PARQUET_OPTIONS) as writer:
                for p in parts:
                    writer.write_table(pq.read_table(p, schema=plan.schema())
                                       .replace_schema_metadata(schema.metadata))
            publish(tmp, output, overwrite=job.overwrite)
        except BaseException:  # no half-written merged file left beside the output
            remove_path(tmp)
            raise
        shutil.rmtree(staging)
    else:
        if not parts:  # an empty input still gives a readable dataset with the schema
            _atomic_write_table(staging / part_name(0, 0), plan.schema().empty_table())
        atomic_write_json(staging / SUMMARY_NAME, summary)
        shutil.rmtree(plan.work)
        publish(staging, output, overwrite=job.overwrite)
    return result


def label(model: str | os.PathLike | ModelBundle, input: str | os.PathLike | Sequence,
          output: str | os.PathLike, *, id_column: str | None = None,
          threshold: float | None = None, top_k: int | None = None,
          per_class_k: int | None = None, strategy: str | None = None,
          strategy_params: Mapping[str, Any] | None = None,
          chunk_rows: int = DEFAULT_CHUNK_ROWS, probabilities: bool = False,
          resume: bool = False, overwrite: bool = False, trust_pickle: bool = False,
          progress: bool | None = False) -> LabelResult:
    """Label Parquet/CSV/``.npy`` files with a model bundle, streaming, on this machine.

    Parameters
    ----------
    model : path-like or ModelBundle
        Bundle directory written by ``pseudolabel train`` / :func:`train_bundle`.
    input : path, glob, directory, or a sequence of them
        Files to label, in sorted order within each pattern.
    output : path-like
        ``*.parquet`` writes one file; any other path writes a dataset directory of parts.
    id_column : str, optional
        Input column copied to the output as the row id. Defaults to the bundle's id column
        when every input has it; otherwise the output gets a ``row`` column with global row
        numbers (0-based, across the inputs in order).
    threshold, top_k, per_class_k, strategy : exactly one
        The decision written to ``selected`` (see the module docstring).
    strategy_params : mapping, optional
        Parameters of ``strategy``.
    chunk_rows : int, default 100_000
        Rows scored at a time; bounds memory.
    probabilities : bool, default False
        Add one ``proba_<class>`` column per class.
    resume : bool, default False
        Finish an interrupted run of the same job instead of refusing.
    overwrite : bool, default False
        Replace an existing output (and discard an interrupted run).
    trust_pickle : bool, default False
        Allow a bundle that contains pickle files.
    progress : bool or None, default False
        None: a progress bar on a terminal, log lines otherwise; False: silent.

    Returns
    -------
    LabelResult

    Raises
    ------
    InputError
        Missing files or columns, unreadable data, NaN a backend cannot take (the message
        names the file and row).
    BundleError
        The bundle is corrupt, edited, or holds a pickle without ``trust_pickle``.
    OutputExistsError
        ``output`` or an interrupted run's partial output exists, without
        ``overwrite``/``resume``.
    """
    t0 = time.perf_counter()
    decision = DecisionSpec.from_options(threshold=threshold, top_k=top_k,
                                         per_class_k=per_class_k, strategy=strategy,
                                         strategy_params=strategy_params)
    files = [inspect_input(p) for p in expand_inputs(input)]
    known = [f.n_rows for f in files if f.n_rows is not None]
    bar = Progress(sum(known) if len(known) == len(files) else None, mode=progress)
    job = prepare_job(model, output, sources=files,
                      source_fingerprint=[f.fingerprint() for f in files], id_column=id_column,
                      decision=decision, chunk_rows=chunk_rows, probabilities=probabilities,
                      resume=resume, overwrite=overwrite, trust_pickle=trust_pickle,
                      log=bar.log)
    with cleanup_on_error(job):
        results = []
        offset = 0
        try:
            for i, f in enumerate(files):
                r = process_source(job.plan, i, f, offset, probabilities=probabilities,
                                   on_rows=bar)
                offset += r.rows
                results.append(r)
        finally:
            bar.close()
        labels = None
        if decision.is_global:
            rows, labels = selected_rows_of(job, merge_topk([r.topk for r in results]))
            offset = 0
            for r in results:
                finalize_source(job.plan, r.index, offset, r.chunk_rows, rows)
                offset += r.rows
        return complete_job(job, results, selected_labels=labels, seconds_since=t0)


@contextlib.contextmanager
def cleanup_on_error(job: Job, *, release_lock: bool = True):
    """Remove a fresh job's staging directory when it fails with an error.

    An interruption (Ctrl-C, a kill) keeps it for ``--resume``; so does an error in a
    resumed job, whose earlier work is worth keeping. A kept staging directory is unlocked
    (``release_lock``) once nothing of this process writes to it any more, so that another
    process can resume it while this one lives on (a notebook, a service).
    """
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, Exception) and not job.resumed:
            shutil.rmtree(job.plan.staging, ignore_errors=True)
        elif release_lock:
            _release_lock(job.plan.work / "lock")
        raise

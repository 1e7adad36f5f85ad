"""Scoring one input of a ``label`` job: read chunks, predict, summarize, decide, write parts.

Runs in the driver for local jobs and on a worker for Dask jobs. :func:`process_source`
scores the chunks of one input (a file or a Dask partition) that its segment states do
not record yet; each chunk's output rows (id, label, confidence, margin, selected,
optional probabilities) become one Parquet part, ``part-FFFFF-CCCCCC.parquet`` (file
number, chunk number). Reading runs one chunk ahead in a thread and writing one chunk
behind in another, so on a machine with spare cores the backend's predict is the only
serial step. :func:`finalize_source` rewrites the pending parts of a global decision once
the selected rows are known.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pseudolabel import kernels
from pseudolabel._validation import check_probabilities
from pseudolabel.batch.bundle import ModelBundle, load_bundle
from pseudolabel.batch.decisions import decide_chunk
from pseudolabel.batch.job import FileResult, Plan
from pseudolabel.batch.state import (
    commit_chunk,
    load_topk,
    part_name,
    read_segment_states,
    topk_bytes,
    topk_path,
    write_segment_state,
    write_table,
)
from pseudolabel.exceptions import BackendError, BundleError, InputError, ProbabilityError, \
    PseudolabelError
from pseudolabel.io.tables import Chunk, InputFile, iter_chunks, table_to_matrix

__all__ = ["remember_bundle", "score_chunk", "process_source", "finalize_source"]

_BUNDLES: dict[tuple[str, str], ModelBundle] = {}


def remember_bundle(plan: Plan, bundle: ModelBundle) -> None:
    """Let this process's scoring use ``bundle`` (already loaded and verified) for ``plan``."""
    _BUNDLES[(plan.bundle_path, plan.bundle_checksum)] = bundle


def _bundle_for(plan: Plan) -> ModelBundle:
    """Load (once per process) and verify the plan's bundle."""
    key = (plan.bundle_path, plan.bundle_checksum)
    bundle = _BUNDLES.get(key)
    if bundle is None:
        bundle = load_bundle(plan.bundle_path, trust_pickle=plan.trust_pickle)
        if bundle.checksum != plan.bundle_checksum:
            raise BundleError(f"{plan.bundle_path}: the bundle changed while the job ran")
        _BUNDLES.clear()
        _BUNDLES[key] = bundle
    return bundle


def _model(plan: Plan, bundle: ModelBundle) -> Any:
    """What scores: the backend, or its compiled model (built or loaded once per process)."""
    if plan.engine == "native":
        return bundle.backend
    from pseudolabel.batch.job import model_file
    from pseudolabel.compiled import compiled_model

    return compiled_model(bundle.backend, model_file(bundle), compiler=plan.engine,
                          cache_dir=plan.compile_cache)


def _predict(plan: Plan, bundle: ModelBundle, chunk: Chunk, where: str,
             feature_columns: Sequence[str]) -> np.ndarray:
    """The backend's probabilities for one chunk; a failure names the file and rows."""
    X = chunk.X
    model = _model(plan, bundle)
    try:
        P = model.predict_proba(X)
    except Exception as exc:
        nan_rows = np.flatnonzero(np.isnan(X).any(axis=1)) if isinstance(X, np.ndarray) \
            else np.empty(0, np.int64)  # a DataFrame: categorical columns hold missing values
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
    try:  # the one probability check; its values are the kernels' (they name row and column)
        return check_probabilities(P, n_rows=chunk.n_rows, n_classes=len(bundle.classes),
                                   source=f"backend {bundle.backend_name!r}")
    except ProbabilityError as exc:  # the backend's fault: exit code of a backend error
        raise BackendError(f"{where}, rows {chunk.start}..{chunk.start + chunk.n_rows - 1}: "
                           f"{exc}") from exc


def score_chunk(plan: Plan, bundle: ModelBundle, chunk: Chunk, where: str, offset: int,
                probabilities: bool
                ) -> tuple[pa.Table, np.ndarray, np.ndarray, kernels.TopK | None]:
    """Score one chunk; return (table, class_counts, selected_counts, chunk TopK or None)."""
    P = _predict(plan, bundle, chunk, where, plan.feature_columns)
    n, n_classes = P.shape
    first_row = offset + chunk.start
    try:
        summary = kernels.summarize(P)
    except ProbabilityError as exc:
        raise BackendError(f"{where}, rows {chunk.start}..{chunk.start + n - 1}: backend "
                           f"{bundle.backend_name!r} returned invalid probabilities: {exc}"
                           ) from exc
    mask, topk = decide_chunk(
        plan.decision, P, summary.confidence, first_row,
        n_labeled=int(bundle.manifest.get("training", {}).get("n_rows", 0)),
        class_prior=bundle.class_prior)
    if chunk.ids is None:
        ids = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    else:
        try:
            ids = chunk.ids.cast(plan.id_type)
        except pa.ArrowException as exc:
            raise InputError(f"{where}: id column {plan.id_column!r} has type {chunk.ids.type}, "
                             f"other inputs have {plan.id_type} ({exc})") from exc
    labels = bundle.classes[summary.label]
    columns = [ids, pa.array(labels if plan.label_type != pa.string() else labels.astype(str),
                             type=plan.label_type),
               pa.array(summary.confidence.astype(np.float64, copy=False)),
               pa.array(summary.margin.astype(np.float64, copy=False)), pa.array(mask)]
    if probabilities:
        columns += [pa.array(P[:, j].astype(np.float64)) for j in range(n_classes)]
    table = pa.Table.from_arrays(columns, schema=plan.schema())
    if plan.only_selected and not plan.decision.is_global:
        table = table.filter(pa.array(mask))
    class_counts = np.bincount(summary.label, minlength=n_classes).astype(np.int64)
    selected_counts = np.bincount(summary.label[mask], minlength=n_classes).astype(np.int64)
    return table, class_counts, selected_counts, topk


class _Encoder:
    """A bundle's feature schema applied to each chunk (categorical columns as in training);
    ``unseen`` keeps each chunk's count of unseen categories by its first row."""

    def __init__(self, bundle: ModelBundle, where: str) -> None:
        self.schema = bundle.schema
        self.where = where
        self.unseen: dict[int, dict[str, int]] = {}

    def __call__(self, table: pa.Table, start: int) -> Any:
        from pseudolabel.features import encode_table

        encoded = encode_table(self.schema, table, path=self.where, start=start)
        if encoded.unseen:
            self.unseen[start] = encoded.unseen
        return encoded.X


def _source_chunks(plan: Plan, source: Any, start_chunk: int, where: str,
                   encoder: _Encoder | None = None) -> Iterator[Chunk]:
    if isinstance(source, InputFile):
        if encoder is not None and source.format == "npy":
            raise InputError(f"{source.path}: a .npy file holds numbers only, and the model "
                             "has categorical features; label a Parquet or CSV file")
        text = [] if encoder is None else [c.name for c in encoder.schema.categorical]
        return iter_chunks(source, plan.feature_columns, plan.id_column, plan.chunk_rows,
                           start_chunk=start_chunk, encode=encoder, text_columns=text)
    return _table_chunks(plan, source, start_chunk, where, encoder)


def _table_chunks(plan: Plan, frame: Any, start_chunk: int, where: str,
                  encoder: _Encoder | None = None) -> Iterator[Chunk]:
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
        X = table_to_matrix(t, plan.feature_columns, path=where, start=start) \
            if encoder is None else encoder(t, start)
        ids = t.column(plan.id_column).combine_chunks() if plan.id_column else None
        yield Chunk(index, start, X, ids)


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


def _prefetch(iterator: Iterator[Any], depth: int = 1) -> Iterator[Any]:
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

    The chunks of an input are grouped in segments of ``plan.segment_chunks``; each segment
    has a state file that lists its finished chunks, so a Dask job can score the segments
    of one big file on several workers and any run can resume any other's work.
    ``segments=(first, stop)`` limits the call to those segments (``stop`` None: to the end
    of the input). Chunks already recorded are not scored again; their TopK states are
    reloaded and merged.

    Returns
    -------
    FileResult
        Counts and the TopK of the chunks in range; ``first_chunk`` is the first of them.
    """
    bundle = _bundle_for(plan)
    S = plan.segment_chunks
    first_seg, stop_seg = segments
    where = where or (source.path if isinstance(source, InputFile) else f"partition {index}")
    work = plan.work
    out_dir = work / "pending" if plan.decision.is_global else plan.parts
    states: dict[int, dict[str, Any]] = {}
    for seg, state in read_segment_states(work, index).items():
        if seg < first_seg or (stop_seg is not None and seg >= stop_seg):
            continue
        if state.get("offset") != offset:
            raise InputError(
                f"{where}: the interrupted run saw this input at row {state.get('offset')}, "
                f"now at row {offset}; the inputs changed, start again with --overwrite")
        states[seg] = state
    topk = plan.decision.new_topk() if plan.decision.is_global else None
    for seg, state in sorted(states.items()):
        for j, c in enumerate(state["chunks"]):
            if topk is not None:
                topk.merge(load_topk(topk_path(work, part_name(index, seg * S + j))))
            if on_rows is not None:
                on_rows(c["rows"], True)
    # The segment where the input ends, when a run has seen the end (complete, short).
    end_seg = min((seg for seg, state in states.items()
                   if state["complete"] and len(state["chunks"]) < S), default=None)
    # Segments in range that still need work; open-ended: up to the end if known, else up
    # to one past the last known segment.
    stop = stop_seg if stop_seg is not None else (
        end_seg + 1 if end_seg is not None else max([first_seg - 1, *states]) + 2)
    todo = [seg for seg in range(first_seg, stop) if not states.get(seg, {}).get("complete")]
    if todo:
        _score_segments(plan, bundle, index, source, offset, states, todo[0], stop_seg, topk,
                        probabilities=probabilities, where=where, out_dir=out_dir,
                        on_rows=on_rows)
    rows: list[int] = []
    class_counts = np.zeros(plan.n_classes, dtype=np.int64)
    selected_counts = np.zeros(plan.n_classes, dtype=np.int64)
    unseen: dict[str, int] = {}
    for seg in sorted(states):
        for c in states[seg]["chunks"]:
            rows.append(int(c["rows"]))
            class_counts += np.asarray(c["class_counts"], dtype=np.int64)
            selected_counts += np.asarray(c["selected_counts"], dtype=np.int64)
            for name, n in c.get("unseen", {}).items():
                unseen[name] = unseen.get(name, 0) + int(n)
    return FileResult(index, int(sum(rows)), rows, class_counts, selected_counts, topk,
                      first_chunk=first_seg * S, unseen=unseen)


def _new_state(index: int, segment: int, offset: int) -> dict[str, Any]:
    return {"index": index, "segment": segment, "offset": offset, "chunks": [],
            "complete": False}


def _score_segments(plan: Plan, bundle: ModelBundle, index: int, source: Any, offset: int,
                    states: dict[int, dict[str, Any]], start_seg: int, stop_seg: int | None,
                    topk: kernels.TopK | None, *, probabilities: bool, where: str,
                    out_dir: Path, on_rows: Callable[..., None] | None) -> None:
    """Score the chunks from the first unrecorded one of ``start_seg`` on; update ``states``."""
    S = plan.segment_chunks
    work = plan.work
    start_chunk = start_seg * S + len(states.get(start_seg, {}).get("chunks", []))
    stop_chunk = None if stop_seg is None else stop_seg * S
    last_seg, ended = start_seg, True
    # The writer commits each chunk in order: part, TopK state, then segment state.
    writer = _Writer()
    encoder = None if bundle.schema.is_numeric else _Encoder(bundle, where)
    try:
        for chunk in _prefetch(_source_chunks(plan, source, start_chunk, where, encoder)):
            if stop_chunk is not None and chunk.index >= stop_chunk:
                ended = False
                break
            seg = last_seg = chunk.index // S
            state = states.setdefault(seg, _new_state(index, seg, offset))
            if state["complete"] or chunk.index % S < len(state["chunks"]):
                continue  # done by another run (a Dask segment task)
            table, class_counts, selected_counts, chunk_topk = score_chunk(
                plan, bundle, chunk, where, offset, probabilities)
            name = part_name(index, chunk.index)
            chunk_state = None
            if chunk_topk is not None and topk is not None:
                chunk_state = topk_bytes(chunk_topk)
                topk.merge(chunk_topk)
            state["chunks"].append({"rows": chunk.n_rows,
                                    "class_counts": class_counts.tolist(),
                                    "selected_counts": selected_counts.tolist()})
            if encoder is not None and chunk.start in encoder.unseen:
                state["chunks"][-1]["unseen"] = encoder.unseen.pop(chunk.start)
            state["complete"] = len(state["chunks"]) == S
            writer.submit(commit_chunk, out_dir / name, table, topk_path(work, name),
                          chunk_state, work, copy.deepcopy(state))
            if on_rows is not None:
                on_rows(chunk.n_rows)
    finally:
        writer.close()
    if ended:  # the input ended inside segment last_seg (or before it started)
        state = states.setdefault(last_seg, _new_state(index, last_seg, offset))
        if not state["complete"]:
            state["complete"] = True
            write_segment_state(work, state)


def finalize_source(plan: Plan, index: int, offset: int, chunk_rows: Sequence[int],
                    selected_rows: np.ndarray) -> None:
    """Rewrite one input's pending parts with the global decision (idempotent).

    ``selected_rows`` holds the sorted global row numbers that are selected. A part whose
    final file exists is done; its pending file is removed only after the final one is in
    place, so a kill at any point leaves a state the next run completes.
    """
    start = offset
    for ci, n in enumerate(chunk_rows):
        name = part_name(index, ci)
        final, pending = plan.parts / name, plan.work / "pending" / name
        if not final.exists():
            table = pq.read_table(pending, schema=plan.schema())
            lo, hi = np.searchsorted(selected_rows, [start, start + n])
            mask = np.zeros(n, dtype=bool)
            mask[selected_rows[lo:hi] - start] = True
            table = table.set_column(table.schema.get_field_index("selected"), "selected",
                                     pa.array(mask))
            if plan.only_selected:
                table = table.filter(pa.array(mask))
            write_table(final, table)
        pending.unlink(missing_ok=True)
        start += n

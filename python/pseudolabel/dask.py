"""Run the batch ``label`` job on a Dask cluster: :func:`label`.

Parquet and ``.npy`` files are split into segments of 32 chunks, one task each (so one big
file spreads over the workers); a CSV file or a partition of a ``dask.dataframe`` is one
task. The worker loads the model bundle once per process (verifying its checksums), scores
its chunks with the backend and the Rust kernels, and writes their Parquet parts and state
files exactly as the local job does (:func:`pseudolabel.batch.scoring.process_source`). The
output is therefore identical to a local run over the same inputs and ``chunk_rows``: same
parts, same rows, same bytes; and a local run can resume a Dask run's work, and back.

Global decisions (``top_k``, ``per_class_k``) are a tree reduction of
:class:`pseudolabel.kernels.TopK` merges on the workers; only the merged accumulator comes
back to the client, which then sends the selected row numbers to the finalization tasks.

Workers must see the same filesystem paths as the client (a local cluster, or a shared
filesystem): they read the bundle and the inputs and write the parts themselves.
Importing this module does not import Dask; calling :func:`label` does.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pseudolabel.io.tables import count_rows, expand_inputs, inspect_input
from pseudolabel.batch.decisions import DecisionSpec, pairwise_reduce
from pseudolabel.batch.finish import complete_job, global_selection
from pseudolabel.batch.job import (
    DEFAULT_CHUNK_ROWS,
    FileResult,
    LabelResult,
    check_selection,
    cleanup_on_error,
    prepare_job,
)
from pseudolabel.batch.progress import Progress
from pseudolabel.batch.scoring import finalize_source, process_source
from pseudolabel.exceptions import MissingDependencyError, ParameterError

__all__ = ["label", "local_cluster"]


def _distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - dask is a test dependency
        raise MissingDependencyError(
            "pseudolabel.dask needs Dask: pip install 'pseudolabel[dask]'") from exc
    return distributed


def local_cluster(n_workers: int, **kwargs: Any):
    """Start a ``dask.distributed.LocalCluster`` of worker processes on loopback.

    One thread per worker (backends and kernels bring their own threads); the scheduler's
    HTTP server takes a free port (never a fixed 8787 another cluster may hold). Extra
    keyword arguments go to ``LocalCluster``.
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) \
            or n_workers < 1:
        raise ParameterError(f"workers must be a positive integer, got {n_workers!r}")
    distributed = _distributed()
    opts = dict(n_workers=int(n_workers), threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=":0")
    opts.update(kwargs)
    return distributed.LocalCluster(**opts)


# ----------------------------------------------------------------- tasks (run on workers)
def _stats(result: FileResult) -> FileResult:
    return dataclasses.replace(result, topk=None)


def _topk(result: FileResult):
    return result.topk


def _merge(a, b):
    if a is None:
        return b
    if b is not None:
        a.merge(b)
    return a


def _count(info) -> int:
    return count_rows(info)


def _submit_source(client, plan, index: int, source: Any, offset: int, n_rows: int,
                   probabilities: bool, where: str) -> list:
    """Submit :func:`process_source` tasks for one input; return their futures.

    A Parquet or ``.npy`` file (which can be entered at any row cheaply) gets one task per
    segment of ``plan.segment_chunks`` chunks, so one big file spreads over the workers.
    A CSV file (read from its start) and a Dask partition get one task each.
    """
    if hasattr(source, "dask") and hasattr(source, "key"):  # a Delayed partition
        import dask

        task = dask.delayed(process_source, pure=False)(
            plan, index, source, offset, probabilities=probabilities, where=where)
        return [client.compute(task)]
    if getattr(source, "format", None) in ("parquet", "npy") and n_rows > 0:
        n_chunks = -(-n_rows // plan.chunk_rows)
        n_segments = -(-n_chunks // plan.segment_chunks)
        return [client.submit(process_source, plan, index, source, offset,
                              probabilities=probabilities, segments=(k, k + 1), where=where,
                              pure=False)
                for k in range(n_segments)]
    return [client.submit(process_source, plan, index, source, offset,
                          probabilities=probabilities, where=where, pure=False)]


def _combine(parts: list[FileResult]) -> FileResult:
    """One input's result from its segment tasks' results."""
    parts = sorted(parts, key=lambda r: r.first_chunk)
    rows = [n for r in parts for n in r.chunk_rows]
    unseen: dict[str, int] = {}
    for r in parts:
        for name, n in r.unseen.items():
            unseen[name] = unseen.get(name, 0) + n
    return FileResult(parts[0].index, int(sum(rows)), rows,
                      np.sum([r.class_counts for r in parts], axis=0),
                      np.sum([r.selected_counts for r in parts], axis=0), None, unseen=unseen)


def _is_dask_dataframe(obj: Any) -> bool:
    mod = type(obj).__module__
    return mod.startswith("dask") and hasattr(obj, "npartitions") and hasattr(obj, "to_delayed")


def _tree_reduce(client, futures: list):
    """Merge futures pairwise on the workers until one is left (depth log2(n))."""
    return pairwise_reduce(futures, lambda a, b: client.submit(_merge, a, b, pure=False))


def label(model: Any, data: Any, output: str | os.PathLike, *, id_column: str | None = None,
          threshold: float | None = None, top_k: int | None = None,
          per_class_k: int | None = None, strategy: str | None = None,
          strategy_params: Mapping[str, Any] | None = None,
          chunk_rows: int = DEFAULT_CHUNK_ROWS, probabilities: bool = False,
          resume: bool = False, overwrite: bool = False, trust_pickle: bool = False,
          progress: bool | None = False, client: Any = None, scheduler: str | None = None,
          workers: int | None = None, only_selected: bool = False, engine: str = "auto",
          compile_cache: str | os.PathLike | None = None,
          features: Sequence[str] | None = None,
          exclude: Sequence[str] | None = None) -> LabelResult:
    """Label files or a ``dask.dataframe`` on a Dask cluster; same output as the local job.

    Parameters
    ----------
    model : path-like or ModelBundle
        Model bundle (``pseudolabel train``).
    data : path, glob, directory, sequence of them, or dask.dataframe.DataFrame
        Files: one task per file, chunked as the local job chunks them. A Dask DataFrame: one
        task per partition, chunked within it; rows are numbered in partition order.
    output : path-like
        ``*.parquet`` for one file, otherwise a dataset directory.
    client : distributed.Client, optional
        Use this client.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:port``).
    workers : int, optional
        Start a local cluster of this many worker processes for the job (and stop it after).
    features, exclude
        As :func:`pseudolabel.batch.label`: checked against each file's columns, or the
        Dask DataFrame's.
    engine, compile_cache
        As :func:`pseudolabel.batch.label`; the engine is chosen (and the model compiled)
        here, and each worker process loads the compiled model from ``compile_cache`` (a
        directory the workers share) or compiles it once itself.
    **others
        As :func:`pseudolabel.batch.label`.

    Returns
    -------
    LabelResult
    """
    distributed = _distributed()
    if sum(x is not None for x in (client, scheduler, workers)) > 1:
        raise ParameterError("give at most one of client, scheduler and workers")
    t0 = time.perf_counter()
    decision = DecisionSpec.from_options(threshold=threshold, top_k=top_k,
                                         per_class_k=per_class_k, strategy=strategy,
                                         strategy_params=strategy_params)
    cluster = own_client = None
    try:
        if client is None:
            if workers is not None:
                cluster = local_cluster(workers)
                client = own_client = distributed.Client(cluster)
            elif scheduler is not None:
                client = own_client = distributed.Client(scheduler)
            else:
                try:
                    client = distributed.get_client()
                except ValueError as exc:
                    raise ParameterError(
                        "no Dask cluster: pass client=, scheduler= or workers=") from exc
        return _run(client, model, data, output, decision=decision, id_column=id_column,
                    chunk_rows=chunk_rows, probabilities=probabilities, resume=resume,
                    overwrite=overwrite, trust_pickle=trust_pickle, progress=progress, t0=t0,
                    only_selected=only_selected, engine=engine, compile_cache=compile_cache,
                    features=features, exclude=exclude)
    finally:
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()


def _run(client, model, data, output, *, decision: DecisionSpec, id_column, chunk_rows,
         probabilities, resume, overwrite, trust_pickle, progress, t0, engine,
         compile_cache, only_selected: bool = False, features=None,
         exclude=None) -> LabelResult:
    distributed = _distributed()
    id_type = None
    if _is_dask_dataframe(data):
        from dask.base import tokenize

        from pseudolabel.batch.bundle import ModelBundle, load_bundle

        bundle = model if isinstance(model, ModelBundle) else load_bundle(
            model, trust_pickle=trust_pickle)
        meta = pa.Schema.from_pandas(data._meta, preserve_index=False)
        if id_column is None and bundle.id_column in meta.names:
            id_column = bundle.id_column
        check_selection(bundle, meta.names, where="the Dask DataFrame", id_column=id_column,
                        features=features, exclude=exclude)
        missing = [c for c in (*bundle.feature_columns, *([id_column] if id_column else []))
                   if c not in meta.names]
        if missing:
            from pseudolabel.exceptions import InputError

            raise InputError(f"the Dask DataFrame is missing column(s) "
                             f"{', '.join(map(repr, missing))}")
        if id_column:
            id_type = meta.field(id_column).type
        model = bundle
        # Partition lengths first (each partition is computed and reduced to its length),
        # then the partitions again as inputs of the scoring tasks: no partition is held
        # in memory longer than its task.
        lengths = [int(n) for n in client.compute(data.map_partitions(len)).result()]
        sources: list[Any] = list(data.to_delayed())
        fingerprint: Any = {"dask_dataframe": tokenize(data), "npartitions": data.npartitions}
        wheres = [f"partition {i}" for i in range(len(sources))]
        checked: list[Any] = []
    else:
        files = [inspect_input(p) for p in expand_inputs(data)]
        unknown = [i for i, f in enumerate(files) if f.n_rows is None]
        counted = client.gather(client.map(_count, [files[i] for i in unknown], pure=False))
        lengths = [f.n_rows or 0 for f in files]
        for i, n in zip(unknown, counted):
            lengths[i] = n
        sources = files
        fingerprint = [f.fingerprint() for f in files]
        wheres = [f.path for f in files]
        checked = files
    bar = Progress(int(sum(lengths)), mode=progress, prefix="pseudolabel label (dask)")
    job = prepare_job(model, output, sources=checked,
                      source_fingerprint=fingerprint, id_column=id_column, decision=decision,
                      chunk_rows=chunk_rows, probabilities=probabilities, resume=resume,
                      overwrite=overwrite, trust_pickle=trust_pickle, id_type=id_type,
                      log=bar.log, only_selected=only_selected, engine=engine,
                      compile_cache=compile_cache, n_rows=int(sum(lengths)),
                      features=features, exclude=exclude)
    # tasks already running on the workers may still write after an interruption here, so
    # the staging directory stays locked until this process is gone
    with cleanup_on_error(job, release=False):
        plan = job.plan
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        done = [f for i, src in enumerate(sources)
                for f in _submit_source(client, plan, i, src, int(offsets[i]), int(lengths[i]),
                                        probabilities, wheres[i])]
        stats = [client.submit(_stats, f, pure=False) for f in done]
        by_input: dict[int, list[FileResult]] = {i: [] for i in range(len(sources))}
        try:
            # on this client's loop: as_completed otherwise gathers on the default client's,
            # which is another client's when the process holds several (dask/distributed#4357:
            # garbled comms or a hang)
            for _, res in distributed.as_completed(stats, with_results=True, loop=client.loop):
                by_input[res.index].append(res)
                bar(res.rows)
        finally:
            bar.close()
        results = [_combine(by_input[i]) for i in range(len(sources))]
        labels = None
        if decision.is_global:
            merged = _tree_reduce(client, [client.submit(_topk, f, pure=False) for f in done])
            topk = merged.result() if merged is not None else None
            rows, labels = global_selection(job, topk)
            if not job.published:  # else the final parts are in the output already
                [sel] = client.scatter([rows], broadcast=True)
                client.gather([client.submit(finalize_source, plan, r.index,
                                             int(offsets[r.index]), r.chunk_rows, sel,
                                             pure=False) for r in results])
        del done
        return complete_job(job, results, selected_labels=labels, seconds_since=t0)

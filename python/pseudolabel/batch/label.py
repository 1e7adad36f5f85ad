"""The local run of the ``label`` job: score a pool of rows in chunks, decide, write Parquet.

How a job runs
--------------
Input files are read chunk by chunk (:mod:`pseudolabel.io.tables`) and scored
(:mod:`pseudolabel.batch.scoring`): each chunk's output rows become one Parquet part. The
decision (:mod:`pseudolabel.batch.decisions`) is known per chunk for ``threshold`` and
``strategy``; for ``top_k`` / ``per_class_k`` the parts are first written with
``selected = False`` to a pending area, the chunks' TopK accumulators are merged, and a
finalization step rewrites the parts, one at a time, with the global decision.

Crash safety
------------
Everything is written under a staging directory beside the output
(``.NAME.pseudolabel-partial``, :mod:`pseudolabel.batch.job`). Parts are written to a
temporary name and renamed. After each chunk the state file of its segment (32 chunks of
one input; also replaced atomically, :mod:`pseudolabel.batch.state`) records what is done,
so a job killed at any point resumes at the first chunk not recorded; chunks are cut at the
same rows, so the final output is identical to an uninterrupted run. A lock file
(:mod:`pseudolabel.batch.lock`) keeps a second live run on the same host out. Only when all
parts are final does the output appear, through re-runnable finishing steps
(:mod:`pseudolabel.batch.finish`). Memory stays bounded by one chunk plus the top-k
accumulators.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pseudolabel.batch.bundle import ModelBundle
from pseudolabel.batch.decisions import DecisionSpec, merge_topk
from pseudolabel.batch.finish import complete_job, global_selection
from pseudolabel.batch.job import DEFAULT_CHUNK_ROWS, LabelResult, cleanup_on_error, prepare_job
from pseudolabel.batch.progress import Progress
from pseudolabel.batch.scoring import finalize_source, process_source
from pseudolabel.io.tables import expand_inputs, inspect_input

__all__ = ["DEFAULT_CHUNK_ROWS", "DecisionSpec", "LabelResult", "label"]


def label(model: str | os.PathLike[str] | ModelBundle,
          input: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
          output: str | os.PathLike[str], *, id_column: str | None = None,
          threshold: float | None = None, top_k: int | None = None,
          per_class_k: int | None = None, strategy: str | None = None,
          strategy_params: Mapping[str, Any] | None = None,
          chunk_rows: int = DEFAULT_CHUNK_ROWS, probabilities: bool = False,
          resume: bool = False, overwrite: bool = False, trust_pickle: bool = False,
          progress: bool | None = False, only_selected: bool = False, engine: str = "auto",
          compile_cache: str | os.PathLike[str] | None = None,
          features: Sequence[str] | None = None,
          exclude: Sequence[str] | None = None) -> LabelResult:
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
        The decision written to ``selected`` (:mod:`pseudolabel.batch.decisions`).
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
    only_selected : bool, default False
        Write the selected rows alone (the counts still cover every row).
    engine : {"auto", "native", "compiled"}, default "auto"
        What predicts (:func:`pseudolabel.compiled.choose_engine`): the backend, or its
        model compiled on this machine into the local cache. ``auto`` compiles when a
        compiler is installed, supports the model and the compile pays (cached, or enough
        rows); otherwise native, and says why in the progress output.
    compile_cache : path-like, optional
        Cache directory of compiled models (default ``$PSEUDOLABEL_CACHE_DIR`` or
        ``$XDG_CACHE_HOME/pseudolabel``).
    features, exclude : sequence of str, optional
        Input columns to select (default: every column but the id and the bundle's target)
        / to leave out of that selection. The bundle fixes the model's features; the
        selection must be exactly those (an error names the missing and extra columns and
        the file), e.g. to check a file's columns or to name extra columns to ignore.

    Returns
    -------
    LabelResult

    Raises
    ------
    InputError
        Missing files or columns, a ``features`` / ``exclude`` selection that is not the
        bundle's features, unreadable or corrupt data, NaN a backend cannot take
        (the message names the file and row), an input changed since the interrupted run.
    BundleError
        The bundle is corrupt, edited, or holds a pickle without ``trust_pickle``.
    EngineUnavailableError
        ``engine="compiled"`` and no installed compiler can compile the model (the message
        says why).
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
                      log=bar.log, only_selected=only_selected, engine=engine,
                      compile_cache=compile_cache, features=features, exclude=exclude)
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
            rows, labels = global_selection(job, merge_topk([r.topk for r in results]))
            offset = 0
            for r in results:
                if not job.published:  # else the final parts are in the output already
                    finalize_source(job.plan, r.index, offset, r.chunk_rows, rows)
                offset += r.rows
        return complete_job(job, results, selected_labels=labels, seconds_since=t0)

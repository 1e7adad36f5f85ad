"""Finishing a ``label`` job: re-runnable steps from the scored parts to the published output.

Every step is idempotent and records its effect before the next one starts, so a job
killed at any point between (or inside) them is completed by ``--resume``, with the same
bytes and nothing left behind. The work directory (state, lock) stays until the last step.

One ``*.parquet`` output:

1. ``concatenate``: the parts into ``STAGING/NAME.tmp`` (a partial file from a killed run is
   rewritten), then ``ready.json`` names it;
2. ``publish``: rename it to the output (an existing output is replaced only with
   ``overwrite``, moved aside first and removed after);
3. ``clean up``: remove the staging directory and anything a killed publish left aside.

A dataset directory output:

1. ``summary``: an empty part if there is none (the schema), ``_pseudolabel_summary.json``,
   then ``ready.json`` names ``STAGING/parts``;
2. ``publish``: rename ``STAGING/parts`` to the output;
3. ``clean up``, as above.

After ``publish`` the output is recognized as this job's own (``ready.json`` holds its
device and inode, which a rename keeps), so ``--resume`` only cleans up.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pseudolabel import kernels
from pseudolabel.batch.decisions import selected_rows
from pseudolabel.batch.job import FileResult, Job, LabelResult
from pseudolabel.batch.state import (
    PARQUET_OPTIONS,
    is_ready,
    mark_ready,
    part_name,
    published_output,
    write_selection,
    write_table,
)
from pseudolabel.io.atomic import atomic_write_json, publish, remove_path

__all__ = ["SUMMARY_NAME", "FinishStep", "global_selection", "finish_steps", "complete_job",
           "job_result"]

SUMMARY_NAME = "_pseudolabel_summary.json"


@dataclass(frozen=True)
class FinishStep:
    """One re-runnable step of finishing a job."""

    name: str
    run: Callable[[], None]


def global_selection(job: Job, topk: kernels.TopK | None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted global row numbers selected by the merged TopK and their column labels
    (recorded in the work directory)."""
    rows, labels = selected_rows(topk)
    write_selection(job.plan.work, rows)
    return rows, labels


def job_result(job: Job, results: Sequence[FileResult], *,
               selected_labels: np.ndarray | None, seconds_since: float) -> LabelResult:
    """The :class:`LabelResult` of a job whose inputs are all scored."""
    classes = job.bundle.classes
    class_counts = np.zeros(len(classes), np.int64)
    selected_counts = np.zeros(len(classes), np.int64)
    for r in results:
        class_counts += r.class_counts
        selected_counts += r.selected_counts
    if selected_labels is not None:
        selected_counts = np.bincount(selected_labels, minlength=len(classes)).astype(np.int64)

    def as_key(c: Any) -> Any:
        return c.item() if hasattr(c, "item") else c

    return LabelResult(
        output=job.output, rows=int(class_counts.sum()), selected=int(selected_counts.sum()),
        class_counts={as_key(c): int(n) for c, n in zip(classes, class_counts)},
        selected_per_class={as_key(c): int(n) for c, n in zip(classes, selected_counts)},
        seconds=time.perf_counter() - seconds_since, files=len(results),
        chunks=sum(len(r.chunk_rows) for r in results), resumed=job.resumed,
        decision=job.plan.decision.describe(),
    )


def _summary(job: Job, result: LabelResult, n_parts: int) -> dict[str, Any]:
    plan = job.plan
    return {"rows": result.rows, "selected": result.selected,
            "class_counts": {str(k): v for k, v in result.class_counts.items()},
            "selected_per_class": {str(k): v for k, v in result.selected_per_class.items()},
            "decision": plan.decision.as_json(), "model": plan.bundle_checksum,
            "chunk_rows": plan.chunk_rows, "parts": n_parts}


def _clean_up(job: Job) -> None:
    output = job.output
    for aside in output.parent.glob(f".{output.name}.old-*"):  # left by a killed publish
        remove_path(aside)
    shutil.rmtree(job.plan.staging, ignore_errors=True)


def finish_steps(job: Job, results: Sequence[FileResult], result: LabelResult
                 ) -> list[FinishStep]:
    """The steps that turn a job's final parts into its output, in order."""
    plan = job.plan
    work, output = plan.work, job.output
    parts = [plan.parts / part_name(r.index, i) for r in results
             for i in range(len(r.chunk_rows))]
    summary = _summary(job, result, len(parts))

    if output.suffix.lower() in (".parquet", ".pq"):
        merged = Path(plan.staging) / f"{output.name}.tmp"

        def concatenate() -> None:
            if published_output(work, output) or is_ready(work, merged):
                return
            remove_path(merged)
            schema = plan.schema().with_metadata(
                {"pseudolabel": json.dumps(summary, sort_keys=True)})
            try:
                with pq.ParquetWriter(merged, schema, **PARQUET_OPTIONS) as writer:
                    for p in parts:
                        writer.write_table(pq.read_table(p, schema=plan.schema())
                                           .replace_schema_metadata(schema.metadata))
            except BaseException:  # no half-written merged file left behind
                remove_path(merged)
                raise
            mark_ready(work, merged)

        def publish_file() -> None:
            if not published_output(work, output):
                publish(merged, output, overwrite=job.overwrite)

        return [FinishStep("concatenate", concatenate), FinishStep("publish", publish_file),
                FinishStep("clean up", lambda: _clean_up(job))]

    def write_summary() -> None:
        if published_output(work, output):
            return
        if not parts:  # an empty input still gives a readable dataset with the schema
            write_table(plan.parts / part_name(0, 0), plan.schema().empty_table())
        atomic_write_json(plan.parts / SUMMARY_NAME, summary)
        mark_ready(work, plan.parts)

    def publish_dataset() -> None:
        if not published_output(work, output):
            publish(plan.parts, output, overwrite=job.overwrite)

    return [FinishStep("summary", write_summary), FinishStep("publish", publish_dataset),
            FinishStep("clean up", lambda: _clean_up(job))]


def complete_job(job: Job, results: Sequence[FileResult], *, selected_labels: np.ndarray | None,
                 seconds_since: float) -> LabelResult:
    """Run every finishing step: write the summary, publish the output, remove staging."""
    result = job_result(job, results, selected_labels=selected_labels,
                        seconds_since=seconds_since)
    for step in finish_steps(job, results, result):
        step.run()
    return result

"""Label Studio's JSON files: reading its export (for ``teach``), writing bulk-import tasks (for ``export``).

Label Studio's JSON export is a list of tasks, each ``{"id", "data": {...}, "annotations":
[{"id", "result": [...], "completed_by", "was_cancelled", "created_at", "updated_at"}, ...]}``.
:func:`read_export` turns it into labels with the same annotation parsing as the ``/webhook``
(:func:`~pseudolabel.serve.protocol.parse_annotation`): cancelled annotations are skipped and
each task contributes its *latest* non-cancelled annotation (by ``updated_at``, else
``created_at``, then annotation id), so a task that several annotators labeled gives the last
word, as Label Studio's own data manager shows it.

Its bulk import takes ``[{"data": {...}, "predictions": [{"model_version", "score",
"result"}]}]``; :func:`import_task` builds one, with the prediction payload ``/predict``
answers (:func:`~pseudolabel.serve.protocol.prediction`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError
from pseudolabel.serve.protocol import (
    ChoicesTag,
    annotation_origin,
    parse_annotation,
    prediction,
)

__all__ = ["ExportLabels", "read_export", "import_task", "json_value"]


@dataclass(frozen=True)
class ExportLabels:
    """The labels of one Label Studio export file, one per annotated task."""

    ids: list[str]
    labels: list[str]
    annotators: list[str | None]
    origins: list[str]
    n_tasks: int
    n_unannotated: int  # no annotation, only cancelled ones, or an empty latest result


def _when(annotation: dict[str, Any]) -> tuple[str, str]:
    stamp = annotation.get("updated_at") or annotation.get("created_at") or ""
    ident = annotation.get("id")
    return str(stamp), f"{ident:>20}" if isinstance(ident, int) else str(ident or "")


def read_export(path: str, id_column: str, tag: ChoicesTag | None = None) -> ExportLabels:
    """The labels of Label Studio's JSON export at ``path``.

    The item id is ``data[id_column]``. ``tag`` (a labeling config's ``<Choices>``), when
    given, restricts the results read to its ``from_name`` and checks each choice against it.

    Raises
    ------
    InputError
        Naming the file and the task (its index in the list and its id): the file is not
        JSON or not a list of tasks, a task has no ``data[id_column]``, an annotation has a
        result but no ``choices`` one, or picks several choices.
    """
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as handle:
            tasks = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}): "
                         f"{exc.msg}; expected Label Studio's JSON export") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: {exc}") from exc
    if not isinstance(tasks, list):
        raise InputError(f"{path}: Label Studio's JSON export is a list of tasks, got a "
                         f"{type(tasks).__name__}")
    ids: list[str] = []
    labels: list[str] = []
    annotators: list[str | None] = []
    origins: list[str] = []
    n_unannotated = 0
    for index, task in enumerate(tasks):
        where = f"{path}: task #{index}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise InputError(f"{where} is not an object with a 'data' object")
        where += f" (id {task.get('id')!r})"
        value = task["data"].get(id_column)
        if value is None or value == "" or isinstance(value, (dict, list)):
            raise InputError(f"{where} has no {id_column!r} field in its data (fields: "
                             f"{sorted(task['data'])}); pass --id-column")
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise InputError(f"{where}: 'annotations' must be a list of objects")
        kept = [a for a in annotations if not a.get("was_cancelled")]
        if not kept:
            n_unannotated += 1
            continue
        latest = max(kept, key=_when)
        try:
            answer = parse_annotation({"task": task, "annotation": latest}, tag)
        except InputError as exc:
            raise InputError(f"{where}, annotation {latest.get('id')!r}: {exc}") from None
        if answer is None:
            kinds = sorted({str(r.get("type")) for r in latest.get("result") or []
                            if isinstance(r, dict)})
            if kinds:
                raise InputError(f"{where}, annotation {latest.get('id')!r} has no choices "
                                 f"result (result types: {kinds}); pseudolabel reads "
                                 "classification (<Choices>) annotations")
            n_unannotated += 1
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ids.append(str(value))
        labels.append(answer.label)
        annotators.append(answer.annotator)
        origins.append(annotation_origin(answer.annotation_id, name))
    return ExportLabels(ids, labels, annotators, origins, len(tasks), n_unannotated)


def json_value(value: Any) -> Any:
    """A JSON-safe copy of one data value: numpy scalars as Python, NaN/NaT/inf as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def import_task(data: dict[str, Any], tag: ChoicesTag, label: str | None, score: float,
                model_version: str) -> dict[str, Any]:
    """One task of Label Studio's bulk import, with the prediction ``/predict`` would give."""
    return {
        "data": {str(k): json_value(v) for k, v in data.items()},
        "predictions": [prediction(tag, label, score, model_version)],
    }

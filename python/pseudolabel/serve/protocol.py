"""The Label Studio ML-backend protocol: labeling configs, prediction payloads and annotation events.

Pure functions over the JSON that Label Studio sends and expects, so the HTTP layer
(:mod:`pseudolabel.serve.app`) and the labeling service (:mod:`pseudolabel.serve.service`)
never parse payloads themselves.

What Label Studio sends (its "ML backend" protocol, free edition):

* ``POST /predict`` ``{"tasks": [{"id": 7, "data": {...}}, ...], "label_config": "<View>...",
  "project": ..., "params": {...}}``; the answer is ``{"results": [{"result": [...],
  "score": s, "model_version": v}, ...]}`` in task order. Label Studio can sort the data
  manager by prediction score, lowest first, so a *lower* score must mean "ask a human first".
* ``POST /webhook`` with ``{"action": "ANNOTATION_CREATED" | "ANNOTATION_UPDATED" |
  "ANNOTATIONS_DELETED", "task": {...}, "annotation": {"id", "completed_by", "result": [...]},
  "project": {"label_config": ...}}``; a delete event carries only the annotations' ids,
  ``{"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 17}, ...], "project": {...}}``.

A label from an annotation keeps the annotation id in its origin: ``label-studio annotation
17`` from the webhook (:func:`annotation_origin`), ``FILE annotation 17`` from an export file
read by ``teach``; :func:`annotation_origins` finds them again when the annotation is deleted.

A labeling config's classification part is a ``<Choices name=... toName=...>`` tag with
``<Choice value=.../>`` children; :func:`parse_label_config` reads it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any

from pseudolabel.exceptions import InputError

__all__ = [
    "ANNOTATION_EVENTS",
    "DELETE_EVENTS",
    "ChoicesTag",
    "Annotation",
    "parse_label_config",
    "prediction",
    "parse_annotation",
    "annotator_name",
    "annotation_origin",
    "deleted_annotation_ids",
    "annotation_origins",
]

#: Webhook actions that carry a (new or changed) annotation.
ANNOTATION_EVENTS: frozenset[str] = frozenset({"ANNOTATION_CREATED", "ANNOTATION_UPDATED"})
#: Webhook actions that delete annotations.
DELETE_EVENTS: frozenset[str] = frozenset({"ANNOTATIONS_DELETED"})


@dataclass(frozen=True)
class ChoicesTag:
    """The ``<Choices>`` tag of a labeling config: where predictions go and the classes.

    Attributes
    ----------
    from_name : str
        The tag's ``name`` (a prediction's ``from_name``).
    to_name : str
        The tag's ``toName`` (the object it labels, a prediction's ``to_name``).
    choices : tuple of str
        The ``value`` of each ``<Choice>``, in config order.
    """

    from_name: str
    to_name: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Annotation:
    """One annotation of one task, as a label for the store."""

    task_id: Any
    annotation_id: Any
    label: str
    annotator: str | None
    data: dict[str, Any]


def parse_label_config(label_config: str) -> ChoicesTag:
    """The single ``<Choices>`` tag of a Label Studio labeling config.

    Raises
    ------
    InputError
        The config is not XML, has no ``<Choices>`` tag, has several, or a tag lacks
        ``name``/``toName`` or choices.
    """
    if not isinstance(label_config, str) or not label_config.strip():
        raise InputError("the labeling config is empty; Label Studio sends it as 'label_config'")
    try:
        root = ElementTree.fromstring(label_config)
    except ElementTree.ParseError as exc:
        raise InputError(f"the labeling config is not valid XML: {exc}") from exc
    tags = [el for el in root.iter() if el.tag == "Choices"]
    if not tags:
        raise InputError(
            "the labeling config has no <Choices> tag; pseudolabel serve predicts one class "
            "per task (a classification project)"
        )
    if len(tags) > 1:
        names = [t.get("name", "?") for t in tags]
        raise InputError(f"the labeling config has {len(tags)} <Choices> tags ({names}); "
                         "pseudolabel serve supports one")
    tag = tags[0]
    name, to_name = tag.get("name"), tag.get("toName")
    if not name or not to_name:
        raise InputError("the labeling config's <Choices> tag needs 'name' and 'toName'")
    choices = tuple(c.get("value") or c.get("alias") or "" for c in tag.iter("Choice"))
    if not choices or any(not c for c in choices):
        raise InputError(f"the <Choices name={name!r}> tag has no choices, or one without 'value'")
    return ChoicesTag(name, to_name, choices)


def prediction(tag: ChoicesTag | None, label: str | None, score: float,
               model_version: str) -> dict[str, Any]:
    """One task's prediction payload: the guessed choice and the score (lower = ask first).

    ``label`` None (no model yet) gives an empty ``result`` with the score, so Label Studio
    still orders the task.
    """
    result: list[dict[str, Any]] = []
    if label is not None and tag is not None:
        result.append({
            "from_name": tag.from_name,
            "to_name": tag.to_name,
            "type": "choices",
            "value": {"choices": [str(label)]},
        })
    return {"result": result, "score": float(score), "model_version": model_version}


def annotator_name(completed_by: Any) -> str | None:
    """Label Studio's ``completed_by`` (a user id, or a user object) as an annotator name."""
    if completed_by is None:
        return None
    if isinstance(completed_by, dict):
        for key in ("email", "username", "id"):
            if completed_by.get(key) not in (None, ""):
                return str(completed_by[key])
        return None
    return str(completed_by)


def parse_annotation(payload: dict[str, Any], tag: ChoicesTag | None) -> Annotation | None:
    """The label an ``ANNOTATION_CREATED``/``ANNOTATION_UPDATED`` event carries.

    Returns None for an annotation without a choice for ``tag`` (skipped, cancelled or an
    empty result). A choice that is not one of the config's is an :class:`InputError`.
    ``tag`` None (a Label Studio export read without its labeling config) reads the choices
    of any ``<Choices>`` tag and leaves the class check to the label store.
    """
    task = payload.get("task")
    annotation = payload.get("annotation")
    if not isinstance(task, dict) or not isinstance(annotation, dict):
        raise InputError("an annotation event needs 'task' and 'annotation' objects")
    data = task.get("data")
    if not isinstance(data, dict):
        raise InputError(f"task {task.get('id')!r} has no 'data' object")
    if annotation.get("was_cancelled"):
        return None
    picked: list[str] = []
    for region in annotation.get("result") or []:
        if not isinstance(region, dict) or region.get("type", "choices") != "choices":
            continue
        if tag is not None and region.get("from_name") not in (None, tag.from_name):
            continue
        values = (region.get("value") or {}).get("choices") or []
        picked.extend(str(v) for v in values)
    if not picked:
        return None
    if len(picked) > 1:
        raise InputError(f"task {task.get('id')!r}: the annotation picks {len(picked)} choices "
                         f"({picked}); a classification label is one choice")
    if tag is not None and picked[0] not in tag.choices:
        raise InputError(f"task {task.get('id')!r}: choice {picked[0]!r} is not in the labeling "
                         f"config ({list(tag.choices)})")
    return Annotation(
        task_id=task.get("id"),
        annotation_id=annotation.get("id"),
        label=picked[0],
        annotator=annotator_name(annotation.get("completed_by")),
        data=data,
    )


def annotation_origin(annotation_id: Any, where: str = "label-studio") -> str:
    """The origin kept with the label of annotation ``annotation_id`` (from ``where``)."""
    return f"{where} annotation {annotation_id}"


def deleted_annotation_ids(payload: dict[str, Any]) -> list[Any]:
    """The annotation ids an ``ANNOTATIONS_DELETED`` event names.

    Raises
    ------
    InputError
        The event has no ``annotations`` list, or an entry without an ``id``.
    """
    annotations = payload.get("annotations")
    if not isinstance(annotations, list):
        raise InputError("a delete event needs an 'annotations' list of {'id': ...} objects, "
                         f"got {type(annotations).__name__}")
    ids = []
    for k, entry in enumerate(annotations):
        ident = entry.get("id") if isinstance(entry, dict) else None
        if ident is None or ident == "" or isinstance(ident, (bool, dict, list)):
            raise InputError(f"entry #{k} of the delete event's 'annotations' has no 'id': "
                             f"{entry!r}")
        ids.append(ident)
    return ids


def annotation_origins(origins: Any, annotation_ids: list[Any]) -> list[str]:
    """Which of the stored ``origins`` are labels of one of ``annotation_ids``: the
    webhook's ``label-studio annotation ID`` and an export file's ``FILE annotation ID``."""
    suffixes = tuple(f" annotation {i}" for i in annotation_ids)
    return sorted({str(o) for o in origins if isinstance(o, str) and o.endswith(suffixes)})

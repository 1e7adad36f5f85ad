"""Validate Label Studio payloads with label-studio-sdk's own models; run by the SDK's venv.

``python lssdk_check.py PAYLOAD.json`` where the file holds ``{"label_config": "<View>...",
"predictions": [{"result", "score", "model_version"}, ...], "tasks": [{"data",
"predictions"}, ...]}`` (``tasks``, bulk-import tasks, is optional). Each prediction, and
each prediction of each task, is parsed by ``label_studio_sdk.label_interface.objects.
PredictionValue`` (strict: a score must be a number, not a string) and checked against the
labeling config by ``LabelInterface(label_config).validate_prediction`` (from_name, to_name,
type and the choices the config allows, score in [0, 1]); each task by ``TaskValue``. The
config itself goes through ``LabelInterface.validate`` (the SDK's config schema).

Exit 0 printing one summary line; exit 1 with every problem on stderr. This file imports the
SDK only, never pseudolabel: it runs in the isolated ``.venv-lssdk`` (``make lssdk``).
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version


def problems(payload: dict) -> tuple[list[str], int]:
    from label_studio_sdk.label_interface import LabelInterface
    from label_studio_sdk.label_interface.objects import PredictionValue, TaskValue
    from pydantic import ValidationError

    errors: list[str] = []
    interface = LabelInterface(payload["label_config"])
    try:
        interface.validate()
    except Exception as exc:  # the SDK raises its own validation error types
        errors.append(f"label config: {type(exc).__name__}: {exc}")
    predictions = [(f"prediction #{i}", p) for i, p in enumerate(payload.get("predictions", []))]
    for i, task in enumerate(payload.get("tasks", [])):
        try:
            TaskValue.model_validate(task)
        except ValidationError as exc:
            errors.append(f"task #{i}: TaskValue: {exc}")
        predictions += [(f"task #{i} prediction #{k}", p)
                        for k, p in enumerate(task.get("predictions") or [])]
    for where, prediction in predictions:
        try:
            PredictionValue.model_validate(prediction, strict=True)
        except ValidationError as exc:
            errors.append(f"{where}: PredictionValue: {exc}")
        errors += [f"{where}: LabelInterface.validate_prediction: {e}"
                   for e in interface.validate_prediction(prediction, return_errors=True)]
    return errors, len(predictions)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        payload = json.load(handle)
    errors, n = problems(payload)
    if errors:
        print(f"label-studio-sdk {version('label-studio-sdk')} rejects the payload:",
              *errors, sep="\n  ", file=sys.stderr)
        return 1
    print(f"label-studio-sdk {version('label-studio-sdk')}: {n} predictions and "
          f"{len(payload.get('tasks', []))} tasks valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

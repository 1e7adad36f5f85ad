"""``pseudolabel export --format label-studio``: pool rows as Label Studio tasks with predictions.

Label Studio's bulk import takes a JSON list of tasks; each pool row (``--pool``) without a gold
label in the store (every row with ``--include-labeled``) becomes
``{"data": {id column, feature columns by name}, "predictions": [{"model_version", "score",
"result"}]}`` (:func:`~pseudolabel.serve.label_studio_files.import_task`). The result is the
model's guess as a ``choices`` result of the labeling config's ``<Choices>`` tag
(``--label-config``), the score the one ``serve``'s ``/predict`` gives (the margin between the
two most probable classes): sorted by prediction score, lowest first, Label Studio shows the
tasks a human should label first. The model is ``query``'s
(:func:`~pseudolabel.cli.store.fit_pool_model`): a bundle (``--model``) or ``--backend``
fitted on the store's labels. The rows written are registered as the store's items, so that,
annotated in Label Studio and exported again, the tasks go back into the store with ``teach``
(their ``data`` keeps the id column).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError

__all__ = ["export_tasks"]


def _label_config(args: argparse.Namespace) -> Any:
    from pseudolabel.serve.protocol import parse_label_config

    if args.label_config is None:
        raise ParameterError(
            "export --format label-studio needs --label-config FILE: the project's labeling "
            "config (XML), whose <Choices> tag names the predictions' from_name and to_name")
    path = Path(args.label_config)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the labeling config {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"the labeling config {path} is not UTF-8 text: {exc}") from exc
    try:
        return parse_label_config(text)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def export_tasks(store: Any, args: argparse.Namespace, out: Path) -> tuple[int, str]:
    """Write the tasks of ``args.input`` to ``out`` (atomically); (tasks written, model version)."""
    from pseudolabel.batch.bundle import parse_params
    from pseudolabel.cli.store import fit_pool_model
    from pseudolabel.io.atomic import atomic_write_bytes
    from pseudolabel.serve.label_studio_files import import_task
    from pseudolabel.serve.service import guesses_and_scores
    from pseudolabel.strategies.query import take_rows

    if args.input is None:
        raise ParameterError("export --format label-studio needs --pool FILE (the rows to "
                             "write as tasks, a CSV or Parquet file with an id column)")
    tag = _label_config(args)
    fitted = fit_pool_model(store, args, parse_params(args.param))
    classes = [str(c) for c in np.asarray(fitted.learner.classes_)]
    foreign = [c for c in classes if c not in tag.choices]
    if foreign:
        raise InputError(f"the model's class(es) {foreign} are not <Choice> values of "
                         f"{args.label_config} (choices: {list(tag.choices)}); Label Studio "
                         "would not show those predictions")
    rows = np.arange(len(fitted.ids)) if args.include_labeled else np.flatnonzero(
        ~fitted.exclude)
    tasks: list[dict[str, Any]] = []
    if rows.size:
        P = fitted.learner.predict_proba(take_rows(fitted.X, rows))
        guesses, scores = guesses_and_scores(P, classes)
        table = fitted.pool.rows(rows)
        columns = [args.id_column, *(c for c in fitted.features if c != args.id_column)]
        for k, record in enumerate(table[columns].to_dict(orient="records")):
            tasks.append(import_task(record, tag, str(guesses[k]), float(scores[k]),
                                     fitted.version))
    else:
        print("note: every pool row has a label; no task written (--include-labeled writes "
              "them all)", file=sys.stderr)
    lines = ",\n".join(json.dumps(t, allow_nan=False) for t in tasks)  # a task per line
    atomic_write_bytes(out, (f"[\n{lines}\n]\n" if tasks else "[]\n").encode())
    store.add_items(fitted.ids[rows])  # their annotations come back with `teach`
    return len(tasks), fitted.version

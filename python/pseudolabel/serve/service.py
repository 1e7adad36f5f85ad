"""The labeling service behind ``pseudolabel serve``: predict tasks, learn from annotations, refit.

:class:`LabelingService` holds one model over one label store. ``predict`` guesses each task's
class and scores it by the model's *margin* (the top probability minus the runner-up, from
the Rust kernels): a low score means the model is unsure, so Label Studio's "sort by
prediction score" shows the tasks a human should label first, which turns the free edition
into a margin-sampling active-learning loop. ``handle_event`` writes an annotation into the
store (source ``human``, the annotator from ``completed_by``), or for a delete event retracts
the labels of the deleted annotations (the items fall back to their earlier labels, or to the
pool), and asks for a refit; refits run
in one background thread, one at a time, and a refit asked for while one runs is done once
more afterwards with every label so far. The model version changes when a refit finishes;
``predict`` always answers with the model it has.

With ``model`` (a bundle from ``pseudolabel train``) the service predicts with that model and
never refits; otherwise it fits ``backend`` on the store's seed and human labels.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.serve.protocol import (
    ANNOTATION_EVENTS,
    DELETE_EVENTS,
    ChoicesTag,
    annotation_origin,
    annotation_origins,
    deleted_annotation_ids,
    parse_annotation,
    parse_label_config,
    prediction,
)
from pseudolabel.serve.task_rows import PoolRows, TaskDataRows, item_id_of

__all__ = ["ServeConfig", "LabelingService", "UNTRAINED", "guesses_and_scores"]

#: The model version before any model exists (too few labels to fit one).
UNTRAINED = "untrained"


@dataclass(frozen=True)
class ServeConfig:
    """What ``pseudolabel serve`` was started with."""

    store: str
    backend: str = "sklearn"
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    pool: str | None = None
    id_column: str = "id"
    features: tuple[str, ...] = ()


def guesses_and_scores(P: Any, classes: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each row's guess (the most probable of ``classes``) and its score, lower = ask a human
    first: the margin between the two most probable classes (the confidence with one class)."""
    from pseudolabel.kernels import summarize

    P = np.asarray(P)
    summary = summarize(P)
    scores = summary.margin if P.shape[1] > 1 else summary.confidence
    return np.asarray(classes)[summary.label], np.asarray(scores, dtype=np.float64)


@dataclass(frozen=True)
class _Model:
    backend: Any
    classes: np.ndarray
    version: str
    n_labels: int


class LabelingService:
    """One model over one label store, as Label Studio's ML backend (see the module doc)."""

    def __init__(self, config: ServeConfig) -> None:
        from pseudolabel.store import open_store

        self.config = config
        open_store(config.store, create=True).close()  # a new project starts with no labels
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._model: _Model | None = None
        self._tag: ChoicesTag | None = None
        self._refits_asked = 0
        self._refits_done = 0
        self._refitting = False
        self._stopping = False
        self.last_error: str | None = None
        self._bundle = None
        if config.model is not None:
            from pseudolabel.batch.bundle import load_bundle

            if config.params:
                raise ParameterError("--param cannot be combined with --model")
            self._bundle = load_bundle(config.model)
            columns = tuple(config.features) or tuple(self._bundle.feature_columns)
            self._model = _Model(self._bundle.backend, np.asarray(self._bundle.classes),
                                 f"bundle-{self._bundle.checksum[:12]}", 0)
        else:
            columns = tuple(config.features)
        self.rows: PoolRows | TaskDataRows
        if config.pool is not None:
            self.rows = PoolRows(config.pool, config.id_column, columns or None)
        else:
            self.rows = TaskDataRows(config.store, columns)
        self._worker: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the refit thread and fit on the labels the store already has."""
        if self._bundle is not None or self._worker is not None:
            return
        self._worker = threading.Thread(target=self._refit_loop, name="pseudolabel-refit",
                                        daemon=True)
        self._worker.start()
        self.request_refit()

    def stop(self) -> None:
        """Stop the refit thread (after the refit it is running, if any)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def request_refit(self) -> None:
        if self._bundle is not None:
            return
        with self._changed:
            self._refits_asked += 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every refit asked for so far has finished; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._bundle is not None or self._worker is None
                or (self._refits_done >= self._refits_asked and not self._refitting),
                timeout=timeout,
            )

    def _refit_loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(
                    lambda: self._stopping or self._refits_asked > self._refits_done)
                if self._stopping:
                    self._changed.notify_all()
                    return
                target = self._refits_asked
                self._refitting = True
            try:
                model = self._fit()
                error = None
            except Exception as exc:  # a refit failure is reported, never kills the server
                model, error = self._model, f"{type(exc).__name__}: {exc}"
            with self._changed:
                self._model = model  # None: the labels left (retracted) fit no model
                self.last_error = error
                self._refits_done = target
                self._refitting = False
                self._changed.notify_all()

    # -- the model ----------------------------------------------------------------------------

    @property
    def model_version(self) -> str:
        model = self._model
        return UNTRAINED if model is None else model.version

    def _fit(self) -> _Model | None:
        from pseudolabel.store import open_store

        with open_store(self.config.store) as store:
            labels = store.current_labels()
            classes = store.classes()
        if len(labels):
            labels = labels[self.rows.known(list(labels["id"].astype(str)))]
        if len(labels) == 0 or labels["label"].nunique() < 2:
            return None  # nothing to learn from (yet, or any more after retractions)
        ids = list(labels["id"].astype(str))
        y = labels["label"].astype(str).to_numpy()
        if self._tag is not None:
            classes = list(dict.fromkeys([*self._tag.choices, *classes]))
        X = self.rows.rows(ids)
        backend = self._new_backend()
        backend.fit(X, y, classes=np.asarray(classes, dtype=object))
        digest = hashlib.sha256("\x1e".join(f"{i}\x1f{c}" for i, c in zip(ids, y)).encode())
        version = f"{self.config.backend}-{len(ids)}-{digest.hexdigest()[:10]}"
        return _Model(backend, np.asarray(backend.classes_), version, len(ids))

    def _new_backend(self) -> Any:
        from pseudolabel.backends.lookup import as_backend

        if self.config.backend == "sklearn" and "estimator" not in self.config.params:
            from pseudolabel._validation import default_estimator

            try:
                return as_backend(default_estimator(**self.config.params))
            except TypeError as exc:
                raise ParameterError(f"invalid --param for LogisticRegression: {exc}") from exc
        return as_backend(self.config.backend, **self.config.params)

    # -- the protocol -------------------------------------------------------------------------

    def _set_config(self, label_config: Any) -> ChoicesTag | None:
        if label_config:
            self._tag = parse_label_config(label_config)
        return self._tag

    def health(self) -> dict[str, Any]:
        model = self._model
        name = ("untrained" if model is None else type(getattr(model.backend, "estimator_",
                                                                 model.backend)).__name__)
        answer: dict[str, Any] = {"status": "UP", "model_class": name,
                                  "model_version": self.model_version,
                                  "labels": 0 if model is None else model.n_labels}
        if self.last_error:
            answer["last_refit_error"] = self.last_error
        return answer

    def setup(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._set_config(payload.get("schema") or payload.get("label_config"))
        return {"model_version": self.model_version}

    def predict(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Label Studio's ``/predict``: a guess and a margin score per task, in task order."""
        tasks = payload.get("tasks")
        if not isinstance(tasks, list):
            raise InputError("a predict request needs a 'tasks' list")
        tag = self._set_config(payload.get("label_config"))
        model = self._model
        if model is None or not tasks:
            return {"results": [prediction(tag, None, 0.0, self.model_version) for _ in tasks],
                    "model_version": self.model_version}
        for task in tasks:
            if not isinstance(task, dict):
                raise InputError(f"a task must be an object, got {type(task).__name__}")
        X = self.rows.task_rows(tasks, self.config.id_column)
        guesses, scores = guesses_and_scores(model.backend.predict_proba(X), model.classes)
        return {
            "results": [prediction(tag, str(g), float(s), model.version)
                        for g, s in zip(guesses, scores)],
            "model_version": model.version,
        }

    def handle_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Label Studio's ``/webhook``: an annotation into the store (or a deleted one's
        labels retracted), then a refit."""
        from pseudolabel.store import open_store

        action = payload.get("action")
        if action in DELETE_EVENTS:
            return self._retract(payload)
        if action not in ANNOTATION_EVENTS:
            return {"status": "ignored", "action": action}
        project = payload.get("project") or {}
        tag = self._set_config(project.get("label_config") if isinstance(project, dict) else None)
        if tag is None:
            raise InputError("no labeling config yet: Label Studio sends it with /setup, "
                             "/predict or the event's project")
        annotation = parse_annotation(payload, tag)
        if annotation is None:
            return {"status": "ignored", "action": action, "detail": "no choice in the annotation"}
        item_id = item_id_of(payload["task"], self.config.id_column)
        self.rows.remember(item_id, annotation.data)
        with open_store(self.config.store, create=True) as store:
            store.add_classes(list(tag.choices))  # the config's order, before any label
            result = store.add_labels(
                [item_id], [annotation.label], source="human", annotator=annotation.annotator,
                model_version=self.model_version, allow_new_ids=True, allow_new_classes=True,
                origin=annotation_origin(annotation.annotation_id), reassert=True,
            )
        self.request_refit()
        return {"status": "ok", "action": action, "item": item_id, "new_labels": result.n_new,
                "model_version": self.model_version}

    def _retract(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A delete event: retract the labels of the deleted annotations, then a refit."""
        from pseudolabel.store import open_store

        annotation_ids = deleted_annotation_ids(payload)
        with open_store(self.config.store, create=True) as store:
            origins = annotation_origins(store.history()["origin"].unique(), annotation_ids)
            result = store.retract_labels(
                origins, reason=f"{payload['action']} (Label Studio webhook)")
        if result.n_retracted:
            self.request_refit()
        return {"status": "ok", "action": payload["action"], "annotations": annotation_ids,
                "retracted_labels": result.n_retracted, "items": result.ids,
                "model_version": self.model_version}

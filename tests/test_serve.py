"""``pseudolabel serve``: Label Studio's ML-backend protocol over a real server on 127.0.0.1.

The server is uvicorn on a socket bound to a free port; the tests talk to it with real HTTP
requests (httpx), write annotations through the webhook into a real SQLite label store and
wait for the background refit through the service (no sleeps, no polling).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from _support.serving import (  # noqa: E402,F401  (serve, cancer: fixtures)
    CONFIG,
    FEATURES,
    cancer,
    event,
    serve,
    task,
)
from pseudolabel.exceptions import InputError  # noqa: E402
from pseudolabel.serve.protocol import (  # noqa: E402
    annotator_name,
    parse_annotation,
    parse_label_config,
)
from pseudolabel.serve.service import UNTRAINED  # noqa: E402
from pseudolabel.store import open_store  # noqa: E402


def test_health_setup_and_predict_before_any_label(serve, cancer) -> None:
    X, _ = cancer
    server = serve(features=tuple(FEATURES))
    health = server.client.get("/health").json()
    assert health["status"] == "UP" and health["model_version"] == UNTRAINED
    assert server.client.post("/setup", json={"project": "1.1", "schema": CONFIG}).json() == {
        "model_version": UNTRAINED}
    answer = server.client.post("/predict", json={
        "tasks": [task(0, X), task(1, X)], "label_config": CONFIG}).json()
    assert [r["result"] for r in answer["results"]] == [[], []]
    assert [r["score"] for r in answer["results"]] == [0.0, 0.0]


def test_annotations_teach_the_store_and_refit_the_model(serve, cancer, tmp_path) -> None:
    X, y = cancer
    server = serve(features=tuple(FEATURES))
    server.client.post("/setup", json={"schema": CONFIG})
    labeled = np.r_[np.flatnonzero(y == "benign")[:15], np.flatnonzero(y == "malignant")[:15]]
    for i in labeled:
        r = server.client.post("/webhook", json=event(i, X, y[i], annotator={"email": "a@x"}))
        assert r.status_code == 201 and r.json()["status"] == "ok", r.text
    assert server.service.wait_idle(timeout=120)
    health = server.client.get("/health").json()
    assert health["model_version"].startswith("sklearn-30-"), health
    assert "last_refit_error" not in health

    with open_store(tmp_path / "labels.db") as store:
        current = store.current_labels()
        history = store.history()
    assert len(current) == 30 and set(history["source"]) == {"human"}
    assert set(history["annotator"]) == {"a@x"}
    assert store_label(current, f"ls-{labeled[0]}") == y[labeled[0]]

    rows = list(range(200, 260))
    answer = server.client.post("/predict", json={
        "tasks": [task(i, X) for i in rows], "label_config": CONFIG}).json()
    results = answer["results"]
    assert len(results) == len(rows)
    assert all(r["model_version"] == health["model_version"] for r in results)
    first = results[0]["result"][0]
    assert (first["from_name"], first["to_name"], first["type"]) == ("diagnosis", "text",
                                                                     "choices")
    # the same model fitted by hand: guesses and margin scores (lower = ask a human first)
    from pseudolabel._validation import default_estimator

    model = default_estimator().fit(X.iloc[labeled].to_numpy(), y[labeled])
    P = model.predict_proba(X.iloc[rows].to_numpy())
    top2 = np.sort(P, axis=1)[:, -2:]
    np.testing.assert_allclose([r["score"] for r in results], top2[:, 1] - top2[:, 0],
                               atol=1e-9)
    assert [r["result"][0]["value"]["choices"][0] for r in results] == list(
        model.classes_[P.argmax(axis=1)])
    accuracy = np.mean([r["result"][0]["value"]["choices"][0] for r in results] == y[rows])
    assert accuracy > 0.8


def store_label(current: pd.DataFrame, item: str) -> str:
    return current.set_index("id").loc[item, "label"]


def test_an_updated_annotation_replaces_the_label(serve, cancer, tmp_path) -> None:
    X, y = cancer
    server = serve(features=tuple(FEATURES))
    server.client.post("/webhook", json=event(3, X, "benign"))
    server.client.post("/webhook", json=event(3, X, "malignant", action="ANNOTATION_UPDATED"))
    with open_store(tmp_path / "labels.db") as store:
        assert store_label(store.current_labels(), "ls-3") == "malignant"
    # a change of mind back to the first label is not a duplicate
    r = server.client.post("/webhook", json=event(3, X, "benign", action="ANNOTATION_UPDATED"))
    assert r.json()["new_labels"] == 1
    with open_store(tmp_path / "labels.db") as store:
        assert store_label(store.current_labels(), "ls-3") == "benign"
        assert list(store.history()["label"]) == ["malignant", "benign"]
    # deleting the annotation retracts both labels it gave: the item is back in the pool
    deleted = server.client.post("/webhook", json=deleted_event(1003))
    assert deleted.status_code == 201, deleted.text
    answer = deleted.json()
    assert (answer["status"], answer["retracted_labels"], answer["items"]) == ("ok", 2, ["ls-3"])
    with open_store(tmp_path / "labels.db") as store:
        assert store.current_labels().empty and store.status().n_retracted == 2


def deleted_event(*annotations: int) -> dict:
    return {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": a} for a in annotations],
            "project": {"id": 1, "label_config": CONFIG}}


def test_a_deleted_annotation_retracts_its_label_and_refits(serve, cancer, tmp_path) -> None:
    from pseudolabel._validation import default_estimator
    from pseudolabel.cli import main

    X, y = cancer
    server = serve(features=tuple(FEATURES))
    benign, malignant = np.flatnonzero(y == "benign")[:10], np.flatnonzero(y == "malignant")[:10]
    for i in np.r_[benign, malignant]:
        assert server.client.post("/webhook", json=event(i, X, y[i])).json()["status"] == "ok"
    # a second annotator disagrees on one task (annotation 2000)
    other = "malignant" if y[benign[0]] == "benign" else "benign"
    server.client.post("/webhook", json=event(benign[0], X, other, annotator=8,
                                              annotation=2000))
    # a label taught from a Label Studio export file (annotation 7777 of item t1)
    export = tmp_path / "export.json"
    export.write_text(json.dumps([{"id": 1, "data": {"id": "t1"}, "annotations": [
        {"id": 7777, "completed_by": 9, "result": [
            {"from_name": "diagnosis", "type": "choices", "value": {"choices": ["benign"]}}]}]}]))
    assert main(["teach", "--store", str(tmp_path / "labels.db"), "--allow-new-ids",
                 str(export)]) == 0
    assert server.service.wait_idle(timeout=120)
    before = server.service.model_version
    assert before.startswith("sklearn-20-")

    r = server.client.post("/webhook", json=deleted_event(2000, 1000 + int(malignant[0]), 7777))
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["status"] == "ok" and answer["retracted_labels"] == 3
    assert sorted(answer["items"]) == sorted([f"ls-{benign[0]}", f"ls-{malignant[0]}", "t1"])
    assert server.service.wait_idle(timeout=120)
    after = server.client.get("/health").json()
    assert after["model_version"].startswith("sklearn-19-") and after["labels"] == 19
    with open_store(tmp_path / "labels.db") as store:
        current = store.current_labels()
    assert store_label(current, f"ls-{benign[0]}") == y[benign[0]]  # the first label again
    assert f"ls-{malignant[0]}" not in set(current["id"]) and "t1" not in set(current["id"])
    # the refit model is the one the remaining labels give
    kept = np.r_[benign, malignant[1:]]
    model = default_estimator().fit(X.iloc[kept].to_numpy(), y[kept])
    rows = list(range(300, 340))
    results = server.client.post("/predict", json={
        "tasks": [task(i, X) for i in rows], "label_config": CONFIG}).json()["results"]
    P = model.predict_proba(X.iloc[rows].to_numpy())
    top2 = np.sort(P, axis=1)[:, -2:]
    np.testing.assert_allclose([r["score"] for r in results], top2[:, 1] - top2[:, 0],
                               atol=1e-9)

    # an annotation the store never got: nothing retracted, no refit
    nothing = server.client.post("/webhook", json=deleted_event(99999)).json()
    assert nothing["retracted_labels"] == 0 and nothing["items"] == []
    assert server.service.wait_idle(timeout=60)
    assert server.service.model_version == after["model_version"]
    # every malignant label retracted: one class left, no model
    gone = server.client.post("/webhook", json=deleted_event(
        *(1000 + int(i) for i in malignant[1:]))).json()
    assert gone["retracted_labels"] == 9
    assert server.service.wait_idle(timeout=120)
    assert server.client.get("/health").json()["model_version"] == UNTRAINED
    answer = server.client.post("/predict", json={"tasks": [task(5, X)]}).json()
    assert answer["results"][0]["score"] == 0.0 and answer["results"][0]["result"] == []


def test_rows_come_from_a_pool_by_id(serve, cancer, tmp_path) -> None:
    X, y = cancer
    pool = X.assign(id=[f"p{i}" for i in range(len(X))])
    path = tmp_path / "pool.parquet"
    pool.to_parquet(path, index=False)
    server = serve(pool=str(path))
    server.client.post("/setup", json={"schema": CONFIG})
    labeled = np.r_[np.flatnonzero(y == "benign")[:10], np.flatnonzero(y == "malignant")[:10]]
    for i in labeled:
        ev = event(i, X, y[i])
        ev["task"]["data"] = {"id": f"p{i}"}  # only the id: the features are in the pool
        assert server.client.post("/webhook", json=ev).json()["item"] == f"p{i}"
    assert server.service.wait_idle(timeout=120)
    answer = server.client.post("/predict", json={
        "tasks": [{"id": 1, "data": {"id": "p300"}}, {"id": 2, "data": {"id": "p301"}}]}).json()
    assert all(r["result"] for r in answer["results"])
    bad = server.client.post("/predict", json={"tasks": [{"id": 3, "data": {"id": "nope"}}]})
    assert bad.status_code == 400 and "'nope' is not in the pool" in bad.json()["detail"]


def test_a_restarted_server_refits_on_the_rows_it_kept(serve, cancer, tmp_path) -> None:
    X, y = cancer
    first = serve(features=tuple(FEATURES))
    for i in list(np.flatnonzero(y == "benign")[:5]) + list(np.flatnonzero(y == "malignant")[:5]):
        first.client.post("/webhook", json=event(i, X, y[i]))
    assert first.service.wait_idle(timeout=120)
    version = first.service.model_version
    first.close()
    second = serve(features=tuple(FEATURES))
    assert second.service.wait_idle(timeout=120)
    assert second.service.model_version == version != UNTRAINED


@pytest.mark.parametrize(
    ("path", "payload", "message"),
    [
        ("/predict", {"tasks": "x"}, "'tasks' list"),
        ("/predict", {"tasks": [{"id": 1, "data": {"f0": 1.0}}], "label_config": CONFIG},
         None),  # untrained: answered
        ("/setup", {"schema": "<View><Text name='t' value='$x'/></View>"}, "no <Choices> tag"),
        ("/setup", {"schema": "<View"}, "not valid XML"),
        ("/webhook", {"action": "ANNOTATION_CREATED", "task": {"id": 1, "data": {}},
                      "annotation": {"result": []}}, "no labeling config"),
        ("/webhook", {"action": "ANNOTATIONS_DELETED"}, "needs an 'annotations' list"),
        ("/webhook", {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}, {}]},
         "entry #1 of the delete event's 'annotations' has no 'id'"),
    ],
)
def test_bad_requests_get_400_naming_the_problem(serve, path, payload, message) -> None:
    server = serve(features=tuple(FEATURES))
    r = server.client.post(path, json=payload)
    if message is None:
        assert r.status_code == 200
    else:
        assert r.status_code == 400 and message in r.json()["detail"], r.text


def test_bad_annotations_are_refused(serve, cancer) -> None:
    X, _ = cancer
    server = serve(features=tuple(FEATURES))
    server.client.post("/setup", json={"schema": CONFIG})
    r = server.client.post("/webhook", json=event(1, X, "unknown-class"))
    assert r.status_code == 400 and "'unknown-class' is not in the labeling config" in r.text
    ev = event(1, X, "benign")
    ev["task"]["data"]["f2"] = "abc"
    r = server.client.post("/webhook", json=ev)
    assert r.status_code == 400 and "feature 'f2' holds 'abc'" in r.text
    r = server.client.post("/predict", content=b"{not json", headers={
        "content-type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.text


def test_a_bundle_predicts_and_is_never_refit(serve, cancer, tmp_path) -> None:
    X, y = cancer
    train = X.assign(target=y)
    train.iloc[:300].to_csv(tmp_path / "train.csv", index=False)
    bundle = tmp_path / "model"
    subprocess.run([sys.executable, "-m", "pseudolabel", "train", "--backend", "lightgbm", "--input",
                    str(tmp_path / "train.csv"), "--target", "target", "--param", "n_estimators=20", "--output", str(bundle)],
                   check=True, capture_output=True)
    server = serve(model=str(bundle))
    version = server.client.get("/health").json()["model_version"]
    assert version.startswith("bundle-")
    server.client.post("/webhook", json=event(400, X, y[400]))
    assert server.service.wait_idle(timeout=60) and server.service.model_version == version
    from pseudolabel.batch.bundle import load_bundle

    P = load_bundle(bundle).backend.predict_proba(X.iloc[400:420].to_numpy())
    answer = server.client.post("/predict", json={
        "tasks": [task(i, X) for i in range(400, 420)], "label_config": CONFIG}).json()
    top2 = np.sort(P, axis=1)[:, -2:]
    np.testing.assert_allclose([r["score"] for r in answer["results"]],
                               top2[:, 1] - top2[:, 0], atol=1e-9)


def test_the_command_serves_until_interrupted(tmp_path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pseudolabel", "serve", "--store", str(tmp_path / "l.db"),
         "--features", "a,b", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("pseudolabel serve: listening on http://127.0.0.1:"), (
            line + proc.stderr.read())
        url = line.split()[4]
        assert httpx.get(f"{url}/health", timeout=60).json()["status"] == "UP"
    finally:
        proc.send_signal(2)
        proc.wait(timeout=60)
    assert proc.returncode in (0, 130)


def test_label_config_and_annotation_parsing() -> None:
    tag = parse_label_config(CONFIG)
    assert (tag.from_name, tag.to_name, tag.choices) == ("diagnosis", "text",
                                                         ("benign", "malignant"))
    two = CONFIG.replace("</View>", '<Choices name="b" toName="text"><Choice value="x"/>'
                         "</Choices></View>")
    with pytest.raises(InputError, match="2 <Choices> tags"):
        parse_label_config(two)
    assert annotator_name(3) == "3" and annotator_name({"id": 3, "email": "e@x"}) == "e@x"
    assert annotator_name(None) is None
    payload = {"task": {"id": 1, "data": {}}, "annotation": {"was_cancelled": True}}
    assert parse_annotation(payload, tag) is None
    payload = {"task": {"id": 1, "data": {}}, "annotation": {"result": [
        {"from_name": "diagnosis", "type": "choices", "value": {"choices": ["benign",
                                                                            "malignant"]}}]}}
    with pytest.raises(InputError, match="picks 2 choices"):
        parse_annotation(payload, tag)

"""``export --format label-studio``: pool rows as Label Studio tasks, annotated and taught back.

Real Parquet pools, real JSON files, a real SQLite store; the "annotation" step writes what
Label Studio's JSON export holds for the imported tasks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pseudolabel.cli import main
from pseudolabel.store import open_store

CONFIG = """<View>
  <Text name="text" value="$id"/>
  <Choices name="diagnosis" toName="text" choice="single">
    <Choice value="benign"/>
    <Choice value="malignant"/>
  </Choices>
</View>"""
FEATURES = [f"f{i}" for i in range(5)]


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    from pseudolabel.plugins import isolated_plugin_manager

    with isolated_plugin_manager():
        yield


@pytest.fixture
def project(tmp_path: Path) -> dict:
    """A pool of 200 breast-cancer rows (ids c0..c199), 20 of them seed-labeled."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    y = np.where(data.target[:200] == 1, "benign", "malignant")
    pool = pd.DataFrame(data.data[:200, :5], columns=FEATURES)
    pool.insert(0, "id", [f"c{i}" for i in range(200)])
    pool.to_parquet(tmp_path / "pool.parquet", index=False)
    seeded = np.r_[np.flatnonzero(y == "benign")[:10], np.flatnonzero(y == "malignant")[:10]]
    pd.DataFrame({"id": pool["id"].to_numpy()[seeded], "label": y[seeded]}).to_csv(
        tmp_path / "seed.csv", index=False)
    db = str(tmp_path / "labels.db")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp_path / "seed.csv")]) == 0
    (tmp_path / "config.xml").write_text(CONFIG)
    return {"db": db, "pool": pool, "y": y, "seeded": seeded, "dir": tmp_path}


def _export(project: dict, *extra: str, output: str = "tasks.json") -> int:
    d = project["dir"]
    return main(["export", "--store", project["db"], "--format", "label-studio", "--pool",
                 str(d / "pool.parquet"), "--label-config", str(d / "config.xml"),
                 "--output", str(d / output), *extra])


def test_tasks_carry_the_rows_and_serve_s_margin_score(project) -> None:
    from pseudolabel._validation import default_estimator

    assert _export(project) == 0
    tasks = json.loads((project["dir"] / "tasks.json").read_text())
    pool, y, seeded = project["pool"], project["y"], project["seeded"]
    unlabeled = np.setdiff1d(np.arange(len(pool)), seeded)
    assert [t["data"]["id"] for t in tasks] == list(pool["id"].to_numpy()[unlabeled])
    assert all(list(t["data"]) == ["id", *FEATURES] for t in tasks)
    assert tasks[0]["data"]["f0"] == pool.iloc[unlabeled[0]]["f0"]
    # the model query and serve fit: standardized logistic regression on the seed labels
    model = default_estimator().fit(pool[FEATURES].to_numpy()[seeded], y[seeded])
    P = model.predict_proba(pool[FEATURES].to_numpy()[unlabeled])
    top2 = np.sort(P, axis=1)[:, -2:]
    predictions = [t["predictions"] for t in tasks]
    assert all(len(p) == 1 for p in predictions)
    np.testing.assert_allclose([p[0]["score"] for p in predictions], top2[:, 1] - top2[:, 0],
                               atol=1e-6)
    results = [p[0]["result"] for p in predictions]
    assert all(len(r) == 1 and r[0]["from_name"] == "diagnosis" and r[0]["to_name"] == "text"
               and r[0]["type"] == "choices" for r in results)
    assert [r[0]["value"]["choices"] for r in results] == [
        [c] for c in model.classes_[P.argmax(axis=1)]]
    assert len({p[0]["model_version"] for p in predictions}) == 1
    # an existing output is refused and left as it was, unless --overwrite
    before = (project["dir"] / "tasks.json").read_bytes()
    assert _export(project) == 4
    assert (project["dir"] / "tasks.json").read_bytes() == before
    assert _export(project, "--overwrite", "--include-labeled") == 0
    assert len(json.loads((project["dir"] / "tasks.json").read_text())) == len(pool)


def _annotated(task: dict, ident: int, choice: str, who: str) -> dict:
    """A task as Label Studio's JSON export gives it back after one annotation."""
    when = f"2024-05-01T10:00:{ident % 60:02d}Z"
    return {**task, "id": ident, "annotations": [{
        "id": 5000 + ident, "completed_by": {"id": 2, "email": who}, "was_cancelled": False,
        "created_at": when, "updated_at": when,
        "result": [{"from_name": "diagnosis", "to_name": "text", "type": "choices",
                    "value": {"choices": [choice]}}]}]}


def test_exported_tasks_annotated_in_label_studio_teach_back(project, capsys) -> None:
    d, y = project["dir"], project["y"]
    assert _export(project) == 0
    tasks = json.loads((d / "tasks.json").read_text())
    truth = dict(zip(project["pool"]["id"], y))
    # five tasks annotated (one against the model's guess), the rest not
    done = [_annotated(t, k, truth[t["data"]["id"]], "ann@example.org")
            for k, t in enumerate(tasks[:5])]
    export = done + [{**t, "id": 100 + k, "annotations": []} for k, t in enumerate(tasks[5:])]
    (d / "ls-export.json").write_text(json.dumps(export))
    capsys.readouterr()
    assert main(["teach", "--store", project["db"], "--label-config", str(d / "config.xml"),
                 str(d / "ls-export.json")]) == 0
    assert "5 new human labels" in capsys.readouterr().out
    with open_store(project["db"]) as store:
        current = store.current_labels().set_index("id")
        history = store.history()
    for k, t in enumerate(tasks[:5]):
        item = t["data"]["id"]
        assert current.loc[item, "label"] == truth[item]
        assert current.loc[item, "source"] == "human"
        assert current.loc[item, "annotator"] == "ann@example.org"
        assert history.set_index("id").loc[item, "origin"] == f"ls-export.json annotation {5000 + k}"
    assert len(current) == 25
    # the annotated rows are not exported again
    assert _export(project, "--overwrite") == 0
    again = json.loads((d / "tasks.json").read_text())
    assert [t["data"]["id"] for t in again] == [t["data"]["id"] for t in tasks[5:]]


def test_a_bundle_predicts_the_tasks(project) -> None:
    d = project["dir"]
    pool, y = project["pool"], project["y"]
    pool.assign(target=y).to_csv(d / "train.csv", index=False)
    assert main(["train", "--backend", "sklearn", "--input", str(d / "train.csv"), "--target",
                 "target", "--id-column", "id", "--output", str(d / "model")]) == 0
    assert _export(project, "--model", str(d / "model")) == 0
    tasks = json.loads((d / "tasks.json").read_text())
    assert len(tasks) == len(pool) - len(project["seeded"])
    assert {t["predictions"][0]["model_version"] for t in tasks} == {
        t["predictions"][0]["model_version"] for t in tasks[:1]}
    assert tasks[0]["predictions"][0]["model_version"].startswith("bundle-")


@pytest.mark.parametrize("config, args, message", [
    (None, [], "needs --label-config FILE"),
    ("<View><Text name='t' value='$id'/></View>", [],
     "config.xml: the labeling config has no <Choices> tag"),
    ("<View", [], "config.xml: the labeling config is not valid XML"),
    (CONFIG.replace("malignant", "cancer"), [], "class(es) ['malignant'] are not <Choice>"),
    (CONFIG, ["--id-column", "key"], "has no 'key' column"),
    (CONFIG, ["--features", "f0,nope"], "has no feature column(s) ['nope']"),
])
def test_bad_input_is_named_and_nothing_is_written(project, capsys, config, args,
                                                   message) -> None:
    d = project["dir"]
    argv = ["export", "--store", project["db"], "--format", "label-studio", "--pool",
            str(d / "pool.parquet"), "--output", str(d / "tasks.json"), *args]
    if config is not None:
        (d / "config.xml").write_text(config)
        argv += ["--label-config", str(d / "config.xml")]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (d / "tasks.json").exists()
    assert not list(d.glob(".tasks.json*"))


def test_json_values_are_json_safe() -> None:
    from pseudolabel.serve.label_studio_files import import_task
    from pseudolabel.serve.protocol import parse_label_config

    task = import_task({"id": np.int64(3), "a": np.float32(0.5), "b": float("nan"),
                        "c": np.float64("inf"), "d": pd.NaT, "e": "x"},
                       parse_label_config(CONFIG), "benign", np.float32(0.25), "v1")
    assert json.loads(json.dumps(task, allow_nan=False)) == {
        "data": {"id": 3, "a": 0.5, "b": None, "c": None, "d": None, "e": "x"},
        "predictions": [{"model_version": "v1", "score": 0.25, "result": [
            {"from_name": "diagnosis", "to_name": "text", "type": "choices",
             "value": {"choices": ["benign"]}}]}]}

"""The payloads of ``serve`` and ``export --format label-studio``, validated by label-studio-sdk.

label-studio-sdk cannot share the project's venv (it pins numpy and pulls opencv), so it
lives in its own, ``.venv-lssdk`` at the repository root, built by ``make lssdk`` (a
prerequisite of ``make test``); without it these tests skip. The payloads come from a real
server on 127.0.0.1 (``/predict`` before any label, and after annotations taught through
``/webhook``) and from a real ``export``; ``_support/lssdk_check.py``, run by that venv's
Python, parses each prediction with the SDK's ``PredictionValue`` and checks it against the
labeling config with ``LabelInterface.validate_prediction`` (each exported task with
``TaskValue`` too). Mutated payloads show that the check does reject.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from _support.serving import CONFIG, FEATURES, Server, cancer, event, task  # noqa: E402,F401
from pseudolabel.serve.service import UNTRAINED, LabelingService, ServeConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SDK_PYTHON = REPO / ".venv-lssdk" / "bin" / "python"
CHECK = Path(__file__).resolve().parent / "_support" / "lssdk_check.py"

pytestmark = pytest.mark.skipif(
    not SDK_PYTHON.is_file(),
    reason=f"{SDK_PYTHON} is absent: `make lssdk` builds label-studio-sdk's isolated venv")


def sdk_check(directory: Path, *, predictions=(), tasks=(),
              label_config: str = CONFIG) -> subprocess.CompletedProcess:
    """``lssdk_check.py`` on the payload, run by the SDK venv's Python (``-I``: isolated from
    this process's PYTHONPATH and the current directory)."""
    payload = directory / f"payload-{len(list(directory.glob('payload-*.json')))}.json"
    payload.write_text(json.dumps({"label_config": label_config,
                                   "predictions": list(predictions), "tasks": list(tasks)}))
    return subprocess.run([str(SDK_PYTHON), "-I", str(CHECK), str(payload)],
                          capture_output=True, text=True, timeout=300)


def assert_valid(checked: subprocess.CompletedProcess) -> None:
    assert checked.returncode == 0, (
        f"exit {checked.returncode}\n{checked.stderr}{checked.stdout}")
    assert checked.stdout.startswith("label-studio-sdk 2.1.2: "), checked.stdout


@pytest.fixture(scope="module")
def answers(cancer, tmp_path_factory) -> dict[str, list[dict]]:
    """``/predict``'s predictions from one live server: before any label (``untrained``)
    and after 30 annotations taught through ``/webhook`` and a refit (``trained``)."""
    X, y = cancer
    store = tmp_path_factory.mktemp("serve") / "labels.db"
    server = Server(LabelingService(ServeConfig(store=str(store), features=tuple(FEATURES))))
    try:
        assert server.client.post("/setup", json={"schema": CONFIG}).status_code == 200
        rows = list(range(200, 240))
        request = {"tasks": [task(i, X) for i in rows], "label_config": CONFIG}
        untrained = server.client.post("/predict", json=request)
        assert untrained.status_code == 200, untrained.text
        labeled = np.r_[np.flatnonzero(y == "benign")[:15], np.flatnonzero(y == "malignant")[:15]]
        for i in labeled:
            r = server.client.post("/webhook", json=event(i, X, y[i]))
            assert r.status_code == 201 and r.json()["status"] == "ok", r.text
        assert server.service.wait_idle(timeout=120)
        trained = server.client.post("/predict", json=request)
        assert trained.status_code == 200, trained.text
    finally:
        server.close()
    return {"untrained": untrained.json()["results"], "trained": trained.json()["results"]}


def test_predictions_before_any_label_are_valid(answers, tmp_path) -> None:
    predictions = answers["untrained"]
    assert len(predictions) == 40
    assert all(p["result"] == [] and p["model_version"] == UNTRAINED for p in predictions)
    assert_valid(sdk_check(tmp_path, predictions=predictions))


def test_predictions_after_annotations_are_valid(answers, tmp_path) -> None:
    predictions = answers["trained"]
    assert len(predictions) == 40
    assert all(p["model_version"].startswith("sklearn-30-") for p in predictions)
    choices = {p["result"][0]["value"]["choices"][0] for p in predictions}
    assert choices == {"benign", "malignant"}  # both choices are checked against the config
    assert_valid(sdk_check(tmp_path, predictions=predictions))


def test_exported_tasks_are_valid(cancer, tmp_path) -> None:
    from pseudolabel.cli import main
    from pseudolabel.plugins import isolated_plugin_manager

    X, y = cancer
    pool = X.iloc[:200].assign(id=[f"c{i}" for i in range(200)])
    pool.to_parquet(tmp_path / "pool.parquet", index=False)
    seeded = np.r_[np.flatnonzero(y[:200] == "benign")[:10],
                   np.flatnonzero(y[:200] == "malignant")[:10]]
    pd.DataFrame({"id": pool["id"].to_numpy()[seeded], "label": y[seeded]}).to_csv(
        tmp_path / "seed.csv", index=False)
    (tmp_path / "config.xml").write_text(CONFIG)
    db = str(tmp_path / "labels.db")
    with isolated_plugin_manager():
        assert main(["teach", "--store", db, "--source", "seed", str(tmp_path / "seed.csv")]) == 0
        assert main(["export", "--store", db, "--format", "label-studio", "--pool",
                     str(tmp_path / "pool.parquet"), "--label-config",
                     str(tmp_path / "config.xml"), "--output", str(tmp_path / "tasks.json")]) == 0
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert len(tasks) == 180 and all(len(t["predictions"]) == 1 for t in tasks)
    assert {t["predictions"][0]["result"][0]["value"]["choices"][0] for t in tasks} == {
        "benign", "malignant"}
    checked = sdk_check(tmp_path, tasks=tasks)
    assert_valid(checked)
    assert checked.stdout.startswith("label-studio-sdk 2.1.2: 180 predictions and 180 tasks")


def _set(path: tuple, value) -> Callable[[dict], None]:
    def mutate(prediction: dict) -> None:
        target = prediction
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set(("result", 0, "value", "choices"), ["cancerous"]),
         "Invalid value for control 'diagnosis'. Got: {'choices': ['cancerous']}"),
        (_set(("result", 0, "from_name"), "verdict"),
         "'from_name' 'verdict' not found in configuration"),
        (_set(("result", 0, "to_name"), "image"), "'to_name' 'image' not found"),
        (_set(("result", 0, "type"), "labels"),
         "Type 'labels' does not match expected type 'choices'"),
        (_set(("score",), 1.5), "Score must be between 0.00 and 1.00 inclusive, got 1.5"),
        (_set(("score",), "0.5"), "PredictionValue: 1 validation error"),
        (_set(("result",), {"choices": ["benign"]}), "'result' must be a list"),
    ],
    ids=["unknown-choice", "wrong-from-name", "wrong-to-name", "wrong-type", "score-above-1",
         "score-as-string", "result-not-a-list"],
)
def test_the_sdk_rejects_a_payload_the_config_does_not_allow(answers, tmp_path, mutate,
                                                             message) -> None:
    good = answers["trained"][0]
    bad = copy.deepcopy(good)
    mutate(bad)
    checked = sdk_check(tmp_path, predictions=[good, bad])
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert checked.stderr.startswith("label-studio-sdk 2.1.2 rejects the payload:")
    assert message in checked.stderr, checked.stderr
    # only the mutated prediction (#1) is named
    assert "prediction #0" not in checked.stderr and "prediction #1: " in checked.stderr
    # and a failing check shows the SDK's message in the test's failure
    with pytest.raises(AssertionError, match="(?s)exit 1.*rejects the payload"):
        assert_valid(checked)


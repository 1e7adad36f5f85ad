"""`teach` reading Label Studio's JSON export (real JSON files, a real SQLite store)."""

from __future__ import annotations

import json

import pytest

from pseudolabel.cli import main
from pseudolabel.store import open_store


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    from pseudolabel.plugins import isolated_plugin_manager

    with isolated_plugin_manager():
        yield


def _annotation(ident, choice, *, who=1, when="2024-01-01T00:00:00Z", cancelled=False):
    return {"id": ident, "completed_by": who, "was_cancelled": cancelled,
            "created_at": when, "updated_at": when,
            "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                        "value": {"choices": [choice]}}]}


def _seed(tmp_path):
    db = str(tmp_path / "labels.db")
    (tmp_path / "seed.csv").write_text("id,label\na,cat\nb,dog\n")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp_path / "seed.csv")]) == 0
    return db


def test_teach_takes_the_latest_non_cancelled_annotation(tmp_path):
    db = _seed(tmp_path)
    tasks = [
        {"id": 1, "data": {"id": "a", "x": 1.0}, "annotations": [
            _annotation(10, "dog", who={"id": 3, "email": "ann@example.org"},
                        when="2024-01-02T00:00:00Z"),
            _annotation(11, "cat", when="2024-01-01T00:00:00Z"),
            _annotation(12, "cat", when="2024-01-03T00:00:00Z", cancelled=True)]},
        {"id": 2, "data": {"id": "b"}, "annotations": []},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    assert main(["teach", "--store", db, str(path)]) == 0
    with open_store(db) as store:
        current = store.current_labels().set_index("id")
        history = store.history(["a"])
    assert current.loc["a", "label"] == "dog"
    assert current.loc["a", "source"] == "human"
    assert current.loc["a", "annotator"] == "ann@example.org"
    assert current.loc["b", "label"] == "dog" and current.loc["b", "source"] == "seed"
    assert history["origin"].iloc[-1] == "export.json annotation 10"
    # importing the same export twice adds nothing
    assert main(["teach", "--store", db, str(path)]) == 0
    with open_store(db) as store:
        assert len(store.history(["a"])) == len(history)


@pytest.mark.parametrize("tasks, message", [
    ([{"id": 5, "data": {"text": "x"}, "annotations": [_annotation(1, "cat")]}],
     "task #0 (id 5) has no 'id' field"),
    ([{"id": 6, "data": {"id": "a"}, "annotations": [
        {"id": 2, "result": [{"from_name": "r", "type": "rectanglelabels", "value": {}}]}]}],
     "no choices result"),
    ([{"id": 7, "data": {"id": "a"}, "annotations": [
        {"id": 3, "result": [{"from_name": "label", "type": "choices",
                              "value": {"choices": ["cat", "dog"]}}]}]}],
     "2 choices"),
])
def test_teach_names_the_file_and_task_of_bad_input(tmp_path, capsys, tasks, message):
    db = _seed(tmp_path)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(tasks))
    assert main(["teach", "--store", db, str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and message in err
    with open_store(db) as store:
        assert set(store.current_labels()["source"]) == {"seed"}


def test_teach_refuses_malformed_json(tmp_path, capsys):
    db = _seed(tmp_path)
    path = tmp_path / "broken.json"
    path.write_text('[{"id": 1, "data": ')
    assert main(["teach", "--store", db, str(path)]) == 2
    assert "broken.json is not valid JSON" in capsys.readouterr().err

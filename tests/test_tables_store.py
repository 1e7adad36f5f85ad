"""The label store's ``export`` and ``cancel`` commands (and their store methods) on real
SQLite files and CSV/Parquet outputs, with the churn-like table's string labels."""

from __future__ import annotations

import pandas as pd
import pytest

from pseudolabel.datasets import churn_frame
from pseudolabel.cli import main
from pseudolabel.store import open_store


@pytest.fixture()
def store(tmp_path):
    df = churn_frame(60, seed=3)
    seed = df.iloc[:20][["customer_id", "churn"]].rename(columns={"customer_id": "id",
                                                                  "churn": "label"})
    seed.to_csv(tmp_path / "seed.csv", index=False)
    path = tmp_path / "labels.db"
    assert main(["teach", "--store", str(path), "--source", "seed", str(tmp_path / "seed.csv"),
                 "--allow-new-ids"]) == 0
    with open_store(path) as s:
        s.add_items([str(i) for i in df["customer_id"]])
        # alice and bob disagree on one item; bob labels one more
        s.add_labels(["10020", "10021"], ["churn", "stay"], source="human", annotator="alice",
                     origin="alice.csv")
        s.add_labels(["10020", "10022"], ["stay", "stay"], source="human", annotator="bob",
                     origin="bob.csv")
        s.add_labels(["10030"], ["churn"], source="pseudo", round=1, confidence=0.9,
                     model_version="m1")
    return path, df


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_writes_current_labels_with_provenance(store, tmp_path, capsys, suffix):
    path, df = store
    out = tmp_path / f"labels{suffix}"
    assert main(["export", "--store", str(path), "--output", str(out)]) == 0
    assert "wrote 23 labels" in capsys.readouterr().out
    got = pd.read_csv(out, dtype={"id": str}) if suffix == ".csv" else pd.read_parquet(out)
    assert len(got) == 23 and set(got["source"]) == {"seed", "human"}
    row = got[got["id"] == "10020"].iloc[0]
    assert (row["label"], row["annotator"], row["origin"]) == ("stay", "bob", "bob.csv")
    assert bool(row["conflict"]) and row["n_gold"] == 2
    seeded = got[got["id"] == str(df["customer_id"][0])].iloc[0]
    assert seeded["label"] == df["churn"][0] and seeded["origin"] == "seed.csv"
    assert not bool(seeded["conflict"])
    assert main(["export", "--store", str(path), "--output", str(out)]) == 4  # exists
    assert main(["export", "--store", str(path), "--output", str(out), "--overwrite",
                 "--include-pseudo"]) == 0
    got = pd.read_csv(out, dtype={"id": str}) if suffix == ".csv" else pd.read_parquet(out)
    pseudo = got[got["id"] == "10030"].iloc[0]
    assert (pseudo["source"], pseudo["model_version"]) == ("pseudo", "m1")
    assert main(["export", "--store", str(path), "--output", str(tmp_path / "x.txt")]) == 2


def test_conflicts_and_annotator_counts(store):
    path, _ = store
    with open_store(path) as s:
        conflicts = s.conflicts()
        counts = s.annotator_counts()
    assert conflicts["id"].tolist() == ["10020", "10020"]
    assert conflicts["annotator"].tolist() == ["alice", "bob"]
    alice = counts[counts["annotator"] == "alice"]
    assert dict(zip(alice["label"], alice["n"])) == {"churn": 1, "stay": 1}
    assert set(alice["n_conflicts"]) == {1}
    seed = counts[counts["annotator"] == ""]
    assert seed["n"].sum() == 20 and set(seed["n_conflicts"]) == {0}


def test_cancel_returns_unanswered_rows_to_the_pool(store, capsys):
    path, df = store
    ids = [str(i) for i in df["customer_id"][40:50]]
    with open_store(path) as s:
        batch = s.record_batch(ids, scores=None, guesses=None, model_version="m")
        s.add_labels(ids[:3], ["stay"] * 3, source="human", annotator="carol")
        assert sorted(s.pending_ids()) == sorted(ids[3:])
    assert main(["cancel", batch.batch_id, "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert "7 rows returned to the pool; 3 already labeled rows kept" in out
    with open_store(path) as s:
        assert s.pending_ids() == []
        assert s.status().n_labeled == 27  # 20 seed, 6 human, 1 pseudo
    assert main(["cancel", "r99-nope", "--store", str(path)]) == 2
    assert "unknown batch 'r99-nope'" in capsys.readouterr().err


def test_status_by_annotator_and_conflicts(store, capsys):
    import json

    path, _ = store
    assert main(["status", "--store", str(path), "--by", "annotator"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert lines["alice"] == ["1", "1", "2", "1"]  # churn, stay, total, conflicts
    assert lines["bob"] == ["0", "2", "2", "1"]
    assert lines["(none)"][-2:] == ["20", "0"]
    assert main(["status", "--store", str(path), "--conflicts"]) == 0
    out = capsys.readouterr().out
    assert "1 items with conflicting gold labels" in out
    assert "10020: churn (alice, human), stay (bob, human)" in out
    assert main(["status", "--store", str(path), "--conflicts", "--by", "annotator",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["annotator"] for r in data["conflicts"]["10020"]] == ["alice", "bob"]
    assert data["gold_labels_by_annotator"]["bob"] == {"labels": {"stay": 2},
                                                       "n_conflicts": 1}
    assert main(["status", "--store", str(path)]) == 0  # the default table is unchanged
    assert "1 items have conflicting human labels (the latest wins; --conflicts lists them)" \
        in capsys.readouterr().out

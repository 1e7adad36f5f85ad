"""Label store (real SQLite files) and the query / teach / status commands (real Parquet)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris

from pseudolabel.cli import main
from pseudolabel.exceptions import InputError, ParameterError, StoreError
from pseudolabel.store import LabelStore, SQLiteStore, open_store

NAMES = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    """Tests never depend on whatever plugins happen to be installed."""
    from pseudolabel.plugins import isolated_plugin_manager

    with isolated_plugin_manager():
        yield


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "labels.db", create=True)
    yield s
    s.close()


def _edit_with_sqlite(path: Path, statement: str) -> None:
    """Change a database file behind the store's back, with plain sqlite3."""
    con = sqlite3.connect(path)
    try:
        con.execute(statement)
        con.commit()
    finally:
        con.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_history_of_more_ids_than_sqlite_binds_at_once(store):
    store.add_labels(["i5", "i299999"], ["a", "b"], source="seed", allow_new_ids=True,
                     allow_new_classes=True)
    ids = [f"i{k}" for k in range(300_000)]  # beyond SQLite's variable limit (250 000 here)
    hist = store.history(ids)
    assert hist["id"].tolist() == ["i5", "i299999"]
    assert store.history(["i299999", "nope"])["label"].tolist() == ["b"]
    assert store.history([]).empty


def test_seed_then_human_labels_with_provenance(store):
    assert isinstance(store, LabelStore)
    res = store.add_labels(
        ["a", "b", "c"], ["cat", "dog", "cat"], source="seed",
        allow_new_ids=True, allow_new_classes=True, origin="seed.csv",
    )
    assert (res.n_new, res.n_duplicate, res.n_new_items, res.n_new_classes) == (3, 0, 3, 2)
    assert store.classes() == ["cat", "dog"]
    batch = store.record_batch(["d", "e"], scores=[0.9, 0.8], guesses=["dog", "cat"],
                               model_version="m1")
    assert batch.round == 1 and store.current_round() == 1
    assert store.pending_ids() == ["d", "e"]
    res = store.add_labels(["d"], ["dog"], source="human", annotator="ann", confidence=0.7,
                           model_version="m1")
    assert res.n_new == 1
    hist = store.history(["d"])
    row = hist.iloc[0]
    assert (row["source"], row["annotator"], row["round"], row["confidence"],
            row["model_version"]) == ("human", "ann", 1, 0.7, "m1")
    assert row["created_at"].endswith("+00:00")
    assert store.pending_ids() == ["e"]
    current = store.current_labels()
    assert dict(zip(current["id"], current["label"])) == {"a": "cat", "b": "dog", "c": "cat",
                                                          "d": "dog"}


def test_import_twice_duplicates_nothing(store):
    store.add_labels(["a", "b"], ["x", "y"], source="seed", allow_new_ids=True,
                     allow_new_classes=True)
    first = store.add_labels(["a", "b"], ["y", "y"], source="human", annotator="ann")
    again = store.add_labels(["a", "b"], ["y", "y"], source="human", annotator="ann")
    assert (first.n_new, again.n_new, again.n_duplicate) == (2, 0, 2)
    assert len(store.history()) == 4


def test_unknown_ids_or_classes_write_nothing(store):
    store.add_labels(["a", "b"], ["x", "y"], source="seed", allow_new_ids=True,
                     allow_new_classes=True)
    before = len(store.history())
    with pytest.raises(InputError, match=r"1 unknown id.*'zz'"):
        store.add_labels(["a", "zz"], ["x", "y"], source="human")
    with pytest.raises(InputError, match=r"unknown class.*'w'"):
        store.add_labels(["a", "b"], ["x", "w"], source="human")
    with pytest.raises(InputError, match="labeled 'x' at row 0 and 'y' at row 1"):
        store.add_labels(["a", "a"], ["x", "y"], source="human")
    with pytest.raises(InputError, match="2 ids but 1 labels"):
        store.add_labels(["a", "b"], ["x"], source="human")
    with pytest.raises(InputError, match="missing id"):
        store.add_labels(["a", None], ["x", "y"], source="human")
    with pytest.raises(ParameterError, match="source"):
        store.add_labels(["a"], ["x"], source="robot")
    assert len(store.history()) == before
    assert store.classes() == ["x", "y"] and store.n_items() == 2


def test_human_labels_win_over_pseudo_labels(store):
    store.add_labels(["a", "b", "c"], ["x", "y", "x"], source="seed", allow_new_ids=True,
                     allow_new_classes=True)
    store.add_items(["d", "e"])
    store.add_labels(["d", "e"], ["x", "x"], source="pseudo", confidence=[0.99, 0.95],
                     model_version="m2")
    store.add_labels(["d"], ["y"], source="human", annotator="ann")
    # a later pseudo-label does not override the human either
    store.add_labels(["d"], ["x"], source="pseudo", model_version="m3", round=5)
    gold = store.current_labels()
    assert "e" not in set(gold["id"])
    both = store.current_labels(include_pseudo=True).set_index("id")
    assert both.loc["d", "label"] == "y" and both.loc["d", "source"] == "human"
    assert both.loc["e", "source"] == "pseudo" and both.loc["e", "confidence"] == 0.95
    st = store.status()
    assert st.counts["y"] == {"seed": 1, "human": 1}
    assert st.counts["x"] == {"seed": 2, "pseudo": 1}
    # the repeated pseudo-label ("d" -> "x") is a duplicate: same item, label, source, annotator
    assert st.n_records == {"seed": 3, "human": 1, "pseudo": 2}


def test_corrupt_foreign_and_missing_files(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096))
    digest = _sha(junk)
    with pytest.raises(StoreError, match="not a pseudolabel label store"):
        SQLiteStore(junk)
    assert _sha(junk) == digest

    foreign = tmp_path / "foreign.db"
    _edit_with_sqlite(foreign, "CREATE TABLE customers (id INTEGER, name TEXT)")
    digest = _sha(foreign)
    with pytest.raises(StoreError, match="not a pseudolabel label store.*customers"):
        SQLiteStore(foreign, create=True)
    assert _sha(foreign) == digest

    with pytest.raises(StoreError, match="no label store"):
        SQLiteStore(tmp_path / "missing.db")
    with pytest.raises(StoreError, match="directory"):
        SQLiteStore(tmp_path)

    # a store whose tables were damaged
    path = tmp_path / "damaged.db"
    SQLiteStore(path, create=True).close()
    _edit_with_sqlite(path, "DROP TABLE labels")
    with pytest.raises(StoreError, match="corrupt.*labels"):
        SQLiteStore(path)

    # a truncated store file
    path = tmp_path / "truncated.db"
    s = SQLiteStore(path, create=True)
    s.add_labels([f"i{k}" for k in range(3000)], ["x", "y"] * 1500, source="seed",
                 allow_new_ids=True, allow_new_classes=True)
    s.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreError):
        with SQLiteStore(path) as broken:
            broken.status()

    with pytest.raises(ParameterError, match="unsupported"):
        open_store("postgresql://host/db")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    SQLiteStore(path, create=True).close()
    _edit_with_sqlite(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(path)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    X, y = load_iris(return_X_y=True)
    pool = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    pool.insert(0, "id", [f"f{i:03d}" for i in range(len(y))])
    pool.to_parquet(tmp_path / "pool.parquet")
    seed_rows = [0, 1, 50, 51, 100, 101]
    pd.DataFrame({"id": pool["id"].iloc[seed_rows], "label": NAMES[y[seed_rows]]}).to_csv(
        tmp_path / "seed.csv", index=False
    )
    return tmp_path, pool, y


def _truth(pool, y):
    return dict(zip(pool["id"], NAMES[y]))


def test_cli_query_teach_status_round_trip(project, capsys):
    tmp, pool, y = project
    db = str(tmp / "labels.db")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp / "seed.csv")]) == 0
    assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--id-column",
                 "id", "--n", "12", "--output", str(tmp / "batch.csv")]) == 0
    batch = pd.read_csv(tmp / "batch.csv", dtype={"id": str}, keep_default_na=False)
    assert list(batch.columns[:9]) == ["id", "label", "guess", "guess_confidence", "score",
                                      "rank", "round", "batch", "model_version"]
    assert list(batch.columns[9:]) == ["sl", "sw", "pl", "pw"]
    assert len(batch) == 12 and (batch["label"] == "").all()
    assert set(batch["guess"]) <= set(NAMES) and (batch["round"] == 1).all()
    assert batch["score"].is_monotonic_decreasing
    assert not set(batch["id"]) & {"f000", "f001", "f050", "f051", "f100", "f101"}

    # annotators fill in 10 of the 12 labels
    truth = _truth(pool, y)
    batch.loc[:9, "label"] = [truth[i] for i in batch["id"][:10]]
    batch.to_csv(tmp / "answers.csv", index=False)
    capsys.readouterr()
    assert main(["teach", "--store", db, "--annotator", "ann", str(tmp / "answers.csv")]) == 0
    out = capsys.readouterr().out
    assert "10 new human labels" in out and "2 rows without a label skipped" in out
    assert main(["teach", "--store", db, "--annotator", "ann", str(tmp / "answers.csv")]) == 0
    assert "0 new human labels, 10 already in the store" in capsys.readouterr().out

    with SQLiteStore(db) as s:
        hist = s.history()
        human = hist[hist["source"] == "human"]
        assert len(human) == 10 and set(human["annotator"]) == {"ann"}
        assert (human["round"] == 1).all()
        assert set(human["model_version"]) == set(batch["model_version"])
        assert len(s.pending_ids()) == 2

    assert main(["status", "--store", db]) == 0
    out = capsys.readouterr().out
    assert "labeled 16" in out and "sent out and not answered 2" in out
    assert main(["status", "--store", db, "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["labeled"] == 16 and st["label_records_by_source"]["human"] == 10
    assert sum(sum(v.values()) for v in st["current_labels_by_class_and_source"].values()) == 16

    # next round skips labeled rows and the 2 pending ones
    assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "20",
                 "--output", str(tmp / "batch2.csv"), "--strategy", "margin"]) == 0
    batch2 = pd.read_csv(tmp / "batch2.csv", dtype={"id": str})
    assert not set(batch2["id"]) & set(batch["id"])
    assert (batch2["round"] == 2).all()


def test_cli_bad_input_is_rejected_atomically(project, capsys):
    tmp, pool, y = project
    db = str(tmp / "labels.db")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp / "seed.csv")]) == 0
    with SQLiteStore(db) as s:
        n_before = len(s.history())
    pd.DataFrame({"id": ["f000", "nope"], "label": ["setosa", "setosa"]}).to_csv(
        tmp / "bad_ids.csv", index=False)
    pd.DataFrame({"id": ["f000", "f001"], "label": ["setosa", "tulip"]}).to_csv(
        tmp / "bad_class.csv", index=False)
    assert main(["teach", "--store", db, str(tmp / "bad_ids.csv")]) == 2
    assert "unknown id" in capsys.readouterr().err
    assert main(["teach", "--store", db, str(tmp / "bad_class.csv")]) == 2
    assert "unknown class(es) 'tulip'" in capsys.readouterr().err
    with SQLiteStore(db) as s:
        assert len(s.history()) == n_before

    junk = tmp / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    assert main(["status", "--store", str(junk)]) == 1
    assert "not a pseudolabel label store" in capsys.readouterr().err
    # issue 10 item 7: a missing store is bad input (2), like a missing file
    assert main(["teach", "--store", str(tmp / "none.db"), str(tmp / "seed.csv")]) == 2
    assert "no label store at" in capsys.readouterr().err
    assert not (tmp / "none.db").exists()

    # query: unknown strategy leaves no output and records no batch
    out = tmp / "batch.csv"
    assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "5",
                 "--output", str(out), "--strategy", "nope"]) == 2
    assert not out.exists() and not list(tmp.glob(".batch.csv*"))
    with SQLiteStore(db) as s:
        assert s.current_round() == 0
    assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "5",
                 "--output", str(out)]) == 0
    # issue 10 item 7: an existing output is exit 4, as for `label`
    assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "5",
                 "--output", str(out)]) == 4
    assert "exists" in capsys.readouterr().err
    assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "5",
                 "--output", str(tmp / "b2.csv"), "--id-column", "nope"]) == 2
    assert main(["query", "--store", db, "--input", str(tmp / "missing.parquet"), "--n", "5",
                 "--output", str(tmp / "b3.csv")]) == 2
    bad_pq = tmp / "bad.parquet"
    bad_pq.write_bytes(b"PAR1 garbage")
    assert main(["query", "--store", db, "--input", str(bad_pq), "--n", "5",
                 "--output", str(tmp / "b3.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_query_with_lightgbm_backend(project):
    tmp, pool, y = project
    db = str(tmp / "labels.db")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp / "seed.csv")]) == 0
    assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "5",
                 "--output", str(tmp / "b.parquet"), "--backend", "lightgbm", "--param",
                 "n_estimators=10", "--param", "min_child_samples=1", "--param",
                 "verbose=-1", "--strategy", "least_confident"]) == 0
    b = pd.read_parquet(tmp / "b.parquet")
    assert len(b) == 5 and b["model_version"].iloc[0].startswith("lightgbm-")


def test_two_teach_commands_at_once_are_safe(project):
    tmp, pool, y = project
    db = str(tmp / "labels.db")
    ids = [f"x{k:05d}" for k in range(4000)]
    pd.DataFrame({"id": ids, "label": ["a", "b"] * 2000}).to_csv(tmp / "seed.csv", index=False)
    assert main(["teach", "--store", db, "--source", "seed", str(tmp / "seed.csv")]) == 0
    first = pd.DataFrame({"id": ids[:2000], "label": ["b"] * 2000})
    second = pd.DataFrame({"id": ids[2000:], "label": ["a"] * 2000})
    first.to_csv(tmp / "one.csv", index=False)
    second.to_csv(tmp / "two.csv", index=False)
    env = dict(os.environ, PSEUDOLABEL_DISABLE_PLUGINS="all")
    cmd = [sys.executable, "-m", "pseudolabel", "teach", "--store", db, "--annotator"]
    procs = [
        subprocess.Popen(cmd + ["ann1", str(tmp / "one.csv")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen(cmd + ["ann2", str(tmp / "two.csv")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        # the same file twice at once: still no duplicates
        subprocess.Popen(cmd + ["ann1", str(tmp / "one.csv")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
    with SQLiteStore(db) as s:
        hist = s.history()
        human = hist[hist["source"] == "human"]
        assert len(human) == 4000
        assert not human.duplicated(["id", "label", "annotator"]).any()
        current = s.current_labels().set_index("id")["label"]
        assert (current[ids[:2000]] == "b").all() and (current[ids[2000:]] == "a").all()
    new_counts = sorted(int(o.split(" new ")[0].split(": ")[-1]) for o, _ in results)
    assert new_counts == [0, 2000, 2000]


def test_ids_and_provenance_columns_are_normalized(store):
    res = store.add_labels(np.array([1.0, 2.0, 3.0]), [1, 2, 1], source="seed",
                           allow_new_ids=True, allow_new_classes=True)
    assert res.n_new == 3 and store.classes() == ["1", "2"]
    # the same ids as ints or strings are the same items
    assert store.add_labels([1, "2"], ["1", "2"], source="seed").n_new == 0
    # ... and as integral floats among strings (a mixed object column)
    mixed = np.array(["3", 1.0, np.float64(2.0)], dtype=object)
    assert store.add_labels(mixed, np.array([1.0, "1", 2], dtype=object), source="seed").n_new == 0
    with pytest.raises(InputError, match="2.5 at row 1 is not an integer"):
        store.add_labels([1.0, 2.5], ["1", "1"], source="human")
    with pytest.raises(InputError, match="empty id at row 0"):
        store.add_labels(["  "], ["1"], source="human")
    with pytest.raises(InputError, match="invalid round"):
        store.add_labels([1], ["2"], source="human", round=["soon"])
    with pytest.raises(InputError, match="invalid round.*not an integer"):
        store.add_labels([1], ["2"], source="human", round=[1.5])
    with pytest.raises(InputError, match="confidence must lie in"):
        store.add_labels([1], ["2"], source="human", confidence=[1.5])
    res = store.add_labels([1, 2], ["2", "1"], source="human", annotator="a",
                           round=[4, None], confidence=[0.5, ""])
    hist = store.history([1, 2]).query("source == 'human'").set_index("id")
    assert hist.loc["1", "round"] == 4 and hist.loc["2", "round"] == 0
    assert hist.loc["1", "confidence"] == 0.5 and pd.isna(hist.loc["2", "confidence"])


def test_cli_query_with_a_model_bundle(project, capsys):
    tmp, pool, y = project
    db = str(tmp / "labels.db")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp / "seed.csv")]) == 0
    train = pool.iloc[::5].copy()
    train["species"] = NAMES[y[::5]]
    train.to_parquet(tmp / "train.parquet")
    assert main(["train", "--backend", "lightgbm", "--input", str(tmp / "train.parquet"),
                 "--target", "species", "--id-column", "id", "--param", "n_estimators=10",
                 "--param", "min_child_samples=2", "--param", "verbose=-1",
                 "--output", str(tmp / "bundle")]) == 0
    capsys.readouterr()
    for strategy in ("margin", "ranked_batch"):
        out = tmp / f"batch_{strategy}.csv"
        assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "6",
                     "--output", str(out), "--model", str(tmp / "bundle"), "--strategy",
                     strategy, "--requery-pending"]) == 0
        b = pd.read_csv(out, dtype={"id": str})
        assert len(b) == 6 and b["model_version"].iloc[0].startswith("bundle-")
        assert set(b["guess"]) <= set(NAMES)
        assert not set(b["id"]) & {"f000", "f001", "f050", "f051", "f100", "f101"}
    assert main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "6",
                 "--output", str(tmp / "q.csv"), "--model", str(tmp / "bundle"), "--strategy",
                 "qbc"]) == 2
    assert "committee" in capsys.readouterr().err


def test_cli_teach_parquet_with_numeric_labels(tmp_path, capsys):
    db = str(tmp_path / "labels.db")
    pd.DataFrame({"id": [1, 2, 3], "label": [0, 1, 1]}).to_parquet(tmp_path / "seed.parquet")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp_path / "seed.parquet")]) == 0
    # the same classes written as floats (a column with gaps), and ids as strings
    pd.DataFrame({"id": ["1", "2", "3"], "label": [1.0, np.nan, 0.0]}).to_parquet(
        tmp_path / "answers.parquet")
    assert main(["teach", "--store", db, str(tmp_path / "answers.parquet")]) == 0
    assert "2 new human labels" in capsys.readouterr().out
    with SQLiteStore(db) as s:
        assert s.classes() == ["0", "1"]
        cur = s.current_labels().set_index("id")["label"]
        assert cur.to_dict() == {"1": "1", "2": "1", "3": "0"}


@settings(max_examples=30, deadline=None)
@given(
    imports=st.lists(
        st.tuples(
            st.sampled_from(["seed", "human", "pseudo"]),
            st.sampled_from(["", "ann", "bob"]),
            st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]),
                               st.sampled_from(["x", "y", "z"])), min_size=1, max_size=6),
        ),
        min_size=1, max_size=8,
    )
)
def test_current_labels_match_a_reference_model(tmp_path_factory, imports):
    """Random import sequences against a plain-Python model of the rules."""
    path = tmp_path_factory.mktemp("prop") / "labels.db"
    records: list[tuple] = []  # (seq, id, label, source, annotator), deduplicated
    keys = set()
    with SQLiteStore(path, create=True) as s:
        s.add_items(["a", "b", "c", "d"])
        s.add_classes(["x", "y", "z"])
        for source, who, pairs in imports:
            ids = [p[0] for p in pairs]
            labels = [p[1] for p in pairs]
            firsts: dict[str, str] = {}
            clash = any(firsts.setdefault(i, lab) != lab for i, lab in pairs)
            if clash:
                with pytest.raises(InputError, match="same import"):
                    s.add_labels(ids, labels, source=source, annotator=who or None)
                continue
            s.add_labels(ids, labels, source=source, annotator=who or None)
            for i, lab in pairs:
                key = (i, lab, source, who)
                if key not in keys:
                    keys.add(key)
                    records.append((len(records), i, lab, source, who))
        expected = {}
        for include_pseudo in (False, True):
            expected = {}
            for seq, i, lab, source, who in records:
                if source == "pseudo" and not include_pseudo:
                    continue
                rank = (0 if source == "pseudo" else 1, seq)
                if i not in expected or rank > expected[i][0]:
                    expected[i] = (rank, lab, source)
            got = s.current_labels(include_pseudo=include_pseudo).set_index("id")
            assert {i: (v[1], v[2]) for i, v in expected.items()} == {
                i: (r["label"], r["source"]) for i, r in got.iterrows()
            }
        assert len(s.history()) == len(records)


def test_parquet_pool_streams_slices_and_takes(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pseudolabel.io_pool import ParquetPool as _ParquetPool

    rng = np.random.default_rng(0)
    full = rng.normal(size=(1000, 3))
    table = pa.table({"id": np.arange(1000), "a": full[:, 0], "b": full[:, 1],
                      "c": full[:, 2].astype(np.float32), "s": ["x"] * 1000})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=137)
    pf = pq.ParquetFile(tmp_path / "p.parquet")
    pool = _ParquetPool(pf, ["a", "b", "c"], path="p.parquet", batch_rows=50)
    expected = full.copy()
    expected[:, 2] = full[:, 2].astype(np.float32)
    assert pool.shape == (1000, 3)
    for start, stop in [(0, 64), (64, 128), (128, 999), (999, 1000), (10, 20), (500, 1000)]:
        np.testing.assert_array_equal(pool[start:stop], expected[start:stop])
    idx = rng.permutation(1000)[:77]
    np.testing.assert_array_equal(pool[idx], expected[idx])
    np.testing.assert_array_equal(pool[::100], expected[::100])
    with pytest.raises(InputError, match="'s' is not numeric"):
        _ParquetPool(pf, ["a", "s"], path="p.parquet")[0:5]
    with pytest.raises(TypeError, match="never loaded whole"):
        np.asarray(pool)


def test_cli_query_parquet_matches_csv(project):
    """The streamed Parquet pool (many row groups) picks the same rows as the CSV pool."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp, pool, y = project
    pq.write_table(pa.Table.from_pandas(pool, preserve_index=False), tmp / "rg.parquet",
                   row_group_size=16)
    pool.to_csv(tmp / "pool.csv", index=False)
    outs = {}
    for strategy in ("entropy", "ranked_batch", "vote_entropy"):
        for name in ("rg.parquet", "pool.csv"):
            db = tmp / f"{strategy}-{name}.db"
            assert main(["teach", "--store", str(db), "--source", "seed",
                         str(tmp / "seed.csv")]) == 0
            out = tmp / f"{strategy}-{name}.csv"
            assert main(["query", "--store", str(db), "--input", str(tmp / name), "--n", "15",
                         "--output", str(out), "--strategy", strategy, "--param", "C=0.5"]) == 0
            outs[name] = pd.read_csv(out, dtype={"id": str}).drop(columns=["batch"])
        pd.testing.assert_frame_equal(outs["rg.parquet"], outs["pool.csv"], check_exact=False)


def test_two_seed_imports_creating_the_store_at_once(tmp_path):
    db = str(tmp_path / "fresh.db")
    for k in range(2):
        pd.DataFrame({"id": [f"s{k}-{i}" for i in range(500)], "label": ["a", "b"] * 250}).to_csv(
            tmp_path / f"seed{k}.csv", index=False)
    env = dict(os.environ, PSEUDOLABEL_DISABLE_PLUGINS="all")
    procs = [
        subprocess.Popen([sys.executable, "-m", "pseudolabel", "teach", "--store", db,
                          "--source", "seed", str(tmp_path / f"seed{k}.csv")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with SQLiteStore(db) as s:
        assert s.n_items() == 1000 and len(s.history()) == 1000
        assert sorted(s.classes()) == ["a", "b"]


def test_racing_store_creation_in_threads(tmp_path):
    import threading

    path = tmp_path / "race.db"
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            with SQLiteStore(path, create=True) as s:
                s.add_labels([f"t{k}-{i}" for i in range(50)], ["a", "b"] * 25, source="seed",
                             allow_new_ids=True, allow_new_classes=True)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with SQLiteStore(path) as s:
        assert s.n_items() == 300 and len(s.history()) == 300


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=8), st.data())
def test_rows_grouped_by_row_group_match_numpy(sizes, data):
    from pseudolabel.io_pool import by_row_group as _by_row_group

    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    indices = np.asarray(data.draw(st.lists(st.integers(0, int(starts[-1]) - 1), max_size=60)),
                         dtype=np.int64)
    groups = np.searchsorted(starts, indices, side="right") - 1
    expected = [(int(g), np.flatnonzero(groups == g).tolist()) for g in np.unique(groups)]
    assert [(g, sel.tolist()) for g, sel in _by_row_group(starts, indices)] == expected


_RACER = """
import os, sys, time
from pseudolabel.store import SQLiteStore
path, go, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
while not os.path.exists(go):  # every racer starts at the same moment
    time.sleep(0.001)
with SQLiteStore(path, create=True) as s:
    s.add_labels([f"p{k}-{i}" for i in range(50)], ["a", "b"] * 25, source="seed",
                 allow_new_ids=True, allow_new_classes=True)
"""


def test_racing_store_creation_in_processes(tmp_path):
    """Issue 10 item 1: six processes create the same new store at once, several times."""
    env = dict(os.environ, PSEUDOLABEL_DISABLE_PLUGINS="all")
    for trial in range(4):
        path, go = tmp_path / f"race{trial}.db", tmp_path / f"go{trial}"
        procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(path), str(go), str(k)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for k in range(6)]
        go.touch()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        with SQLiteStore(path) as s:
            assert s.n_items() == 300 and len(s.history()) == 300


def test_eight_seed_teach_commands_creating_one_store(tmp_path):
    """Issue 10 item 1: 8 parallel `pseudolabel teach --source seed` on one new store."""
    db = str(tmp_path / "fresh.db")
    for k in range(8):
        pd.DataFrame({"id": [f"s{k}-{i}" for i in range(2000)],
                      "label": ["a", "b"] * 1000}).to_csv(tmp_path / f"seed{k}.csv", index=False)
    env = dict(os.environ, PSEUDOLABEL_DISABLE_PLUGINS="all")
    procs = [
        subprocess.Popen([sys.executable, "-m", "pseudolabel", "teach", "--store", db,
                          "--source", "seed", str(tmp_path / f"seed{k}.csv")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(8)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with SQLiteStore(db) as s:
        assert s.n_items() == 16000 and len(s.history()) == 16000


def test_a_failure_before_commit_records_no_batch(store):
    store.add_labels(["a", "b"], ["x", "y"], source="seed", allow_new_ids=True,
                     allow_new_classes=True)

    def fail(info):
        assert info.round == 1 and info.batch_id.startswith("r1-")
        raise OSError(28, "No space left on device", "batch.csv")

    with pytest.raises(OSError, match="No space left"):
        store.record_batch(["c", "d"], scores=[0.9, 0.8], guesses=["x", "y"],
                           model_version="m", before_commit=fail)
    assert store.current_round() == 0 and store.pending_ids() == []
    assert store.n_items() == 2
    seen = []
    info = store.record_batch(["c"], scores=[0.5], guesses=["x"], model_version="m",
                              before_commit=seen.append)
    assert seen == [info] and store.pending_ids() == ["c"]


@pytest.mark.parametrize("name, call", [("_write_table", 1), ("_write_table", 2),
                                        ("replace_path", 1)])
def test_query_interrupted_while_writing_leaves_both_or_neither(project, capsys, name, call):
    """Issue 10 item 10: a crash between recording a batch and writing its file must not
    leave rows pending with no file. Stopped at each write step, the batch file exists
    exactly when the store recorded the batch."""
    import pseudolabel.cli.store as cli_store
    from _support.crash import interrupted_at_call

    tmp, pool, y = project
    db = str(tmp / "labels.db")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp / "seed.csv")]) == 0
    out = tmp / "batch.csv"
    with interrupted_at_call(cli_store, name, call):
        code = main(["query", "--store", db, "--input", str(tmp / "pool.parquet"), "--n", "5",
                     "--output", str(out)])
    assert code in (0, 130)
    with SQLiteStore(db) as s:
        recorded = s.current_round() == 1
        assert recorded == bool(s.pending_ids())
    assert out.exists() == recorded, (code, recorded)
    assert not list(tmp.glob(".batch.csv*"))  # no temporary file left behind
    if recorded:
        batch = pd.read_csv(out, dtype={"id": str})
        with SQLiteStore(db) as s:
            assert sorted(batch["id"]) == s.pending_ids()


def test_streaming_a_parquet_pool_keeps_arrow_memory_bounded(tmp_path):
    """Issue 10 item 2 (query's pool reader): walking a Parquet pool slice by slice holds
    about one row group in Arrow memory, not the bytes read so far."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pseudolabel.io_pool import PoolFile

    n = 1_000_000
    rng = np.random.default_rng(0)
    columns = {f"x{j}": rng.normal(size=n) for j in range(4)}
    pq.write_table(pa.table({"id": np.arange(n), **columns}), tmp_path / "pool.parquet",
                   row_group_size=50_000)
    del columns
    pool = PoolFile(str(tmp_path / "pool.parquet"), "id").features(["x0", "x1", "x2", "x3"])
    base = pa.total_allocated_bytes()
    peak = 0
    for start in range(0, n, 65_536):
        pool[start:start + 65_536]
        peak = max(peak, pa.total_allocated_bytes() - base)
    data_bytes = n * 4 * 8
    assert peak < 0.4 * data_bytes, f"{peak / 1e6:.1f} MB held for {data_bytes / 1e6:.0f} MB"

"""The streaming ``label`` job: same answers as in memory, bad input named, crash-safe."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris, load_wine

from _support.crash import crash_cli, interrupted_at_call
from pseudolabel import kernels
from pseudolabel.batch import label, load_bundle, train_bundle
from pseudolabel.cli import main
from pseudolabel.exceptions import (
    BackendError,
    BundleError,
    InputError,
    OutputExistsError,
    ParameterError,
)
from pseudolabel.plugins import isolated_plugin_manager

LGB = {"n_estimators": 15, "verbose": -1, "n_jobs": 1}


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    with isolated_plugin_manager():
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("batch")


@pytest.fixture(scope="module")
def wine(data_dir):
    """A LightGBM bundle trained on wine, and a pool of 712 perturbed wine rows."""
    X, y = load_wine(return_X_y=True, as_frame=True)
    train = X.copy()
    train["target"] = y
    train.to_parquet(data_dir / "train.parquet")
    with isolated_plugin_manager():
        train_bundle(data_dir / "train.parquet", backend="lightgbm", target="target",
                     output=data_dir / "model", params=LGB)
    rng = np.random.default_rng(0)
    pool = pd.concat([X] * 4, ignore_index=True)
    pool = pool * rng.normal(1.0, 0.05, size=pool.shape)
    pool.insert(0, "uid", [f"u{i:04d}" for i in range(len(pool))])
    pool.to_parquet(data_dir / "pool.parquet", row_group_size=100)
    return data_dir / "model", data_dir / "pool.parquet", pool


def _reference(model_dir: Path, pool: pd.DataFrame) -> np.ndarray:
    b = load_bundle(model_dir)
    return b.backend.predict_proba(pool[b.feature_columns].to_numpy(np.float64))


def test_threshold_output_matches_in_memory(wine, tmp_path):
    model, pool_path, pool = wine
    res = label(model, pool_path, tmp_path / "out", id_column="uid", threshold=0.8,
                chunk_rows=64)
    out = pd.read_parquet(tmp_path / "out")
    P = _reference(model, pool)
    s = kernels.summarize(P)
    assert list(out.columns) == ["uid", "label", "confidence", "margin", "selected"]
    assert out["uid"].tolist() == pool["uid"].tolist()
    np.testing.assert_array_equal(out["label"], np.array([0, 1, 2])[s.label])
    np.testing.assert_allclose(out["confidence"], s.confidence)
    np.testing.assert_allclose(out["margin"], s.margin)
    np.testing.assert_array_equal(out["selected"], s.confidence > 0.8)
    assert res.rows == len(pool) and res.selected == int((s.confidence > 0.8).sum())
    assert res.chunks == -(-len(pool) // 64)
    assert sum(res.selected_per_class.values()) == res.selected
    assert res.class_counts == {c: int(n) for c, n in enumerate(np.bincount(s.label))}
    # the dataset directory holds parts and a summary only (no work files, no temp files)
    names = sorted(os.listdir(tmp_path / "out"))
    assert names[0] == "_pseudolabel_summary.json"
    assert all(n.startswith("part-") and n.endswith(".parquet") for n in names[1:])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk_rows=st.integers(7, 300), k=st.integers(0, 80),
       per_class=st.booleans())
def test_global_top_k_equals_in_memory_select(wine, tmp_path_factory, chunk_rows, k, per_class):
    model, pool_path, pool = wine
    out = tmp_path_factory.mktemp("topk") / "o.parquet"
    opt = {"per_class_k": k} if per_class else {"top_k": k}
    res = label(model, pool_path, out, chunk_rows=chunk_rows, **opt)
    got = pd.read_parquet(out)
    ref = kernels.select(_reference(model, pool), **({"per_class_k": k} if per_class
                                                     else {"k": k}))
    assert np.flatnonzero(got["selected"].to_numpy()).tolist() == sorted(ref.indices.tolist())
    assert got["row"].tolist() == list(range(len(pool)))
    assert res.selected == len(ref.indices)
    per = np.bincount(ref.labels, minlength=3)
    assert res.selected_per_class == {c: int(per[c]) for c in range(3)}


def test_parquet_csv_and_npy_inputs_stream_the_same(wine, tmp_path):
    model, _, pool = wine
    b = load_bundle(model)
    inp = tmp_path / "in"
    inp.mkdir()
    parts = np.array_split(np.arange(len(pool)), 3)
    pool.iloc[parts[0]].to_parquet(inp / "a.parquet")
    pool.iloc[parts[1]].to_csv(inp / "b.csv", index=False)
    pool.iloc[parts[2]].to_parquet(inp / "c.parquet")
    label(model, str(inp / "*"), tmp_path / "o1.parquet", id_column="uid", top_k=50,
          chunk_rows=70)
    got = pd.read_parquet(tmp_path / "o1.parquet")
    assert got["uid"].tolist() == pool["uid"].tolist()
    ref = kernels.select(_reference(model, pool), k=50)
    assert np.flatnonzero(got["selected"]).tolist() == sorted(ref.indices.tolist())
    # .npy: columns are the features in training order; ids are global row numbers
    for i, idx in enumerate(parts):
        np.save(tmp_path / f"x{i}.npy", pool.iloc[idx][b.feature_columns].to_numpy())
    label(model, str(tmp_path / "x*.npy"), tmp_path / "o2", top_k=50, chunk_rows=70)
    got2 = pd.read_parquet(tmp_path / "o2")
    assert got2["row"].tolist() == list(range(len(pool)))
    for col in ("label", "confidence", "margin", "selected"):
        np.testing.assert_array_equal(got2[col], got[col])


def test_probabilities_and_original_string_labels(tmp_path):
    data = load_iris(as_frame=True)
    df = data.data.copy()
    df["species"] = np.asarray(data.target_names)[data.target]
    df.to_csv(tmp_path / "iris.csv", index=False)
    train_bundle(tmp_path / "iris.csv", backend="xgboost", target="species",
                 output=tmp_path / "m", params={"n_estimators": 10, "n_jobs": 1})
    label(tmp_path / "m", tmp_path / "iris.csv", tmp_path / "o.parquet", threshold=0.5,
          probabilities=True, chunk_rows=40)
    out = pd.read_parquet(tmp_path / "o.parquet")
    names = ["proba_setosa", "proba_versicolor", "proba_virginica"]
    assert list(out.columns) == ["row", "label", "confidence", "margin", "selected", *names]
    b = load_bundle(tmp_path / "m")
    P = b.backend.predict_proba(df[b.feature_columns].to_numpy(float))
    np.testing.assert_allclose(out[names].to_numpy(), P)
    assert out["label"].tolist() == list(np.asarray(data.target_names)[P.argmax(1)])
    assert pq.read_schema(tmp_path / "o.parquet").field("label").type == pa.string()


def test_missing_column_names_file_and_writes_nothing(wine, tmp_path):
    model, _, pool = wine
    pool.drop(columns=["proline"]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"bad\.parquet: missing column\(s\) 'proline'"):
        label(model, tmp_path / "bad.parquet", tmp_path / "o", threshold=0.5)
    with pytest.raises(InputError, match="missing column.*'nope'"):
        label(model, wine[1], tmp_path / "o", threshold=0.5, id_column="nope")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet"]


def test_nan_where_the_backend_cannot_take_it_names_file_and_row(wine, tmp_path):
    from sklearn.naive_bayes import GaussianNB

    _, _, pool = wine
    X, y = load_wine(return_X_y=True, as_frame=True)
    train = X.copy()
    train["target"] = y
    train.to_parquet(tmp_path / "train.parquet")
    train_bundle(tmp_path / "train.parquet", backend="sklearn", target="target",
                 output=tmp_path / "m", params={"estimator": GaussianNB()})
    bad = pool.copy()
    bad.loc[137, "hue"] = np.nan
    bad.to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(InputError, match=r"nan\.parquet, row 137: missing value \(NaN\) in "
                                         r"feature 'hue'"):
        label(tmp_path / "m", tmp_path / "nan.parquet", tmp_path / "o.parquet",
              threshold=0.5, chunk_rows=50)
    assert not (tmp_path / "o.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # LightGBM takes NaN natively: no error, the row is scored
    out = label(wine[0], tmp_path / "nan.parquet", tmp_path / "o2.parquet", threshold=0.5)
    assert out.rows == len(pool)


def test_bad_values_and_files_are_named(wine, tmp_path):
    model, _, pool = wine
    df = pool.copy()
    df["hue"] = df["hue"].astype(str)
    df.to_parquet(tmp_path / "str.parquet")
    with pytest.raises(InputError,
                       match=r"str\.parquet: feature column 'hue' has type (large_)?string"):
        label(model, tmp_path / "str.parquet", tmp_path / "o", threshold=0.5)
    pool.iloc[:20].to_csv(tmp_path / "bad.csv", index=False)
    text = (tmp_path / "bad.csv").read_text().splitlines()
    cells = text[8].split(",")
    cells[3] = "oops"
    text[8] = ",".join(cells)
    (tmp_path / "bad.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match=r"bad\.csv, row 7: feature 'ash' holds 'oops'"):
        label(model, tmp_path / "bad.csv", tmp_path / "o", threshold=0.5)
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"corrupt\.parquet: not a readable Parquet file"):
        label(model, tmp_path / "corrupt.parquet", tmp_path / "o", threshold=0.5)
    with pytest.raises(InputError, match="matches no file"):
        label(model, str(tmp_path / "*.nothing"), tmp_path / "o", threshold=0.5)
    with pytest.raises(InputError, match="unsupported input format '.txt'"):
        (tmp_path / "x.txt").write_text("a")
        label(model, tmp_path / "x.txt", tmp_path / "o", threshold=0.5)
    with pytest.raises(ParameterError, match="exactly one decision"):
        label(model, wine[1], tmp_path / "o", threshold=0.5, top_k=3)
    with pytest.raises(ParameterError, match="chunk_rows"):
        label(model, wine[1], tmp_path / "o", threshold=0.5, chunk_rows=0)
    for bad, message in [({"threshold": "high"}, "threshold must be a number in \\[0, 1\\], "
                          "got 'high'"), ({"top_k": "ten"}, "top_k must be a non-negative"),
                         ({"per_class_k": [3]}, "per_class_k must be a non-negative")]:
        with pytest.raises(ParameterError, match=message):
            label(model, wine[1], tmp_path / "o", **bad)
    assert not (tmp_path / "o").exists()


def test_empty_input_gives_empty_output_with_schema(wine, tmp_path):
    model, _, pool = wine
    pool.iloc[:0].to_parquet(tmp_path / "empty.parquet")
    res = label(model, tmp_path / "empty.parquet", tmp_path / "o", top_k=5)
    assert res.rows == 0
    t = pq.read_table(tmp_path / "o")
    assert t.num_rows == 0 and t.column_names[1:] == ["label", "confidence", "margin",
                                                       "selected"]


def test_existing_output_and_partial_runs_are_refused(wine, tmp_path):
    model, pool_path, _ = wine
    out = tmp_path / "o.parquet"
    label(model, pool_path, out, top_k=10, chunk_rows=100)
    first = out.read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        label(model, pool_path, out, top_k=10, chunk_rows=100)
    label(model, pool_path, out, top_k=10, chunk_rows=100, overwrite=True)
    assert out.read_bytes() == first
    # an interruption after two chunks leaves a partial run behind
    mod = importlib.import_module("pseudolabel.batch.scoring")

    out2 = tmp_path / "o2.parquet"
    with interrupted_at_call(mod, "score_chunk", 3), pytest.raises(KeyboardInterrupt):
        label(model, pool_path, out2, top_k=10, chunk_rows=100)
    assert not out2.exists()
    staging = tmp_path / ".o2.parquet.pseudolabel-partial"
    # unlocked: another process may resume it while this one lives on
    assert staging.is_dir() and not (staging / "_pseudolabel_work" / "lock").exists()
    with pytest.raises(OutputExistsError, match="--resume"):
        label(model, pool_path, out2, top_k=10, chunk_rows=100)
    with pytest.raises(ParameterError, match="chunk_rows"):
        label(model, pool_path, out2, top_k=10, chunk_rows=50, resume=True)
    # a live process holding the partial run's lock keeps others out
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = staging / "_pseudolabel_work" / "lock"
        lock.write_text(json.dumps({"pid": holder.pid, "host": __import__("socket").gethostname()}))
        with pytest.raises(OutputExistsError, match=f"another run \\(pid {holder.pid}\\)"):
            label(model, pool_path, out2, top_k=10, chunk_rows=100, resume=True)
        with pytest.raises(OutputExistsError, match="another run"):  # not even --overwrite
            label(model, pool_path, out2, top_k=10, chunk_rows=100, overwrite=True)
        assert staging.is_dir()
    finally:
        holder.kill()
        holder.wait()
    res = label(model, pool_path, out2, top_k=10, chunk_rows=100, resume=True)
    assert res.resumed
    assert out2.read_bytes() == first


def test_failed_merge_leaves_no_temporary_file_and_resumes(wine, tmp_path, monkeypatch):
    mod = importlib.import_module("pseudolabel.batch.finish")
    model, pool_path, _ = wine
    label(model, pool_path, tmp_path / "ref.parquet", top_k=10, chunk_rows=100)

    failure: dict[str, BaseException] = {}

    class FailingWriter(pq.ParquetWriter):
        def write_table(self, *a, **k):
            raise failure["exc"]

    monkeypatch.setattr(mod.pq, "ParquetWriter", FailingWriter)
    failure["exc"] = OSError("disk full")  # an error: the fresh run is cleaned up entirely
    with pytest.raises(OSError, match="disk full"):
        label(model, pool_path, tmp_path / "o.parquet", top_k=10, chunk_rows=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.parquet"]
    failure["exc"] = KeyboardInterrupt()  # an interruption: only the resumable run is kept
    with pytest.raises(KeyboardInterrupt):
        label(model, pool_path, tmp_path / "o.parquet", top_k=10, chunk_rows=100)
    monkeypatch.undo()
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".o.parquet.pseudolabel-partial", "ref.parquet"]
    label(model, pool_path, tmp_path / "o.parquet", top_k=10, chunk_rows=100, resume=True)
    assert (tmp_path / "o.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes()


def test_interrupted_finalization_resumes_to_the_same_output(wine, tmp_path):
    mod = importlib.import_module("pseudolabel.batch.label")

    model, _, pool = wine
    for i, idx in enumerate(np.array_split(np.arange(len(pool)), 3)):
        pool.iloc[idx].to_parquet(tmp_path / f"in{i}.parquet")
    inputs = str(tmp_path / "in*.parquet")
    label(model, inputs, tmp_path / "ref", per_class_k=20, chunk_rows=60)
    with interrupted_at_call(mod, "finalize_source", 2), pytest.raises(KeyboardInterrupt):
        label(model, inputs, tmp_path / "out", per_class_k=20, chunk_rows=60)
    label(model, inputs, tmp_path / "out", per_class_k=20, chunk_rows=60, resume=True)
    ref_files = sorted(os.listdir(tmp_path / "ref"))
    assert ref_files == sorted(os.listdir(tmp_path / "out"))
    for name in ref_files:
        assert (tmp_path / "ref" / name).read_bytes() == (tmp_path / "out" / name).read_bytes()


def test_strategy_per_chunk(wine, tmp_path):
    model, pool_path, pool = wine
    label(model, pool_path, tmp_path / "a.parquet", strategy="threshold",
          strategy_params={"threshold": 0.85}, chunk_rows=100)
    label(model, pool_path, tmp_path / "b.parquet", threshold=0.85, chunk_rows=100)
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    assert a.equals(b)
    from pseudolabel.exceptions import UnknownNameError

    with pytest.raises(UnknownNameError):
        label(model, pool_path, tmp_path / "c.parquet", strategy="no_such_strategy")


def _cli(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pseudolabel", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("decision,output", [(["--top-k", "40"], "o.parquet"),
                                             (["--threshold", "0.9"], "o_dir")])
def test_kill_9_then_resume_gives_identical_output(wine, tmp_path, decision, output):
    model, pool_path, _ = wine
    args = ["label", "--model", str(model), "--input", str(pool_path), "--id-column", "uid",
            "--chunk-rows", "50", "--probabilities", *decision]
    assert main([*args, "--no-progress", "--output", str(tmp_path / "ref" / output)]) == 0

    out = tmp_path / "run" / output
    state = tmp_path / "run" / f".{output}.pseudolabel-partial" / "_pseudolabel_work" / \
        "files" / "f00000-s000000.json"
    proc = crash_cli([*args, "--output", str(out)], chunk_delay=0.25)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len(json.loads(state.read_text())["chunks"]) >= 4:
                break
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("the job never recorded 4 chunks")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert main([*args, "--output", str(out)]) == 4  # a partial run is there: refused
    resumed = _cli(*args, "--output", str(out), "--resume")
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert "resuming" in stderr and "(resumed)" in stdout
    if out.is_dir():
        names = sorted(os.listdir(out))
        assert names == sorted(os.listdir(tmp_path / "ref" / output))
        pairs = [(out / n, tmp_path / "ref" / output / n) for n in names]
    else:
        pairs = [(out, tmp_path / "ref" / output)]
    for a, b in pairs:
        assert a.read_bytes() == b.read_bytes(), a.name
    table = pq.read_table(out)
    assert table.num_rows == 712 and len(set(table.column("uid").to_pylist())) == 712


def test_cli_progress_log_lines_summary_and_exit_codes(wine, tmp_path, capsys):
    model, pool_path, pool = wine
    code = main(["label", "--model", str(model), "--input", str(pool_path), "--output",
                 str(tmp_path / "o"), "--per-class-k", "5", "--chunk-rows", "200"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "712/712 rows (100.0%)" in cap.err and "rows/s" in cap.err  # not a TTY: log lines
    assert "labeled 712 rows from 1 file(s) in 4 chunk(s)" in cap.out
    assert "selected 15 rows (top 5 per class by confidence)" in cap.out
    for c in range(3):
        assert f"class {c}: 5 selected of" in cap.out
    assert main(["label", "--model", str(model), "--input", str(pool_path), "--output",
                 str(tmp_path / "o"), "--per-class-k", "5"]) == 4
    pool.drop(columns="hue").to_parquet(tmp_path / "nohue.parquet")
    code = main(["label", "--model", str(model), "--input", str(tmp_path / "nohue.parquet"),
                 "--output", str(tmp_path / "o3"), "--threshold", "0.5"])
    assert code == 2
    assert "nohue.parquet: missing column(s) 'hue'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # a decision is required
        main(["label", "--model", str(model), "--input", str(pool_path), "--output",
              str(tmp_path / "o4")])
    assert exc.value.code == 2


def test_progress_bar_on_a_terminal(wine, tmp_path):
    import io

    from pseudolabel.batch.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = Progress(1000, mode=None, stream=stream)
    assert bar.bar is not None
    bar(400)
    bar(600)
    bar.close()
    text = stream.getvalue()
    assert "1.00k/1.00k" in text and "rows/s" in text
    plain = io.StringIO()
    bar = Progress(None, mode=None, stream=plain, interval=0)
    bar(10)
    bar.close()
    assert plain.getvalue().startswith("pseudolabel label: 10 rows, ")


def test_segments_done_out_of_order_resume_to_the_same_output(wine, tmp_path):
    """Segment states written in any order (as Dask tasks do) resume to the same output."""
    from pseudolabel.batch.decisions import DecisionSpec
    from pseudolabel.batch.job import prepare_job
    from pseudolabel.batch.scoring import process_source
    from pseudolabel.io.tables import inspect_input

    model, pool_path, _ = wine
    ref = label(model, pool_path, tmp_path / "ref.parquet", top_k=40, chunk_rows=10)
    assert ref.chunks == 72  # 3 segments of 32 chunks
    files = [inspect_input(str(pool_path))]
    job = prepare_job(model, tmp_path / "o.parquet", sources=files,
                      source_fingerprint=[f.fingerprint() for f in files], id_column=None,
                      decision=DecisionSpec.from_options(top_k=40), chunk_rows=10,
                      probabilities=False, resume=False, overwrite=False,
                      trust_pickle=False)
    last = process_source(job.plan, 0, files[0], 0, probabilities=False, segments=(2, 3))
    assert (last.first_chunk, len(last.chunk_rows), last.rows) == (64, 8, 72)
    first = process_source(job.plan, 0, files[0], 0, probabilities=False,
                           segments=(0, 1))
    assert len(first.chunk_rows) == 32
    res = label(model, pool_path, tmp_path / "o.parquet", top_k=40, chunk_rows=10,
                resume=True)
    assert res.resumed and res.chunks == 72
    assert (tmp_path / "o.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes()


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), max_size=12), chunk_rows=st.integers(1, 50))
def test_rebatch_cuts_exact_chunks_whatever_the_batches(sizes, chunk_rows):
    from pseudolabel.io.tables import _rebatch

    batches, start = [], 0
    for n in sizes:
        batches.append(pa.RecordBatch.from_arrays([pa.array(np.arange(start, start + n))],
                                                  names=["x"]))
        start += n
    tables = list(_rebatch(iter(batches), chunk_rows))
    lengths = [t.num_rows for t in tables]
    assert sum(lengths) == start
    assert all(n == chunk_rows for n in lengths[:-1]) and all(0 < n <= chunk_rows
                                                             for n in lengths)
    got = np.concatenate([t.column("x").to_numpy() for t in tables]) if tables else []
    np.testing.assert_array_equal(got, np.arange(start))


@pytest.mark.parametrize("error, code", [
    (BundleError("edited"), 3),
    (OutputExistsError("exists"), 4),
    (InputError("row 3"), 2),
    (ParameterError("bad"), 2),
    (FileNotFoundError("gone"), 2),
    (BackendError("crashed"), 1),
])
def test_cli_exit_code_per_error(error, code, capsys):
    from pseudolabel.cli.errors import run_guarded as _guard

    def fail():
        raise error

    assert _guard("label", fail) == code
    assert capsys.readouterr().err == f"pseudolabel label: error: {error}\n"


@pytest.mark.parametrize("fault, message", [
    (lambda P: P[:, :2], r"rows 0\.\.\d+: backend 'lightgbm' returned probabilities of shape "
                         r"\(\d+, 2\), expected \(\d+, 3\)"),
    (lambda P: P.astype(str), r"returned probabilities of dtype <U\d+, expected floats"),
    (lambda P: P * 2.0, r"backend 'lightgbm' returned invalid probabilities"),
])
def test_a_backend_returning_bad_probabilities_is_named(wine, tmp_path, monkeypatch, fault,
                                                         message):
    """What a backend's predict_proba returns goes through the one probability check; a fault
    is a BackendError naming the file's rows, and no output is written."""
    import pseudolabel.batch.scoring as scoring

    model, pool_path, _ = wine
    real_model = scoring._model

    class Faulty:
        def __init__(self, inner):
            self.inner = inner

        def predict_proba(self, X):
            return fault(self.inner.predict_proba(X))

    monkeypatch.setattr(scoring, "_model", lambda plan, bundle: Faulty(real_model(plan, bundle)))
    with pytest.raises(BackendError, match=message):
        label(model, pool_path, tmp_path / "o", threshold=0.5)
    assert not (tmp_path / "o").exists()

"""Reliability of the ``label`` job: the run lock, finishing after a kill, changed or corrupt
inputs, old state files."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from _support.crash import race_for_lock
from pseudolabel.batch.lock import UNREADABLE_LOCK_GRACE, acquire_lock, release_lock
from pseudolabel.exceptions import OutputExistsError

LOCK_TRIALS = 300


def test_two_processes_racing_for_the_lock_never_both_take_it(tmp_path):
    for trial in range(LOCK_TRIALS):
        (tmp_path / str(trial)).mkdir()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    racers = [context.Process(target=race_for_lock,
                              args=(str(tmp_path), LOCK_TRIALS, barrier, results))
              for _ in range(2)]
    for racer in racers:
        racer.start()
    won = [results.get(timeout=120) for _ in racers]
    for racer in racers:
        racer.join(30)
        assert racer.exitcode == 0
    both = set(won[0]) & set(won[1])
    assert not both, f"{len(both)} of {LOCK_TRIALS} locks taken twice"
    assert sorted(won[0] + won[1]) == list(range(LOCK_TRIALS))  # and never by neither
    for trial in range(LOCK_TRIALS):  # the lock always names a racer, never empty
        holder = json.loads((tmp_path / str(trial) / "lock").read_text())
        assert holder["pid"] in {r.pid for r in racers}


def test_an_unreadable_lock_is_held_while_young_and_stale_when_old(tmp_path):
    lock = tmp_path / "lock"
    lock.write_text("")  # as a writer that has created but not yet filled it
    with pytest.raises(OutputExistsError, match="being taken by another run"):
        acquire_lock(lock, tmp_path)
    old = time.time() - UNREADABLE_LOCK_GRACE - 5
    os.utime(lock, (old, old))
    acquire_lock(lock, tmp_path)
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    acquire_lock(lock, tmp_path)  # taking it again in the same process is fine
    release_lock(lock)
    assert not lock.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock.guard"]  # no temporaries


def test_a_dead_runs_lock_is_taken_over(tmp_path):
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lock = tmp_path / "lock"
    lock.write_text(json.dumps({"pid": int(gone.stdout), "host": socket.gethostname()}))
    acquire_lock(lock, tmp_path)
    assert json.loads(lock.read_text())["pid"] == os.getpid()


# ------------------------------------------------------------------ finishing after a kill
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from sklearn.datasets import load_wine  # noqa: E402

from _support.crash import Stopped, crash_cli, stopped_after_steps  # noqa: E402
from pseudolabel.batch import label, train_bundle  # noqa: E402
from pseudolabel.cli import main  # noqa: E402
from pseudolabel.exceptions import InputError, ParameterError  # noqa: E402
from pseudolabel.plugins import isolated_plugin_manager  # noqa: E402


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    with isolated_plugin_manager():
        yield


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """A small LightGBM bundle on wine and a Parquet pool of 712 perturbed wine rows."""
    root = tmp_path_factory.mktemp("reliability")
    X, y = load_wine(return_X_y=True, as_frame=True)
    train = X.assign(target=y)
    train.to_parquet(root / "train.parquet")
    with isolated_plugin_manager():
        train_bundle(root / "train.parquet", backend="lightgbm", target="target",
                     output=root / "model",
                     params={"n_estimators": 10, "verbose": -1, "n_jobs": 1})
    rng = np.random.default_rng(0)
    pool = pd.concat([X] * 4, ignore_index=True)
    pool = pool * rng.normal(1.0, 0.05, size=pool.shape)
    pool.to_parquet(root / "pool.parquet", row_group_size=100)
    return root / "model", root / "pool.parquet", pool


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _same_output(a: Path, b: Path) -> None:
    if b.is_dir():
        assert sorted(os.listdir(a)) == sorted(os.listdir(b))
        for name in os.listdir(b):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    else:
        assert a.read_bytes() == b.read_bytes()


CASES = [("o.parquet", {"top_k": 40}), ("o.parquet", {"threshold": 0.9}),
         ("o_dir", {"per_class_k": 10}), ("o_dir", {"threshold": 0.9})]


@pytest.mark.parametrize("output,decision", CASES)
def test_a_kill_at_every_finishing_step_then_resume_gives_the_same_output(
        wine, tmp_path, output, decision):
    model, pool_path, _ = wine
    ref = tmp_path / "ref" / output
    ref.parent.mkdir()
    label(model, pool_path, ref, chunk_rows=100, **decision)
    for stop_after in range(3):  # before the first step, after the first, after the second
        run = tmp_path / f"run{stop_after}"
        run.mkdir()
        out = run / output
        with stopped_after_steps(stop_after), pytest.raises(Stopped):
            label(model, pool_path, out, chunk_rows=100, **decision)
        staging = run / f".{output}.pseudolabel-partial"
        assert staging.is_dir()
        if stop_after == 0 and output.endswith(".parquet"):
            # a kill inside the concatenation leaves a partial merged file in staging
            (staging / f"{output}.tmp").write_bytes(b"PAR1 half a file")
        assert out.exists() == (stop_after == 2)
        result = label(model, pool_path, out, chunk_rows=100, resume=True, **decision)
        assert result.resumed and result.rows == 712
        _same_output(out, ref)
        assert sorted(os.listdir(run)) == [output], "something was left behind"


def test_a_kill_9_after_publishing_resumes_to_exit_0_with_nothing_left(wine, tmp_path):
    model, pool_path, _ = wine
    args = ["label", "--model", str(model), "--input", str(pool_path), "--top-k", "40",
            "--chunk-rows", "100", "--no-progress"]
    assert main([*args, "--output", str(tmp_path / "ref.parquet")]) == 0
    out = tmp_path / "run" / "o.parquet"
    proc = crash_cli([*args, "--output", str(out)], kill_after_step=2)  # after publish
    proc.communicate(timeout=120)
    assert proc.returncode == -9
    assert out.exists() and (tmp_path / "run" / ".o.parquet.pseudolabel-partial").is_dir()
    assert main([*args, "--output", str(out), "--resume"]) == 0
    assert out.read_bytes() == (tmp_path / "ref.parquet").read_bytes()
    assert os.listdir(tmp_path / "run") == ["o.parquet"]


# ------------------------------------------------------------------ bounded memory
def _arrow_peak_while_streaming(path: Path, columns: list[str], chunk_rows: int) -> int:
    """The largest Arrow pool allocation seen between chunks of a streamed Parquet file."""
    import pyarrow as pa

    from pseudolabel.io.tables import inspect_input, iter_chunks

    peak = 0
    for _ in iter_chunks(inspect_input(str(path)), columns, None, chunk_rows):
        peak = max(peak, pa.total_allocated_bytes())
    return peak


def test_parquet_reading_memory_follows_chunk_rows_not_the_file(tmp_path):
    import pyarrow as pa

    rng = np.random.default_rng(0)
    names = [f"f{j}" for j in range(10)]
    schema = pa.schema([(n, pa.float32()) for n in names])
    peaks = {}
    for groups in (4, 32):  # 80k and 640k rows (3 MB and 26 MB of floats)
        path = tmp_path / f"g{groups}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for _ in range(groups):
                writer.write_table(pa.table({n: rng.standard_normal(20_000, dtype=np.float32)
                                             for n in names}), row_group_size=20_000)
        peaks[groups] = _arrow_peak_while_streaming(path, names, 10_000)
    # pre-buffered reading held the file's column chunks: 8x the file, 8x the memory
    assert peaks[32] <= 1.1 * peaks[4], peaks
    assert peaks[32] < 8 * 2**20, peaks  # a few chunks of 10k rows x 10 floats


# ------------------------------------------------------------------ changed or corrupt input
from _support.crash import interrupted_at_call  # noqa: E402


def _interrupt_after_two_chunks(model, pool, out, **options):
    import importlib

    scoring = importlib.import_module("pseudolabel.batch.scoring")
    with interrupted_at_call(scoring, "score_chunk", 3), pytest.raises(KeyboardInterrupt):
        label(model, pool, out, **options)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_resume_refuses_an_input_whose_content_changed_with_size_and_mtime_kept(
        wine, tmp_path, fmt):
    model, _, pool = wine
    path = tmp_path / f"pool.{fmt}"

    def write(frame: pd.DataFrame) -> None:
        if fmt == "parquet":  # plain, uncompressed: the same rows give the same size
            frame.to_parquet(path, compression="none", engine="pyarrow")
        else:
            frame.round(3).to_csv(path, index=False, float_format="%.3f")

    write(pool)
    before = path.stat()
    out = tmp_path / "o.parquet"
    _interrupt_after_two_chunks(model, path, out, top_k=20, chunk_rows=100)
    changed = pool.copy()
    changed.iloc[300:, :] = changed.iloc[300:, :] * 1.01  # the rows not scored yet
    if fmt == "csv":  # keep every cell's width: swap digits only
        text = path.read_text().splitlines()
        text[400] = text[400].replace("1", "2")
        path.write_text("\n".join(text) + "\n")
    else:
        write(changed)
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(InputError, match=f"input {path} changed since the interrupted run"):
        label(model, path, out, top_k=20, chunk_rows=100, resume=True)
    code = main(["label", "--model", str(model), "--input", str(path), "--output", str(out),
                 "--top-k", "20", "--chunk-rows", "100", "--resume", "--no-progress"])
    assert code == 2
    assert not out.exists()


def _corrupt_page(path: Path, row_group: int) -> None:
    """Overwrite the header of the first data page of a column chunk in ``row_group``."""
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(row_group).column(1)
    with open(path, "r+b") as fh:
        fh.seek(column.data_page_offset + 2)
        fh.write(b"\xff" * 16)


def test_a_corrupt_parquet_page_is_one_line_naming_file_and_row_group(wine, tmp_path,
                                                                      capsys):
    model, _, pool = wine
    path = tmp_path / "pool.parquet"
    pool.to_parquet(path, row_group_size=100)
    _corrupt_page(path, 3)
    with pytest.raises(InputError, match=r"pool\.parquet, row group 3 \(rows 300\.\.399\): "
                                         "corrupt or unreadable Parquet data"):
        label(model, path, tmp_path / "o.parquet", threshold=0.5, chunk_rows=64)
    assert sorted(os.listdir(tmp_path)) == ["pool.parquet"]  # no half-written output
    code = main(["label", "--model", str(model), "--input", str(path), "--output",
                 str(tmp_path / "o"), "--threshold", "0.5", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}, row group 3" in err
    assert sorted(os.listdir(tmp_path)) == ["pool.parquet"]


def test_a_csv_cell_that_is_not_a_number_is_named_at_its_row_and_column(wine, tmp_path):
    model, _, pool = wine
    frame = pool.copy().astype(object)
    frame.iloc[13, 0] = ""  # an empty cell is a missing value, not an error
    column = frame.columns[2]
    frame.loc[500, column] = "oops"
    frame.loc[600, frame.columns[1]] = "later"
    frame.to_csv(tmp_path / "pool.csv", index=False)
    with pytest.raises(InputError, match=rf"pool\.csv, row 500: feature '{column}' holds "
                                         r"'oops', not a number \(line 502 of the file\)"):
        label(model, tmp_path / "pool.csv", tmp_path / "o.parquet", threshold=0.5)


# ------------------------------------------------------------------ state of older versions
def test_a_pickled_topk_state_of_an_older_version_is_refused_clearly(wine, tmp_path):
    import pickle

    model, pool_path, _ = wine
    out = tmp_path / "o.parquet"
    _interrupt_after_two_chunks(model, pool_path, out, top_k=20, chunk_rows=100)
    work = tmp_path / ".o.parquet.pseudolabel-partial" / "_pseudolabel_work"
    saved = sorted((work / "topk").glob("*.npz"))
    assert len(saved) == 2  # one per recorded chunk, plain arrays
    with np.load(saved[0], allow_pickle=False) as arrays:
        assert "indices" in arrays
    for state in saved:  # as an older version left them: pickles, under the old name
        state.with_suffix(".topk").write_bytes(pickle.dumps({"not": "loaded"}))
        state.unlink()
    with pytest.raises(InputError, match="pickle, which is not loaded; start again with "
                                         "--overwrite"):
        label(model, pool_path, out, top_k=20, chunk_rows=100, resume=True)
    job = json.loads((work / "job.json").read_text())
    job["version"] = 1
    (work / "job.json").write_text(json.dumps(job))
    with pytest.raises(ParameterError, match="another version of pseudolabel"):
        label(model, pool_path, out, top_k=20, chunk_rows=100, resume=True)
    label(model, pool_path, out, top_k=20, chunk_rows=100, overwrite=True)
    assert os.listdir(tmp_path) == ["o.parquet"]

"""``pseudolabel.dask.label``: the batch job on a 2-worker LocalCluster, same output as local."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

pytest.importorskip("distributed")

from _support.crash import interrupted_at_call  # noqa: E402
from pseudolabel import kernels  # noqa: E402
from pseudolabel.batch import label, load_bundle, train_bundle  # noqa: E402
from pseudolabel.cli import main  # noqa: E402
from pseudolabel.dask import label as dask_label  # noqa: E402
from pseudolabel.exceptions import InputError, ParameterError  # noqa: E402
from pseudolabel.plugins import isolated_plugin_manager  # noqa: E402

LGB = {"n_estimators": 15, "verbose": -1, "n_jobs": 1}


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    # The client side runs with the built-ins only; the workers load the built-in
    # backends the bundles name.
    with isolated_plugin_manager():
        yield


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as lc, Client(lc) as client:
        yield lc, client


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    X, y = load_wine(return_X_y=True, as_frame=True)
    train = X.copy()
    train["target"] = y
    train.to_parquet(d / "train.parquet")
    with isolated_plugin_manager():
        train_bundle(d / "train.parquet", backend="lightgbm", target="target",
                     output=d / "model", params=LGB)
    rng = np.random.default_rng(1)
    pool = pd.concat([X] * 3, ignore_index=True)
    pool = pool * rng.normal(1.0, 0.05, size=pool.shape)
    pool.insert(0, "uid", np.arange(len(pool), dtype=np.int64) * 3 + 1)
    inp = d / "in"
    inp.mkdir()
    for i, idx in enumerate(np.array_split(np.arange(len(pool)), 5)):
        part = pool.iloc[idx]
        if i == 2:
            part.to_csv(inp / f"p{i}.csv", index=False)
        else:
            part.to_parquet(inp / f"p{i}.parquet")
    return d / "model", inp, pool


def _same_dataset(a: Path, b: Path) -> None:
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b))
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


@pytest.mark.parametrize("decision", [{"top_k": 25}, {"per_class_k": 6},
                                      {"threshold": 0.9}])
def test_dask_output_identical_to_local(cluster, wine, tmp_path, decision):
    _, client = cluster
    model, inp, pool = wine
    local = label(model, inp, tmp_path / "local", id_column="uid", chunk_rows=40,
                  probabilities=True, **decision)
    dist = dask_label(model, inp, tmp_path / "dask", id_column="uid", chunk_rows=40,
                      probabilities=True, client=client, **decision)
    _same_dataset(tmp_path / "local", tmp_path / "dask")
    assert (dist.rows, dist.selected, dist.selected_per_class, dist.chunks) == \
        (local.rows, local.selected, local.selected_per_class, local.chunks)
    if "threshold" not in decision:  # global decision: equals one in-memory select
        b = load_bundle(model)
        P = b.backend.predict_proba(pool[b.feature_columns].to_numpy(np.float64))
        ref = kernels.select(P, k=decision.get("top_k"), per_class_k=decision.get("per_class_k"))
        got = pd.read_parquet(tmp_path / "dask")
        assert got["uid"].tolist() == pool["uid"].tolist()
        assert sorted(got.loc[got["selected"], "uid"]) == sorted(pool["uid"].iloc[ref.indices])


def test_one_big_file_is_split_into_segment_tasks(cluster, wine, tmp_path):
    _, client = cluster
    model, _, pool = wine
    pool.to_parquet(tmp_path / "pool.parquet", row_group_size=100)
    label(model, tmp_path / "pool.parquet", tmp_path / "ref", top_k=33, chunk_rows=7,
          probabilities=True)
    res = dask_label(model, tmp_path / "pool.parquet", tmp_path / "dask", top_k=33,
                     chunk_rows=7, probabilities=True, client=client)
    assert res.chunks == 77  # 534 rows / 7: segments of 32 chunks -> 3 tasks
    _same_dataset(tmp_path / "ref", tmp_path / "dask")


def test_dask_dataframe_input(cluster, wine, tmp_path):
    import dask.dataframe as dd

    _, client = cluster
    model, _, pool = wine
    pool.to_parquet(tmp_path / "pool.parquet")
    ddf = dd.from_pandas(pool, npartitions=4)
    res = dask_label(model, ddf, tmp_path / "o.parquet", id_column="uid", top_k=30,
                     chunk_rows=50, client=client)
    label(model, tmp_path / "pool.parquet", tmp_path / "ref.parquet", id_column="uid",
          top_k=30, chunk_rows=50)
    got, ref = pd.read_parquet(tmp_path / "o.parquet"), pd.read_parquet(tmp_path / "ref.parquet")
    pd.testing.assert_frame_equal(got, ref)
    assert res.rows == len(pool) and res.selected == 30
    with pytest.raises(InputError, match="missing column"):
        dask_label(model, ddf.drop(columns="hue"), tmp_path / "x", top_k=3, client=client)


def test_worker_errors_reach_the_client_and_leave_nothing(cluster, wine, tmp_path):
    from sklearn.naive_bayes import GaussianNB

    _, client = cluster
    _, _, pool = wine
    X, y = load_wine(return_X_y=True, as_frame=True)
    train = X.copy()
    train["target"] = y
    train.to_parquet(tmp_path / "train.parquet")
    train_bundle(tmp_path / "train.parquet", backend="sklearn", target="target",
                 output=tmp_path / "nb", params={"estimator": GaussianNB()})
    bad = pool.copy()
    bad.loc[101, "ash"] = np.nan
    bad.to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(InputError, match=r"nan\.parquet, row 101: missing value \(NaN\)"):
        dask_label(tmp_path / "nb", tmp_path / "nan.parquet", tmp_path / "o", threshold=0.5,
                   chunk_rows=64, client=client)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.parquet", "nb",
                                                         "train.parquet"]


def test_dask_resumes_a_local_run_that_was_interrupted(cluster, wine, tmp_path):
    _, client = cluster
    model, inp, _ = wine
    mod = importlib.import_module("pseudolabel.batch.scoring")
    label(model, inp, tmp_path / "ref.parquet", per_class_k=8, chunk_rows=30)
    with interrupted_at_call(mod, "score_chunk", 9), pytest.raises(KeyboardInterrupt):
        label(model, inp, tmp_path / "o.parquet", per_class_k=8, chunk_rows=30)
    res = dask_label(model, inp, tmp_path / "o.parquet", per_class_k=8, chunk_rows=30,
                     resume=True, client=client)
    assert res.resumed
    assert (tmp_path / "o.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes()


def test_cli_scheduler_address(cluster, wine, tmp_path, capsys):
    lc, _ = cluster
    model, inp, _ = wine
    code = main(["label", "--model", str(model), "--input", str(inp), "--output",
                 str(tmp_path / "o"), "--top-k", "12", "--chunk-rows", "40",
                 "--scheduler", lc.scheduler_address])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "selected 12 rows (top 12 by confidence)" in cap.out
    label(model, inp, tmp_path / "ref", top_k=12, chunk_rows=40)
    _same_dataset(tmp_path / "o", tmp_path / "ref")


def test_parameter_checks():
    with pytest.raises(ParameterError, match="at most one"):
        dask_label("m", "x", "o", top_k=1, scheduler="tcp://127.0.0.1:1", workers=2)
    with pytest.raises(ParameterError, match="workers must be a positive integer"):
        dask_label("m", "x", "o", top_k=1, workers=0)


def test_importing_pseudolabel_dask_does_not_import_dask():
    code = ("import sys, pseudolabel, pseudolabel.dask, pseudolabel.cli.batch; "
            "bad = [m for m in ('dask', 'distributed', 'lightgbm', 'xgboost') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_workers_starts_and_stops_a_local_cluster(wine, tmp_path, capsys):
    model, inp, _ = wine
    code = main(["label", "--model", str(model), "--input", str(inp), "--output",
                 str(tmp_path / "o.parquet"), "--threshold", "0.9", "--chunk-rows", "100",
                 "--workers", "1", "--no-progress"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    label(model, inp, tmp_path / "ref.parquet", threshold=0.9, chunk_rows=100)
    assert (tmp_path / "o.parquet").read_bytes() == (tmp_path / "ref.parquet").read_bytes()

"""``pseudolabel label --engine``: compiled output equals native, fallback and refusal, Dask."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_wine

pytest.importorskip("lleaves")

from pseudolabel.batch import label, train_bundle  # noqa: E402
from pseudolabel.cli import main  # noqa: E402
from pseudolabel.cli.options import ENGINES as CLI_ENGINES  # noqa: E402
from pseudolabel.compiled import ENGINES  # noqa: E402
from pseudolabel.compiled.cache import CACHE_ENV  # noqa: E402
from pseudolabel.exceptions import EngineUnavailableError  # noqa: E402
from pseudolabel.plugins import isolated_plugin_manager  # noqa: E402

LGB = {"n_estimators": 4, "num_leaves": 7, "verbose": -1, "n_jobs": 1}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    with isolated_plugin_manager():
        yield


def _pool(d: Path, *, nan: bool = True) -> Path:
    X, y = load_wine(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    pool = pd.concat([X] * 4, ignore_index=True) * rng.normal(1.0, 0.05, size=(4 * len(X),
                                                                              X.shape[1]))
    if nan:
        pool.iloc[::9, 2] = np.nan
    inp = d / "in"
    inp.mkdir()
    for i, idx in enumerate(np.array_split(np.arange(len(pool)), 3)):
        pool.iloc[idx].to_parquet(inp / f"p{i}.parquet")
    return inp


def _bundle(d: Path, name: str = "model", **params) -> Path:
    X, y = load_wine(return_X_y=True, as_frame=True)
    train = X.copy()
    train["target"] = y
    train.to_parquet(d / "train.parquet")
    train_bundle(d / "train.parquet", backend="lightgbm", target="target", output=d / name,
                 params={**LGB, **params})
    return d / name


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    d = tmp_path_factory.mktemp("compiled-label")
    with isolated_plugin_manager():
        return _bundle(d), _pool(d)


def test_engine_names_agree():
    assert CLI_ENGINES == ENGINES


@pytest.mark.parametrize("decision", [{"top_k": 30}, {"threshold": 0.8}])
def test_compiled_output_equals_native(job, tmp_path, capsys, decision):
    model, inp = job
    native = label(model, inp, tmp_path / "native.parquet", probabilities=True,
                   engine="native", chunk_rows=100, **decision)
    compiled = label(model, inp, tmp_path / "compiled.parquet", probabilities=True,
                     engine="compiled", chunk_rows=100, progress=True, **decision)
    err = capsys.readouterr().err
    assert "engine: lleaves (asked for)" in err and "compiling the model with lleaves" in err
    a = pq.read_table(tmp_path / "native.parquet").to_pandas()
    b = pq.read_table(tmp_path / "compiled.parquet").to_pandas()
    for column in ("row", "label", "selected"):
        np.testing.assert_array_equal(a[column], b[column])
    for column in [c for c in a.columns if c.startswith("proba_")] + ["confidence", "margin"]:
        assert np.abs(a[column] - b[column]).max() <= 1e-6
    assert native.selected_per_class == compiled.selected_per_class
    # a second run loads the cached library; auto then picks it for a small job too
    label(model, inp, tmp_path / "again.parquet", engine="auto", progress=True, **decision)
    err = capsys.readouterr().err
    assert "engine: lleaves (compiled model found in the cache)" in err
    assert "using the compiled model cached in" in err and "compiling" not in err
    c = pq.read_table(tmp_path / "again.parquet").to_pandas()
    np.testing.assert_array_equal(c["confidence"], b["confidence"])


def test_auto_stays_native_for_a_small_uncached_job(job, tmp_path, capsys):
    model, inp = job
    label(model, inp, tmp_path / "out.parquet", threshold=0.5, progress=True)
    err = capsys.readouterr().err
    assert "engine: native (not cached" in err and "do not pay back compiling" in err
    assert not (tmp_path / "cache").exists()


def test_compile_cache_option(job, tmp_path):
    model, inp = job
    assert main(["label", "--model", str(model), "--input", str(inp), "--output",
                 str(tmp_path / "out.parquet"), "--threshold", "0.5", "--engine", "compiled",
                 "--compile-cache", str(tmp_path / "mine"), "--no-progress"]) == 0
    assert len(list((tmp_path / "mine" / "compiled").glob("lleaves-*"))) == 1
    assert not (tmp_path / "cache").exists()


def test_unsupported_model_auto_falls_back_compiled_refuses(tmp_path, capsys):
    model = _bundle(tmp_path, "linear", linear_tree=True)
    inp = _pool(tmp_path, nan=False)
    out = tmp_path / "out.parquet"
    assert main(["label", "--model", str(model), "--input", str(inp), "--output", str(out),
                 "--threshold", "0.5", "--engine", "auto"]) == 0
    assert "engine: native (lleaves: the model has linear trees" in capsys.readouterr().err
    code = main(["label", "--model", str(model), "--input", str(inp), "--output",
                 str(tmp_path / "o2.parquet"), "--threshold", "0.5", "--engine", "compiled"])
    err = capsys.readouterr().err
    assert code == 2 and "linear trees" in err and "--engine compiled cannot compile" in err
    assert not (tmp_path / "o2.parquet").exists()
    assert not list(tmp_path.glob(".o2.parquet*"))
    with pytest.raises(EngineUnavailableError):
        label(model, inp, tmp_path / "o3.parquet", threshold=0.5, engine="compiled")


def test_resume_under_auto_keeps_the_first_runs_engine(job, tmp_path):
    """A run started native and resumed after the model got cached stays native."""
    from _support.crash import interrupted_at_call

    from pseudolabel.batch import scoring

    model, inp = job
    out = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt), interrupted_at_call(scoring, "score_chunk", 2):
        label(model, inp, out, threshold=0.5, chunk_rows=100)
    label(model, inp, tmp_path / "other.parquet", threshold=0.5, engine="compiled")
    label(model, inp, out, threshold=0.5, chunk_rows=100, resume=True)
    label(model, inp, tmp_path / "native.parquet", threshold=0.5, chunk_rows=100,
          engine="native")
    assert out.read_bytes() == (tmp_path / "native.parquet").read_bytes()


def test_dask_workers_load_the_shared_cache_and_match_local(job, tmp_path):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    from pseudolabel.dask import label as dask_label

    model, inp = job
    cache = tmp_path / "shared-cache"
    label(model, inp, tmp_path / "local", top_k=20, chunk_rows=100, engine="compiled",
          compile_cache=cache)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as lc, Client(lc) as client:
        dask_label(model, inp, tmp_path / "dask", top_k=20, chunk_rows=100,
                   engine="compiled", compile_cache=cache, client=client)
        engines = client.run(lambda: sorted(
            m.compiler for m in __import__("pseudolabel.compiled.engine",
                                           fromlist=["_LOADED"])._LOADED.values()))
    assert all(v == ["lleaves"] for v in engines.values()) and len(engines) == 2
    names = sorted(os.listdir(tmp_path / "local"))
    assert names == sorted(os.listdir(tmp_path / "dask"))
    for n in names:
        assert (tmp_path / "local" / n).read_bytes() == (tmp_path / "dask" / n).read_bytes(), n
    assert len(list((cache / "compiled").iterdir())) == 1

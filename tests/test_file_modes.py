"""Outputs honour the umask: bundles, label outputs and the demo's files are not private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from pseudolabel.batch import label, train_bundle
from pseudolabel.plugins import isolated_plugin_manager


@pytest.fixture
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002], indirect=True)
def test_bundles_and_label_outputs_get_the_umask_mode(tmp_path, umask):
    X, y = load_iris(return_X_y=True, as_frame=True)
    train = X.copy()
    train["target"] = y
    train.to_parquet(tmp_path / "train.parquet")
    with isolated_plugin_manager():
        train_bundle(tmp_path / "train.parquet", backend="lightgbm", target="target", params={"n_estimators": 5, "verbose": -1},
                     output=tmp_path / "model")
        pool = X.copy()
        pool.insert(0, "uid", np.arange(len(pool)))
        pool.to_parquet(tmp_path / "pool.parquet")
        label(tmp_path / "model", tmp_path / "pool.parquet", tmp_path / "out.parquet",
              id_column="uid", threshold=0.8)
        label(tmp_path / "model", tmp_path / "pool.parquet", tmp_path / "out_dir",
              id_column="uid", threshold=0.8)
    assert _mode(tmp_path / "model") == 0o777 & ~umask
    files = [p for p in (tmp_path / "model").rglob("*") if p.is_file()]
    assert files and all(_mode(p) == 0o666 & ~umask for p in files)
    assert _mode(tmp_path / "out.parquet") == 0o666 & ~umask
    assert _mode(tmp_path / "out_dir") == 0o777 & ~umask
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == len(X)

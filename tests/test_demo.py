"""`pseudolabel demo` writes its parquet file and PNG and prints the comparison table."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from pseudolabel.cli import main

pytest.importorskip("lightgbm")
pytest.importorskip("matplotlib")


def test_demo_writes_parquet_and_png(tmp_path, capsys):
    out = tmp_path / "demo-out"
    code = main(["demo", "--output-dir", str(out), "--n-estimators", "20"])
    assert code == 0
    text = capsys.readouterr().out
    assert "supervised (labels only)" in text
    assert "self-trained (PseudoLabeler)" in text
    assert "precision" in text and "round" in text

    frame = pd.read_parquet(out / "pseudo_labels.parquet")
    assert list(frame.columns) == ["row", "pseudo_label", "confidence", "round", "true_label",
                                   "correct"]
    if len(frame):
        assert (frame["round"] >= 1).all()
        assert frame["confidence"].between(0, 1).all()
        np.testing.assert_array_equal(frame["correct"],
                                      frame["pseudo_label"] == frame["true_label"])
    png = (out / "demo_rounds.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # no temporary files left behind
    assert sorted(p.name for p in out.iterdir()) == ["demo_rounds.png", "pseudo_labels.parquet"]
    # written through temporary names, yet with the mode the umask gives (not private 0600)
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("demo_rounds.png", "pseudo_labels.parquet"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_demo_rejects_bad_fraction(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path), "--label-fraction", "1.5"]) == 2
    assert "--label-fraction" in capsys.readouterr().err


def test_example_files_include_the_churn_table(tmp_path, capsys):
    from pseudolabel.datasets import CATEGORICAL, NUMERIC, churn_frame
    from pseudolabel.demo import CHURN_LABELED, CHURN_POOL

    assert main(["demo", "--example-files", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "churn.csv" in out and "churn_pool.parquet" in out
    labeled = pd.read_csv(tmp_path / "churn.csv")
    pool = pd.read_parquet(tmp_path / "churn_pool.parquet")
    assert list(labeled.columns) == ["customer_id", *NUMERIC, *CATEGORICAL, "churn"]
    assert list(pool.columns) == list(labeled.columns[:-1])
    assert (len(labeled), len(pool)) == (CHURN_LABELED, CHURN_POOL)
    assert set(labeled["churn"]) == {"churn", "stay"}
    assert all(pd.api.types.is_string_dtype(labeled[c]) for c in CATEGORICAL)
    share = labeled[[*NUMERIC, *CATEGORICAL]].isna().to_numpy().mean()
    assert 0.03 < share < 0.07  # 5% missing cells
    assert not set(labeled["customer_id"]) & set(pool["customer_id"])
    # the library's table, written as is (the tests build theirs with the same function)
    frame = churn_frame(CHURN_LABELED + CHURN_POOL, seed=0)
    expected = frame.iloc[CHURN_LABELED:].drop(columns="churn").reset_index(drop=True)

    def plain(f):  # pandas' string dtype or object, NaN or None: the same cells
        return f.astype(object).where(f.notna(), None)

    pd.testing.assert_frame_equal(plain(pool), plain(expected))

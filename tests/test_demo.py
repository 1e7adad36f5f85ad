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

"""The README's tour must run as written (given the data it names)."""

import re
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_block() -> str:
    text = README.read_text()
    section = text.split("## A tour", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_tour_runs():
    X, y_true = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    y = y_true.copy()
    y[rng.random(len(y)) > 0.15] = -1
    seed = y != -1
    ns = {
        "X": X, "y": y, "X_test": X[:200],
        "X_seed": X[seed], "y_seed": y[seed], "X_pool": X[~seed],
        "LogisticRegression": lambda **kw: LogisticRegression(max_iter=500, **kw),
    }
    exec(compile(tour_block(), str(README), "exec"), ns)
    assert len(ns["ask"]) == 20
    assert len(ns["model"].history_) >= 1

"""The stabilizing-predictions stopping signal: kappa, the signal, run(stop=...), status."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pseudolabel import ActiveLearner
from pseudolabel.active.stopping import StabilizingPredictions, StoppingSignal, cohen_kappa
from pseudolabel.cli import main
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.plugins import isolated_plugin_manager


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), isolated_plugin_manager():
        yield


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1,
                      max_size=60))
def test_kappa_matches_scikit_learn(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    ours = cohen_kappa(a, b)
    if len(np.unique(np.concatenate([a, b]))) == 1:
        assert ours == 1.0  # scikit-learn gives NaN: both labelings are one and the same class
        return
    with np.errstate(all="ignore"):
        reference = cohen_kappa_score(a, b)
    if np.isnan(reference):  # p_e = 1 with different single classes
        assert ours == 0.0
    else:
        assert ours == pytest.approx(reference, abs=1e-12)


def test_kappa_on_strings_and_bad_input():
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == 1.0
    assert cohen_kappa(["a", "a"], ["b", "b"]) == 0.0
    with pytest.raises(InputError, match="3 labels with 2"):
        cohen_kappa([1, 2, 3], [1, 2])
    with pytest.raises(InputError, match="at least one row"):
        cohen_kappa([], [])


def test_signal_needs_window_successive_agreements():
    tracker = StabilizingPredictions(threshold=0.9, window=2)
    stop = np.array([0, 1, 0, 1, 2, 2, 1, 0, 0, 1])
    assert tracker.observe(stop) is None
    assert not tracker.signal.stopped and "no stopping signal yet" in tracker.signal.message()
    changed = stop.copy()
    changed[:5] = 2
    assert tracker.observe(changed) < 0.9
    assert tracker.observe(changed) == 1.0
    assert not tracker.signal.stopped  # one stable round of the two needed
    assert tracker.observe(changed) == 1.0
    signal = tracker.signal
    assert signal.stopped and signal.level == 1.0 and signal.n_rows == 10
    assert signal.message() == "the model has stopped changing (agreement 1.000 over the last " \
                               "2 rounds)"
    assert StoppingSignal((0.5, 0.995, 0.996, 0.999)).message() == (
        "the model has stopped changing (agreement 0.995 over the last 3 rounds)")
    assert "still changing" in StoppingSignal((0.999, 0.9, 0.999)).message()
    with pytest.raises(ParameterError, match="stop_threshold"):
        StabilizingPredictions(threshold=1.5)
    with pytest.raises(ParameterError, match="stop_window"):
        StabilizingPredictions(window=0)


def _start(y, per_class=2, seed=0):
    rng = np.random.default_rng(seed)
    init = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
    )
    return init, np.setdiff1d(np.arange(len(y)), init)


def _model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


def test_run_stops_once_the_model_stops_changing_on_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    init, pool = _start(y)
    learner = ActiveLearner(_model(), random_state=0).teach(X[init], y[init])
    curve = learner.run(X[pool], lambda i: y[pool][i], budget=300, batch_size=10,
                        stop="stabilized", stop_threshold=0.97, stop_window=3)
    assert curve.stopped == "stabilized"
    assert curve.n_queried[-1] < 300  # ended before the budget
    signal = learner.stopping_
    assert signal.stopped and len(signal.agreement) == len(curve) - 1
    np.testing.assert_allclose(curve.agreement[1:], signal.agreement)
    assert np.isnan(curve.agreement[0])
    assert (curve.agreement[-3:] >= 0.97).all()
    if len(curve) > 4:  # otherwise the loop would have stopped a round earlier
        assert not (curve.agreement[-4:-1] >= 0.97).all()
    assert "stopped changing" in signal.message()
    # the same run without stop= spends the whole budget; its first rounds are the same
    twin = ActiveLearner(_model(), random_state=0).teach(X[init], y[init])
    full = twin.run(X[pool], lambda i: y[pool][i], budget=200, batch_size=10,
                    stop_threshold=0.97, stop_window=3)
    assert full.stopped is None and full.n_queried[-1] == 200
    k = len(curve)
    np.testing.assert_allclose(full.agreement[1:k], curve.agreement[1:])
    assert "agreement" in full.to_frame().columns


def test_agreement_is_measured_on_a_given_stop_set():
    X, y = load_digits(return_X_y=True)
    init, pool = _start(y)
    rest = pool[1000:]
    pool = pool[:1000]
    learner = ActiveLearner(_model(), random_state=0).teach(X[init], y[init])
    seen = []
    learner.run(X[pool], lambda i: y[pool][i], budget=30, batch_size=10, stop_set=X[rest])
    assert learner.stopping_.n_rows == len(rest)
    # the agreement is Cohen's kappa of successive models' predictions on the stop set
    models = []
    replay = ActiveLearner(_model(), random_state=0).teach(X[init], y[init])
    models.append(replay.predict(X[rest]))
    asked = np.zeros(len(pool), dtype=bool)
    for _ in range(3):
        idx = replay.query(X[pool], 10, exclude=asked)
        asked[idx] = True
        replay.teach(X[pool][idx], y[pool][idx])
        models.append(replay.predict(X[rest]))
        seen.append(cohen_kappa(models[-2], models[-1]))
    np.testing.assert_allclose(learner.stopping_.agreement, seen)
    with pytest.raises(ParameterError, match="stop must be"):
        learner.run(X[pool], lambda i: y[pool][i], budget=10, stop="patience")
    with pytest.raises(InputError, match="stop_set is empty"):
        learner.run(X[pool], lambda i: y[pool][i], budget=10, stop_set=X[:0])


def test_status_reports_the_signal_from_the_store_and_the_pool(tmp_path, capsys):
    X, y = load_breast_cancer(return_X_y=True)
    names = np.array(["malignant", "benign"])[y]
    pool = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    pool.insert(0, "id", [f"r{i:03d}" for i in range(len(y))])
    pool.to_parquet(tmp_path / "pool.parquet")
    init, _ = _start(y)
    pd.DataFrame({"id": pool["id"].iloc[init], "label": names[init]}).to_csv(
        tmp_path / "seed.csv", index=False)
    db = str(tmp_path / "labels.db")
    assert main(["teach", "--store", db, "--source", "seed", str(tmp_path / "seed.csv")]) == 0
    truth = dict(zip(pool["id"], names))
    status = ["status", "--store", db, "--input", str(tmp_path / "pool.parquet"),
              "--stop-threshold", "0.97", "--stop-window", "2"]
    capsys.readouterr()
    assert main(status) == 0
    assert "no stopping signal yet" in capsys.readouterr().out
    signals = []
    for r in range(7):
        batch_file = tmp_path / f"batch{r}.csv"
        assert main(["query", "--store", db, "--input", str(tmp_path / "pool.parquet"),
                     "--n", "10", "--output", str(batch_file)]) == 0
        batch = pd.read_csv(batch_file, dtype={"id": str}, keep_default_na=False)
        batch["label"] = [truth[i] for i in batch["id"]]
        batch.to_csv(batch_file, index=False)
        assert main(["teach", "--store", db, str(batch_file)]) == 0
        capsys.readouterr()
        assert main(status + ["--json"]) == 0
        signals.append(json.loads(capsys.readouterr().out)["stopping"])
    assert all(len(s["agreement"]) == min(r + 1, 2) for r, s in enumerate(signals))
    # the same figures as refitting the learner round by round by hand
    final = signals[-1]
    assert final["n_rows"] == len(y) and final["window"] == 2
    for s in signals:
        expected = StoppingSignal(tuple(s["agreement"]), 0.97, 2, len(y)).message()
        assert s["message"] == expected and s["stopped"] == (
            min(s["agreement"][-2:]) >= 0.97 and len(s["agreement"]) == 2)
    assert any(s["stopped"] for s in signals), signals
    assert main(status) == 0  # the text output ends with the signal's sentence
    assert capsys.readouterr().out.strip().splitlines()[-1].strip() == signals[-1]["message"]

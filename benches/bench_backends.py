"""Backend benchmark: what the backend layer and the plugin events cost.

Every figure is a ratio against a reference timed in the same run. The machine is shared and
noisy, so everything runs single-threaded, times are CPU times of this process, runs are
interleaved and the fastest of each is kept (as ``timeit`` advises):

* fit + predict_proba through ``make_backend(...)`` / the model library called directly
  (target: at most 1.10, i.e. the wrapper's checks and label mapping add <10%);
* ``save`` + ``load`` of the backend / the library's own save + load of the same model;
* firing ``pseudolabel_round_end`` + ``pseudolabel_labels_selected`` (with one observer) per
  round / one ``predict_proba`` over the pool (target: at most 0.05).

    python benches/bench_backends.py            # 20k rows x 20 features, 5 classes
    python benches/bench_backends.py --quick    # 4k rows, fewer repeats
"""

from __future__ import annotations

import os

# One thread everywhere, so that CPU time measures the work itself (see TIMER below).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

#: CPU time of this process: unlike wall-clock time it does not grow when the other processes
#: of a shared machine take the cores, which is what made wall-clock ratios swing by +-20%.
TIMER = time.process_time

FIT_TARGET = 1.10
EVENT_TARGET = 0.05


def _data(n: int, seed: int = 0):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n, n_features=20, n_informative=10, n_classes=5, random_state=seed
    )
    labels = np.array(["ant", "bee", "cat", "dog", "elk"])[y]
    return X, labels


def _best_time(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = TIMER()
        func()
        times.append(TIMER() - t0)
    return min(times)


def _direct(name: str):
    """(fit+predict, save+load) callables for the library used directly."""
    if name == "sklearn":
        import skops.io as sio
        from sklearn.linear_model import LogisticRegression

        def fit(X, y):
            m = LogisticRegression(max_iter=300).fit(X, y)
            m.predict_proba(X)
            return m

        def save_load(m, path):
            sio.dump(m, path / "m.skops")
            sio.load(path / "m.skops", trusted=sio.get_untrusted_types(file=path / "m.skops") or None)

        return fit, save_load
    if name == "lightgbm":
        import lightgbm as lgb

        def fit(X, y):
            m = lgb.LGBMClassifier(n_estimators=50, n_jobs=1, verbosity=-1, random_state=0).fit(X, y)
            m.predict_proba(X)
            return m

        def save_load(m, path):
            m.booster_.save_model(str(path / "m.txt"))
            lgb.Booster(model_file=str(path / "m.txt"))

        return fit, save_load
    import xgboost as xgb

    def fit(X, y):
        codes = np.unique(y, return_inverse=True)[1]  # XGBoost needs 0..k-1 labels
        m = xgb.XGBClassifier(n_estimators=50, n_jobs=1, random_state=0).fit(X, codes)
        m.predict_proba(X)
        return m

    def save_load(m, path):
        m.save_model(str(path / "m.ubj"))
        xgb.XGBClassifier().load_model(str(path / "m.ubj"))

    return fit, save_load


BACKEND_PARAMS = {
    "sklearn": lambda: {"estimator": __import__("sklearn.linear_model").linear_model.LogisticRegression(max_iter=300)},
    "lightgbm": lambda: {"n_estimators": 50, "n_jobs": 1, "random_state": 0},
    "xgboost": lambda: {"n_estimators": 50, "n_jobs": 1, "random_state": 0},
}


def bench_backends(X, y, repeats: int) -> list[tuple[str, float, float]]:
    from pseudolabel.plugins import load_backend, make_backend

    rows = []
    for name in ("sklearn", "lightgbm", "xgboost"):
        direct_fit, direct_save_load = _direct(name)

        def via_backend():
            b = make_backend(name, **BACKEND_PARAMS[name]())
            b.fit(X, y)
            b.predict_proba(X)
            return b

        direct_fit(X, y), via_backend()  # warm-up (imports, caches)
        t_direct, t_backend = [], []
        for _ in range(repeats):  # interleaved, so load spikes hit both
            t0 = TIMER()
            model = direct_fit(X, y)
            t_direct.append(TIMER() - t0)
            t0 = TIMER()
            backend = via_backend()
            t_backend.append(TIMER() - t0)
        fit_ratio = min(t_backend) / min(t_direct)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp)
            t_lib = _best_time(lambda: direct_save_load(model, path), repeats)
            t_ours = _best_time(lambda: (backend.save(path / "b"), load_backend(path / "b")), repeats)
        rows.append((name, fit_ratio, t_ours / t_lib))
    return rows


def bench_events(X, y, repeats: int) -> float:
    from pseudolabel.hookspecs import hookimpl
    from pseudolabel.plugins import (
        emit_labels_selected,
        emit_round_end,
        isolated_plugin_manager,
        make_backend,
    )

    class Observer:
        def __init__(self):
            self.n = 0

        @hookimpl
        def pseudolabel_round_end(self, summary):
            self.n += 1

        @hookimpl
        def pseudolabel_labels_selected(self, selection):
            self.n += len(selection)

    backend = make_backend("lightgbm", n_estimators=50, n_jobs=1, random_state=0).fit(X, y)
    proba = backend.predict_proba(X)
    picked = np.flatnonzero(proba.max(axis=1) > 0.5)
    t_predict = _best_time(lambda: backend.predict_proba(X), repeats)

    def one_round():
        emit_labels_selected(
            source="self_training", round=1, indices=picked, labels=backend.classes_[proba[picked].argmax(1)],
            confidence=proba[picked].max(1), estimator="LGBMClassifier",
        )
        emit_round_end(
            source="self_training", estimator="LGBMClassifier", round=1, n_selected=len(picked),
            n_selected_per_class={c: 1 for c in backend.classes_}, thresholds=0.5, score=0.9,
            accepted=True, seconds=1.0, extra={"decision": "accepted"},
        )

    with isolated_plugin_manager(Observer()):
        one_round()
        t_events = _best_time(one_round, repeats * 20)
    return t_events / t_predict


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    args = parser.parse_args(argv)
    n, repeats = (4_000, 3) if args.quick else (20_000, 5)
    X, y = _data(n)
    print(f"data: {n} rows x {X.shape[1]} features, 5 string classes; best of {repeats} interleaved runs")
    rows = bench_backends(X, y, repeats)
    print(f"\n{'backend':<10} {'fit+predict vs direct':>22} {'save+load vs library':>22}")
    failed = 0
    for name, fit_ratio, io_ratio in rows:
        print(f"{name:<10} {fit_ratio:>21.3f}x {io_ratio:>21.3f}x")
    for name, fit_ratio, _ in rows:
        ok = fit_ratio <= FIT_TARGET
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name}: backend overhead {fit_ratio:.3f}x <= {FIT_TARGET}x")
    events = bench_events(X, y, repeats)
    ok = events <= EVENT_TARGET
    failed += not ok
    print(f"{'PASS' if ok else 'FAIL'} events per round / predict_proba over the pool: {events:.4f} <= {EVENT_TARGET}")
    print(f"{failed} target(s) missed" if failed else "all targets met")
    return 0  # like the other scripts: non-zero only when the benchmark could not run


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

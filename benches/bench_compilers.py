"""Tree compilers for ``label --engine compiled``: lleaves vs Treelite + TL2cgen.

One LightGBM model (100 boosting rounds x 4 classes = 400 trees, 31 leaves) over
N x 20 float32 rows (default 2M): predict time of each compiler against
``Booster.predict(num_threads=2)`` measured in the same run, the largest absolute
difference of the probabilities, whether argmax labels agree, and compile time.

Usage::

    python benches/bench_compilers.py            # 2M rows
    python benches/bench_compilers.py --rows 200000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES = 20
N_CLASSES = 4
THREADS = 2


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(12345).normal(0.0, 0.6, size=(N_CLASSES, N_FEATURES))
    y = rng.integers(0, N_CLASSES, size=n)
    X = rng.standard_normal((n, N_FEATURES), dtype=np.float32) + means[y].astype(np.float32)
    return X, y


def _best(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _xgboost(X, Xt, yt, trees: int, tmp: Path) -> list:
    import tl2cgen
    import treelite
    import xgboost as xgb

    clf = xgb.XGBClassifier(n_estimators=trees, max_depth=6, n_jobs=THREADS, random_state=0)
    clf.fit(Xt, yt)
    t_native, P_native = _best(lambda: clf.predict_proba(X))
    t = time.perf_counter()
    lib = tmp / "xgb.so"
    tl2cgen.export_lib(treelite.frontend.from_xgboost(clf.get_booster()), toolchain="gcc",
                       libpath=str(lib), params={"parallel_comp": THREADS})
    predictor = tl2cgen.Predictor(str(lib), nthread=THREADS)
    t_compile = time.perf_counter() - t
    t_pred, P = _best(lambda: predictor.predict(tl2cgen.DMatrix(X, dtype="float32")))
    P = np.asarray(P).reshape(len(X), -1)
    return [("XGBClassifier.predict_proba (2 threads)", t_native, 0.0, True, 0.0),
            ("  tl2cgen on it", t_pred, float(np.abs(P - P_native).max()),
             bool((P.argmax(1) == P_native.argmax(1)).all()), t_compile)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--xgboost", action="store_true",
                    help="also an XGBoost model of the same size against tl2cgen")
    args = ap.parse_args()
    import lightgbm as lgb

    Xt, yt = _data(100_000, 1)
    booster = lgb.train({"objective": "multiclass", "num_class": N_CLASSES, "num_leaves": 31,
                         "verbose": -1, "seed": 0, "num_threads": THREADS},
                        lgb.Dataset(Xt, yt), num_boost_round=args.trees)
    X, _ = _data(args.rows, 2)
    tmp = Path(tempfile.mkdtemp(prefix="bench-compilers-"))
    model_file = tmp / "model.txt"
    booster.save_model(str(model_file))
    t_native, P_native = _best(lambda: booster.predict(X, num_threads=THREADS))
    labels = np.argmax(P_native, axis=1)
    rows = [("Booster.predict (2 threads)", t_native, 0.0, True, 0.0)]

    try:
        import lleaves

        t = time.perf_counter()
        model = lleaves.Model(model_file=str(model_file))
        model.compile(cache=str(tmp / "lleaves.o"))
        t_compile = time.perf_counter() - t
        t_pred, P = _best(lambda: model.predict(X, n_jobs=THREADS))
        rows.append((f"lleaves {lleaves.__version__ if hasattr(lleaves, '__version__') else ''}",
                     t_pred, float(np.abs(P - P_native).max()),
                     bool((np.argmax(P, axis=1) == labels).all()), t_compile))
    except Exception as exc:  # report, keep measuring the other
        print(f"lleaves failed: {type(exc).__name__}: {exc}")

    try:
        import tl2cgen
        import treelite

        t = time.perf_counter()
        tl_model = treelite.frontend.load_lightgbm_model(str(model_file))
        lib = tmp / "tl2cgen.so"
        tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=str(lib),
                           params={"parallel_comp": THREADS}, nthread=THREADS)
        predictor = tl2cgen.Predictor(str(lib), nthread=THREADS)
        t_compile = time.perf_counter() - t

        def tl_predict():
            return predictor.predict(tl2cgen.DMatrix(X, dtype="float32"))

        t_pred, P = _best(tl_predict)
        P = np.asarray(P).reshape(len(X), -1)
        rows.append((f"treelite {treelite.__version__} + tl2cgen {tl2cgen.__version__}",
                     t_pred, float(np.abs(P - P_native).max()),
                     bool((np.argmax(P, axis=1) == labels).all()), t_compile))
    except Exception as exc:
        print(f"tl2cgen failed: {type(exc).__name__}: {exc}")

    if args.xgboost:
        rows += _xgboost(X, Xt, yt, args.trees, tmp)
    print(f"\n{args.rows:,} x {N_FEATURES} float32, LightGBM {args.trees} rounds x {N_CLASSES} "
          f"classes, {THREADS} threads, cpu count {os.cpu_count()}")
    print(f"{'engine':44s} {'predict s':>9s} {'rows/s':>12s} {'vs native':>9s} "
          f"{'max |dP|':>9s} {'labels':>6s} {'compile s':>9s}")
    for name, t, dp, same, tc in rows:
        print(f"{name:44s} {t:9.3f} {args.rows / t:12,.0f} {t_native / t:8.2f}x "
              f"{dp:9.1e} {'same' if same else 'DIFF':>6s} {tc:9.1f}")


if __name__ == "__main__":
    main()

"""Tree compilers for ``label --engine compiled``: lleaves vs Treelite + TL2cgen.

One LightGBM model (100 boosting rounds x 4 classes = 400 trees, 31 leaves) over
N x 20 float32 rows (default 2M): predict time of each compiler against
``Booster.predict(num_threads=2)`` measured in the same run, the largest absolute
difference of the probabilities, whether argmax labels agree, and compile time. With
``--xgboost``, an XGBoost model of the same size (max_depth 6): ``predict_proba``,
``inplace_predict``, ``predict`` on a DMatrix, TL2cgen and xgboost-c, run round-robin.

Usage::

    python benches/bench_compilers.py            # 2M rows
    python benches/bench_compilers.py --rows 200000
    python benches/bench_compilers.py --xgboost-only --repeat 3
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


def _interleaved(fns: dict, repeat: int) -> dict:
    """Best-of-``repeat`` seconds and the last output of each function, run round-robin
    (so a change in the machine's load hits every engine alike)."""
    best = {name: float("inf") for name in fns}
    out: dict = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            out[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return {name: (best[name], out[name]) for name in fns}


def _xgboost(X, Xt, yt, trees: int, tmp: Path, repeat: int) -> list:
    """XGBoost of the same size: predict_proba, inplace_predict, TL2cgen and xgboost-c,
    interleaved; ratios against predict_proba (what the native backend calls)."""
    import tl2cgen
    import treelite
    import xgboost as xgb

    from pseudolabel.compiled.compilers import XGBoostC
    from pseudolabel.plugins import make_backend

    backend = make_backend("xgboost", n_estimators=trees, max_depth=6, n_jobs=THREADS,
                           random_state=0).fit(Xt, yt)
    clf = backend.model_
    booster = clf.get_booster()
    compile_s = {}
    t = time.perf_counter()
    lib = tmp / "xgb.so"
    tl2cgen.export_lib(treelite.frontend.from_xgboost(booster), toolchain="gcc",
                       libpath=str(lib), params={"parallel_comp": THREADS})
    predictor = tl2cgen.Predictor(str(lib), nthread=THREADS)
    compile_s["tl2cgen"] = time.perf_counter() - t
    t = time.perf_counter()
    (tmp / "xgc").mkdir()
    compiler = XGBoostC()
    name = compiler.build(backend, Path("unused"), tmp / "xgc")
    raw = compiler.load(backend, Path("unused"), tmp / "xgc" / name)
    compile_s["xgboost-c"] = time.perf_counter() - t
    fns = {
        "XGBClassifier.predict_proba (2 threads)": lambda: clf.predict_proba(X),
        "  Booster.inplace_predict": lambda: booster.inplace_predict(X),
        "  Booster.predict(DMatrix)": lambda: booster.predict(xgb.DMatrix(X, nthread=THREADS)),
        "  tl2cgen on it": lambda: np.asarray(predictor.predict(
            tl2cgen.DMatrix(X, dtype="float32"))).reshape(len(X), -1),
        f"  xgboost-c on it (pseudolabel.compiled, {compiler.version().split(';')[0]})":
            lambda: raw(X),
    }
    timed = _interleaved(fns, repeat)
    P_native = timed["XGBClassifier.predict_proba (2 threads)"][1]
    rows = []
    for label, (t_pred, P) in timed.items():
        tc = compile_s.get("tl2cgen" if "tl2cgen" in label else
                           "xgboost-c" if "xgboost-c" in label else "", 0.0)
        rows.append((label, t_pred, float(np.abs(P - P_native).max()),
                     bool((P.argmax(1) == P_native.argmax(1)).all()), tc))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--xgboost", action="store_true",
                    help="also an XGBoost model of the same size (max_depth 6): "
                         "predict_proba vs inplace_predict vs tl2cgen vs xgboost-c")
    ap.add_argument("--xgboost-only", action="store_true",
                    help="the XGBoost comparison alone (no LightGBM)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="interleaved rounds of the XGBoost comparison (best of)")
    args = ap.parse_args()
    Xt, yt = _data(100_000, 1)
    X, _ = _data(args.rows, 2)
    tmp = Path(tempfile.mkdtemp(prefix="bench-compilers-"))
    if not args.xgboost_only:
        _lightgbm(X, Xt, yt, args, tmp)
    if args.xgboost or args.xgboost_only:
        rows = _xgboost(X, Xt, yt, args.trees, tmp, args.repeat)
        t_ref, t_inplace = rows[0][1], rows[1][1]
        print(f"\n{args.rows:,} x {N_FEATURES} float32, XGBoost {args.trees} rounds x "
              f"{N_CLASSES} classes, max_depth 6, {THREADS} threads, cpu count {os.cpu_count()}, "
              f"best of {args.repeat} interleaved rounds")
        print(f"{'engine':60s} {'predict s':>9s} {'rows/s':>11s} {'vs proba':>8s} "
              f"{'vs inplace':>10s} {'max |dP|':>9s} {'labels':>6s} {'compile s':>9s}")
        for name, t, dp, same, tc in rows:
            print(f"{name:60s} {t:9.3f} {args.rows / t:11,.0f} {t_ref / t:7.2f}x "
                  f"{t_inplace / t:9.2f}x {dp:9.1e} {'same' if same else 'DIFF':>6s} {tc:9.1f}")


def _lightgbm(X, Xt, yt, args, tmp: Path) -> None:
    import lightgbm as lgb

    booster = lgb.train({"objective": "multiclass", "num_class": N_CLASSES, "num_leaves": 31,
                         "verbose": -1, "seed": 0, "num_threads": THREADS},
                        lgb.Dataset(Xt, yt), num_boost_round=args.trees)
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

    print(f"\n{args.rows:,} x {N_FEATURES} float32, LightGBM {args.trees} rounds x {N_CLASSES} "
          f"classes, {THREADS} threads, cpu count {os.cpu_count()}")
    print(f"{'engine':44s} {'predict s':>9s} {'rows/s':>12s} {'vs native':>9s} "
          f"{'max |dP|':>9s} {'labels':>6s} {'compile s':>9s}")
    for name, t, dp, same, tc in rows:
        print(f"{name:44s} {t:9.3f} {args.rows / t:12,.0f} {t_native / t:8.2f}x "
              f"{dp:9.1e} {'same' if same else 'DIFF':>6s} {tc:9.1f}")


if __name__ == "__main__":
    main()

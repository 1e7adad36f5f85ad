"""Batch labeling benchmark: pipeline overhead, bounded memory, Dask vs local.

Three measurements, each a ratio against a reference taken in the same run:

1. **Overhead.** ``pseudolabel.batch.label`` end to end (read Parquet, convert, predict,
   summarize with the Rust kernels, decide, write Parquet) against the bare
   ``lightgbm.Booster.predict`` over the same arrays (read beforehand, not timed).
   Target: overhead <= 15%.
2. **Memory.** Peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, measured inside a
   fresh child process per case) of a ``--top-k`` job over N and 10 N rows with the same
   ``--chunk-rows``, once with the rows in ONE Parquet file and once in many files of 500k
   rows. Target: flat, 10 N rows within 10% of N rows, in both layouts. The one-file pools
   (800 MB at 10M rows) are written to a temporary directory and deleted afterwards.
3. **Dask.** The same job on a ``LocalCluster`` of 2 worker processes against the local run.
4. **Compiled engine.** ``label --engine native`` and ``--engine compiled`` end to end (a
   fresh process each: start, Parquet read, predict, summarize, Parquet write) on 2M and 5M
   rows against the bare library predict (2 threads) over the same arrays, for a LightGBM
   and an XGBoost model of 100 rounds x 4 classes; the first, compiling run is reported
   separately, the timed ones load the cached library. Targets: >= 2x the bare rows/s,
   peak RSS within 10% of native.

Data (Gaussian classes, 20 float32 features, written in row groups so generation is
bounded in memory) and the LightGBM bundle are cached under ``bench_out/batch``.

Usage::

    python benches/bench_batch.py            # full: 5M rows, RSS at 1M and 10M rows
    python benches/bench_batch.py --quick    # 500k rows, RSS at 200k and 2M rows
    python benches/bench_batch.py --only memory
    python benches/bench_batch.py --only compiled [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_FEATURES = 20
N_CLASSES = 3
FILE_ROWS = 500_000
BLOCK_ROWS = 250_000
CHUNK_ROWS = 100_000
MODEL_PARAMS = {"n_estimators": 40, "num_leaves": 31, "verbose": -1, "random_state": 0}


def _means() -> np.ndarray:
    return np.random.default_rng(12345).normal(0.0, 0.6, size=(N_CLASSES, N_FEATURES))


def _rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, N_CLASSES, size=n)
    X = rng.standard_normal((n, N_FEATURES), dtype=np.float32)
    X += _means()[y].astype(np.float32)
    return X, y


def make_pool(root: Path, n_rows: int, *, seed: int = 0) -> Path:
    """A directory of Parquet files holding ``n_rows`` unlabeled rows (cached)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = root / f"pool_{n_rows}"
    done = d / "_complete.json"
    if done.exists() and json.loads(done.read_text()).get("rows") == n_rows:
        return d
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    names = [f"f{j:02d}" for j in range(N_FEATURES)]
    written, file_no = 0, 0
    while written < n_rows:
        n_file = min(FILE_ROWS, n_rows - written)
        with pq.ParquetWriter(d / f"part-{file_no:04d}.parquet",
                              pa.schema([("id", pa.int64())] +
                                        [(n, pa.float32()) for n in names])) as w:
            done_in_file = 0
            while done_in_file < n_file:
                b = min(BLOCK_ROWS, n_file - done_in_file)
                X, _ = _rows(rng, b)
                ids = np.arange(written + done_in_file, written + done_in_file + b)
                w.write_table(pa.Table.from_arrays(
                    [pa.array(ids)] + [pa.array(X[:, j]) for j in range(N_FEATURES)],
                    names=["id", *names]), row_group_size=100_000)
                done_in_file += b
        written += n_file
        file_no += 1
    done.write_text(json.dumps({"rows": n_rows}))
    return d


def make_one_file(root: Path, n_rows: int, *, seed: int = 0) -> Path:
    """One Parquet file of ``n_rows`` rows (row groups of 100k rows), written in blocks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = root / f"one_{n_rows}.parquet"
    rng = np.random.default_rng(seed)
    names = [f"f{j:02d}" for j in range(N_FEATURES)]
    schema = pa.schema([("id", pa.int64())] + [(n, pa.float32()) for n in names])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, n_rows, BLOCK_ROWS):
            b = min(BLOCK_ROWS, n_rows - start)
            X, _ = _rows(rng, b)
            w.write_table(pa.Table.from_arrays(
                [pa.array(np.arange(start, start + b))] +
                [pa.array(X[:, j]) for j in range(N_FEATURES)], schema=schema),
                row_group_size=100_000)
    return path


def make_bundle(root: Path) -> Path:
    """A LightGBM bundle fitted on 30k labeled rows of the same distribution (cached)."""
    import pandas as pd

    from pseudolabel.batch import load_bundle, train_bundle
    from pseudolabel.exceptions import BundleError

    path = root / "model"
    try:
        if load_bundle(path).manifest["backend_params"] == MODEL_PARAMS:
            return path
    except BundleError:
        pass
    X, y = _rows(np.random.default_rng(99), 30_000)
    df = pd.DataFrame(X, columns=[f"f{j:02d}" for j in range(N_FEATURES)])
    df["target"] = y
    df.to_parquet(root / "train.parquet")
    train_bundle(root / "train.parquet", backend="lightgbm", target="target",
                 id_column=None, output=path, params=MODEL_PARAMS, overwrite=True)
    return path


def _features(path: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    features = [f"f{j:02d}" for j in range(N_FEATURES)]
    t = pq.read_table(path, columns=features)
    X = np.empty((t.num_rows, N_FEATURES), dtype=np.float64)
    for j, name in enumerate(features):
        X[:, j] = t.column(name).to_numpy()
    return X


def overhead_run(bundle_dir: Path, pool: Path, scratch: Path) -> dict:
    """Bare ``Booster.predict`` vs the whole ``label`` job, file by file, interleaved.

    The machine may be shared, so the two are measured back to back on each file of the
    pool, in alternating order (ABBA...), and summed: a burst of load elsewhere hits both
    about equally. Wall time and process CPU time (all threads) are both recorded.
    """
    import lightgbm

    from pseudolabel.batch import label

    booster = lightgbm.Booster(model_file=str(bundle_dir / "model" / "model.txt"))
    tot = {"bare_wall": 0.0, "bare_cpu": 0.0, "pipe_wall": 0.0, "pipe_cpu": 0.0, "rows": 0}

    def bare(f: Path) -> None:
        X = _features(f)  # reading is not timed: the reference is predict alone
        w, c = time.perf_counter(), time.process_time()
        for start in range(0, len(X), CHUNK_ROWS):
            booster.predict(X[start:start + CHUNK_ROWS])
        tot["bare_wall"] += time.perf_counter() - w
        tot["bare_cpu"] += time.process_time() - c
        tot["rows"] += len(X)

    def pipe(f: Path) -> None:
        out = scratch / f"overhead_{f.stem}"
        w, c = time.perf_counter(), time.process_time()
        label(bundle_dir, f, out, threshold=0.9, chunk_rows=CHUNK_ROWS)
        tot["pipe_wall"] += time.perf_counter() - w
        tot["pipe_cpu"] += time.process_time() - c
        shutil.rmtree(out)

    for i, f in enumerate(sorted(pool.glob("*.parquet"))):
        for step in ((bare, pipe) if i % 2 == 0 else (pipe, bare)):
            step(f)
    return tot


def _child_rss(bundle: str, pool: str, out: str, chunk_rows: int) -> None:
    """Run one job in this (fresh) process and print its peak RSS in bytes."""
    from pseudolabel.batch import label

    res = label(bundle, pool, out, top_k=1000, chunk_rows=chunk_rows, overwrite=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024
    print(json.dumps({"rss": peak, "rows": res.rows, "seconds": res.seconds}))


def peak_rss(bundle: Path, pool: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--_child-rss", str(bundle), str(pool),
                           str(out), str(CHUNK_ROWS)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- 4. compiled engine
COMPILED_CLASSES = 4
COMPILED_TREES = 100
COMPILED_MODELS = {
    "lightgbm": {"n_estimators": COMPILED_TREES, "num_leaves": 31, "verbose": -1,
                 "random_state": 0},
    "xgboost": {"n_estimators": COMPILED_TREES, "max_depth": 6, "random_state": 0},
}


def make_compiled_bundle(root: Path, backend: str) -> Path:
    """A 100-round x 4-class bundle (400 trees for LightGBM) on 30k rows (cached)."""
    import pandas as pd

    from pseudolabel.batch import load_bundle, train_bundle
    from pseudolabel.exceptions import BundleError

    path = root / f"model_{backend}_{COMPILED_TREES}x{COMPILED_CLASSES}"
    try:
        if load_bundle(path).manifest["backend_params"] == COMPILED_MODELS[backend]:
            return path
    except BundleError:
        pass
    rng = np.random.default_rng(98)
    means = np.random.default_rng(7).normal(0.0, 0.6, size=(COMPILED_CLASSES, N_FEATURES))
    y = rng.integers(0, COMPILED_CLASSES, size=30_000)
    X = rng.standard_normal((30_000, N_FEATURES), dtype=np.float32) + means[y].astype(np.float32)
    df = pd.DataFrame(X, columns=[f"f{j:02d}" for j in range(N_FEATURES)])
    df["target"] = y
    df.to_parquet(root / f"train{COMPILED_CLASSES}.parquet")
    train_bundle(root / f"train{COMPILED_CLASSES}.parquet", backend=backend, target="target",
                 id_column=None, output=path, params=COMPILED_MODELS[backend], overwrite=True)
    return path


def _bare_predict(bundle_dir: Path):
    """The model library's own predict on 2 threads, as a user would call it."""
    from pseudolabel.batch import load_bundle

    backend = load_bundle(bundle_dir).backend
    if backend.name == "lightgbm":
        booster = backend.booster_
        return lambda X: booster.predict(X, num_threads=2)
    model = backend.model_
    model.set_params(n_jobs=2)
    return model.predict_proba


def _child_engine(bundle: str, pool: str, out: str, engine: str, cache: str) -> None:
    """One job in this fresh process: its wall time and peak RSS."""
    from pseudolabel.batch import label

    res = label(bundle, pool, out, threshold=0.9, chunk_rows=CHUNK_ROWS, overwrite=True,
                engine=engine, compile_cache=cache)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024
    print(json.dumps({"rss": peak, "rows": res.rows, "seconds": res.seconds}))


def engine_run(bundle: Path, pool: Path, out: Path, engine: str, cache: Path) -> dict:
    """A whole ``label`` job in a fresh process (``label`` end to end: imports, read,
    predict, summarize, write), so peak RSS is the job's own."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--_child-engine", str(bundle), str(pool),
                           str(out), engine, str(cache)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    shutil.rmtree(out, ignore_errors=True)
    return {**json.loads(proc.stdout.strip().splitlines()[-1]),
            "process_seconds": time.perf_counter() - t}


def _bare_seconds(predict, pool: Path) -> float:
    """The bare library predict over a pool, chunk by chunk (reading is not timed)."""
    seconds = 0.0
    for f in sorted(pool.glob("*.parquet")):
        X = _features(f)
        t = time.perf_counter()
        for start in range(0, len(X), CHUNK_ROWS):
            predict(X[start:start + CHUNK_ROWS])
        seconds += time.perf_counter() - t
        del X
    return seconds


def compiled_runs(root: Path, pools: dict, sizes: list[int], scratch: Path,
                  backends: list[str], repeat: int = 1) -> None:
    """Native and compiled ``label`` end to end vs the bare library predict, per size."""
    print()
    print(f"4. --engine compiled vs native vs the bare library predict (2 threads), "
          f"{COMPILED_TREES} rounds x {COMPILED_CLASSES} classes, {N_FEATURES} float32 "
          f"features, Parquet in and out, chunk_rows={CHUNK_ROWS:,}, best of {repeat} "
          f"round-robin run(s)")
    for backend in backends:
        bundle = make_compiled_bundle(root, backend)
        cache = scratch / f"cache_{backend}"
        first = engine_run(bundle, pools[sizes[0]], scratch / "first", "compiled", cache)
        print(f"   {backend}: first compiled run (compiles into an empty cache) "
              f"{first['process_seconds']:.1f} s for {first['rows']:,} rows")
        predict = _bare_predict(bundle)
        for n in sizes:
            # round-robin, best of ``repeat``: a change in the machine's load hits all three
            bare, native, compiled = float("inf"), None, None
            for _ in range(repeat):
                bare = min(bare, _bare_seconds(predict, pools[n]))
                r = engine_run(bundle, pools[n], scratch / "native", "native", cache)
                native = r if native is None or r["process_seconds"] < \
                    native["process_seconds"] else native
                r = engine_run(bundle, pools[n], scratch / "compiled", "compiled", cache)
                compiled = r if compiled is None or r["process_seconds"] < \
                    compiled["process_seconds"] else compiled
            assert native is not None and compiled is not None
            speed = bare / compiled["process_seconds"]
            print(f"   {backend} {n:>10,} rows: {'':6}{'s':>8}{'rows/s':>12}{'vs bare':>9}"
                  f"{'peak RSS':>11}")
            print(f"     {'bare library predict':30}{bare:8.1f}{n / bare:12,.0f}{1:8.2f}x")
            for name, r in (("label --engine native", native),
                            ("label --engine compiled", compiled)):
                print(f"     {name:30}{r['process_seconds']:8.1f}"
                      f"{n / r['process_seconds']:12,.0f}{bare / r['process_seconds']:8.2f}x"
                      f"{_fmt_mb(r['rss']):>11}")
            rss = compiled["rss"] / native["rss"]
            print(f"     compiled {speed:.2f}x bare: {'PASS' if speed >= 2 else 'FAIL'} "
                  f"(target >= 2x); peak RSS {rss:.2f}x native: "
                  f"{'PASS' if rss <= 1.1 else 'FAIL'} (target <= 1.10x)", flush=True)


def _fmt_mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def memory_run(bundle: Path, many_small: Path, many_big: Path, n_small: int, n_big: int,
               scratch: Path) -> bool:
    """Peak RSS at ``n_small`` and ``n_big`` rows, in one file and in many; print the table."""
    import tempfile

    free = shutil.disk_usage(tempfile.gettempdir()).free
    need = n_big * (N_FEATURES * 4 + 8) * 1.2
    if free < 2 * need:
        print(f"2. memory: skipped, {_fmt_mb(free)} free in {tempfile.gettempdir()}, "
              f"need {_fmt_mb(2 * need)}")
        return False
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench_batch_rss_") as tmp:
        for n in (n_small, n_big):
            one = make_one_file(Path(tmp), n)
            results["one file", n] = peak_rss(bundle, one, scratch / "rss_one.parquet")
            one.unlink()  # the big file goes before the next one is written
        for n, pool in ((n_small, many_small), (n_big, many_big)):
            results["many files", n] = peak_rss(bundle, pool, scratch / "rss_many.parquet")
    print()
    print(f"2. peak RSS of a --top-k 1000 job, chunk_rows={CHUNK_ROWS:,} (fresh child each)")
    print(f"   {'layout':12}{'rows':>12}{'peak RSS':>12}{'seconds':>10}")
    ok = True
    for layout in ("one file", "many files"):
        for n in (n_small, n_big):
            r = results[layout, n]
            print(f"   {layout:12}{n:>12,}{_fmt_mb(r['rss']):>12}{r['seconds']:>10.1f}")
        ratio = results[layout, n_big]["rss"] / results[layout, n_small]["rss"]
        ok &= ratio <= 1.10
        print(f"   {layout}: {n_big // n_small}x the rows -> {ratio:.2f}x the peak RSS: "
              f"{'PASS' if ratio <= 1.10 else 'FAIL'} (target <= 1.10x)", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for development")
    ap.add_argument("--out", default="bench_out", help="cache and scratch directory")
    ap.add_argument("--only", choices=["overhead", "memory", "dask", "compiled"],
                    help="run one of the four measurements")
    ap.add_argument("--_child-rss", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--compiled-rows", type=int, nargs="+", metavar="N",
                    help="pool sizes of the compiled measurement (default 2M and 5M; "
                         "--quick: 200k and 500k)")
    ap.add_argument("--compiled-backends", nargs="+", choices=list(COMPILED_MODELS),
                    default=list(COMPILED_MODELS), help="backends of the compiled measurement")
    ap.add_argument("--compiled-repeat", type=int, default=1, metavar="R",
                    help="round-robin rounds (bare, native, compiled) of the compiled "
                         "measurement; each engine's best is reported")
    ap.add_argument("--_child-engine", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child_engine:
        _child_engine(*args._child_engine)
        return 0
    if args._child_rss:
        b, p, o, c = args._child_rss
        _child_rss(b, p, o, int(c))
        return 0

    n_main, n_small, n_big = (500_000, 200_000, 2_000_000) if args.quick else \
        (5_000_000, 1_000_000, 10_000_000)
    root = Path(args.out) / "batch"
    root.mkdir(parents=True, exist_ok=True)
    scratch = root / f"scratch-{os.getpid()}"  # per run: concurrent runs do not collide
    scratch.mkdir()
    t0 = time.perf_counter()
    bundle = make_bundle(root)
    compiled_sizes = args.compiled_rows or (
        [200_000, 500_000] if args.quick else [2_000_000, 5_000_000])
    needed = ({n_main} if args.only in (None, "overhead", "dask") else set()) | \
        ({n_small, n_big} if args.only in (None, "memory") else set()) | \
        (set(compiled_sizes) if args.only in (None, "compiled") else set())
    pools = {n: make_pool(root, n) for n in sorted(needed)}
    print(f"bench_batch: data ready in {time.perf_counter() - t0:.0f} s "
          f"({'quick' if args.quick else 'full'}; {os.cpu_count()} CPUs)", flush=True)

    def run(part: str) -> bool:
        return args.only in (None, part)

    if run("overhead"):
        o = overhead_run(bundle, pools[n_main], scratch)
        rows = o["rows"]
        overhead = o["pipe_wall"] / o["bare_wall"] - 1
        cpu_overhead = o["pipe_cpu"] / o["bare_cpu"] - 1
        print()
        print(f"1. end to end vs bare Booster.predict ({rows:,} rows x {N_FEATURES} features, "
              f"chunk_rows={CHUNK_ROWS:,}, file by file, interleaved)")
        print(f"   {'':34}{'wall s':>10}{'rows/s':>14}{'CPU s':>10}")
        print(f"   {'bare booster.predict':34}{o['bare_wall']:10.2f}"
              f"{rows / o['bare_wall']:14,.0f}{o['bare_cpu']:10.2f}")
        print(f"   {'pseudolabel label (threshold)':34}{o['pipe_wall']:10.2f}"
              f"{rows / o['pipe_wall']:14,.0f}{o['pipe_cpu']:10.2f}")
        print(f"   overhead {overhead:+.1%} wall, {cpu_overhead:+.1%} CPU: "
              f"{'PASS' if overhead <= 0.15 else 'FAIL'} (target <= +15% wall)", flush=True)

    if run("memory"):
        memory_run(bundle, pools[n_small], pools[n_big], n_small, n_big, scratch)

    if run("dask"):
        from distributed import Client

        from pseudolabel.batch import label
        from pseudolabel.dask import label as dask_label
        from pseudolabel.dask import local_cluster

        local = label(bundle, pools[n_main], scratch / "local", top_k=1000,
                      chunk_rows=CHUNK_ROWS)
        with local_cluster(2) as cluster, Client(cluster) as client:
            client.run(lambda: __import__("pseudolabel.batch.label"))  # warm the workers
            dist = dask_label(bundle, pools[n_main], scratch / "dask", top_k=1000,
                              chunk_rows=CHUNK_ROWS, client=client)
        same = all((scratch / "local" / n).read_bytes() == (scratch / "dask" / n).read_bytes()
                   for n in os.listdir(scratch / "local"))
        print()
        print(f"3. Dask LocalCluster (2 worker processes) vs local, --top-k 1000, "
              f"{local.rows:,} rows")
        print(f"   {'local':34}{local.seconds:10.2f} s"
              f"{local.rows / local.seconds:14,.0f} rows/s")
        print(f"   {'dask, 2 workers':34}{dist.seconds:10.2f} s"
              f"{dist.rows / dist.seconds:14,.0f} rows/s")
        print(f"   speed-up {local.seconds / dist.seconds:.2f}x; output identical to local: "
              f"{same}")
    if run("compiled"):
        compiled_runs(root, pools, compiled_sizes, scratch, args.compiled_backends,
                      args.compiled_repeat)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

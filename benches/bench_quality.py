"""Quality benchmark: does self-training help, and does it ever hurt?

Grid (issue 4, section 5):

* data: scikit-learn's digits, breast_cancer, wine and iris, plus two ``make_classification``
  problems with class imbalance and label noise;
* label fractions 5% and 10% of the training rows, at least 2 labeled rows per class;
* base models: scaled logistic regression, random forest, LightGBM, XGBoost;
* 5 seeds; a stratified 30% test split per seed.

Methods: supervised-only (the labeled rows alone), scikit-learn's
``SelfTrainingClassifier(threshold=0.75)``, each of our selection strategies inside
``PseudoLabeler`` with the guardrail off (the raw strategy), and the ``PseudoLabeler`` default.
``--candidates`` adds the guarded configurations the default was chosen from.

Prints a markdown table of mean test accuracy (percent) per cell, the mean gain over
supervised-only, and the three targets of the issue with PASS/FAIL; writes the table to
``bench_out/quality.md``. Every (cell, seed, method) result is cached in
``bench_out/quality_cells.jsonl`` so an interrupted run resumes (``--fresh`` ignores it).

    python benches/bench_quality.py            # the full grid (what `make bench` runs)
    python benches/bench_quality.py --quick    # 2 seeds, for development
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

# one thread per process: the grid is many small fits, and BLAS threads only fight each other
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "PSEUDOLABEL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

OUT_DIR = Path(os.environ.get("PSEUDOLABEL_BENCH_OUT", "bench_out"))
DATASETS = ["digits", "breast_cancer", "wine", "iris", "synth_imbalanced", "synth_noisy"]
FRACTIONS = [0.05, 0.10]
MODELS = ["logreg", "rf", "lightgbm", "xgboost"]
STRATEGIES = ["threshold", "k_best", "class_balanced", "curriculum", "flexmatch", "freematch",
              "softmatch", "ceal"]


def load(name: str):
    from sklearn import datasets

    if name == "digits":
        return datasets.load_digits(return_X_y=True)
    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    if name == "wine":
        return datasets.load_wine(return_X_y=True)
    if name == "iris":
        return datasets.load_iris(return_X_y=True)
    if name == "synth_imbalanced":  # 4 classes, 60/25/10/5 split, 3% flipped labels
        return datasets.make_classification(
            n_samples=1500, n_features=20, n_informative=8, n_redundant=4, n_classes=4,
            n_clusters_per_class=2, weights=[0.6, 0.25, 0.1, 0.05], flip_y=0.03, class_sep=1.0,
            random_state=0,
        )
    if name == "synth_noisy":  # binary, 75/25, 10% flipped labels
        return datasets.make_classification(
            n_samples=1500, n_features=20, n_informative=6, n_redundant=4, n_classes=2,
            weights=[0.75, 0.25], flip_y=0.10, class_sep=1.2, random_state=1,
        )
    raise KeyError(name)


def make_model(name: str, seed: int):
    """Base models; tree models small (n_jobs=1) so the grid runs on a laptop."""
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


REQUIRED = ("supervised", "sklearn_st", "default")


def methods(candidates: bool) -> list[str]:
    out = ["supervised", "sklearn_st", *STRATEGIES, "default"]
    if candidates:
        out += list(CANDIDATES)
    return out


#: guarded configurations the default was chosen from (``--candidates``)
CANDIDATES = {
    "g_threshold": dict(strategy="threshold"),
    "g_threshold_cal": dict(strategy="threshold", calibration="temperature"),
    "g_class_balanced": dict(strategy="class_balanced"),
    "g_curriculum": dict(strategy="curriculum"),
    "g_curriculum_p2": dict(strategy="curriculum", patience=2),
    "g_freematch": dict(strategy="freematch"),
    "g_softmatch": dict(strategy="softmatch"),
    "g_flexmatch_cal": dict(strategy="flexmatch", calibration="temperature"),
}


def default_fingerprint() -> str:
    """Cache tag of the PseudoLabeler defaults, so a changed default is re-measured."""
    import hashlib

    from pseudolabel import PseudoLabeler

    params = {k: v for k, v in PseudoLabeler().get_params(deep=False).items()
              if k not in ("estimator", "random_state", "verbose")}
    return hashlib.sha1(repr(sorted(params.items())).encode()).hexdigest()[:10]


def run_method(method: str, model: str, seed: int, X_tr, y_tr, labeled, X_te, y_te) -> float:
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
    elif method in STRATEGIES:
        est = PseudoLabeler(clone(base), strategy=method, guardrail="none",
                            random_state=seed).fit(X_tr, y_part)
    elif method in CANDIDATES:
        est = PseudoLabeler(clone(base), random_state=seed, **CANDIDATES[method]).fit(
            X_tr, y_part
        )
    else:
        raise KeyError(method)
    return float(np.mean(est.predict(X_te) == y_te))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds (development)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--fractions", default=",".join(map(str, FRACTIONS)))
    parser.add_argument("--methods", default=None, help="comma list (default: all)")
    parser.add_argument("--candidates", action="store_true",
                        help="also run the guarded configurations the default was chosen from")
    parser.add_argument("--fresh", action="store_true", help="ignore cached results")
    parser.add_argument("--table-only", action="store_true",
                        help="print the table from cached results, run nothing")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    n_seeds = args.seeds or (2 if args.quick else 5)
    datasets = args.datasets.split(",")
    models = args.models.split(",")
    fractions = [float(f) for f in args.fractions.split(",")]
    meths = args.methods.split(",") if args.methods else methods(args.candidates)
    for required in ("supervised", "sklearn_st", "default"):
        if required not in meths:
            meths.insert(0, required)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    cache_path = OUT_DIR / "quality_cells.jsonl"
    cache: dict[tuple, float] = {}
    if cache_path.exists() and not args.fresh:
        for line in cache_path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted run
            cache[(rec["dataset"], rec["fraction"], rec["model"], rec["seed"],
                   rec["method"])] = rec["accuracy"]
    if args.fresh and cache_path.exists():
        cache_path.unlink()

    # results of "default" are cached under the fingerprint of the defaults they measured
    tag = {"default": f"default@{default_fingerprint()}"}
    t_start = time.perf_counter()
    with open(cache_path, "a") as cache_file:
        for dataset in datasets:
            X, y = load(dataset)
            for frac in fractions:
                for model in models:
                    for seed in range(n_seeds):
                        X_tr, X_te, y_tr, y_te, labeled = split(X, y, frac, seed)
                        for method in meths:
                            key = (dataset, frac, model, seed, tag.get(method, method))
                            if key in cache or args.table_only:
                                continue
                            t0 = time.perf_counter()
                            acc = run_method(method, model, seed, X_tr, y_tr, labeled, X_te, y_te)
                            cache[key] = acc
                            cache_file.write(json.dumps({
                                "dataset": dataset, "fraction": frac, "model": model,
                                "seed": seed, "method": tag.get(method, method),
                                "accuracy": acc,
                                "seconds": round(time.perf_counter() - t0, 3),
                            }) + "\n")
                            cache_file.flush()
                    print(f"  done {dataset} {frac:.0%} {model} "
                          f"({time.perf_counter() - t_start:.0f}s)", file=sys.stderr, flush=True)

    cache = {k[:4] + (next((m for m, t in tag.items() if t == k[4]), k[4]),): v
             for k, v in cache.items() if k[4] != "default"}
    table, _ = render(cache, datasets, fractions, models, range(n_seeds), meths)
    print(table)
    (OUT_DIR / "quality.md").write_text(table + "\n")
    # PASS/FAIL lines report the targets; the exit code only says whether the bench ran
    return 0


def render(cache, datasets, fractions, models, seeds, meths) -> tuple[str, bool]:
    seeds = list(seeds)
    cells = []
    for d in datasets:
        for f in fractions:
            for m in models:
                row = {}
                for meth in meths:
                    vals = [cache.get((d, f, m, s, meth)) for s in seeds]
                    # a method missing a seed shows as "-" (a partial run)
                    row[meth] = (float("nan") if any(v is None for v in vals)
                                 else 100.0 * float(np.mean(vals)))
                if not any(np.isnan(row[k]) for k in REQUIRED):
                    cells.append(((d, f, m), row))
    lines = [
        f"# Quality benchmark: mean test accuracy (%) over {len(seeds)} seeds",
        "",
        "| data | labels | model | " + " | ".join(meths) + " |",
        "|---|---|---|" + "---:|" * len(meths),
    ]
    for (d, f, m), row in cells:
        lines.append(f"| {d} | {f:.0%} | {m} | "
                     + " | ".join("-" if np.isnan(row[k]) else f"{row[k]:.1f}" for k in meths)
                     + " |")
    if not cells:
        return "\n".join(lines + ["", "no complete cell yet"]), False
    def over_cells(fn):
        out = {}
        for k in meths:
            vals = [fn(row, k) for _, row in cells if not np.isnan(row[k])]
            out[k] = vals
        return out

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    mean = {k: (float(np.mean(v)) if v else None)
            for k, v in over_cells(lambda r, k: r[k]).items()}
    gain = {k: (float(np.mean(v)) if v else None)
            for k, v in over_cells(lambda r, k: r[k] - r["supervised"]).items()}
    worst = {k: (float(min(v)) if v else None)
             for k, v in over_cells(lambda r, k: r[k] - r["supervised"]).items()}
    count = {k: len(v) for k, v in over_cells(lambda r, k: r[k]).items()}
    lines.append("| **mean** | | | " + " | ".join(f"**{fmt(mean[k], '.1f')}**" for k in meths)
                 + " |")
    lines.append("| gain vs supervised | | | "
                 + " | ".join(fmt(gain[k], "+.1f") for k in meths) + " |")
    lines.append("| worst cell vs supervised | | | "
                 + " | ".join(fmt(worst[k], "+.1f") for k in meths) + " |")
    lines.append("| cells measured | | | " + " | ".join(str(count[k]) for k in meths) + " |")
    n_total = len(datasets) * len(fractions) * len(models)
    d_worst_cell = min(cells, key=lambda c: c[1]["default"] - c[1]["supervised"])
    t1 = worst["default"] >= -1.0
    t2 = gain["default"] >= 2.0
    vs_sk = gain["default"] - gain["sklearn_st"]
    t3 = vs_sk >= 3.0
    lines += [
        "",
        f"{len(cells)} of {n_total} cells complete.",
        "",
        "Targets for the PseudoLabeler default:",
        f"- [{'PASS' if t1 else 'FAIL'}] no cell more than 1 point below supervised-only: "
        f"worst {worst['default']:+.2f} ({' / '.join(map(str, d_worst_cell[0]))})",
        f"- [{'PASS' if t2 else 'FAIL'}] mean gain over supervised-only >= +2 points: "
        f"{gain['default']:+.2f}",
        f"- [{'PASS' if t3 else 'FAIL'}] mean >= 3 points above scikit-learn's "
        f"SelfTrainingClassifier(threshold=0.75): {vs_sk:+.2f}",
    ]
    return "\n".join(lines), (t1 and t2 and t3 and len(cells) == n_total)


if __name__ == "__main__":
    sys.exit(main())

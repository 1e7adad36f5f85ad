"""Speed benchmark: PseudoLabeler vs scikit-learn's SelfTrainingClassifier on 250k rows.

Setup (issue 4, section 6): ``make_classification`` with 250,000 training rows, 20 features,
5 classes, 2% of the labels kept; LightGBM with 100 trees for both; a separate test set of
50,000 rows. The reference is ``SelfTrainingClassifier(LGBMClassifier(n_estimators=100),
threshold=0.9, max_iter=5)``, timed in the same run. Target: a ``PseudoLabeler`` at least as
accurate in at most half the wall time.

Prints one line per configuration: wall time, ratio to scikit-learn's, test accuracy, and the
speed ideas it uses (continued boosting, per-class caps, predicting undecided rows only).

    python benches/bench_engine_speed.py                 # the issue's setup
    python benches/bench_engine_speed.py --rows 50000    # smaller, for development
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np


def configs(threads: int) -> dict[str, dict]:
    """PseudoLabeler configurations measured against scikit-learn's."""
    return {
        # the recommended configuration with just the estimator
        "PseudoLabeler default": {},
        # same, 5 rounds like the reference
        "default, max_iter=5": {"max_iter": 5},
        # refit from scratch every round instead of continued boosting
        "default, max_iter=5, refit each round": {"max_iter": 5, "continue_training": False},
        # threshold strategy like the reference, with the engine's speed options
        "threshold 0.9, continued boosting, undecided only": {
            "strategy": "threshold", "strategy_params": {"threshold": 0.9}, "max_iter": 5,
        },
        "threshold 0.9, + cap 5000/class/round": {
            "strategy": "threshold", "strategy_params": {"threshold": 0.9}, "max_iter": 5,
            "max_pseudo_per_class": 5000,
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000, help="training rows")
    parser.add_argument("--quick", action="store_true", help="50,000 rows (development)")
    parser.add_argument("--test-rows", type=int, default=50_000)
    parser.add_argument("--label-fraction", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 2)),
                        help="LightGBM threads (same for both)")
    parser.add_argument("--only", default=None,
                        help="semicolon-separated configuration names (names hold commas)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.quick:
        args.rows, args.test_rows = 50_000, 20_000

    from lightgbm import LGBMClassifier
    from sklearn.datasets import make_classification
    from sklearn.semi_supervised import SelfTrainingClassifier

    from pseudolabel import PseudoLabeler

    X, y = make_classification(
        n_samples=args.rows + args.test_rows, n_features=20, n_informative=10, n_redundant=5,
        n_classes=5, n_clusters_per_class=2, random_state=args.seed,
    )
    X_tr, X_te = X[: args.rows], X[args.rows:]
    y_tr, y_te = y[: args.rows], y[args.rows:]
    rng = np.random.default_rng(args.seed)
    labeled = rng.random(args.rows) < args.label_fraction
    y_part = np.where(labeled, y_tr, -1)

    def lgbm():
        return LGBMClassifier(n_estimators=100, n_jobs=args.threads, verbose=-1,
                              random_state=args.seed)

    print(f"# engine speed: {args.rows:,} rows x 20 features, 5 classes, "
          f"{labeled.sum():,} labeled ({args.label_fraction:.0%}), LightGBM 100 trees, "
          f"{args.threads} threads, test {args.test_rows:,} rows")

    # one supervised fit, the unit of the cost target: best of 3 (a single timing on a shared
    # machine can be many times the fit's real cost)
    t_sup = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sup = lgbm().fit(X_tr[labeled], y_tr[labeled])
        t_sup = min(t_sup, time.perf_counter() - t0)
    acc_sup = float(np.mean(sup.predict(X_te) == y_te))

    t0 = time.perf_counter()
    ref = SelfTrainingClassifier(lgbm(), threshold=0.9, max_iter=5).fit(X_tr, y_part)
    t_ref = time.perf_counter() - t0
    acc_ref = float(np.mean(ref.predict(X_te) == y_te))

    print()
    print("| method | wall s | ratio to sklearn | test accuracy | vs sklearn | rounds | pseudo-labels |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| supervised only (labels) | {t_sup:.2f} | {t_sup / t_ref:.2f} | {acc_sup:.4f} "
          f"| {acc_sup - acc_ref:+.4f} | - | - |")
    n_ref = int((ref.labeled_iter_ > 0).sum())
    print(f"| sklearn SelfTrainingClassifier(threshold=0.9, max_iter=5) | {t_ref:.1f} | 1.00 "
          f"| {acc_ref:.4f} | +0.0000 | {ref.n_iter_} | {n_ref:,} |", flush=True)

    results = {}
    results_meta: dict[str, bool] = {}
    wanted = [w.strip() for w in args.only.split(";")] if args.only else None
    for name, params in configs(args.threads).items():
        if wanted and name not in wanted:
            continue
        t0 = time.perf_counter()
        model = PseudoLabeler(lgbm(), random_state=args.seed, **params).fit(X_tr, y_part)
        t = time.perf_counter() - t0
        acc = float(np.mean(model.predict(X_te) == y_te))
        n_pseudo = int((model.labeled_iter_ > 0).sum())
        results[name] = (t / t_ref, acc)
        results_meta[name] = not any(r["accepted"] for r in model.history_)
        print(f"| {name} | {t:.1f} | {t / t_ref:.2f} | {acc:.4f} | {acc - acc_ref:+.4f} "
              f"| {model.n_iter_} ({model.termination_condition_}) | {n_pseudo:,} |", flush=True)

    print()
    if "PseudoLabeler default" in results:
        ratio, acc = results["PseudoLabeler default"]
        ok = ratio <= 0.5 and acc >= acc_ref
        print(f"[{'PASS' if ok else 'FAIL'}] PseudoLabeler default: accuracy {acc:.4f} vs "
              f"{acc_ref:.4f}, time ratio {ratio:.2f} (target: accuracy >= sklearn's, ratio "
              "<= 0.50)")
        # issue 11, part 5: the default's cost against the reference and one supervised fit
        t_default = ratio * t_ref
        print(f"[{'PASS' if ratio <= 0.3 else 'FAIL'}] PseudoLabeler default costs "
              f"{ratio:.2f}x SelfTrainingClassifier(threshold=0.9, max_iter=5) (target <= 0.30)")
        rejected_all = results_meta["PseudoLabeler default"]
        print(f"[{'PASS' if t_default <= 10 * t_sup else 'FAIL'}] PseudoLabeler default costs "
              f"{t_default / t_sup:.1f}x one supervised fit (target <= 10x when every round is "
              f"rejected; here {'every round was rejected' if rejected_all else 'a round was kept'})")
    passing = [n for n, (r, a) in results.items() if r <= 0.5 and a >= acc_ref]
    print(f"configurations meeting the target: {', '.join(passing) if passing else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``pseudolabel demo``: pseudo-label scikit-learn's digits with 10% of the labels.

Fits a logistic regression on the labeled tenth, pseudo-labels the rest with the Rust
kernels, refits on labels + pseudo-labels, and prints accuracy before and after together
with kernel timings. Runs offline on data that ships with scikit-learn.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the built-in demo on scikit-learn's digits")
    p.add_argument("--label-fraction", type=float, default=0.10)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pseudolabel import kernels

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=args.seed
    )
    X_lab, X_unl, y_lab, y_unl = train_test_split(
        X_train, y_train, train_size=args.label_fraction, stratify=y_train, random_state=args.seed
    )

    def model():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))

    base = model().fit(X_lab, y_lab)
    acc_before = base.score(X_test, y_test)
    P = base.predict_proba(X_unl)

    t0 = time.perf_counter()
    summary = kernels.summarize(P, entropy=True)
    t_summary = time.perf_counter() - t0
    t0 = time.perf_counter()
    chosen = kernels.select(P, threshold=args.threshold)
    t_select = time.perf_counter() - t0

    pseudo_y = base.classes_[chosen.labels]
    refit = model().fit(
        np.concatenate([X_lab, X_unl[chosen.indices]]), np.concatenate([y_lab, pseudo_y])
    )
    acc_after = refit.score(X_test, y_test)
    precision = float(np.mean(pseudo_y == y_unl[chosen.indices])) if len(pseudo_y) else float("nan")

    print("pseudolabel demo: digits, "
          f"{len(y_lab)} labeled / {len(y_unl)} unlabeled / {len(y_test)} test rows")
    print(f"  mean confidence of the pool     {summary.confidence.mean():.3f}")
    print(f"  mean entropy of the pool        {summary.entropy.mean():.3f}")
    print(f"  pseudo-labels kept (> {args.threshold})     {len(chosen.indices)} "
          f"(precision {precision:.3f})")
    print(f"  accuracy, labels only           {acc_before:.3f}")
    print(f"  accuracy, labels + pseudo       {acc_after:.3f}")
    print(f"  kernel time: summarize {t_summary * 1e3:.2f} ms, select {t_select * 1e3:.2f} ms "
          f"({kernels.get_num_threads()} threads)")
    return 0

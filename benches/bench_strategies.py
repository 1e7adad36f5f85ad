"""Selection strategies: time per round against a vectorised numpy version of the same rule.

Each strategy's ``select`` (thresholds from its formula, selection through the Rust kernels)
is timed on one pool of class probabilities and compared with a plain numpy implementation of
the same formula measured in the same run (argmax/max, mask, sort best first with ties to the
lower row). Both must pick the same rows with the same labels; the table prints the speed-up
(numpy time / strategy time). There is no target: the figures show what a round of
selection costs next to the model's own predict_proba.

    python benches/bench_strategies.py            # 1,000,000 x 10 pool
    python benches/bench_strategies.py --quick    # 100,000 x 10
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from pseudolabel import kernels
from pseudolabel.strategies.alignment import Aligned
from pseudolabel.strategies.selection import (
    CEALStrategy,
    ClassBalancedStrategy,
    CurriculumStrategy,
    FlexMatchStrategy,
    FreeMatchStrategy,
    KBestStrategy,
    SoftMatchStrategy,
    ThresholdStrategy,
)


def best_first(score: np.ndarray, rows: np.ndarray, largest: bool = True) -> np.ndarray:
    key = -score[rows] if largest else score[rows]
    return rows[np.lexsort((rows, key))]


# numpy versions of each rule ------------------------------------------------------------------


def np_threshold(P, tau=0.75):
    conf, lab = P.max(axis=1), P.argmax(axis=1)
    return best_first(conf, np.flatnonzero(conf > tau)), lab


def np_k_best(P, k=1000):
    conf, lab = P.max(axis=1), P.argmax(axis=1)
    part = np.argpartition(-conf, min(k, len(conf) - 1))[: k + 1]
    # widen to every row tied with the k-th so ties go to the lower row index
    cut = np.sort(conf[part])[::-1][min(k, len(part)) - 1]
    return best_first(conf, np.flatnonzero(conf >= cut))[:k], lab


def np_class_balanced(P, p=0.2):
    conf, lab = P.max(axis=1), P.argmax(axis=1)
    chosen = []
    for c in range(P.shape[1]):  # one pass per class, not per row
        rows = np.flatnonzero(lab == c)
        chosen.append(best_first(conf, rows)[: int(np.floor(p * len(rows) + 1e-9))])
    return best_first(conf, np.sort(np.concatenate(chosen))), lab


def np_curriculum(P, percentile=80.0):
    conf, lab = P.max(axis=1), P.argmax(axis=1)
    tau = np.quantile(conf, percentile / 100.0)
    return best_first(conf, np.flatnonzero(conf >= tau)), lab


def np_flexmatch(P, tau=0.95):
    conf, lab = P.max(axis=1), P.argmax(axis=1)
    sigma = np.bincount(lab[conf > tau], minlength=P.shape[1]).astype(float)
    denom = max(sigma.max(), len(P) - sigma.sum())
    beta = sigma / denom if denom > 0 else np.zeros_like(sigma)
    T = tau * beta / (2 - beta)
    return best_first(conf, np.flatnonzero(conf > T[lab])), lab


def np_freematch(P, momentum=0.1):
    conf, lab = P.max(axis=1), P.argmax(axis=1)
    c = P.shape[1]
    tau = momentum / c + (1 - momentum) * conf.mean()
    p = momentum / c + (1 - momentum) * P.mean(axis=0)
    T = p / p.max() * tau
    return best_first(conf, np.flatnonzero(conf > T[lab])), lab


def np_softmatch(P, momentum=0.1, n_sigma=2.0, w_min=0.01):
    conf, lab = P.max(axis=1), P.argmax(axis=1)
    mu = momentum / P.shape[1] + (1 - momentum) * conf.mean()
    var = momentum + (1 - momentum) * conf.var(ddof=1)
    w = np.exp(-(np.minimum(conf - mu, 0.0) ** 2) / (2 * var / n_sigma**2))
    return best_first(conf, np.flatnonzero(w >= w_min)), lab


def np_ceal(P, delta=0.1):
    lab = P.argmax(axis=1)
    H = -(P * np.log(np.where(P > 0, P, 1.0))).sum(axis=1)
    return best_first(H, np.flatnonzero(H < delta), largest=False), lab


def np_aligned(P, tau=0.75):
    prior = np.full(P.shape[1], 1.0 / P.shape[1])
    Q = P * (prior / P.mean(axis=0))
    Q /= Q.sum(axis=1, keepdims=True)
    return np_threshold(Q, tau)


CASES = [
    ("threshold", ThresholdStrategy(0.75), np_threshold),
    ("k_best", KBestStrategy(k=1000), np_k_best),
    ("class_balanced", ClassBalancedStrategy(), np_class_balanced),
    ("curriculum", CurriculumStrategy(), np_curriculum),
    ("flexmatch", FlexMatchStrategy(), np_flexmatch),
    ("freematch", FreeMatchStrategy(), np_freematch),
    ("softmatch", SoftMatchStrategy(), np_softmatch),
    ("ceal", CEALStrategy(), np_ceal),
    ("aligned", Aligned(ThresholdStrategy(0.75), target="uniform"), np_aligned),
]


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows instead of 1M")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.rows or (100_000 if args.quick else 1_000_000)
    rng = np.random.default_rng(0)
    # peaked, imbalanced predictions, like a fitted model's
    alpha = np.linspace(0.05, 0.5, args.classes)
    P = rng.dirichlet(alpha, size=n)
    print(f"pool: {n:,} rows x {args.classes} classes, float64; kernels on "
          f"{kernels.get_num_threads()} thread(s); best of {args.repeat}")
    print(f"{'strategy':<16}{'selected':>10}{'strategy ms':>14}{'numpy ms':>11}{'speed-up':>10}"
          f"  same rows")
    ok = True
    for name, proto, reference in CASES:
        def run(proto=proto):
            s = proto.clone()
            s.start(n_classes=args.classes, n_labeled=100, n_unlabeled=n)
            return s.select(P, round=1)

        t_ours, decision = best_of(run, args.repeat)
        t_np, (rows, labels) = best_of(lambda reference=reference: reference(P), args.repeat)
        same = np.array_equal(decision.indices, rows) and np.array_equal(
            decision.labels, labels[rows] if name != "aligned" else decision.labels
        )
        ok &= same
        print(f"{name:<16}{decision.n_selected:>10,}{t_ours * 1e3:>14.1f}{t_np * 1e3:>11.1f}"
              f"{t_np / t_ours:>9.1f}x  {'yes' if same else 'NO'}")
    print("PASS: every strategy selects what its numpy formula selects" if ok else
          "FAIL: a strategy disagrees with its numpy formula")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

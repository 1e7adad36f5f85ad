"""Kernel benchmark: pseudolabel.kernels against the numpy code a user would write.

Every figure is a ratio against a reference timed in the same run (this machine is shared
and noisy): numpy time / kernel time ("speedup"), and kernel time / ``P.sum()`` time
("x floor": reading the array once is the memory-bandwidth floor). Memory is measured in a
child process as peak RSS growth beyond P and the outputs, relative to P's size.

    python benches/bench_kernels.py            # the three shapes of the issue (400 MB each)
    python benches/bench_kernels.py --quick    # 10x smaller, for development
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pseudolabel import kernels

SHAPES = [(10_000_000, 10), (1_000_000, 100), (100_000, 1000)]
THRESHOLD = 0.9
TARGETS = {  # kernel -> (minimum speedup over numpy, maximum x floor)
    "summarize": (20.0, 2.0),
    "select threshold": (20.0, None),
    "top-k 1%": (10.0, None),
    "entropy": (5.0, None),
}


def make_probabilities(n: int, c: int, seed: int = 0) -> np.ndarray:
    """Softmax of scaled Gaussian logits: a realistic mix of confident and unsure rows."""
    rng = np.random.default_rng(seed)
    P = np.empty((n, c), dtype=np.float32)
    step = 1_000_000 // max(1, c // 10)
    for a in range(0, n, step):
        z = rng.standard_normal((min(step, n - a), c), dtype=np.float32)
        z *= np.float32(3.0 + 3.0 * np.log10(c))
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        P[a:a + len(z)] = z
    return P


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# --- the numpy a user writes ----------------------------------------------------------------

def np_summarize(P):
    label = P.argmax(axis=1)
    conf = P.max(axis=1)
    top2 = np.partition(P, P.shape[1] - 2, axis=1)[:, -2:] if P.shape[1] > 1 else None
    margin = top2[:, 1] - top2[:, 0] if top2 is not None else conf
    counts = np.bincount(label, minlength=P.shape[1])
    mean = P.mean(axis=0)
    return label, conf, margin, counts, mean


def np_threshold(P):
    conf = P.max(axis=1)
    label = P.argmax(axis=1)
    idx = np.flatnonzero(conf > THRESHOLD)
    return idx, label[idx]


def np_topk(P, k):
    conf = P.max(axis=1)
    idx = np.argpartition(-conf, k)[:k]
    idx = idx[np.argsort(-conf[idx], kind="stable")]
    return idx, P[idx].argmax(axis=1)


def np_entropy(P):
    return -(P * np.log(np.where(P > 0, P, 1))).sum(axis=1)


# --- memory, in a child process ---------------------------------------------------------------

MEM_CHILD = r"""
import json, sys, numpy as np
sys.path.insert(0, {bench_dir!r})
from bench_kernels import make_probabilities
from pseudolabel import kernels

def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

n, c, which = {n}, {c}, {which!r}
P = make_probabilities(n, c)
kernels.summarize(P[:131_072])  # start the thread pool (it needs a call of many row blocks)
base = rss_kb("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current RSS
if which == "summarize":
    out = kernels.summarize(P)
    out_bytes = sum(a.nbytes for a in (out.label, out.confidence, out.margin))
elif which == "entropy":
    out = kernels.summarize(P, entropy=True)
    out_bytes = sum(a.nbytes for a in (out.label, out.confidence, out.margin, out.entropy))
elif which == "select threshold":
    out = kernels.select(P, threshold={threshold})
    out_bytes = out.indices.nbytes * 3
else:
    out = kernels.select(P, k=max(1, n // 100))
    out_bytes = out.indices.nbytes * 3
peak = rss_kb("VmHWM:")
print(json.dumps(dict(extra=(peak - base) * 1024 - out_bytes, p_bytes=P.nbytes)))
"""


def extra_memory(n: int, c: int, which: str) -> float:
    code = MEM_CHILD.format(bench_dir=str(Path(__file__).parent), n=n, c=c, which=which,
                            threshold=THRESHOLD)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return max(0.0, r["extra"]) / r["p_bytes"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10x smaller arrays")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    args = ap.parse_args()
    shapes = [(n // 10, c) for n, c in SHAPES] if args.quick else SHAPES

    print(f"# Kernel benchmark ({kernels.get_num_threads()} threads, float32)")
    print()
    print("| shape | kernel | ours (ms) | numpy (ms) | speedup | target | x P.sum() | "
          "extra memory / P | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    failures = []
    for n, c in shapes:
        P = make_probabilities(n, c)
        k = max(1, n // 100)
        floor = best_of(lambda: P.sum(), 5)
        cases = {
            "summarize": (lambda: kernels.summarize(P), lambda: np_summarize(P)),
            "select threshold": (lambda: kernels.select(P, threshold=THRESHOLD),
                                 lambda: np_threshold(P)),
            "top-k 1%": (lambda: kernels.select(P, k=k), lambda: np_topk(P, k)),
            "entropy": (lambda: kernels.summarize(P, entropy=True), lambda: np_entropy(P)),
        }
        for name, (ours_fn, numpy_fn) in cases.items():
            ours = best_of(ours_fn, 7)
            ref = best_of(numpy_fn, 2)
            speedup = ref / ours
            min_speedup, max_floor = TARGETS[name]
            mem = None if args.no_memory else extra_memory(n, c, name)
            ok = speedup >= min_speedup
            if max_floor is not None:
                ok = ok and ours / floor <= max_floor
            if mem is not None:
                ok = ok and mem < 0.10
            target = f">= {min_speedup:g}x" + (f", <= {max_floor:g}x sum" if max_floor else "")
            mem_s = "-" if mem is None else f"{mem:.1%}"
            print(f"| {n:,} x {c} | {name} | {ours * 1e3:.1f} | {ref * 1e3:.0f} | "
                  f"{speedup:.1f}x | {target} | {ours / floor:.2f} | {mem_s} | "
                  f"{'PASS' if ok else 'FAIL'} |", flush=True)
            if not ok:
                failures.append(f"{n:,} x {c} {name}")
        sel = kernels.select(P, threshold=THRESHOLD)
        print(f"|  | (threshold {THRESHOLD} keeps {len(sel) / n:.1%} of rows; "
              f"P.sum() = {floor * 1e3:.1f} ms) | | | | | | | |")
        del P
    print()
    print("numpy references: summarize = argmax + max + partition margin + bincount + mean; "
          "threshold = max + argmax + flatnonzero (unsorted; ours also sorts best-first); "
          "top-k = argpartition + argsort; entropy = -(P * log P).sum(1).")
    print(f"targets not met: {', '.join(failures) if failures else 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

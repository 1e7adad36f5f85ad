"""kNN graph benchmark for label spreading: scikit-learn's NearestNeighbors vs blocked brute force.

The ``label_spreading`` source needs the k nearest neighbours of every labeled + pool row.
Two ways keep memory bounded for 100k+ rows: scikit-learn's ``NearestNeighbors`` (a k-d
tree, a ball tree, or brute force chunked by ``working_memory``), or a blocked brute-force
search (one ``block x N`` distance matrix at a time through BLAS, top-k by ``argpartition``),
the algorithm a Rust brute-force kernel would implement. Figures are ratios against the
blocked brute force timed in the same run; peak memory is the tracemalloc peak of numpy
buffers (scikit-learn's trees allocate little).

    python benches/bench_knn.py            # 100k x 20, k = 10
    python benches/bench_knn.py --quick    # 20k x 20
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from sklearn.neighbors import NearestNeighbors


def blocked_brute_force(X: np.ndarray, k: int, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other rows of every row, by blocks of ``block`` query rows."""
    n = X.shape[0]
    sq = np.einsum("ij,ij->i", X, X)
    distance = np.empty((n, k))
    neighbour = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        d2 = sq[start:stop, None] - 2.0 * (X[start:stop] @ X.T) + sq[None, :]
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf  # leave the row out
        part = np.argpartition(d2, k, axis=1)[:, :k]
        rows = np.arange(stop - start)[:, None]
        order = np.argsort(d2[rows, part], axis=1, kind="stable")
        neighbour[start:stop] = part[rows, order]
        distance[start:stop] = np.sqrt(np.maximum(d2[rows, neighbour[start:stop]], 0.0))
    return distance, neighbour


def timed(f):
    tracemalloc.start()
    t = time.perf_counter()
    out = f()
    seconds = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    n, d, k = (20_000 if args.quick else 100_000), 20, args.k
    rng = np.random.default_rng(0)
    # clustered data, standardized, as label spreading sees it
    centres = rng.standard_normal((10, d)) * 3
    X = centres[rng.integers(0, 10, n)] + rng.standard_normal((n, d))
    X = (X - X.mean(axis=0)) / X.std(axis=0)

    (ref_d, ref_i), ref_s, ref_peak = timed(lambda: blocked_brute_force(X, k))
    print(f"kNN graph, {n} x {d}, k = {k}; ratios against blocked brute force ({ref_s:.2f} s, "
          f"peak {ref_peak / 2**20:.0f} MiB) in this run")
    print(f"{'method':28s} {'time ratio':>10s} {'peak MiB':>9s} {'same neighbours':>16s}")
    print(f"{'blocked brute force (numpy)':28s} {1.0:10.2f} {ref_peak / 2**20:9.0f} {'1.0000':>16s}")
    for algorithm in ("kd_tree", "ball_tree", "brute", "auto"):
        (dist, idx), s, peak = timed(
            lambda: NearestNeighbors(n_neighbors=k, algorithm=algorithm).fit(X).kneighbors()
        )
        same = np.mean(np.sort(idx, axis=1) == np.sort(ref_i, axis=1))
        print(f"{'sklearn ' + algorithm:28s} {s / ref_s:10.2f} {peak / 2**20:9.0f} {same:16.4f}")


if __name__ == "__main__":
    main()

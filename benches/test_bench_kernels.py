"""pytest-benchmark suite: each kernel next to the numpy a user would write, per shape.

Run with ``make bench`` (or ``pytest benches/test_bench_kernels.py --benchmark-only``).
Compare rows of the same group: the absolute times depend on the machine and its load;
``bench_kernels.py`` prints the ratio table with the targets.
"""

import numpy as np
import pytest
from bench_kernels import make_probabilities, np_entropy, np_summarize, np_threshold, np_topk

from pseudolabel import kernels

SHAPES = {"1M x 10": (1_000_000, 10), "100k x 100": (100_000, 100), "10k x 1000": (10_000, 1000)}


@pytest.fixture(scope="module", params=list(SHAPES))
def case(request):
    n, c = SHAPES[request.param]
    return request.param, make_probabilities(n, c)


IMPLS = {
    "summarize/pseudolabel": lambda P: kernels.summarize(P),
    "summarize/numpy": np_summarize,
    "threshold/pseudolabel": lambda P: kernels.select(P, threshold=0.9),
    "threshold/numpy": np_threshold,
    "topk/pseudolabel": lambda P: kernels.select(P, k=len(P) // 100),
    "topk/numpy": lambda P: np_topk(P, len(P) // 100),
    "entropy/pseudolabel": lambda P: kernels.summarize(P, entropy=True),
    "entropy/numpy": np_entropy,
    "floor/P.sum": lambda P: P.sum(),
}


@pytest.mark.parametrize("impl", list(IMPLS))
def test_kernel(benchmark, case, impl):
    name, P = case
    benchmark.group = name
    benchmark.pedantic(IMPLS[impl], args=(P,), rounds=5, iterations=1, warmup_rounds=1)

"""xgboost-c's two kernels (scalar walk, AVX-512 bit masks) against XGBoost's own predict.

Each model is compiled once per kernel with gcc; hypothesis then draws the rows (NaN
included, values on the thresholds, any count, so short final blocks of both block sizes are
covered). The bit-mask kernel runs only where this CPU has AVX-512 F/BW/DQ.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

xgboost = pytest.importorskip("xgboost")

from pseudolabel.compiled.xgboost_c import (  # noqa: E402
    MASK_MAX_DEPTH,
    Forest,
    c_source,
    cpu_kernel,
    gcc_flags,
    kernel_for,
)

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
HAS_AVX512 = cpu_kernel() == "avx512"

#: (objective of the data, XGBClassifier parameters): shallow and full-depth trees, uneven
#: trees (lossguide), stumps, a forest per round; NaN in training, so both default
#: directions occur
MODELS = {
    "binary-depth6": (2, {"n_estimators": 12, "max_depth": 6}),
    "multiclass-depth3": (4, {"n_estimators": 6, "max_depth": 3}),
    "multiclass-uneven": (3, {"n_estimators": 8, "max_depth": 6, "max_leaves": 9,
                              "grow_policy": "lossguide"}),
    "binary-stumps": (2, {"n_estimators": 5, "max_depth": 1}),
    "multiclass-forest": (3, {"n_estimators": 4, "max_depth": 4, "num_parallel_tree": 3,
                              "subsample": 0.7}),
}
N_FEATURES = 5


def _train(n_classes: int, params: dict) -> xgboost.XGBClassifier:
    rng = np.random.default_rng(n_classes)
    X = rng.standard_normal((600, N_FEATURES)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) if n_classes == 2 else \
        np.digitize(X[:, 0] + X[:, 2], np.linspace(-1, 1, n_classes - 1))
    X[rng.random(X.shape) < 0.1] = np.nan
    return xgboost.XGBClassifier(random_state=0, n_jobs=1, **params).fit(X, y)


def _compile(forest: Forest, kernel: str, directory: Path):
    source = directory / f"{kernel}.c"
    library = directory / f"{kernel}.so"
    source.write_text(c_source(forest, kernel))
    subprocess.run(["gcc", "-O3", "-std=c99", "-fPIC", "-shared", *gcc_flags(kernel), "-o",
                    str(library), str(source), "-lm"], check=True, capture_output=True)
    fn = ctypes.CDLL(str(library)).predict_f32
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]

    def predict(X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        out = np.empty((len(X), forest.n_groups), dtype=np.float32)
        fn(X.ctypes.data, 0, len(X), out.ctypes.data)
        return out

    return predict


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """name -> (model, {kernel: predict}) for every model of MODELS."""
    out = {}
    for name, (n_classes, params) in MODELS.items():
        model = _train(n_classes, params)
        forest = Forest(model.get_booster())
        directory = tmp_path_factory.mktemp(name)
        kernels = {"scalar": _compile(forest, "scalar", directory)}
        if HAS_AVX512 and forest.depth <= MASK_MAX_DEPTH:
            kernels["avx512"] = _compile(forest, "avx512", directory)
        out[name] = (model, forest, kernels)
    return out


def _rows(forest: Forest, n_rows: int, seed: int) -> np.ndarray:
    """Random rows with NaN, and values exactly on split thresholds (the >= boundary)."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n_rows, N_FEATURES)) * 1.5).astype(np.float32)
    thresholds = forest.threshold
    thresholds = thresholds[np.isfinite(thresholds)]
    on = rng.random(X.shape) < 0.2
    X[on] = rng.choice(thresholds, size=int(on.sum()))
    X[rng.random(X.shape) < 0.15] = np.nan
    return X


def _native(model: xgboost.XGBClassifier, X: np.ndarray) -> np.ndarray:
    P = model.predict_proba(X)
    return P[:, 1:] if P.shape[1] == 2 else P


@pytest.mark.parametrize("name", list(MODELS))
@settings(max_examples=25, deadline=None)
@given(n_rows=st.integers(1, 200), seed=st.integers(0, 2**32 - 1))
def test_every_kernel_equals_xgboost(compiled, name, n_rows, seed):
    model, forest, kernels = compiled[name]
    X = _rows(forest, n_rows, seed)
    native = _native(model, X)
    for kernel, predict in kernels.items():
        P = predict(X)
        assert P.shape == native.shape, kernel
        assert np.abs(P - native).max() <= 1e-6, kernel
    if "avx512" in kernels:
        # the same float32 sums in the same tree order: bit for bit
        np.testing.assert_array_equal(kernels["avx512"](X), kernels["scalar"](X))


@pytest.mark.skipif(not HAS_AVX512, reason="this CPU has no AVX-512 F/BW/DQ")
def test_the_bit_mask_kernel_runs_where_it_can(compiled):
    assert all("avx512" in k for _, _, k in compiled.values())


def test_the_kernel_follows_the_cpu_and_the_depth(compiled):
    _, forest, _ = compiled["binary-depth6"]
    assert forest.depth == 6
    assert kernel_for(forest, cpu="avx512") == "avx512"
    assert kernel_for(forest, cpu="scalar") == "scalar"
    deep = _train(2, {"n_estimators": 2, "max_depth": 8})
    deep_forest = Forest(deep.get_booster())
    assert deep_forest.depth > MASK_MAX_DEPTH
    assert kernel_for(deep_forest, cpu="avx512") == "scalar"
    with pytest.raises(ValueError, match="depth at most 6, not"):
        c_source(deep_forest, "avx512")
    with pytest.raises(ValueError, match="unknown kernel 'sse'"):
        c_source(forest, "sse")

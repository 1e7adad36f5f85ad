"""Property tests: pseudolabel.kernels against the plain numpy reference in reference.py."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from _support import reference as ref
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pseudolabel import kernels
from pseudolabel.exceptions import InputError, ParameterError, ProbabilityError, PseudolabelError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def prob_matrices(draw, min_rows=0, max_rows=120, max_cols=9):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(min_rows, max_rows))
    c = draw(st.integers(1, max_cols))
    kind = draw(st.sampled_from(["uniform", "ties", "equal_rows", "dirichlet"]))
    if kind == "uniform":
        width = 32 if dtype == np.float32 else 64
        P = draw(arrays(dtype, (n, c), elements=st.floats(0, 1, width=width)))
    elif kind == "ties":
        P = draw(arrays(dtype, (n, c), elements=st.sampled_from([0.0, 0.25, 0.5, 1.0])))
    elif kind == "equal_rows":
        P = np.full((n, c), 1.0 / c, dtype=dtype)
    else:
        seed = draw(st.integers(0, 2**32 - 1))
        P = np.random.default_rng(seed).dirichlet(np.ones(c), size=n).astype(dtype)
        P = np.clip(P, 0, 1)
    layout = draw(st.sampled_from(["C", "F", "strided", "reversed"]))
    if layout == "F":
        P = np.asfortranarray(P)
    elif layout == "strided":
        big = np.zeros((n * 2, c + 1), dtype=dtype)
        big[::2, :c] = P
        P = big[::2, :c]
    elif layout == "reversed":
        P = np.ascontiguousarray(P[::-1])[::-1]
    return P


def assert_selection(got, want):
    idx, lab, sc = want
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_array_equal(got.labels, lab)
    np.testing.assert_array_equal(got.scores, sc)
    assert got.indices.dtype == np.int64 and got.labels.dtype == np.int64
    assert got.scores.dtype == np.float64


# --- summarize -------------------------------------------------------------------------


@SETTINGS
@given(prob_matrices())
def test_summarize_matches_numpy(P):
    got = kernels.summarize(P, entropy=True)
    want = ref.summarize(P, entropy=True)
    np.testing.assert_array_equal(got.label, want["label"])
    np.testing.assert_array_equal(got.confidence, want["confidence"])
    np.testing.assert_array_equal(got.margin, want["margin"])
    assert got.confidence.dtype == P.dtype and got.margin.dtype == P.dtype
    np.testing.assert_array_equal(got.class_counts, want["class_counts"])
    tol = 1e-6 if P.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.class_mean, want["class_mean"], rtol=tol, atol=tol)
    etol = 2e-6 * P.shape[1] if P.dtype == np.float32 else 1e-13 * P.shape[1]
    np.testing.assert_allclose(got.entropy, want["entropy"], rtol=etol, atol=etol)
    assert (got.entropy >= -etol).all()


def test_summarize_without_entropy_and_known_values():
    P = np.array([[0.1, 0.7, 0.2], [0.4, 0.2, 0.4], [1.0, 0.0, 0.0]])
    s = kernels.summarize(P)
    assert s.entropy is None
    np.testing.assert_array_equal(s.label, [1, 0, 0])  # tie -> lower column
    np.testing.assert_allclose(s.margin, [0.5, 0.0, 1.0])
    s1 = kernels.summarize(np.array([[0.3], [1.0]], dtype=np.float32), entropy=True)
    np.testing.assert_array_equal(s1.margin, np.array([0.3, 1.0], dtype=np.float32))  # C == 1
    s2 = kernels.summarize(np.array([[0.0, 1.0]]), entropy=True)
    assert s2.entropy[0] == 0.0  # 0 log 0 = 0


def test_empty_input_gives_empty_results():
    for dtype in (np.float32, np.float64):
        P = np.zeros((0, 4), dtype=dtype)
        s = kernels.summarize(P, entropy=True)
        assert s.label.shape == (0,) and s.entropy.shape == (0,)
        np.testing.assert_array_equal(s.class_counts, np.zeros(4))
        assert np.isnan(s.class_mean).all()
        sel = kernels.select(P, threshold=0.5, k=3)
        assert len(sel) == 0 and sel.indices.dtype == np.int64
        assert np.isnan(kernels.quantile(P, 0.5))
        assert np.isnan(kernels.quantile(P, 0.5, per_class=True)).all()


def test_c_contiguous_input_is_not_copied_and_not_modified():
    P = np.random.default_rng(0).dirichlet(np.ones(4), size=1000)
    before = P.copy()
    P.flags.writeable = False  # a read-only array must be accepted as is
    kernels.summarize(P, entropy=True)
    kernels.select(P, threshold=0.5)
    np.testing.assert_array_equal(P, before)


# --- select ----------------------------------------------------------------------------


@st.composite
def select_cases(draw):
    P = draw(prob_matrices())
    n, c = P.shape
    score = draw(st.sampled_from(["confidence", "margin", "entropy"]))
    largest = draw(st.booleans())
    threshold = draw(
        st.one_of(
            st.none(),
            st.floats(-0.1, 1.6),
            st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),  # exact ties with "ties" matrices
            st.lists(st.floats(0, 1.2), min_size=c, max_size=c),
            st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=c, max_size=c),
        )
    )
    k = draw(st.one_of(st.none(), st.integers(0, n + 3)))
    pck = draw(
        st.one_of(
            st.none(),
            st.integers(0, 5),
            st.lists(st.integers(0, 6), min_size=c, max_size=c),
        )
    )
    exclude = draw(st.one_of(st.none(), arrays(np.bool_, (n,))))
    inclusive = draw(st.booleans())
    return P, dict(score=score, largest=largest, threshold=threshold, k=k, per_class_k=pck,
                   exclude=exclude, inclusive=inclusive)


def reference_scores(P, score):
    if score == "entropy":
        # entropy uses the kernel's own values (checked against numpy above), so that
        # rounding in the last ulp cannot reorder near-ties between reference and kernel
        return kernels.summarize(P, entropy=True).entropy
    return ref.summarize(P)[score]


@SETTINGS
@given(select_cases())
def test_select_matches_numpy(case):
    P, kw = case
    got = kernels.select(P, **kw)
    scores = reference_scores(P, kw["score"])
    assert_selection(got, ref.select(P, scores, **{k: v for k, v in kw.items() if k != "score"}))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_select_k_edge_cases(dtype):
    P = np.random.default_rng(1).dirichlet(np.ones(3), size=50).astype(dtype)
    assert len(kernels.select(P, k=0)) == 0
    full = kernels.select(P)
    assert len(full) == 50
    np.testing.assert_array_equal(kernels.select(P, k=50).indices, full.indices)
    np.testing.assert_array_equal(kernels.select(P, k=10**9).indices, full.indices)
    # best first, descending confidence, ties by row
    assert (np.diff(full.scores) <= 0).all()
    low = kernels.select(P, largest=False)
    assert (np.diff(low.scores) >= 0).all()


def test_select_threshold_is_rounded_to_the_input_dtype():
    P = np.array([[np.float32(0.9), np.float32(0.1)]], dtype=np.float32)
    # float32(0.9) < 0.9 in float64, but numpy compares a Python float in float32
    assert len(kernels.select(P, threshold=0.9, inclusive=True)) == 1
    assert len(kernels.select(P, threshold=0.9)) == 0


def test_all_equal_rows_tie_by_row_index():
    P = np.full((1000, 5), 0.2)
    for score in ("confidence", "margin", "entropy"):
        for largest in (True, False):
            sel = kernels.select(P, score=score, k=7, largest=largest)
            np.testing.assert_array_equal(sel.indices, np.arange(7))
            np.testing.assert_array_equal(sel.labels, np.zeros(7))


# --- quantile --------------------------------------------------------------------------


@SETTINGS
@given(prob_matrices(), st.floats(0, 1), st.booleans())
def test_quantile_matches_numpy(P, q, per_class):
    got = kernels.quantile(P, q, per_class=per_class)
    want = ref.quantile(P, q, per_class=per_class)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_quantile_bad_q():
    P = np.full((3, 2), 0.5)
    for q in (-0.1, 1.5, float("nan"), "0.5", True):
        with pytest.raises(ParameterError, match="q must be"):
            kernels.quantile(P, q)


# --- threads ---------------------------------------------------------------------------


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(7)
    P = rng.dirichlet(np.full(3, 0.3), size=80_000).astype(np.float32)
    P[::7] = np.round(P[::7], 1).clip(0, 1)  # ties
    before = kernels.get_num_threads()
    results = []
    try:
        for t in (1, 2, 3):
            kernels.set_num_threads(t)
            assert kernels.get_num_threads() == t
            s = kernels.summarize(P, entropy=True)
            sel = kernels.select(P, score="margin", k=5000, per_class_k=[100, 3000, 2000])
            thr = kernels.select(P, threshold=[0.5, 0.6, 0.7])
            results.append((s, sel, thr, kernels.quantile(P, 0.37, per_class=True)))
    finally:
        kernels.set_num_threads(before)
    s0, sel0, thr0, q0 = results[0]
    for s, sel, thr, q in results[1:]:
        for name in ("label", "confidence", "margin", "entropy", "class_counts", "class_mean"):
            np.testing.assert_array_equal(getattr(s, name), getattr(s0, name), err_msg=name)
        for a, b in ((sel, sel0), (thr, thr0)):
            np.testing.assert_array_equal(a.indices, b.indices)
            np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(q, q0)


def test_num_threads_from_environment():
    code = "from pseudolabel import kernels; print(kernels.get_num_threads())"
    env = dict(os.environ, PSEUDOLABEL_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    env["PSEUDOLABEL_NUM_THREADS"] = "many"
    code = ("import numpy as np; from pseudolabel import kernels; "
            "kernels.summarize(np.ones((2, 2)) / 2)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "PSEUDOLABEL_NUM_THREADS" in out.stderr


def test_set_num_threads_rejects_bad_values():
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ParameterError):
            kernels.set_num_threads(bad)


# --- TopK ------------------------------------------------------------------------------


@SETTINGS
@given(
    prob_matrices(min_rows=0, max_rows=200),
    st.data(),
)
def test_topk_chunks_and_merge_equal_one_shot_select(P, data):
    n, c = P.shape
    k = data.draw(st.one_of(st.none(), st.integers(0, n + 2)))
    pck = data.draw(st.one_of(st.none(), st.integers(0, 4), st.lists(st.integers(0, 5), min_size=c, max_size=c)))
    assume(k is not None or pck is not None)
    score = data.draw(st.sampled_from(["confidence", "margin", "entropy"]))
    largest = data.draw(st.booleans())
    threshold = data.draw(st.one_of(st.none(), st.floats(0, 1)))
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=6)))
    bounds = [0, *cuts, n]
    n_acc = data.draw(st.integers(1, 3))
    kw = dict(per_class_k=pck, score=score, largest=largest, threshold=threshold)
    accs = [kernels.TopK(k, **kw) for _ in range(n_acc)]
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        accs[i % n_acc].push(P[a:b], a)
        if i == 1:  # accumulators travel between processes mid-stream
            accs[0] = pickle.loads(pickle.dumps(accs[0]))
    total = accs[0]
    for other in accs[1:]:
        total.merge(other)
    want = kernels.select(P, k=k, **kw)
    got = total.result()
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.scores, want.scores)
    assert total.n_rows == n


def test_topk_errors():
    with pytest.raises(ParameterError, match="needs k"):
        kernels.TopK()
    acc = kernels.TopK(3)
    acc.push(np.full((4, 2), 0.5), 0)
    with pytest.raises(InputError, match="class columns"):
        acc.push(np.full((4, 3), 0.2), 4)
    with pytest.raises(ParameterError, match="different parameters"):
        acc.merge(kernels.TopK(4))
    with pytest.raises(ParameterError, match="offset"):
        acc.push(np.full((4, 2), 0.5), -1)


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "not finite"),
                                       (-np.inf, "not finite"), (-0.5, "outside"),
                                       (1.0001, "outside")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_invalid_probabilities_name_the_first_row_and_column(bad, what, dtype):
    P = np.full((10_000, 4), 0.25, dtype=dtype)
    P[9000, 0] = bad
    P[7321, 2] = bad
    P[7321, 3] = bad
    for call in (
        lambda: kernels.summarize(P),
        lambda: kernels.summarize(P, entropy=True),
        lambda: kernels.select(P, threshold=0.5),
        lambda: kernels.select(P, score="entropy", k=3),
        lambda: kernels.quantile(P, 0.5),
        lambda: kernels.TopK(5).push(P, 0),
    ):
        with pytest.raises(ProbabilityError, match=rf"row 7321, column 2: .*{what}"):
            call()
    # and in Fortran order, the first offender is still the first in row-major order
    with pytest.raises(ProbabilityError, match="row 7321, column 2"):
        kernels.summarize(np.asfortranarray(P))


@pytest.mark.parametrize(
    "P, match",
    [
        (np.zeros(5), "2-dimensional"),
        (np.zeros((2, 2, 2)), "2-dimensional"),
        (np.zeros((5, 0)), "at least one class"),
        (np.zeros((3, 2), dtype=np.int64), "float32 or float64"),
        (np.zeros((3, 2), dtype=np.float16), "float32 or float64"),
        (np.array([["a", "b"]]), "float32 or float64"),
    ],
)
def test_bad_shapes_and_dtypes(P, match):
    with pytest.raises(InputError, match=match):
        kernels.summarize(P)
    with pytest.raises(InputError, match=match):
        kernels.select(P)


def test_bad_parameters_name_the_parameter():
    P = np.full((4, 3), 1 / 3)
    cases = [
        (dict(k=-1), "k must not be negative"),
        (dict(k=1.5), "k must be"),
        (dict(per_class_k=-2), "per_class_k must not be negative"),
        (dict(per_class_k=[1, 2]), "array of 3 integers"),
        (dict(per_class_k=[1, -2, 3]), r"class 1 has -2"),
        (dict(threshold=[0.1, 0.2]), "array of 3 values"),
        (dict(threshold=float("nan")), "threshold must not be NaN"),
        (dict(threshold=[0.1, np.nan, 0.3]), "class 1 is NaN"),
        (dict(score="confidance"), "score must be one of"),
        (dict(exclude=[True, False]), "exclude must be a boolean mask of length 4"),
        (dict(exclude=[0, 1, 0, 1]), "boolean mask"),
    ]
    for kw, match in cases:
        with pytest.raises(ParameterError, match=match):
            kernels.select(P, **kw)


def test_errors_share_one_base_and_are_value_errors():
    with pytest.raises(PseudolabelError):
        kernels.summarize(np.array([[np.nan]]))
    with pytest.raises(ValueError):
        kernels.select(np.array([[0.5]]), k=-1)


def test_large_pool_spanning_many_chunks():
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(10), size=200_000).astype(np.float32)
    want = ref.summarize(P)
    got = kernels.summarize(P)
    np.testing.assert_array_equal(got.label, want["label"])
    np.testing.assert_array_equal(got.margin, want["margin"])
    sel = kernels.select(P, k=2000)
    order = np.lexsort((np.arange(len(P)), -want["confidence"].astype(np.float64)))[:2000]
    np.testing.assert_array_equal(sel.indices, order)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("inclusive", [True, False])
def test_threshold_equality_respects_inclusive(largest, inclusive):
    P = np.array([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    sel = kernels.select(P, threshold=0.5, inclusive=inclusive, largest=largest)
    conf = ref.summarize(P)["confidence"]
    assert_selection(sel, ref.select(P, conf, threshold=0.5, inclusive=inclusive, largest=largest))
    expected = {(True, True): [2, 1, 0, 3], (True, False): [2, 1],
                (False, True): [0, 3], (False, False): []}[(largest, inclusive)]
    np.testing.assert_array_equal(sel.indices, expected)


def test_backend_clips_round_off_but_not_real_violations():
    from sklearn.base import BaseEstimator, ClassifierMixin

    from pseudolabel.plugins import make_backend

    class Overshoot(ClassifierMixin, BaseEstimator):
        def __init__(self, value=1.0 + 4e-16):
            self.value = value

        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict_proba(self, X):
            P = np.zeros((len(X), 2))
            P[:, 0] = self.value
            return P

    X, y = np.zeros((4, 1)), np.array([0, 1, 0, 1])
    P = make_backend("sklearn", estimator=Overshoot()).fit(X, y).predict_proba(X)
    assert P.max() == 1.0
    kernels.summarize(P)  # accepted
    P = make_backend("sklearn", estimator=Overshoot(value=1.5)).fit(X, y).predict_proba(X)
    with pytest.raises(ProbabilityError, match="row 0, column 0"):
        kernels.summarize(P)


# --- thread counts are bounded -----------------------------------------------------------


def _run_python(code: str, env_extra: dict[str, str], timeout: float = 60):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_set_num_threads_refuses_more_than_the_maximum():
    # in a child process: before the bound, 10**6 threads never finished starting
    code = (
        "from pseudolabel import kernels\n"
        "from pseudolabel.exceptions import ParameterError\n"
        "for n in (10**6, 257 + 4 * len(__import__('os').sched_getaffinity(0)), 2**70):\n"
        "    try:\n"
        "        kernels.set_num_threads(n)\n"
        "    except ParameterError as e:\n"
        "        assert 'at most' in str(e) and str(kernels.MAX_NUM_THREADS) in str(e), e\n"
        "    else:\n"
        "        raise SystemExit(f'{n} threads accepted')\n"
        "assert kernels.MAX_NUM_THREADS >= 256, kernels.MAX_NUM_THREADS\n"
        "print(kernels.get_num_threads())\n"
    )
    out = _run_python(code, {"PSEUDOLABEL_NUM_THREADS": "2"}, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "2"  # the refused calls left the pool as it was


def test_environment_thread_count_above_the_maximum_is_refused_quickly():
    code = ("import numpy as np; from pseudolabel import kernels; "
            "kernels.summarize(np.full((10, 2), 0.5))")
    out = _run_python(code, {"PSEUDOLABEL_NUM_THREADS": "100000"}, timeout=20)
    assert out.returncode != 0
    assert "PSEUDOLABEL_NUM_THREADS must be at most" in out.stderr, out.stderr


def test_small_inputs_start_no_threads():
    # a call whose rows fit in one block runs on the calling thread: no pool is started
    code = (
        "import os, numpy as np\n"
        "from pseudolabel import kernels\n"
        "tasks = lambda: len(os.listdir('/proc/self/task'))\n"
        "before = tasks()\n"
        "P = np.full((10, 3), 1 / 3)\n"
        "kernels.summarize(P, entropy=True); kernels.select(P, k=3); kernels.select(P, threshold=0.1)\n"
        "kernels.quantile(P, 0.5); kernels.TopK(2).push(P, 0)\n"
        "print(tasks() - before)\n"
    )
    out = _run_python(code, {"PSEUDOLABEL_NUM_THREADS": "200"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


# --- coercion: byte order and parameter types --------------------------------------------


@pytest.mark.parametrize("dtype", [">f8", ">f4"])
def test_big_endian_probabilities_give_the_same_results(dtype):
    native_dtype = np.dtype(dtype).newbyteorder("=")
    native = np.random.default_rng(5).dirichlet(np.ones(4), size=3000).astype(native_dtype)
    swapped = native.astype(dtype)
    assert not swapped.dtype.isnative
    a, b = kernels.summarize(native, entropy=True), kernels.summarize(swapped, entropy=True)
    for name in ("label", "confidence", "margin", "entropy", "class_counts", "class_mean"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert b.confidence.dtype == native.dtype  # float32 stays float32
    assert_selection(kernels.select(swapped, k=100, threshold=0.4),
                     astuple(kernels.select(native, k=100, threshold=0.4)))
    assert kernels.quantile(swapped, 0.3) == kernels.quantile(native, 0.3)
    assert_selection(kernels.TopK(50).push(swapped, 0).result(),
                     astuple(kernels.TopK(50).push(native, 0).result()))


def astuple(selection):
    return selection.indices, selection.labels, selection.scores


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(threshold="0.5"), "threshold"),
        (dict(threshold=True), "threshold"),
        (dict(threshold=["0.1", "0.2", "0.3"]), "threshold"),
        (dict(k="3"), "k"),
        (dict(k=True), "k"),
        (dict(k=2**70), "k"),
        (dict(k=-(2**70)), "k"),
        (dict(per_class_k="2"), "per_class_k"),
        (dict(per_class_k=True), "per_class_k"),
        (dict(per_class_k=2**70), "per_class_k"),
        (dict(per_class_k=[2**70, 1, 1]), "per_class_k"),
        (dict(per_class_k=[True, False, True]), "per_class_k"),
        (dict(score=3), "score"),
    ],
)
def test_numeric_parameters_refuse_strings_bools_and_overflow(kw, name):
    P = np.full((4, 3), 1 / 3)
    with pytest.raises(ParameterError, match=rf"^{name} "):
        kernels.select(P, **kw)


@pytest.mark.parametrize("offset", ["0", True, 2**70, 2**40, 1.0])
def test_topk_offset_refuses_strings_bools_and_overflow(offset):
    with pytest.raises(ParameterError, match="offset"):
        kernels.TopK(2).push(np.full((4, 2), 0.5), offset)


def test_topk_checks_its_parameters_when_built():
    for kw, name in ((dict(k=-1), "k"), (dict(k=2**70), "k"), (dict(per_class_k=-2), "per_class_k"),
                     (dict(k=2, score="confidance"), "score"), (dict(k=1, threshold="x"), "threshold")):
        with pytest.raises(ParameterError, match=name):
            kernels.TopK(**kw)


def test_set_num_threads_refuses_strings_and_overflow():
    for bad in ("4", 2**70, -(2**70), 4.0):
        with pytest.raises(ParameterError, match="number of threads"):
            kernels.set_num_threads(bad)


# --- TopK sees each row once ---------------------------------------------------------------


def test_topk_refuses_a_chunk_pushed_twice_and_keeps_its_state():
    P = np.random.default_rng(2).dirichlet(np.ones(3), size=20)
    acc = kernels.TopK(5).push(P[:10], 0).push(P[10:], 10)
    before = acc.result()
    with pytest.raises(ParameterError, match=r"rows \[0, 10\) overlap rows \[0, 20\)"):
        acc.push(P[:10], 0)
    with pytest.raises(ParameterError, match=r"rows \[15, 25\) overlap"):
        acc.push(P[:10], 15)
    after = acc.result()
    np.testing.assert_array_equal(after.indices, before.indices)
    assert acc.n_rows == 20
    np.testing.assert_array_equal(acc._ranges, [[0, 20]])
    assert acc._ranges.dtype == np.int64
    acc.push(P[:0], 5)  # an empty chunk covers no rows


def test_topk_refuses_merging_itself_or_overlapping_rows():
    P = np.random.default_rng(3).dirichlet(np.ones(3), size=30)
    acc = kernels.TopK(4).push(P[:10], 0)
    with pytest.raises(ParameterError, match="overlap"):
        acc.merge(acc)
    other = kernels.TopK(4).push(P[5:15], 5)
    with pytest.raises(ParameterError, match=r"rows \[5, 15\) overlap rows \[0, 10\)"):
        acc.merge(other)
    assert acc.n_rows == 10
    # a merged accumulator carries its ranges: the merged rows cannot come in again
    third = kernels.TopK(4).push(P[20:30], 20)
    acc.merge(third)
    np.testing.assert_array_equal(acc._ranges, [[0, 10], [20, 30]])
    with pytest.raises(ParameterError, match="overlap"):
        acc.push(P[20:22], 20)
    restored = pickle.loads(pickle.dumps(acc))
    np.testing.assert_array_equal(restored._ranges, acc._ranges)
    with pytest.raises(ParameterError, match="overlap"):
        restored.merge(third)


@SETTINGS
@given(prob_matrices(min_rows=1, max_rows=150), st.data())
def test_topk_chunks_in_any_order_equal_one_shot_and_overlaps_raise(P, data):
    n, c = P.shape
    k = data.draw(st.integers(0, n + 2))
    score = data.draw(st.sampled_from(["confidence", "margin", "entropy"]))
    largest = data.draw(st.booleans())
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=6)))) if n > 1 else []
    bounds = [0, *cuts, n]
    chunks = list(zip(bounds[:-1], bounds[1:]))
    order = data.draw(st.permutations(range(len(chunks))))
    n_acc = data.draw(st.integers(1, 3))
    accs = [kernels.TopK(k, score=score, largest=largest) for _ in range(n_acc)]
    for i, chunk in enumerate(order):
        a, b = chunks[chunk]
        accs[i % n_acc].push(P[a:b], a)
    total = accs[0]
    for other in accs[1:]:
        total.merge(other)
    want = kernels.select(P, k=k, score=score, largest=largest)
    assert_selection(total.result(), astuple(want))
    np.testing.assert_array_equal(total._ranges, [[0, n]])
    # any chunk that overlaps what was seen is refused, pushed or merged
    a = data.draw(st.integers(0, n - 1))
    b = data.draw(st.integers(a + 1, n))
    with pytest.raises(ParameterError, match="overlap"):
        total.push(P[a:b], a)
    with pytest.raises(ParameterError, match="overlap"):
        total.merge(kernels.TopK(k, score=score, largest=largest).push(P[a:b], a))
    assert_selection(total.result(), astuple(want))


def test_pool_has_no_more_threads_than_row_blocks():
    # 10 classes: 6560 rows a block, so 26,241 rows are 5 blocks of work
    code = (
        "import os, numpy as np\n"
        "from pseudolabel import kernels\n"
        "tasks = lambda: len(os.listdir('/proc/self/task'))\n"
        "before = tasks()\n"
        "P = np.full((26_241, 10), 0.1)\n"
        "kernels.summarize(P); kernels.select(P, k=10); kernels.quantile(P, 0.5)\n"
        "print(tasks() - before, kernels.get_num_threads())\n"
    )
    out = _run_python(code, {"PSEUDOLABEL_NUM_THREADS": "200"})
    assert out.returncode == 0, out.stderr
    started, configured = map(int, out.stdout.split())
    assert configured == 200
    assert 1 <= started <= 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keep_all_select_on_many_row_blocks_matches_numpy(dtype):
    # many row blocks and parts: the packed-key path with several radix passes, ties
    # across parts, an empty and a full selection, and a NaN row refused as before
    rng = np.random.default_rng(11)
    P = rng.dirichlet(np.full(6, 0.4), size=150_000).astype(dtype)
    P[::5] = np.round(P[::5], 2).clip(0, 1)  # ties
    conf = ref.summarize(P)["confidence"]
    margin = ref.summarize(P)["margin"]
    ex = rng.random(len(P)) < 0.1
    before = kernels.get_num_threads()
    try:
        for t in (1, 2):
            kernels.set_num_threads(t)
            for kw in (
                dict(threshold=0.9),
                dict(threshold=0.9, inclusive=True),
                dict(threshold=0.5, largest=False),
                dict(threshold=[0.3, 0.5, 0.7, 0.9, 0.95, 0.99], exclude=ex),
                dict(threshold=None),
                dict(threshold=-1.0),
                dict(threshold=1.0),
                dict(threshold=2.0, largest=False),
                dict(threshold=0.0, largest=False),
            ):
                got = kernels.select(P, **kw)
                assert_selection(got, ref.select(P, conf, **kw))
            got = kernels.select(P, score="margin", threshold=0.4)
            assert_selection(got, ref.select(P, margin, threshold=0.4))
            assert len(kernels.select(P, threshold=1.0)) == 0
            assert len(kernels.select(P, threshold=-1.0)) == len(P)
        bad = P.copy()
        bad[123_456, 2] = np.nan
        with pytest.raises(ProbabilityError, match="123456"):
            kernels.select(bad, threshold=0.9)
    finally:
        kernels.set_num_threads(before)

"""The Sinkhorn allocation kernel and the ``sinkhorn`` strategy against plain numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudolabel import kernels
from pseudolabel.exceptions import ParameterError, ProbabilityError
from pseudolabel.plugins import make_strategy
from pseudolabel.strategies.allocation import SinkhornStrategy


def reference_sinkhorn(P, upper, lower, rho, regularization, n_iter, keep=None):
    """The paper's iterations, written out in numpy (dense, with the slack row and column)."""
    P = np.asarray(P, dtype=np.float64)
    n_rows, c = P.shape
    kept = np.arange(n_rows) if keep is None else np.flatnonzero(keep)
    n = kept.size
    cost = np.zeros((n + 1, c + 1))
    cost[:n, :c] = 1.0 - P[kept]
    K = np.exp(-cost / regularization)
    a = np.append(np.ones(n), n * rho * (np.sum(upper) - np.sum(lower)))
    b = np.append(n * rho * np.asarray(upper), n * (1.0 - rho * np.sum(lower)))

    def ratio(x, s):
        return np.divide(x, s, out=np.zeros_like(s), where=s > 0)

    u = np.ones(n + 1)
    for _ in range(n_iter):
        v = ratio(b, K.T @ u)
        u = ratio(a, K @ v)
    plan = np.zeros((n_rows, c))
    plan[kept] = (u[:, None] * K * v[None, :])[:n, :c]
    return plan, u, v


def random_proba(rng, n, c, dtype=np.float64):
    P = rng.dirichlet(np.full(c, 0.5), size=n)
    return P.astype(dtype)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 300),
    c=st.integers(1, 6),
    rho=st.floats(0.05, 1.0),
    slack=st.floats(0.01, 0.5),
    regularization=st.sampled_from([0.05, 0.1, 0.5, 1.0]),
    n_iter=st.integers(1, 60),
    use_keep=st.booleans(),
    f32=st.booleans(),
)
def test_kernel_matches_the_numpy_reference(seed, n, c, rho, slack, regularization, n_iter,
                                            use_keep, f32):
    rng = np.random.default_rng(seed)
    P = random_proba(rng, n, c, np.float32 if f32 else np.float64)
    prior = rng.dirichlet(np.ones(c))
    upper, lower = prior * (1 + slack), prior * (1 - slack)
    keep = rng.random(n) < 0.7 if use_keep else None
    got = kernels.sinkhorn(P, upper=upper, lower=lower, rho=rho,
                           regularization=regularization, n_iter=n_iter, keep=keep)
    plan, u, v = reference_sinkhorn(P, upper, lower, rho, regularization, n_iter, keep)
    assert got.plan.shape == (n, c) and got.plan.dtype == np.float64
    np.testing.assert_allclose(got.plan, plan, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.row_scale, u, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(got.col_scale, v, rtol=1e-9, atol=1e-300)


def test_kernel_is_bitwise_the_same_for_one_and_two_threads():
    rng = np.random.default_rng(3)
    P = random_proba(rng, 20_000, 7)
    keep = rng.random(P.shape[0]) < 0.8
    prior = np.full(7, 1 / 7)
    before = kernels.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 1, 2):
            kernels.set_num_threads(threads)
            results.append(kernels.sinkhorn(P, upper=prior * 1.1, lower=prior * 0.9, rho=0.6,
                                            regularization=0.05, n_iter=50, keep=keep))
    finally:
        kernels.set_num_threads(before)
    for other in results[1:]:
        assert other.plan.tobytes() == results[0].plan.tobytes()
        assert other.row_scale.tobytes() == results[0].row_scale.tobytes()
        assert other.col_scale.tobytes() == results[0].col_scale.tobytes()
    # the layout does not matter either
    fortran = kernels.sinkhorn(np.asfortranarray(P), upper=prior * 1.1, lower=prior * 0.9,
                               rho=0.6, regularization=0.05, n_iter=50, keep=keep)
    assert fortran.plan.tobytes() == results[0].plan.tobytes()


def test_converged_plan_meets_its_marginals():
    rng = np.random.default_rng(5)
    P = random_proba(rng, 2000, 3)
    prior = np.array([0.5, 0.3, 0.2])
    out = kernels.sinkhorn(P, upper=prior * 1.1, lower=prior * 0.9, rho=0.5,
                           regularization=0.1, n_iter=500)
    v, u = out.col_scale, out.row_scale
    rows = out.plan.sum(axis=1) + u[:-1] * v[-1]
    np.testing.assert_allclose(rows, 1.0, rtol=1e-9)
    cols = out.plan.sum(axis=0) + u[-1] * v[:-1]
    np.testing.assert_allclose(cols, 2000 * 0.5 * prior * 1.1, rtol=1e-6)


@pytest.mark.parametrize(
    "change, name",
    [
        (dict(upper=[0.5]), "upper"),
        (dict(lower=[0.9, 0.1], upper=[0.5, 0.5]), "lower"),
        (dict(rho=0.0), "rho"),
        (dict(rho=1.5), "rho"),
        (dict(lower=[0.6, 0.6], upper=[0.6, 0.6], rho=1.0), "rho"),
        (dict(regularization=-1.0), "regularization"),
        (dict(n_iter=0), "n_iter"),
        (dict(n_iter=2.5), "n_iter"),
        (dict(keep=np.ones(3, bool)), "keep"),
        (dict(keep=np.ones(4, int)), "keep"),
    ],
)
def test_kernel_names_the_bad_parameter(change, name):
    P = np.full((4, 2), 0.5)
    params = dict(upper=[0.55, 0.55], lower=[0.45, 0.45], rho=0.5, regularization=0.1, n_iter=5)
    params.update(change)
    with pytest.raises(ParameterError, match=name):
        kernels.sinkhorn(P, **params)


def test_kernel_refuses_invalid_probabilities_of_kept_rows_only():
    P = np.full((4, 2), 0.5)
    P[2, 1] = np.nan
    bounds = dict(upper=[0.55, 0.55], lower=[0.45, 0.45])
    with pytest.raises(ProbabilityError, match="row 2, column 1"):
        kernels.sinkhorn(P, **bounds)
    out = kernels.sinkhorn(P, keep=np.array([True, True, False, True]), **bounds)
    assert np.all(out.plan[2] == 0)


# ---------------------------------------------------------------------------------------------
# the strategy
# ---------------------------------------------------------------------------------------------


def reference_strategy(proba, prior, round, fraction=0.2, slack=0.1, exclude=None):
    """CSA's selection in numpy: entropy filter, allocation, argmax, p > 0.5, per-class quota."""
    n, c = proba.shape
    P = proba.astype(np.float64)
    candidates = np.ones(n, bool) if exclude is None else ~exclude
    safe = np.where(P > 0, P, 1.0)
    certainty = 1.0 + (P * np.log(safe)).sum(axis=1)
    keep = candidates & (certainty - 0.5 * certainty.mean() > 0)
    rho = min(1.0, fraction * round)
    ratio = keep.sum() / c
    reg = 0.5 if ratio >= 200 else 0.2 if ratio >= 100 else 0.1 if ratio >= 50 else 0.05
    if not keep.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # the allocation itself is held to its own reference above; use the kernel's plan here
    plan = np.clip(kernels.sinkhorn(P, upper=prior * (1 + slack), lower=prior * (1 - slack),
                                    rho=rho, regularization=reg, n_iter=100, keep=keep).plan,
                   0, 1)
    labels = plan.argmax(axis=1)
    value = plan[np.arange(n), labels]
    eligible = keep & (value > 0) & (P[np.arange(n), labels] > 0.5)
    quota = np.floor(rho * prior * candidates.sum() + 1e-9).astype(int)
    chosen = []
    for cls in range(c):
        rows = np.flatnonzero(eligible & (labels == cls))
        order = rows[np.lexsort((rows, -value[rows]))][: quota[cls]]
        chosen.extend(order.tolist())
    chosen = np.array(sorted(chosen, key=lambda i: (-value[i], i)), dtype=np.int64)
    return chosen, labels[chosen]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), c=st.integers(2, 5),
       round=st.integers(1, 6), use_exclude=st.booleans())
def test_strategy_matches_its_numpy_reference(seed, n, c, round, use_exclude):
    rng = np.random.default_rng(seed)
    proba = random_proba(rng, n, c)
    prior = rng.dirichlet(np.full(c, 3.0))
    exclude = rng.random(n) < 0.2 if use_exclude else None
    strategy = SinkhornStrategy()
    strategy.start(n_classes=c, n_labeled=20, n_unlabeled=n, class_prior=prior)
    decision = strategy.select(proba, round=round, exclude=exclude)
    indices, labels = reference_strategy(proba, prior, round, exclude=exclude)
    np.testing.assert_array_equal(decision.indices, indices)
    np.testing.assert_array_equal(decision.labels, labels)
    if exclude is not None:
        assert not exclude[decision.indices].any()


def test_strategy_is_registered_and_validates_its_parameters():
    assert isinstance(make_strategy("sinkhorn", kind="selection"), SinkhornStrategy)
    assert isinstance(make_strategy("csa", kind="selection"), SinkhornStrategy)
    for bad in (dict(fraction=0), dict(slack=1.0), dict(regularization="big"),
                dict(n_iter=0), dict(confidence_filter="ttest"), dict(min_probability=1.0)):
        strategy = SinkhornStrategy(**bad)
        with pytest.raises(ParameterError, match=next(iter(bad))):
            strategy.start(n_classes=2, n_labeled=4, n_unlabeled=4)


# ---------------------------------------------------------------------------------------------
# csa: the paper's ensemble and t-test
# ---------------------------------------------------------------------------------------------


def reference_ttest(members):
    """The reference code's per-row loop (with dof = M - 1 where both variances are 0)."""
    from scipy import stats

    M, n, _ = members.shape
    mean = members.mean(axis=0)
    keep = np.zeros(n, bool)
    for i in range(n):
        first, second = np.argsort(-mean[i], kind="stable")[:2]
        v1, v2 = np.var(members[:, i, first]), np.var(members[:, i, second])
        t = (mean[i, first] - mean[i, second]) / np.sqrt((0.1 + v1 + v2) / M)
        dof = (v1 + v2) ** 2 / ((v1**2 + v2**2) / (M - 1)) if v1 + v2 > 0 else M - 1
        keep[i] = t - stats.t.ppf(0.975, dof) > 0
    return keep


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(2, 8), n=st.integers(0, 40),
       c=st.integers(2, 5), spread=st.floats(0.0, 1.0))
def test_ttest_filter_matches_the_reference_loop(seed, M, n, c, spread):
    from pseudolabel.strategies.allocation import ttest_filter

    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.full(c, 0.3), size=n)
    members = np.stack([(1 - spread) * base + spread * rng.dirichlet(np.ones(c), size=n)
                        for _ in range(M)])
    if n and seed % 3 == 0:
        members[:, 0] = members[0, 0]  # a row on which every member agrees exactly
    np.testing.assert_array_equal(ttest_filter(members), reference_ttest(members))


def test_csa_on_digits_is_class_balanced_and_precise():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pseudolabel.strategies.allocation import ConfidentSinkhornStrategy
    from pseudolabel.strategies.base import RoundContext

    def member():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    L, P = order[:90], order[90:]
    proba = member().fit(X[L], y[L]).predict_proba(X[P])
    strategy = make_strategy("csa", kind="selection", n_members=5)
    assert isinstance(strategy, ConfidentSinkhornStrategy)
    prior = np.bincount(y[L], minlength=10) / 90
    strategy.start(n_classes=10, n_labeled=90, n_unlabeled=len(P), class_prior=prior,
                   random_state=0)
    decision = strategy.select(proba, round=1, context=RoundContext(X[L], y[L], X[P],
                                                                    make_member=member))
    counts = decision.counts(10)
    quota = np.floor(0.2 * prior * len(P) + 1e-9)
    assert decision.n_selected >= 100
    assert np.all(counts <= quota)
    assert np.mean(decision.labels == y[P][decision.indices]) >= 0.95
    with pytest.raises(ParameterError, match="RoundContext"):
        strategy.select(proba, round=1)

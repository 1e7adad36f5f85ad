"""Selection strategies: property tests against plain numpy references of each formula.

Every reference below is written from the strategy's documented formula with numpy only (no
kernels), so a bug in a strategy, or in the kernels it calls, makes these tests fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from pseudolabel.exceptions import InputError, ParameterError, UnknownNameError
from pseudolabel.plugins import isolated_plugin_manager, make_strategy
from pseudolabel.strategies import Decision, QueryStrategy, SelectionStrategy
from pseudolabel.strategies.alignment import Aligned, align
from pseudolabel.strategies.selection import (
    SELECTION_STRATEGIES,
    CEALStrategy,
    ClassBalancedStrategy,
    CurriculumStrategy,
    FlexMatchStrategy,
    FreeMatchStrategy,
    KBestStrategy,
    SoftMatchStrategy,
    ThresholdStrategy,
)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# a coarse grid of raw values gives many exact ties after normalisation
_GRID = [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 2.0, 7.0]


@st.composite
def probas(draw, min_rows=0, max_rows=40, max_classes=5):
    n = draw(st.integers(min_rows, max_rows))
    c = draw(st.integers(1, max_classes))
    raw = np.array(
        draw(st.lists(st.sampled_from(_GRID), min_size=n * c, max_size=n * c)), dtype=float
    ).reshape(n, c)
    raw[raw.sum(axis=1) == 0] = 1.0
    P = raw / raw.sum(axis=1, keepdims=True)
    if draw(st.booleans()):
        P = P.astype(np.float32)
    return P


@st.composite
def proba_and_exclude(draw, **kw):
    P = draw(probas(**kw))
    if draw(st.booleans()):
        exclude = np.array(
            draw(st.lists(st.booleans(), min_size=len(P), max_size=len(P))), dtype=bool
        )
    else:
        exclude = None
    return P, exclude


def started(strategy, P, **kw):
    kw.setdefault("n_labeled", 10)
    kw.setdefault("n_unlabeled", len(P))
    strategy.start(n_classes=P.shape[1], **kw)
    return strategy


# ---------------------------------------------------------------------------------------------
# numpy references


def ref_order(score, rows, largest=True):
    """rows sorted best first, ties to the lower row index."""
    key = -score[rows] if largest else score[rows]
    return rows[np.lexsort((rows, key))]


def ref_conf_label(P):
    return P.max(axis=1).astype(np.float64), P.argmax(axis=1)


def candidates(n, exclude):
    keep = np.ones(n, bool) if exclude is None else ~exclude
    return keep


def assert_decision(decision, rows, labels, weights=None):
    np.testing.assert_array_equal(decision.indices, rows)
    np.testing.assert_array_equal(decision.labels, labels)
    if weights is None:
        assert decision.weights is None
    else:
        np.testing.assert_allclose(decision.weights, weights, rtol=1e-9, atol=1e-12)


def ref_entropy(P):
    P = P.astype(np.float64)
    return -(P * np.log(np.where(P > 0, P, 1.0))).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# threshold, k_best


@SETTINGS
@given(proba_and_exclude(), st.sampled_from([0.0, 0.3, 0.5, 0.75, 0.9, 0.95]))
def test_threshold_matches_reference(data, tau):
    P, exclude = data
    decision = started(ThresholdStrategy(threshold=tau), P).select(P, round=1, exclude=exclude)
    conf, label = ref_conf_label(P)
    # strict >, compared in P's dtype like numpy does
    keep = candidates(len(P), exclude) & (P.max(axis=1) > P.dtype.type(tau))
    rows = ref_order(conf, np.flatnonzero(keep))
    assert_decision(decision, rows, label[rows])
    assert decision.thresholds == tau


@SETTINGS
@given(proba_and_exclude(), st.integers(1, 50))
def test_k_best_matches_reference(data, k):
    P, exclude = data
    decision = started(KBestStrategy(k=k), P).select(P, round=3, exclude=exclude)
    conf, label = ref_conf_label(P)
    rows = ref_order(conf, np.flatnonzero(candidates(len(P), exclude)))[:k]
    assert_decision(decision, rows, label[rows])


# ---------------------------------------------------------------------------------------------
# class_balanced


@SETTINGS
@given(
    proba_and_exclude(),
    st.sampled_from([0.1, 0.2, 0.5, 1.0]),
    st.sampled_from([0.0, 0.05, 0.3]),
    st.integers(1, 6),
)
def test_class_balanced_matches_reference(data, p0, step, round):
    P, exclude = data
    strategy = started(ClassBalancedStrategy(p0=p0, step=step, p_max=1.0), P)
    decision = strategy.select(P, round=round, exclude=exclude)
    conf, label = ref_conf_label(P)
    portion = min(p0 + (round - 1) * step, 1.0)
    keep = candidates(len(P), exclude)
    chosen = []
    for c in range(P.shape[1]):
        rows_c = np.flatnonzero(keep & (label == c))
        quota = int(np.floor(portion * len(rows_c) + 1e-9))
        chosen.extend(ref_order(conf, rows_c)[:quota])
    rows = ref_order(conf, np.array(sorted(chosen), dtype=np.int64))
    assert_decision(decision, rows, label[rows])
    if keep.any():
        assert decision.info["portion"] == pytest.approx(portion)
    # the class threshold is the confidence of the last row taken in that class
    for c in range(P.shape[1]):
        taken = rows[label[rows] == c]
        if len(taken):
            assert decision.thresholds[c] == pytest.approx(conf[taken].min())


def test_class_balanced_portion_grows_to_its_cap():
    s = ClassBalancedStrategy(p0=0.2, step=0.05, p_max=0.5)
    assert [s.portion(r) for r in (1, 2, 7, 20)] == pytest.approx([0.2, 0.25, 0.5, 0.5])
    assert s.rebuild and not s.reinitialize


# ---------------------------------------------------------------------------------------------
# curriculum


@SETTINGS
@given(proba_and_exclude(min_rows=1), st.sampled_from([10.0, 20.0, 33.0]), st.integers(1, 11))
def test_curriculum_matches_reference(data, step, round):
    P, exclude = data
    decision = started(CurriculumStrategy(step=step), P).select(P, round=round, exclude=exclude)
    conf, label = ref_conf_label(P)
    keep = candidates(len(P), exclude)
    percentile = 100.0 - step * round
    if percentile > 0:
        tau = np.quantile(P.max(axis=1).astype(np.float64), percentile / 100.0)
        assert decision.thresholds == pytest.approx(tau, rel=1e-6)
        keep &= P.max(axis=1) >= P.dtype.type(decision.thresholds)
    rows = ref_order(conf, np.flatnonzero(keep))
    assert_decision(decision, rows, label[rows])


def test_curriculum_schedule_and_flags():
    s = CurriculumStrategy()
    assert s.rebuild and s.reinitialize
    assert [s.percentile(r) for r in range(1, 7)] == [80, 60, 40, 20, 0, 0]
    assert not s.exhausted(4) and s.exhausted(5)


# ---------------------------------------------------------------------------------------------
# flexmatch


def ref_flexmatch_thresholds(P, tau, warmup):
    conf, label = ref_conf_label(P)
    sigma = np.bincount(label[P.max(axis=1) > P.dtype.type(tau)], minlength=P.shape[1])
    denom = max(sigma.max(), len(P) - sigma.sum()) if warmup else sigma.max()
    beta = sigma / denom if denom > 0 else np.zeros(P.shape[1])
    return tau * beta / (2 - beta)


@SETTINGS
@given(proba_and_exclude(), st.sampled_from([0.5, 0.8, 0.95]), st.booleans(),
       st.sampled_from([0.0, 0.3]))
def test_flexmatch_matches_reference(data, tau, warmup, floor):
    P, exclude = data
    floor = min(floor, tau)
    strategy = started(FlexMatchStrategy(threshold=tau, warmup=warmup, min_threshold=floor), P)
    decision = strategy.select(P, round=2, exclude=exclude)
    conf, label = ref_conf_label(P)
    if len(P) == 0 or (exclude is not None and exclude.all()):
        assert decision.n_selected == 0
        return
    T = np.maximum(ref_flexmatch_thresholds(P, tau, warmup), floor)
    np.testing.assert_allclose(decision.thresholds, T, rtol=1e-12)
    thr = T.astype(P.dtype)[label]
    keep = candidates(len(P), exclude) & (P.max(axis=1) > thr)
    rows = ref_order(conf, np.flatnonzero(keep))
    assert_decision(decision, rows, label[rows])


def test_flexmatch_mapping_is_convex_and_bounded():
    s = FlexMatchStrategy(threshold=0.9)
    s.start(n_classes=3, n_labeled=3, n_unlabeled=100)
    # all classes fully learned -> tau; nothing learned with warm-up -> 0
    np.testing.assert_allclose(s.class_thresholds(np.array([50, 50, 50]), 150), [0.9] * 3)
    np.testing.assert_allclose(s.class_thresholds(np.array([0, 0, 0]), 150), [0, 0, 0])
    # beta = 0.5 -> M = 1/3
    np.testing.assert_allclose(s.class_thresholds(np.array([40, 20, 0]), 60), [0.9, 0.3, 0])


# ---------------------------------------------------------------------------------------------
# freematch


@SETTINGS
@given(st.lists(probas(min_rows=1, max_classes=4), min_size=1, max_size=3),
       st.sampled_from([0.0, 0.1, 0.9]))
def test_freematch_matches_reference_over_rounds(rounds, momentum):
    c = rounds[0].shape[1]
    rounds = [P for P in rounds if P.shape[1] == c]
    strategy = FreeMatchStrategy(momentum=momentum)
    strategy.start(n_classes=c, n_labeled=5, n_unlabeled=len(rounds[0]))
    tau, p_tilde = 1.0 / c, np.full(c, 1.0 / c)
    seen_float32 = False
    for r, P in enumerate(rounds, start=1):
        decision = strategy.select(P, round=r)
        P64 = P.astype(np.float64)
        tau = momentum * tau + (1 - momentum) * P64.max(axis=1).mean()
        p_tilde = momentum * p_tilde + (1 - momentum) * P64.mean(axis=0)
        T = p_tilde / p_tilde.max() * tau
        # float32 input: the kernel's statistics carry float32 round-off, and the moving
        # averages carry it into every later round, float64 ones included
        seen_float32 = seen_float32 or P.dtype == np.float32
        rtol = 1e-6 if seen_float32 else 1e-9
        np.testing.assert_allclose(decision.thresholds, T, rtol=rtol)
        conf, label = ref_conf_label(P)
        keep = P.max(axis=1) > T.astype(P.dtype)[label]
        # rows within float round-off of their threshold may fall either way
        near = np.abs(conf - T[label]) < 1e-6
        got = np.zeros(len(P), bool)
        got[decision.indices] = True
        np.testing.assert_array_equal(got[~near], keep[~near])
        np.testing.assert_array_equal(decision.labels, label[decision.indices])


def test_freematch_rare_class_gets_a_lower_threshold():
    P = np.array([[0.9, 0.1]] * 8 + [[0.3, 0.7]] * 2)
    s = FreeMatchStrategy(momentum=0.0)
    s.start(n_classes=2, n_labeled=2, n_unlabeled=10)
    d = s.select(P, round=1)
    assert d.thresholds[1] < d.thresholds[0] == pytest.approx(P.max(axis=1).mean())


# ---------------------------------------------------------------------------------------------
# softmatch


@SETTINGS
@given(proba_and_exclude(min_rows=1), st.sampled_from([0.0, 0.1, 0.5]),
       st.sampled_from([1.0, 2.0]), st.sampled_from([0.0, 0.01, 0.3]))
def test_softmatch_weights_match_reference(data, momentum, n_sigma, min_weight):
    P, exclude = data
    s = started(SoftMatchStrategy(momentum=momentum, n_sigma=n_sigma, min_weight=min_weight), P)
    decision = s.select(P, round=1, exclude=exclude)
    conf, label = ref_conf_label(P)
    c = P.shape[1]
    mu = momentum / c + (1 - momentum) * conf.mean()
    var = momentum * 1.0 + (1 - momentum) * (conf.var(ddof=1) if len(P) > 1 else 0.0)
    assert s.mean_ == pytest.approx(mu) and s.var_ == pytest.approx(var)
    if var > 0:
        w = np.where(conf >= mu, 1.0, np.exp(-((conf - mu) ** 2) / (2 * var / n_sigma**2)))
    else:
        w = np.where(conf >= mu, 1.0, 0.0)
    keep = candidates(len(P), exclude) & (w >= min_weight)
    near = np.abs(w - min_weight) < 1e-6  # float boundary: either way is right
    got = np.zeros(len(P), bool)
    got[decision.indices] = True
    np.testing.assert_array_equal(got[~near], keep[~near])
    np.testing.assert_allclose(decision.weights, w[decision.indices], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(decision.labels, label[decision.indices])
    if len(decision.indices):
        assert decision.weights.max() <= 1.0 and decision.weights.min() >= min_weight * 0.999


def test_softmatch_confident_rows_weigh_one_and_others_less():
    P = np.array([[0.99, 0.01], [0.9, 0.1], [0.6, 0.4], [0.55, 0.45]])
    s = SoftMatchStrategy(momentum=0.0, n_sigma=1.0, min_weight=0.0)
    s.start(n_classes=2, n_labeled=2, n_unlabeled=4)
    d = s.select(P, round=1)
    w = dict(zip(d.indices.tolist(), d.weights.tolist()))
    assert w[0] == w[1] == 1.0 and 1.0 > w[2] > w[3] > 0.0


# ---------------------------------------------------------------------------------------------
# ceal


@SETTINGS
@given(proba_and_exclude(), st.sampled_from([0.05, 0.3, 0.7]), st.sampled_from([0.0, 0.1]),
       st.integers(1, 8))
def test_ceal_matches_reference(data, delta0, decay, round):
    P, exclude = data
    decision = started(CEALStrategy(delta0=delta0, decay=decay), P).select(
        P, round=round, exclude=exclude
    )
    delta = delta0 - decay * (round - 1)
    if delta <= 0:
        assert decision.n_selected == 0
        return
    H = ref_entropy(P)
    _, label = ref_conf_label(P)
    keep = candidates(len(P), exclude) & (H < delta)
    near = np.abs(H - delta) < 1e-6
    got = np.zeros(len(P), bool)
    got[decision.indices] = True
    np.testing.assert_array_equal(got[~near], keep[~near])
    # most certain first
    assert np.all(np.diff(H[decision.indices]) >= -1e-6)
    np.testing.assert_array_equal(decision.labels, label[decision.indices])
    assert decision.thresholds == pytest.approx(delta)


# ---------------------------------------------------------------------------------------------
# distribution alignment


@SETTINGS
@given(proba_and_exclude(min_rows=1, max_classes=4), st.sampled_from([0.5, 1.0]),
       st.sampled_from(["labeled", "uniform"]))
def test_aligned_matches_reference(data, strength, target):
    P, exclude = data
    c = P.shape[1]
    prior = np.arange(1, c + 1, dtype=float)
    prior /= prior.sum()
    strategy = Aligned(ThresholdStrategy(threshold=0.6), target=target, strength=strength)
    strategy.start(n_classes=c, n_labeled=5, n_unlabeled=len(P), class_prior=prior)
    decision = strategy.select(P, round=1, exclude=exclude)
    pi = prior if target == "labeled" else np.full(c, 1.0 / c)
    mean = P.astype(np.float64).mean(axis=0)
    ratio = (pi / np.maximum(mean, np.finfo(float).tiny)) ** strength
    Q = P.astype(np.float64) * ratio
    Q = Q / Q.sum(axis=1, keepdims=True)
    conf, label = ref_conf_label(Q)
    keep = candidates(len(P), exclude) & (conf > 0.6)
    near = np.abs(conf - 0.6) < 1e-9
    got = np.zeros(len(P), bool)
    got[decision.indices] = True
    np.testing.assert_array_equal(got[~near], keep[~near])
    np.testing.assert_array_equal(decision.labels, label[decision.indices])


def test_alignment_moves_labels_toward_the_target():
    # the model over-predicts class 0 (column means 0.64, 0.36); the target is balanced
    P = np.array([[0.7, 0.3]] * 5 + [[0.55, 0.45]] * 3)
    plain = ThresholdStrategy(threshold=0.5)
    plain.start(n_classes=2, n_labeled=4, n_unlabeled=8)
    aligned = Aligned(ThresholdStrategy(threshold=0.5), target="uniform")
    aligned.start(n_classes=2, n_labeled=4, n_unlabeled=8)
    assert plain.select(P, round=1).counts(2).tolist() == [8, 0]
    d = aligned.select(P, round=1)
    assert d.counts(2).tolist() == [5, 3]
    assert sorted(d.indices[d.labels == 1].tolist()) == [5, 6, 7]
    np.testing.assert_allclose(align(P, np.array([1.0, 1.0])), P)


def test_aligned_delegates_flags_and_does_not_touch_the_inner_instance():
    inner = CurriculumStrategy()
    s = Aligned(inner)
    assert s.rebuild and s.reinitialize
    s.start(n_classes=2, n_labeled=2, n_unlabeled=3)
    assert s.strategy_ is not inner and not hasattr(inner, "n_classes_")
    assert s.exhausted(5) and not s.exhausted(1)


def test_aligned_by_name_through_the_plugin_manager():
    with isolated_plugin_manager():
        s = make_strategy("aligned", kind="selection", strategy="freematch", target="uniform")
        s.start(n_classes=3, n_labeled=3, n_unlabeled=4)
        assert isinstance(s.strategy_, FreeMatchStrategy) and s.rebuild
        d = s.select(np.full((4, 3), 1 / 3), round=1)
        assert isinstance(d, Decision)


# ---------------------------------------------------------------------------------------------
# every strategy: empty pool, determinism, parameter validation, registration

ALL = [
    ThresholdStrategy(),
    KBestStrategy(k=3),
    ClassBalancedStrategy(),
    CurriculumStrategy(),
    FlexMatchStrategy(),
    FreeMatchStrategy(),
    SoftMatchStrategy(),
    CEALStrategy(delta0=0.8),
    Aligned("flexmatch"),
]
IDS = [type(s).__name__ for s in ALL]


@pytest.mark.parametrize("strategy", ALL, ids=IDS)
def test_empty_pool_and_all_excluded(strategy):
    s = clone(strategy)
    with isolated_plugin_manager():
        s.start(n_classes=3, n_labeled=3, n_unlabeled=0)
    d = s.select(np.empty((0, 3)), round=1)
    assert d.n_selected == 0 and d.indices.dtype == np.int64
    P = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    d = s.select(P, round=2, exclude=np.array([True, True]))
    assert d.n_selected == 0


@pytest.mark.parametrize("strategy", ALL, ids=IDS)
def test_deterministic_given_random_state(strategy):
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4) * 0.5, size=200)
    decisions = []
    for _ in range(2):
        s = clone(strategy)
        with isolated_plugin_manager():
            s.start(n_classes=4, n_labeled=20, n_unlabeled=200, random_state=7)
        decisions.append([s.select(P, round=r) for r in (1, 2, 3)])
    for a, b in zip(*decisions):
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.labels, b.labels)
        if a.weights is not None:
            np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize("strategy", ALL, ids=IDS)
def test_decisions_are_valid(strategy):
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.ones(3), size=100)
    s = clone(strategy)
    with isolated_plugin_manager():
        s.start(n_classes=3, n_labeled=10, n_unlabeled=100)
    exclude = np.zeros(100, bool)
    exclude[:30] = True
    d = s.select(P, round=1, exclude=exclude)
    assert np.all(d.indices >= 30) and len(np.unique(d.indices)) == d.n_selected
    np.testing.assert_array_equal(d.labels, P.argmax(axis=1)[d.indices] if not isinstance(
        s, Aligned) else d.labels)
    assert not d.indices.flags.writeable
    with pytest.raises(AttributeError):
        d.indices = np.array([0])  # frozen


BAD_PARAMS = [
    (ThresholdStrategy, {"threshold": 1.0}),
    (ThresholdStrategy, {"threshold": -0.1}),
    (ThresholdStrategy, {"threshold": "high"}),
    (KBestStrategy, {"k": 0}),
    (KBestStrategy, {"k": 2.5}),
    (ClassBalancedStrategy, {"p0": 0.0}),
    (ClassBalancedStrategy, {"p0": 0.6, "p_max": 0.5}),
    (ClassBalancedStrategy, {"step": -0.1}),
    (CurriculumStrategy, {"step": 0}),
    (CurriculumStrategy, {"step": 120}),
    (FlexMatchStrategy, {"threshold": 1.0}),
    (FlexMatchStrategy, {"warmup": "yes"}),
    (FlexMatchStrategy, {"threshold": 0.5, "min_threshold": 0.6}),
    (FreeMatchStrategy, {"momentum": 1.0}),
    (FreeMatchStrategy, {"momentum": float("nan")}),
    (SoftMatchStrategy, {"n_sigma": 0}),
    (SoftMatchStrategy, {"min_weight": 1.5}),
    (CEALStrategy, {"delta0": 0}),
    (CEALStrategy, {"decay": -1}),
    (Aligned, {"target": "prior"}),
    (Aligned, {"strength": -1}),
    (Aligned, {"strategy": 3}),
]


@pytest.mark.parametrize("cls,params", BAD_PARAMS, ids=[f"{c.__name__}-{p}" for c, p in BAD_PARAMS])
def test_bad_parameters_raise_a_parameter_error_naming_them(cls, params):
    s = cls(**params)  # __init__ only stores
    with pytest.raises(ParameterError, match=next(iter(params))):
        s.start(n_classes=2, n_labeled=2, n_unlabeled=2)


def test_aligned_target_array_is_checked():
    with pytest.raises(ParameterError, match="target has 2 entries"):
        Aligned(target=[0.5, 0.5]).start(n_classes=3, n_labeled=3, n_unlabeled=1)


def test_select_checks_its_inputs():
    s = ThresholdStrategy()
    with pytest.raises(ParameterError, match="before start"):
        s.select(np.ones((1, 2)) / 2, round=1)
    s.start(n_classes=2, n_labeled=1, n_unlabeled=1)
    with pytest.raises(InputError, match=r"shape \(n_rows, 2\)"):
        s.select(np.ones((3, 3)) / 3, round=1)
    with pytest.raises(InputError, match="float"):
        s.select(np.ones((3, 2), dtype=int), round=1)
    with pytest.raises(ParameterError, match="round"):
        s.select(np.ones((3, 2)) / 2, round=0)
    with pytest.raises(InputError, match="exclude mask"):
        s.select(np.ones((3, 2)) / 2, round=1, exclude=np.ones(2, bool))
    P = np.array([[0.5, 0.5], [np.nan, 0.5]])
    with pytest.raises(InputError, match="row 1"):  # ProbabilityError from the kernels
        s.select(P, round=1)
    with pytest.raises(ParameterError, match="class_prior"):
        s.start(n_classes=2, n_labeled=1, n_unlabeled=1, class_prior=[1, 2, 3])


def test_exclude_accepts_row_indices():
    s = KBestStrategy(k=2)
    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    s.start(n_classes=2, n_labeled=1, n_unlabeled=3)
    assert s.select(P, round=1, exclude=np.array([0])).indices.tolist() == [1, 2]


def test_registry_has_every_strategy_under_its_name():
    with isolated_plugin_manager() as pm:
        names = pm.strategies.names("selection")
        for name, cls in SELECTION_STRATEGIES.items():
            assert name in names
            made = make_strategy(name, kind="selection")
            assert type(made) is cls
        assert "aligned" in names
        made = make_strategy("flexmatch", kind="selection", threshold=0.8)
        assert made.threshold == 0.8
        with pytest.raises(UnknownNameError, match="flexmatch"):
            make_strategy("flexmatc", kind="selection")


def test_every_strategy_documents_formula_and_source():
    for cls in [*SELECTION_STRATEGIES.values(), Aligned]:
        doc = cls.__doc__ or ""
        assert "References" in doc and "Parameters" in doc, cls.__name__


def test_params_clone_and_repr():
    s = FlexMatchStrategy(threshold=0.8)
    assert s.get_params() == {"threshold": 0.8, "warmup": True, "min_threshold": 0.0}
    assert repr(s) == "FlexMatchStrategy(threshold=0.8)"
    twin = clone(s)
    assert twin is not s and twin.get_params() == s.get_params()
    a = Aligned(FlexMatchStrategy(threshold=0.7))
    assert a.get_params()["strategy__threshold"] == 0.7
    a.set_params(strategy__threshold=0.6)
    assert a.strategy.threshold == 0.6
    with pytest.raises(ParameterError, match="invalid parameter"):
        s.set_params(tau=1)


def test_decision_validates_and_freezes():
    d = Decision([3, 1], [0, 1], [0.5, 1.0], np.array([0.2, 0.3]), {}, scores=[0.9, 0.8])
    assert d.indices.dtype == np.int64 and d.counts(3).tolist() == [1, 1, 0]
    with pytest.raises(InputError, match="labels"):
        Decision([1, 2], [0], None, None, {})
    with pytest.raises(InputError, match="weights"):
        Decision([1, 2], [0, 1], [1.0], None, {})
    src = np.array([1, 2])
    Decision(src, src.copy())
    assert src.flags.writeable  # the caller's arrays are copied, not frozen


class _ConfidenceQuery(QueryStrategy):
    """Least confident first (a minimal query strategy for the base-class contract)."""

    def scores(self, learner, X_pool):
        return 1.0 - learner.predict_proba(X_pool).max(axis=1)


def test_query_strategy_base_picks_top_scores_ties_to_lower_index():
    from sklearn.dummy import DummyClassifier

    X = np.zeros((5, 1))
    learner = DummyClassifier(strategy="prior").fit(X, [0, 0, 1, 1, 1])
    idx, scores = _ConfidenceQuery().query(learner, X, 3, exclude=np.array([1]))
    assert idx.tolist() == [0, 2, 3]  # all tie: lowest rows, row 1 excluded
    np.testing.assert_allclose(scores, 0.4)
    with pytest.raises(ParameterError):
        _ConfidenceQuery().query(learner, X, -1)
    assert issubclass(SelectionStrategy, object)

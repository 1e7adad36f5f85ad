"""SelfTrainingClassifier: scikit-learn parity, our extras, bad input, quality smoke checks.

scikit-learn's own test module runs against our class in test_self_training_sklearn_suite.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier as SklearnSelfTraining
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

import pseudolabel
from pseudolabel import SelfTrainingClassifier
from pseudolabel.exceptions import InputError, ParameterError, ProbabilityError, UnknownNameError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.plugins import isolated_plugin_manager
from pseudolabel.strategies.selection import (
    SELECTION_STRATEGIES,
    CurriculumStrategy,
    FlexMatchStrategy,
    SoftMatchStrategy,
)


def _expected_failed_checks(estimator):
    # scikit-learn marks the same check as an expected failure for its own class
    return {"check_non_transformer_estimators_n_iter": "n_iter_ can be 0 (no unlabeled rows)."}


@parametrize_with_checks(
    [
        SelfTrainingClassifier(LogisticRegression(C=1), max_iter=5),
        SelfTrainingClassifier(
            DecisionTreeClassifier(random_state=0), max_iter=3, strategy="freematch"
        ),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    with isolated_plugin_manager():
        check(estimator)


# ---------------------------------------------------------------------------------------------
# data


def _digits(frac=0.1, seed=0, scale=True):
    X, y = load_digits(return_X_y=True)
    if scale:
        X = X / 16.0
    rng = np.random.RandomState(seed)
    y_missing = y.copy()
    y_missing[rng.rand(len(y)) > frac] = -1
    return X, y, y_missing


@pytest.fixture(scope="module")
def digits():
    return _digits()


# ---------------------------------------------------------------------------------------------
# parity with scikit-learn


@pytest.mark.parametrize("criterion", ["threshold", "k_best"])
@pytest.mark.parametrize("max_iter", [3, None])
def test_same_result_as_sklearn(digits, criterion, max_iter):
    X, _, y = digits
    params = dict(criterion=criterion, threshold=0.9, k_best=50, max_iter=max_iter)
    ours = SelfTrainingClassifier(LogisticRegression(max_iter=300), **params).fit(X, y)
    theirs = SklearnSelfTraining(LogisticRegression(max_iter=300), **params).fit(X, y)
    np.testing.assert_array_equal(ours.transduction_, theirs.transduction_)
    np.testing.assert_array_equal(ours.labeled_iter_, theirs.labeled_iter_)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.termination_condition_ == theirs.termination_condition_
    np.testing.assert_allclose(ours.predict_proba(X[:50]), theirs.predict_proba(X[:50]))
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


def test_strategy_by_name_equals_the_criterion(digits):
    X, _, y = digits
    by_criterion = SelfTrainingClassifier(LogisticRegression(max_iter=300), threshold=0.9,
                                          max_iter=3).fit(X, y)
    with isolated_plugin_manager():
        by_name = SelfTrainingClassifier(LogisticRegression(max_iter=300), max_iter=3,
                                         strategy="threshold").set_params(threshold=0.1)
        # strategy="threshold" uses the strategy's own default (0.75), not `threshold`
        by_object = SelfTrainingClassifier(
            LogisticRegression(max_iter=300), max_iter=3,
            strategy=SELECTION_STRATEGIES["threshold"](threshold=0.9),
        ).fit(X, y)
        by_name.fit(X, y)
    np.testing.assert_array_equal(by_object.transduction_, by_criterion.transduction_)
    np.testing.assert_array_equal(by_object.labeled_iter_, by_criterion.labeled_iter_)
    assert by_name.strategy_.threshold == 0.75


def test_verbose_message_and_warnings(digits, capsys):
    X, _, y = digits
    SelfTrainingClassifier(LogisticRegression(max_iter=300), max_iter=2, verbose=True).fit(X, y)
    out = capsys.readouterr().out
    assert "End of iteration 1, added " in out and " new labels." in out
    with pytest.warns(UserWarning, match="k_best is larger than the amount of unlabeled"):
        SelfTrainingClassifier(LogisticRegression(), criterion="k_best", k_best=10_000,
                               max_iter=1).fit(X, y)
    with pytest.warns(UserWarning, match="y contains no unlabeled samples"):
        SelfTrainingClassifier(LogisticRegression(max_iter=300)).fit(X[:200], digits[1][:200])


def test_delegation_follows_the_estimator(digits):
    X, _, y = digits
    tree = SelfTrainingClassifier(DecisionTreeClassifier(random_state=0), max_iter=1).fit(X, y)
    assert not hasattr(tree, "decision_function")
    with pytest.raises(AttributeError, match="has no attribute 'decision_function'"):
        tree.decision_function(X)
    lr = SelfTrainingClassifier(LogisticRegression(max_iter=300), max_iter=1).fit(X, y)
    assert lr.decision_function(X[:3]).shape == (3, 10)
    np.testing.assert_allclose(np.exp(lr.predict_log_proba(X[:3])), lr.predict_proba(X[:3]))
    assert lr.score(X, digits[1]) > 0.8


def test_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="This SelfTrainingClassifier instance is not fitted"):
        SelfTrainingClassifier(LogisticRegression()).predict(np.zeros((1, 2)))


def test_estimator_is_required_like_sklearn():
    with pytest.raises(ValueError, match="'estimator' parameter .* must be an object implementing 'fit'"):
        SelfTrainingClassifier().fit(np.zeros((4, 1)), [0, 1, -1, -1])


# ---------------------------------------------------------------------------------------------
# extras: unlabeled marker, sample_weight, strategies


def test_minus_one_is_a_class_with_another_marker():
    X = np.array([[0.0], [0.1], [1.0], [1.1], [0.05], [1.05]])
    y = np.array([-1, -1, 1, 1, 99, 99])
    clf = SelfTrainingClassifier(KNeighborsClassifier(n_neighbors=1), unlabeled=99).fit(X, y)
    assert clf.classes_.tolist() == [-1, 1]
    assert clf.transduction_.tolist() == [-1, -1, 1, 1, -1, 1]
    assert clf.labeled_iter_.tolist() == [0, 0, 0, 0, 1, 1]


def test_nan_marks_unlabeled_rows_in_float_labels():
    X = np.array([[0.0], [0.1], [1.0], [1.1], [0.05], [1.05]])
    y = np.array([0.0, 0.0, 1.0, 1.0, np.nan, np.nan])
    clf = SelfTrainingClassifier(KNeighborsClassifier(n_neighbors=1), unlabeled=np.nan).fit(X, y)
    assert clf.transduction_.tolist() == [0, 0, 1, 1, 0, 1]
    assert clf.termination_condition_ == "all_labeled"


@pytest.mark.parametrize("marker", [None, np.nan])
def test_none_and_nan_mark_unlabeled_rows_in_object_labels(marker):
    X = np.array([[0.0], [0.1], [1.0], [1.1], [0.05], [1.05], [0.02]])
    y = np.array(["a", "a", "b", "b", None, np.nan, None], dtype=object)
    clf = SelfTrainingClassifier(KNeighborsClassifier(n_neighbors=1), unlabeled=marker).fit(X, y)
    assert clf.classes_.tolist() == ["a", "b"]
    assert clf.transduction_.tolist() == ["a", "a", "b", "b", "a", "b", "a"]


def test_string_labels_need_object_dtype_or_a_string_marker():
    X = np.array([[0.0], [0.1], [1.0], [1.1], [0.05]])
    y = np.array(["a", "a", "b", "b", "?"])
    with pytest.raises(ValueError, match="y has dtype string"):
        SelfTrainingClassifier(KNeighborsClassifier(n_neighbors=1)).fit(X, y)
    clf = SelfTrainingClassifier(KNeighborsClassifier(n_neighbors=1), unlabeled="?").fit(X, y)
    assert clf.transduction_.tolist() == ["a", "a", "b", "b", "a"]


def test_sample_weight_is_sliced_to_the_fitted_rows(digits):
    X, y_true, y = digits
    w = np.random.RandomState(1).uniform(0.1, 3.0, size=len(y))
    labeled = y != -1
    ours = SelfTrainingClassifier(LogisticRegression(max_iter=500), max_iter=0).fit(
        X, y, sample_weight=w
    )
    direct = LogisticRegression(max_iter=500).fit(X[labeled], y[labeled], sample_weight=w[labeled])
    np.testing.assert_allclose(ours.estimator_.coef_, direct.coef_, rtol=1e-6, atol=1e-8)
    # later rounds: the final fit sees the labeled plus pseudo-labeled rows with their weights
    st = SelfTrainingClassifier(LogisticRegression(max_iter=500), max_iter=2).fit(
        X, y, sample_weight=w
    )
    used = st.transduction_ != -1
    final = LogisticRegression(max_iter=500).fit(X[used], st.transduction_[used],
                                                 sample_weight=w[used])
    np.testing.assert_allclose(st.estimator_.coef_, final.coef_, rtol=1e-6, atol=1e-8)
    # scikit-learn cannot do this without routing, and fails with routing
    with pytest.raises(ValueError):
        SklearnSelfTraining(LogisticRegression()).fit(X, y, sample_weight=w)


def test_sample_weight_with_metadata_routing(digits):
    X, _, y = digits
    w = np.random.RandomState(2).uniform(0.5, 2.0, size=len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        est = (
            LogisticRegression(max_iter=500)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=False)
        )
        ours = SelfTrainingClassifier(est, max_iter=0).fit(X, y, sample_weight=w)
        with pytest.raises(ValueError):  # scikit-learn's shape error
            SklearnSelfTraining(clone(est), max_iter=0).fit(X, y, sample_weight=w)
    labeled = y != -1
    direct = LogisticRegression(max_iter=500).fit(X[labeled], y[labeled], sample_weight=w[labeled])
    np.testing.assert_allclose(ours.estimator_.coef_, direct.coef_, rtol=1e-6, atol=1e-8)


def test_sample_weight_errors(digits):
    X, _, y = digits
    with pytest.raises(ParameterError, match="KNeighborsClassifier.fit does not accept sample_weight"):
        SelfTrainingClassifier(KNeighborsClassifier()).fit(X, y, sample_weight=np.ones(len(y)))
    with pytest.raises(ParameterError, match="SoftMatchStrategy returns sample weights"):
        SelfTrainingClassifier(KNeighborsClassifier(), strategy=SoftMatchStrategy()).fit(X, y)
    with pytest.raises(InputError, match="sample_weight has 3 entries"):
        SelfTrainingClassifier(LogisticRegression()).fit(X, y, sample_weight=np.ones(3))


@pytest.mark.parametrize("name", sorted([*SELECTION_STRATEGIES, "aligned"]))
def test_every_registered_strategy_runs_and_keeps_labels(digits, name):
    X, _, y = digits
    with isolated_plugin_manager():
        clf = SelfTrainingClassifier(
            DecisionTreeClassifier(max_depth=8, random_state=0), max_iter=4, strategy=name
        ).fit(X, y)
    labeled = y != -1
    np.testing.assert_array_equal(clf.transduction_[labeled], y[labeled])
    np.testing.assert_array_equal(clf.labeled_iter_[labeled], 0)
    pseudo = ~labeled & (clf.transduction_ != -1)
    assert np.all(clf.labeled_iter_[pseudo] >= 1) and np.all(clf.labeled_iter_[pseudo] <= clf.n_iter_)
    assert np.all(clf.labeled_iter_[~labeled & ~pseudo] == -1)
    assert np.all(clf.pseudo_weight_[labeled] == 1.0)
    assert np.all(clf.pseudo_weight_[~labeled & ~pseudo] == 0.0)
    assert clf.termination_condition_ in ("max_iter", "no_change", "all_labeled")
    assert clf.strategy_.name == name


def test_curriculum_rebuilds_reinitializes_and_stops_after_the_whole_pool(digits):
    X, _, y = digits
    # (a fully grown tree predicts confidence 1.0 everywhere: its percentiles all tie at 1.0)
    clf = SelfTrainingClassifier(LogisticRegression(max_iter=300), max_iter=10,
                                 strategy=CurriculumStrategy(step=25)).fit(X, y)
    assert clf.n_iter_ == 4  # 75%, 50%, 25%, 0% percentile
    assert clf.termination_condition_ == "all_labeled"
    assert np.all(clf.transduction_ != -1)


@pytest.mark.parametrize("name", ["freematch", "flexmatch", "softmatch", "class_balanced"])
def test_rebuild_strategies_end_without_max_iter(digits, name):
    X, _, y = digits
    with isolated_plugin_manager():
        clf = SelfTrainingClassifier(DecisionTreeClassifier(max_depth=6, random_state=0),
                                     max_iter=None, strategy=name).fit(X, y)
    assert clf.termination_condition_ in ("no_change", "all_labeled")
    assert clf.n_iter_ < 100


def test_softmatch_weights_reach_the_estimator(digits):
    X, _, y = digits
    clf = SelfTrainingClassifier(LogisticRegression(max_iter=300), max_iter=2,
                                 strategy=SoftMatchStrategy(min_weight=0.05)).fit(X, y)
    pseudo = (y == -1) & (clf.transduction_ != -1)
    w = clf.pseudo_weight_[pseudo]
    assert w.min() >= 0.05 * 0.999 and w.max() == 1.0 and (w < 1).any()
    used = clf.transduction_ != -1
    refit = LogisticRegression(max_iter=300).fit(X[used], clf.transduction_[used],
                                                 sample_weight=clf.pseudo_weight_[used])
    np.testing.assert_allclose(clf.estimator_.coef_, refit.coef_, rtol=1e-6, atol=1e-8)


def test_strategy_instance_is_cloned_not_mutated(digits):
    X, _, y = digits
    mine = FlexMatchStrategy(threshold=0.9)
    clf = SelfTrainingClassifier(DecisionTreeClassifier(random_state=0), max_iter=2,
                                 strategy=mine).fit(X, y)
    assert not hasattr(mine, "n_classes_") and clf.strategy_ is not mine
    assert clf.get_params()["strategy"] is mine


def test_unknown_strategy_lists_the_known_ones(digits):
    X, _, y = digits
    with isolated_plugin_manager():
        with pytest.raises(UnknownNameError, match="flexmatch"):
            SelfTrainingClassifier(LogisticRegression(), strategy="flexmach").fit(X, y)


def test_events_fire_each_round(digits):
    X, _, y = digits
    seen = {"round_end": [], "labels": []}

    class Observer:
        @hookimpl
        def pseudolabel_round_end(self, summary):
            seen["round_end"].append(summary)

        @hookimpl
        def pseudolabel_labels_selected(self, selection):
            seen["labels"].append(selection)

    with isolated_plugin_manager(("observer", Observer())):
        clf = SelfTrainingClassifier(LogisticRegression(max_iter=300), threshold=0.9,
                                     max_iter=3).fit(X, y)
    assert [s.round for s in seen["round_end"]] == list(range(clf.n_iter_ + 1))
    assert all(s.source == "self_training" for s in seen["round_end"])
    total = sum(len(s) for s in seen["labels"])
    assert total == int(((y == -1) & (clf.transduction_ != -1)).sum())
    first = seen["labels"][0]
    np.testing.assert_array_equal(clf.transduction_[first.indices], first.labels)
    assert np.all(first.confidence > 0.9)


# ---------------------------------------------------------------------------------------------
# input types


def test_dataframe_and_sparse_input(digits):
    X, _, y = digits
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    clf = SelfTrainingClassifier(LogisticRegression(max_iter=300), max_iter=2).fit(df, y)
    assert clf.n_features_in_ == 64 and clf.feature_names_in_[0] == "px0"
    dense = SelfTrainingClassifier(LogisticRegression(max_iter=300), max_iter=2).fit(X, y)
    sparse = SelfTrainingClassifier(LogisticRegression(max_iter=300), max_iter=2).fit(
        sp.csr_matrix(X), y
    )
    np.testing.assert_array_equal(sparse.transduction_, dense.transduction_)
    np.testing.assert_allclose(sparse.predict_proba(X[:5]), dense.predict_proba(X[:5]),
                               rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# bad input


def test_only_unlabeled_rows():
    with pytest.raises(InputError, match="no labeled row"):
        SelfTrainingClassifier(LogisticRegression()).fit(np.zeros((3, 2)), [-1, -1, -1])


def test_estimator_without_predict_proba(digits):
    X, _, y = digits
    with pytest.raises(AttributeError, match="has no attribute 'predict_proba'.*probability=True"):
        SelfTrainingClassifier(SVC()).fit(X, y)


class _NaNProba(ClassifierMixin, BaseEstimator):
    """A classifier whose predict_proba is broken (NaN on the third row)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        P = np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))
        if len(X) > 2:
            P[2, 0] = np.nan
        return P


def test_nan_probabilities_from_the_estimator_name_the_row():
    X = np.arange(10, dtype=float).reshape(-1, 1)
    y = np.array([0, 1] + [-1] * 8)
    with pytest.raises(ProbabilityError, match="row 4 of X, class 0"):
        SelfTrainingClassifier(_NaNProba()).fit(X, y)


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, pseudolabel; pseudolabel.SelfTrainingClassifier;"
        "import pseudolabel.strategies.selection;"
        "bad = [m for m in ('lightgbm', 'xgboost', 'dask', 'matplotlib') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "SelfTrainingClassifier" in pseudolabel.__all__


# ---------------------------------------------------------------------------------------------
# quality smoke checks on real datasets


@pytest.mark.parametrize(
    "loader,strategy",
    [(load_digits, "class_balanced"), (load_wine, "class_balanced"), (load_iris, "freematch")],
)
def test_quality_smoke(loader, strategy):
    """Self-training with a strategy is no worse than supervised-only (within 5 points: the
    iris test split has 45 rows, one row is 2.2 points), and its pseudo-labels are mostly
    right, on a stratified 30% test split with 10% of labels (at least 2 per class)."""
    X, y = loader(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.RandomState(0)
    y_missing = np.full_like(y_tr, -1)
    for c in np.unique(y_tr):  # 10% of labels, at least 2 per class
        rows = np.flatnonzero(y_tr == c)
        take = rng.choice(rows, size=max(2, int(round(0.1 * len(rows)))), replace=False)
        y_missing[take] = c
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    supervised = clone(model).fit(X_tr[y_missing != -1], y_missing[y_missing != -1]).score(X_te, y_te)
    with isolated_plugin_manager():
        clf = SelfTrainingClassifier(model, strategy=strategy).fit(X_tr, y_missing)
    score = clf.score(X_te, y_te)
    pseudo = (y_missing == -1) & (clf.transduction_ != -1)
    precision = np.mean(clf.transduction_[pseudo] == y_tr[pseudo])
    assert score >= supervised - 0.05, (score, supervised)
    assert precision > 0.85, precision
    assert pseudo.sum() > 0.2 * (y_missing == -1).sum()


# ---------------------------------------------------------------------------------------------
# real boosting libraries


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_gradient_boosting_estimators(digits, library):
    X, y_true, y = digits
    if library == "lightgbm":
        from lightgbm import LGBMClassifier

        est = LGBMClassifier(n_estimators=30, num_leaves=15, n_jobs=1, verbose=-1, random_state=0)
    else:
        from xgboost import XGBClassifier

        est = XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1, random_state=0)
    w = np.random.RandomState(3).uniform(0.5, 2.0, size=len(y))
    with isolated_plugin_manager():
        clf = SelfTrainingClassifier(est, max_iter=3, strategy="softmatch").fit(
            X, y, sample_weight=w
        )
    pseudo = (y == -1) & (clf.transduction_ != -1)
    assert pseudo.sum() > 0.5 * (y == -1).sum()
    assert np.mean(clf.transduction_[pseudo] == y_true[pseudo]) > 0.8
    assert clf.score(X, y_true) > 0.85
    assert clf.predict_proba(X[:4]).shape == (4, 10)


# ---------------------------------------------------------------------------------------------
# property: identical to scikit-learn on random problems


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(
    seed=hst.integers(0, 10_000),
    n_classes=hst.integers(2, 4),
    threshold=hst.sampled_from([0.0, 0.5, 0.75, 0.9, 0.99]),
    max_iter=hst.sampled_from([0, 1, 3, None]),
    frac=hst.sampled_from([0.1, 0.3, 0.9]),
)
def test_threshold_criterion_identical_to_sklearn(seed, n_classes, threshold, max_iter, frac):
    from sklearn.naive_bayes import GaussianNB

    rng = np.random.RandomState(seed)
    n = 60
    y_true = rng.randint(0, n_classes, size=n)
    X = rng.normal(size=(n, 3)) + y_true[:, None] * rng.uniform(0.2, 2.0)
    y = y_true.copy()
    y[rng.rand(n) > frac] = -1
    y[:n_classes] = np.arange(n_classes)  # every class labeled at least once
    params = dict(threshold=threshold, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = SelfTrainingClassifier(GaussianNB(), **params).fit(X, y)
        theirs = SklearnSelfTraining(GaussianNB(), **params).fit(X, y)
    np.testing.assert_array_equal(ours.transduction_, theirs.transduction_)
    np.testing.assert_array_equal(ours.labeled_iter_, theirs.labeled_iter_)
    assert (ours.n_iter_, ours.termination_condition_) == (
        theirs.n_iter_, theirs.termination_condition_
    )


@settings(max_examples=20, deadline=None)
@given(
    seed=hst.integers(0, 10_000),
    k_best=hst.integers(1, 30),
    max_iter=hst.sampled_from([1, 3, None]),
)
def test_k_best_criterion_identical_to_sklearn(seed, k_best, max_iter):
    # logistic regression: continuous probabilities, so no ties for argpartition to break
    rng = np.random.RandomState(seed)
    n = 60
    y_true = rng.randint(0, 3, size=n)
    X = rng.normal(size=(n, 3)) + y_true[:, None]
    y = np.full(n, -1)
    y[:6] = np.arange(6) % 3
    params = dict(criterion="k_best", k_best=k_best, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = SelfTrainingClassifier(LogisticRegression(), **params).fit(X, y)
        theirs = SklearnSelfTraining(LogisticRegression(), **params).fit(X, y)
    np.testing.assert_array_equal(ours.transduction_, theirs.transduction_)
    np.testing.assert_array_equal(ours.labeled_iter_, theirs.labeled_iter_)
    assert (ours.n_iter_, ours.termination_condition_) == (
        theirs.n_iter_, theirs.termination_condition_
    )


@pytest.mark.parametrize("labels", [[1, "a"], ["a", 2.5], [1, "1"]])
def test_mixed_label_types_are_a_clear_input_error(labels):
    from pseudolabel.exceptions import InputError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.array(labels * 5 + [-1] * 20, dtype=object)
    with pytest.raises(InputError, match="mixes label types"):
        SelfTrainingClassifier(LogisticRegression()).fit(X, y)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("criterion", ["threshold", "k_best"])
def test_single_labeled_class_with_boosting_fits_like_sklearn(library, criterion):
    # LightGBM and XGBoost fit one class as a binary problem: predict_proba has two columns
    # while classes_ has one; scikit-learn's class fits, and so does ours, to the same result
    if library == "lightgbm":
        from lightgbm import LGBMClassifier

        est = LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1, random_state=0)
    else:
        from xgboost import XGBClassifier

        est = XGBClassifier(n_estimators=5, n_jobs=1, random_state=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.array([0] * 8 + [-1] * 32)
    params = dict(criterion=criterion, k_best=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = SelfTrainingClassifier(est, **params).fit(X, y)
        theirs = SklearnSelfTraining(est, **params).fit(X, y)
    np.testing.assert_array_equal(ours.transduction_, theirs.transduction_)
    np.testing.assert_array_equal(ours.labeled_iter_, theirs.labeled_iter_)
    assert (ours.n_iter_, ours.termination_condition_) == (
        theirs.n_iter_, theirs.termination_condition_
    )
    np.testing.assert_array_equal(ours.classes_, [0])
    np.testing.assert_array_equal(ours.predict(X[:5]), theirs.predict(X[:5]))

"""Tests for ``pseudolabel.PseudoLabeler`` (the self-training engine) and its guardrail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.datasets import load_iris, load_wine, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from pseudolabel import PseudoLabeler
from pseudolabel.backends.sklearn import SklearnBackend
from pseudolabel.exceptions import (
    InputError,
    ParameterError,
    ProbabilityError,
    UnknownNameError,
)
from pseudolabel.hookspecs import hookimpl
from pseudolabel.plugins import isolated_plugin_manager
from _support.strategies import WrongLabels


def _lr():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


FAST = {"max_iter": 3}  # a few rounds are enough to exercise the loop


@pytest.fixture(scope="module")
def wine_split():
    """Wine with 10% of the training labels kept; returns X_tr, y_partial, y_tr, X_te, y_te."""
    X, y = load_wine(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.default_rng(0)
    labeled = np.zeros(len(y_tr), bool)
    for c in np.unique(y_tr):
        rows = np.flatnonzero(y_tr == c)
        labeled[rng.choice(rows, 4, replace=False)] = True
    y_part = np.where(labeled, y_tr, -1)
    return X_tr, y_part, y_tr, X_te, y_te


# --------------------------------------------------------------------------------------
# scikit-learn conformance


# Sample-weight equivalence checks compare a weight of 2 (or 0) with duplicating (or
# dropping) rows; the guardrail's stratified folds differ between the two datasets, so the
# accepted rounds can differ too. The weights themselves reach the backend (tested below).
# check_classifiers_classes uses -1 as a real class, which the default marker (-1) reads as
# "unlabeled"; the second instance (unlabeled=None: NaN/None mark the pool) passes it.
# Both instances: the default estimator's StandardScaler is fitted unweighted (the sklearn
# backend routes sample_weight to the last pipeline step), so weighting and repeating rows
# differ slightly; and with every row labeled no self-training round runs (n_iter_ == 0, as
# in scikit-learn's SelfTrainingClassifier).
_ALWAYS = {
    "check_sample_weight_equivalence_on_dense_data": "scaler fitted unweighted; guardrail folds",
    "check_sample_weight_equivalence_on_sparse_data": "scaler fitted unweighted; guardrail folds",
    "check_non_transformer_estimators_n_iter": "no unlabeled rows, so zero rounds",
}


def _expected_failures(estimator):
    if estimator.unlabeled == -1:
        return {**_ALWAYS, "check_classifiers_classes": "-1 is the default unlabeled marker"}
    return _ALWAYS


@pytest.mark.filterwarnings("ignore:y contains no unlabeled samples")
@parametrize_with_checks(
    [PseudoLabeler(),
     PseudoLabeler(strategy="threshold", guardrail="none", max_iter=2, unlabeled=None)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------------------
# fitted state, history and events


def test_fit_state_and_history(wine_split):
    X_tr, y_part, y_tr, X_te, y_te = wine_split
    model = PseudoLabeler(_lr(), strategy="threshold", random_state=0, **FAST).fit(X_tr, y_part)
    n = len(y_part)
    labeled = y_part != -1
    assert model.transduction_.shape == (n,)
    np.testing.assert_array_equal(model.transduction_[labeled], y_part[labeled])
    assert (model.labeled_iter_[labeled] == 0).all()
    pseudo = model.labeled_iter_ > 0
    assert pseudo.any(), "wine with LR should pseudo-label some rows"
    assert ((model.labeled_iter_ == -1) == (model.transduction_ == -1)).all()
    assert np.isfinite(model.pseudo_confidence_[pseudo]).all()
    assert np.isnan(model.pseudo_confidence_[~pseudo]).all()
    assert (model.pseudo_confidence_[pseudo] > 0.75).all()  # the threshold strategy's tau
    assert model.termination_condition_ in {"max_iter", "no_change", "all_labeled", "guardrail"}
    assert len(model.history_) >= model.n_iter_
    for i, rec in enumerate(model.history_, start=1):
        assert rec["round"] == i
        assert rec["decision"] in {"accepted", "rolled_back"}
        assert rec["accepted"] == (rec["decision"] == "accepted")
        assert sum(rec["selected_per_class"].values()) == rec["n_selected"]
        assert set(rec["selected_per_class"]) == set(model.classes_.tolist())
        assert 0.0 <= rec["validation_score"] <= 1.0
        assert rec["seconds"] >= 0
        assert rec["sample_weight"]["mean"] == pytest.approx(1.0)
    # the accepted pseudo-set is what transduction_ holds
    accepted = [r for r in model.history_ if r["accepted"]]
    assert accepted[-1]["n_pseudo"] == int(pseudo.sum())
    assert model.score(X_te, y_te) > 0.85


def test_events_fire_every_round(wine_split):
    X_tr, y_part, *_ = wine_split
    rounds, selections = [], []

    class Recorder:
        @hookimpl
        def pseudolabel_round_end(self, summary):
            rounds.append(summary)

        @hookimpl
        def pseudolabel_labels_selected(self, selection):
            selections.append(selection)

    with isolated_plugin_manager(("recorder", Recorder())):
        model = PseudoLabeler(_lr(), strategy="threshold", random_state=0, **FAST).fit(X_tr, y_part)
    assert [s.round for s in rounds] == list(range(len(model.history_) + 1))
    assert all(s.source == "self_training" for s in rounds)
    for summary, rec in zip(rounds[1:], model.history_):
        assert summary.n_selected == rec["n_selected"]
        assert summary.accepted == rec["accepted"]
        assert summary.score == pytest.approx(rec["validation_score"])
    assert len(selections) == sum(r["n_selected"] > 0 for r in model.history_)
    first = selections[0]
    pool = np.flatnonzero(y_part == -1)
    assert np.isin(first.indices, pool).all()  # indices are rows of X
    assert set(np.unique(first.labels)) <= set(model.classes_.tolist())
    assert (first.confidence > 0.75).all()


def test_verbose_prints_one_line_per_round(wine_split, capsys):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy="threshold", verbose=True, random_state=0, **FAST)
    model.fit(X_tr, y_part)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[PseudoLabeler]")]
    assert len(lines) >= len(model.history_) + 1
    assert "round 0" in lines[0] and "round 1" in lines[1]


def test_deterministic_with_random_state(wine_split):
    X_tr, y_part, *_ = wine_split
    a = PseudoLabeler(_lr(), random_state=3, **FAST).fit(X_tr, y_part)
    b = PseudoLabeler(_lr(), random_state=3, **FAST).fit(X_tr, y_part)
    np.testing.assert_array_equal(a.transduction_, b.transduction_)
    np.testing.assert_allclose(a.predict_proba(X_tr), b.predict_proba(X_tr))


# --------------------------------------------------------------------------------------
# the guardrail


@pytest.mark.parametrize("guardrail", ["cv", "holdout"])
def test_guardrail_rolls_back_a_harmful_round(wine_split, guardrail):
    X_tr, y_part, y_tr, X_te, y_te = wine_split
    labeled = y_part != -1
    supervised = _lr().fit(X_tr[labeled], y_part[labeled]).score(X_te, y_te)

    unguarded = PseudoLabeler(_lr(), strategy=WrongLabels(), guardrail="none",
                              random_state=0).fit(X_tr, y_part)
    # the test can fail: without the guardrail these labels wreck the model
    assert unguarded.score(X_te, y_te) < supervised - 0.2

    guarded = PseudoLabeler(_lr(), strategy=WrongLabels(), guardrail=guardrail,
                            holdout_fraction=0.5, random_state=0).fit(X_tr, y_part)
    assert guarded.guardrail_ == guardrail
    assert guarded.history_[0]["decision"] == "rolled_back"
    assert guarded.history_[0]["accepted"] is False
    assert guarded.history_[0]["validation_score"] < guarded.history_[0]["reference_score"]
    assert guarded.termination_condition_ == "guardrail"
    assert (guarded.labeled_iter_ <= 0).all()  # nothing pseudo-labeled survived
    assert guarded.score(X_te, y_te) >= supervised - 1e-9


def test_patience_keeps_trying_after_a_rollback(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy=WrongLabels(), guardrail="cv", patience=3,
                          max_iter=3, random_state=0).fit(X_tr, y_part)
    assert [r["decision"] for r in model.history_] == ["rolled_back"] * 3


def test_guardrail_auto_picks_cv_for_small_label_sets(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), max_iter=1, random_state=0).fit(X_tr, y_part)
    assert model.guardrail_ == "cv"
    assert model.baseline_score_ is not None


def test_no_guardrail_marks_rounds_unchecked(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy="threshold", guardrail="none", random_state=0)
    model.fit(X_tr, y_part)
    assert {r["decision"] for r in model.history_} == {"unchecked"}
    assert all(r["validation_score"] is None for r in model.history_)


# --------------------------------------------------------------------------------------
# options


def test_calibration_records_temperature(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy="threshold", calibration="temperature",
                          random_state=0, **FAST).fit(X_tr, y_part)
    temps = [r["temperature"] for r in model.history_]
    assert all(t is not None and 0.05 <= t <= 20 for t in temps)


def test_calibration_without_guardrail_uses_out_of_fold_fits(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy="threshold", calibration="temperature",
                          guardrail="none", max_iter=2, random_state=0).fit(X_tr, y_part)
    assert model.history_[0]["temperature"] is not None


def test_max_pseudo_per_class_caps_each_round(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy="threshold", guardrail="none",
                          max_pseudo_per_class=3, max_iter=3, random_state=0).fit(X_tr, y_part)
    for rec in model.history_:
        assert max(rec["selected_per_class"].values()) <= 3
    assert ((model.labeled_iter_ == 1).sum()) <= 3 * len(model.classes_)


def test_rebuild_strategy_redecides_pool(wine_split):
    X_tr, y_part, *_ = wine_split
    model = PseudoLabeler(_lr(), strategy="curriculum", guardrail="none",
                          random_state=0).fit(X_tr, y_part)
    sizes = [r["n_pseudo"] for r in model.history_]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    # curriculum's last round (percentile 0) takes the whole pool
    assert sizes[-1] == int((y_part == -1).sum())


def test_x_unlabeled_extends_the_pool(wine_split):
    X_tr, y_part, *_ = wine_split
    labeled = y_part != -1
    model = PseudoLabeler(_lr(), strategy="threshold", random_state=0, **FAST)
    model.fit(X_tr[labeled], y_part[labeled], X_unlabeled=X_tr[~labeled])
    n_l = int(labeled.sum())
    assert model.transduction_.shape == (len(y_part),)
    assert (model.labeled_iter_[:n_l] == 0).all()
    assert (model.labeled_iter_[n_l:] != 0).all()


def test_sample_weight_reaches_the_backend(wine_split):
    X_tr, y_part, *_ = wine_split
    labeled = y_part != -1
    w = np.ones(len(y_part))
    w[labeled & (y_part == 0)] = 0.0  # class 0's labeled rows weigh nothing
    a = PseudoLabeler(_lr(), strategy="threshold", guardrail="none", max_iter=1,
                      random_state=0).fit(X_tr, y_part)
    b = PseudoLabeler(_lr(), strategy="threshold", guardrail="none", max_iter=1,
                      random_state=0).fit(X_tr, y_part, sample_weight=w)
    assert not np.allclose(a.predict_proba(X_tr), b.predict_proba(X_tr))
    with pytest.raises(InputError, match="sample_weight has 3 entries"):
        PseudoLabeler(_lr()).fit(X_tr, y_part, sample_weight=np.ones(3))


# --------------------------------------------------------------------------------------
# input types


def test_sparse_input(wine_split):
    X_tr, y_part, _, X_te, y_te = wine_split
    Xs = sparse.csr_matrix(StandardScaler().fit_transform(X_tr))
    model = PseudoLabeler(LogisticRegression(max_iter=500), strategy="threshold",
                          random_state=0).fit(Xs, y_part)
    assert model.predict(Xs[:5]).shape == (5,)
    dense = PseudoLabeler(LogisticRegression(max_iter=500), strategy="threshold",
                          random_state=0).fit(Xs.toarray(), y_part)
    np.testing.assert_array_equal(model.transduction_, dense.transduction_)


def test_dataframe_input_keeps_feature_names(wine_split):
    X_tr, y_part, _, X_te, y_te = wine_split
    cols = [f"f{i}" for i in range(X_tr.shape[1])]
    df = pd.DataFrame(X_tr, columns=cols)
    model = PseudoLabeler(_lr(), strategy="threshold", random_state=0, **FAST).fit(df, pd.Series(y_part))
    assert list(model.feature_names_in_) == cols
    assert model.score(pd.DataFrame(X_te, columns=cols), y_te) > 0.8
    with pytest.raises(InputError, match="same columns"):
        model.fit(df, y_part, X_unlabeled=df.rename(columns={"f0": "other"}))


def test_lightgbm_dataframe_with_continued_boosting():
    lightgbm = pytest.importorskip("lightgbm")
    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(8)])
    y_part = np.where(np.random.default_rng(0).random(len(y)) < 0.15, y, -1)
    model = PseudoLabeler(
        lightgbm.LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1, n_jobs=1),
        strategy="threshold", guardrail="holdout", n_more=5, max_iter=3, random_state=0,
    ).fit(df, y_part)
    assert model.backend_.name == "lightgbm"
    assert model.continue_training_ is True
    assert model.score(df, y) > 0.7


def test_string_labels_with_default_marker(wine_split):
    X_tr, y_part, y_tr, X_te, y_te = wine_split
    names = np.array(["barolo", "grignolino", "barbera"], dtype=object)
    y_str = np.where(y_part == -1, -1, names[np.clip(y_part, 0, 2)]).astype(object)
    model = PseudoLabeler(_lr(), strategy="threshold", random_state=0, **FAST).fit(X_tr, y_str)
    assert set(model.classes_) == set(names)
    pred = model.predict(X_te)
    assert np.mean(pred == names[y_te]) > 0.85
    assert (model.transduction_[y_part == -1] != -1).sum() > 0  # pseudo-labels are strings
    assert set(model.transduction_[model.labeled_iter_ > 0]) <= set(names)


def test_nan_marker_makes_minus_one_a_class():
    X, y = load_iris(return_X_y=True)
    y = (y - 1).astype(float)  # classes -1, 0, 1
    y_part = y.copy()
    y_part[np.random.default_rng(0).random(len(y)) > 0.3] = np.nan
    model = PseudoLabeler(_lr(), unlabeled=np.nan, random_state=0).fit(X, y_part)
    np.testing.assert_array_equal(model.classes_, [-1.0, 0.0, 1.0])
    assert model.score(X, y) > 0.85


# --------------------------------------------------------------------------------------
# bad input


def test_only_unlabeled_rows():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(InputError, match="no labeled rows"):
        PseudoLabeler().fit(X, np.full(20, -1))


def test_class_without_labeled_row():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.array([0, 1] * 5 + [-1] * 10)
    with pytest.raises(InputError, match="class 2 has no labeled row"):
        PseudoLabeler(classes=[0, 1, 2]).fit(X, y)


def test_single_labeled_class():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.array([0] * 5 + [-1] * 15)
    with pytest.raises(InputError, match="only one class"):
        PseudoLabeler().fit(X, y)


def test_estimator_without_predict_proba():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ParameterError, match="has no predict_proba"):
        PseudoLabeler(SVC()).fit(X, y)


def test_unknown_strategy_lists_known_ones():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(UnknownNameError, match="threshold") as info:
        PseudoLabeler(strategy="no_such_strategy").fit(X, y)
    assert "no_such_strategy" in str(info.value)


def test_estimator_and_backend_are_exclusive():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ParameterError, match="not both"):
        PseudoLabeler(_lr(), backend="sklearn").fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"max_iter": 0}, "max_iter"),
    ({"guardrail": "sometimes"}, "guardrail"),
    ({"calibration": "platt"}, "calibration"),
    ({"holdout_fraction": 1.5}, "holdout_fraction"),
    ({"predict_pool": "some"}, "predict_pool"),
    ({"continue_training": "yes"}, "continue_training"),
])
def test_bad_parameters(params, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ParameterError, match=match):
        PseudoLabeler(**params).fit(X, y)


class NaNBackend(SklearnBackend):
    """A backend whose probabilities go NaN for every row after the first fit."""

    name = "nan_backend"

    def _predict_model(self, X):
        P = super()._predict_model(X)
        P = P.copy()
        P[:, 0] = np.nan
        return P


def test_nan_probabilities_from_backend():
    X, y = load_iris(return_X_y=True)
    y_part = np.where(np.arange(len(y)) % 5 == 0, y, -1)
    with pytest.raises(ProbabilityError, match="invalid probability at row 0, column 0: NaN"):
        PseudoLabeler(backend=NaNBackend(estimator=_lr())).fit(X, y_part)


def test_predict_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        PseudoLabeler().predict(np.zeros((2, 2)))


@pytest.mark.parametrize("labels", [[1, "a"], ["a", 2.5]])
def test_mixed_label_types_are_a_clear_input_error(labels):
    from pseudolabel.exceptions import InputError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.array(labels * 5 + [-1] * 20, dtype=object)
    with pytest.raises(InputError, match="mixes label types"):
        PseudoLabeler().fit(X, y)


@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
def test_single_labeled_class_with_boosting_is_an_input_error(backend):
    # not the backend's ProbabilityError on a (n, 2) matrix: the labels are the problem
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.array([0] * 8 + [-1] * 32)
    with pytest.raises(InputError, match="only one class"):
        PseudoLabeler(backend=backend, backend_params={"n_estimators": 5}).fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"max_iter": True}, "'max_iter' parameter of PseudoLabeler must be an int.*Got True"),
    ({"n_folds": 1.5}, "'n_folds' parameter of PseudoLabeler.*Got 1.5"),
    ({"tolerance": 2}, "'tolerance' parameter of PseudoLabeler.*Got 2 instead"),
    ({"backend_params": [1]}, "'backend_params' parameter of PseudoLabeler.*Got \\[1\\]"),
    ({"strategy": None}, "'strategy' parameter of PseudoLabeler.*Got None"),
])
def test_parameter_constraints_name_the_parameter_and_value(params, match):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = load_iris(return_X_y=True)
    with pytest.raises(ParameterError, match=match) as info:
        PseudoLabeler(**params).fit(X, y)
    # scikit-learn's own error type too, so code written for scikit-learn catches it
    assert isinstance(info.value, InvalidParameterError)

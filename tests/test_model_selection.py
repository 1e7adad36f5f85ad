"""Model selection with unlabeled rows: score(), make_labeled_scorer, LabeledStratifiedKFold, the README recipe."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, get_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pseudolabel import PseudoLabeler, SelfTrainingClassifier
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.model_selection import (
    LabeledStratifiedKFold,
    labeled_subset,
    make_labeled_scorer,
)

README = Path(__file__).resolve().parents[1] / "README.md"


def _quick(**params):
    return PseudoLabeler(
        estimator=make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        guardrail="none", max_iter=2, random_state=0, **params,
    )


@pytest.fixture(scope="module")
def iris_partial():
    X, y = load_iris(return_X_y=True)
    labeled = np.random.default_rng(0).random(len(y)) < 0.3
    return X, y, labeled


def _markers(y, labeled):
    """The same partly labeled y with the three markers: -1, NaN (float) and None (strings)."""
    minus_one = np.where(labeled, y, -1)
    nan = np.where(labeled, y.astype(float), np.nan)
    strings = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    strings[~labeled] = None
    return [(-1, minus_one), (None, nan), (None, strings)]


# ---------------------------------------------------------------------------------------------
# score() of the estimators


def test_pseudolabeler_score_counts_the_labeled_rows_only(iris_partial):
    X, y, labeled = iris_partial
    for marker, y_partial in _markers(y, labeled):
        model = _quick(unlabeled=marker).fit(X, y_partial)
        expected = np.mean(model.predict(X[labeled]) == y_partial[labeled])
        assert model.score(X, y_partial) == pytest.approx(expected)
        weights = np.linspace(0.5, 2.0, len(y))
        expected_weighted = accuracy_score(
            y_partial[labeled].tolist(), model.predict(X[labeled]).tolist(),
            sample_weight=weights[labeled],
        )
        assert model.score(X, y_partial, sample_weight=weights) == pytest.approx(expected_weighted)
        with pytest.raises(InputError, match="every row of y is unlabeled"):
            model.score(X[~labeled], y_partial[~labeled])
    # a DataFrame X keeps its rows by position
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)], index=np.arange(len(y)) * 7)
    model = _quick().fit(frame, np.where(labeled, y, -1))
    assert model.score(frame, np.where(labeled, y, -1)) == pytest.approx(
        np.mean(model.predict(frame[labeled]) == y[labeled])
    )


def test_self_training_classifier_score_counts_the_labeled_rows_only(iris_partial):
    X, y, labeled = iris_partial
    y_partial = np.where(labeled, y, -1)
    model = SelfTrainingClassifier(LogisticRegression(max_iter=1000), max_iter=2).fit(X, y_partial)
    assert model.score(X, y_partial) == pytest.approx(np.mean(model.predict(X[labeled]) == y[labeled]))
    assert model.score(X, y) == pytest.approx(np.mean(model.predict(X) == y))
    with pytest.raises(InputError, match="every row of y is unlabeled"):
        model.score(X[:5], np.full(5, -1))


# ---------------------------------------------------------------------------------------------
# the scorer


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "f1_macro", "neg_log_loss",
                                  "roc_auc_ovr"])
def test_labeled_scorer_equals_the_sklearn_metric_on_the_labeled_rows(iris_partial, name):
    X, y, labeled = iris_partial
    for marker, y_partial in _markers(y, labeled):
        model = _quick(unlabeled=marker).fit(X, y_partial)
        y_true = np.asarray(y_partial[labeled].tolist())
        expected = get_scorer(name)(model, X[labeled], y_true)
        got = make_labeled_scorer(name)(model, X, y_partial)
        assert np.isfinite(got) and got == pytest.approx(expected)


def test_labeled_scorer_takes_the_marker_from_the_estimator_or_from_its_argument(iris_partial):
    X, y, labeled = iris_partial
    y_partial = np.where(labeled, y, 2)  # class 2 doubles as the marker here
    model = Pipeline([("scale", StandardScaler()), ("pl", _quick(unlabeled=2))]).fit(X, y_partial)
    keep = y_partial != 2
    expected = np.mean(model.predict(X[keep]) == y_partial[keep])
    assert make_labeled_scorer()(model, X, y_partial) == pytest.approx(expected)
    # an explicit marker wins; a plain classifier without `unlabeled` means -1
    assert make_labeled_scorer(unlabeled=-1)(model, X, y_partial) == pytest.approx(
        np.mean(model.predict(X) == y_partial)
    )
    plain = LogisticRegression(max_iter=1000).fit(X, y)
    y_minus = np.where(labeled, y, -1)
    assert make_labeled_scorer()(plain, X, y_minus) == pytest.approx(
        np.mean(plain.predict(X[labeled]) == y[labeled])
    )
    with pytest.raises(ParameterError, match="unknown scoring 'acuracy'"):
        make_labeled_scorer("acuracy")
    with pytest.raises(ParameterError, match="metric name or a scorer"):
        make_labeled_scorer(3)


def test_labeled_subset_checks_lengths_and_keeps_sparse_rows():
    from scipy import sparse

    X = sparse.random(6, 3, density=0.5, format="csr", random_state=0)
    y = np.array([0, -1, 1, -1, 0, 1])
    X_l, y_l, w = labeled_subset(X, y, np.arange(6.0))
    assert X_l.shape == (4, 3) and (X_l != X[[0, 2, 4, 5]]).nnz == 0
    np.testing.assert_array_equal(y_l, [0, 1, 0, 1])
    np.testing.assert_array_equal(w, [0.0, 2.0, 4.0, 5.0])
    with pytest.raises(InputError, match="X has 6 rows but y has 5"):
        labeled_subset(X, y[:5])


# ---------------------------------------------------------------------------------------------
# the splitter


def _check_folds(folds, strata, n_rows, n_splits):
    assert len(folds) == n_splits
    tests = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tests), np.arange(n_rows))  # a partition
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0 and train.size + test.size == n_rows
    counts = np.array([np.bincount(strata[test], minlength=strata.max() + 1) for _, test in folds])
    # every stratum (each labeled class, and the pool) is spread evenly: counts differ by <= 1
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all(), counts
    return counts


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 5), st.integers(1, 4), st.integers(0, 40), st.booleans(), st.data(),
)
def test_labeled_stratified_kfold_spreads_every_class_and_the_pool(n_splits, n_classes, n_pool,
                                                                   use_none, data):
    labels = data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n_splits, max_size=40))
    order = data.draw(st.permutations(range(len(labels) + n_pool)))
    y = np.full(len(labels) + n_pool, -1, dtype=object if use_none else np.int64)
    if use_none:
        y[:] = None
    y[np.asarray(order[: len(labels)], dtype=np.int64)] = labels
    marker = None if use_none else -1
    splitter = LabeledStratifiedKFold(n_splits, unlabeled=marker)
    folds = list(splitter.split(np.zeros((len(y), 1)), y))
    # numpy reference of the strata: class index of each labeled row, one more for the pool
    unlabeled = np.array([v is None for v in y]) if use_none else (y == -1)
    classes = np.unique(np.asarray(y[~unlabeled], dtype=np.int64))
    strata = np.full(len(y), len(classes))
    strata[~unlabeled] = np.searchsorted(classes, np.asarray(y[~unlabeled], dtype=np.int64))
    counts = _check_folds(folds, strata, len(y), n_splits)
    assert (counts[:, : len(classes)].sum(axis=1) >= 1).all()  # labeled rows in every test fold


def test_labeled_stratified_kfold_errors_and_parameters():
    y = np.array([0, 1, -1, -1, -1, -1])
    with pytest.raises(InputError, match="2 labeled row.*n_splits=3"):
        list(LabeledStratifiedKFold(3).split(np.zeros((6, 1)), y))
    with pytest.raises(InputError, match="needs y"):
        list(LabeledStratifiedKFold(2).split(np.zeros((6, 1)), None))
    mixed = np.array(["a", None, "b", "a", None, "b"], dtype=object)
    with pytest.raises(InputError, match="pass unlabeled=None"):
        list(LabeledStratifiedKFold(2).split(np.zeros((6, 1)), mixed))
    splitter = LabeledStratifiedKFold(4, shuffle=True, random_state=3, unlabeled=None)
    assert splitter.get_n_splits() == 4
    assert "unlabeled=None" in repr(splitter)
    # plain StratifiedKFold takes -1 for a class: the labeled rows are not what it balances
    with pytest.raises(TypeError):
        list(StratifiedKFold(2).split(np.zeros((6, 1)), mixed))


# ---------------------------------------------------------------------------------------------
# cross_val_score / GridSearchCV end to end


def test_cross_val_score_with_each_marker_is_the_labeled_accuracy_of_each_fold():
    X, y = load_wine(return_X_y=True)
    labeled = np.random.default_rng(1).random(len(y)) < 0.3
    for marker, y_partial in [(-1, np.where(labeled, y, -1)),
                              (None, np.where(labeled, y.astype(float), np.nan))]:
        cv = LabeledStratifiedKFold(3, shuffle=True, random_state=0, unlabeled=marker)
        scores = cross_val_score(_quick(unlabeled=marker), X, y_partial, cv=cv)
        expected = []
        for train, test in cv.split(X, y_partial):
            model = _quick(unlabeled=marker).fit(X[train], y_partial[train])
            keep = test[labeled[test]]
            expected.append(np.mean(model.predict(X[keep]) == y[keep]))
        np.testing.assert_allclose(scores, expected)
        assert np.isfinite(scores).all() and scores.min() > 0.8


def test_grid_search_with_none_marker_picks_the_better_grid_point():
    X, y = load_breast_cancer(return_X_y=True)
    labeled = np.random.default_rng(0).random(len(y)) < 0.1
    y_partial = np.array(["benign", "malignant"], dtype=object)[1 - y]
    y_partial[~labeled] = None
    model = Pipeline([("scale", StandardScaler()),
                      ("pl", PseudoLabeler(estimator=LogisticRegression(), unlabeled=None,
                                           guardrail="none", max_iter=2, random_state=0))])
    search = GridSearchCV(model, {"pl__estimator__C": [0.0001, 1.0]},
                          cv=LabeledStratifiedKFold(3, shuffle=True, random_state=0, unlabeled=None),
                          scoring=make_labeled_scorer("balanced_accuracy"))
    search.fit(X, y_partial)
    means = search.cv_results_["mean_test_score"]
    assert np.isfinite(means).all() and means[1] > means[0] + 0.2
    assert search.best_params_ == {"pl__estimator__C": 1.0}


def test_x_unlabeled_through_a_pipeline_is_refused_with_the_marker_advice():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.normal(size=60), "region": rng.choice(["west", "east"], 60)})
    y = (frame["size"] > 0).astype(int).to_numpy().copy()
    y[::3] = -1
    pipeline = Pipeline([
        ("encode", ColumnTransformer([("onehot", OneHotEncoder(), ["region"])],
                                     remainder="passthrough")),
        ("pl", _quick()),
    ])
    with pytest.raises(InputError, match=r"skips the pipeline's transformers.*marker \(-1\)"):
        pipeline.fit(frame, y, pl__X_unlabeled=frame.iloc[:10])
    with pytest.raises(InputError, match="does not match X"):
        _quick().fit(frame[["size"]].to_numpy(), y, X_unlabeled=np.zeros((4, 3)))
    pipeline.fit(frame, y)  # the advice works: the pool rows in X, marked in y
    assert pipeline.score(frame, y) > 0.5


# ---------------------------------------------------------------------------------------------
# README


def test_readme_tuning_recipe_runs_as_written(capsys):
    text = README.read_text()
    section = text.split("\n## Tuning PseudoLabeler with GridSearchCV\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    namespace: dict = {"__name__": "readme_tuning"}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    search = namespace["search"]
    assert search.best_params_["pl__estimator__C"] == 1.0
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert np.isfinite(namespace["scores"]).all() and namespace["scores"].min() > 0.8
    assert "pl__estimator__C" in capsys.readouterr().out

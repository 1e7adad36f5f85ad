"""The unlabeled marker at every entry point: None, NaN, -1, "" and "-1" mark the same rows as
unlabeled (never a class named "None"), and an ambiguous marker is an error naming the row.

Entry points: PseudoLabeler, SelfTrainingClassifier (both take ``unlabeled=``), the
model-selection scorer and splitter (``pseudolabel.model_selection``), and ActiveLearner
(no marker: a missing label is refused, an oracle's None abstains).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pseudolabel import ActiveLearner, PseudoLabeler, SelfTrainingClassifier
from pseudolabel.exceptions import InputError
from pseudolabel.model_selection import (
    LabeledStratifiedKFold,
    labeled_subset,
    make_labeled_scorer,
)

NAMES = np.array(["setosa", "versicolor", "virginica"], dtype=object)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    labeled = np.random.default_rng(0).random(len(y)) < 0.3
    return X, y, labeled


def _marked(y, labeled):
    """(marker, y, labels are strings) for every way of marking the same unlabeled rows."""
    names = NAMES[y]
    out = [(-1, np.where(labeled, y, -1), False),
           (np.nan, np.where(labeled, y.astype(float), np.nan), False)]
    for marker, dtype in ((None, object), (np.nan, object), ("", object), ("", str),
                          (-1, object), ("-1", str), ("?", object)):
        y_m = names.astype(dtype)
        y_m[~labeled] = marker if dtype is object else str(marker)
        out.append((marker, y_m, True))
    return out


def _model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _ids(cases):
    return [f"{m!r}-{y.dtype}" for m, y, _ in cases]


def test_every_marker_marks_the_same_rows(iris):
    X, y, labeled = iris
    cases = _marked(y, labeled)
    numeric, strings = {}, {}
    for marker, y_m, is_str in cases:
        name = f"{marker!r}-{y_m.dtype}"
        pl = PseudoLabeler(estimator=_model(), strategy="threshold", guardrail="none",
                           max_iter=2, unlabeled=marker, random_state=0).fit(X, y_m)
        st = SelfTrainingClassifier(LogisticRegression(max_iter=1000), threshold=0.9,
                                    max_iter=2, unlabeled=marker).fit(X, y_m)
        for model in (pl, st):
            assert len(model.classes_) == 3, (name, model.classes_)
            assert (model.labeled_iter_ == 0).sum() == labeled.sum(), name
        assert pl.classes_.tolist() == (NAMES.tolist() if is_str else [0, 1, 2]), name
        got = (pl.predict(X), st.predict(X))
        (strings if is_str else numeric)[name] = got
        scorer = make_labeled_scorer("accuracy")
        assert scorer(pl, X, y_m) == pytest.approx(
            np.mean(pl.predict(X[labeled]) == y_m[labeled])), name
        folds = list(LabeledStratifiedKFold(3, unlabeled=marker).split(X, y_m))
        assert all(labeled[test].sum() >= 10 for _, test in folds), name
        X_l, y_l, _ = labeled_subset(X, y_m, unlabeled=marker)
        assert len(y_l) == labeled.sum() and set(y_l.tolist()) == set(pl.classes_.tolist())
    for group in (numeric, strings):
        first = next(iter(group.values()))
        for name, got in group.items():
            np.testing.assert_array_equal(got[0], first[0], err_msg=name)
            np.testing.assert_array_equal(got[1], first[1], err_msg=name)
    np.testing.assert_array_equal(next(iter(strings.values()))[0],
                                  NAMES[next(iter(numeric.values()))[0]])


def _ambiguous(y, labeled):
    names = NAMES[y].copy()
    none_with_minus_one = names.copy()
    none_with_minus_one[~labeled] = None
    nan_float = np.where(labeled, y.astype(float), np.nan)
    text_none = names.copy()
    text_none[~labeled] = None
    text_none[np.flatnonzero(labeled)[0]] = "None"
    text_minus_one = names.copy()
    text_minus_one[~labeled] = -1
    text_minus_one[np.flatnonzero(labeled)[1]] = "-1"
    blank = names.copy()
    blank[~labeled] = ""
    blank[np.flatnonzero(labeled)[2]] = "  "
    ints = np.where(labeled, y, -1)
    first, second, third = (int(r) for r in np.flatnonzero(labeled)[:3])
    first_pool = int(np.flatnonzero(~labeled)[0])
    return [
        (-1, none_with_minus_one,
         rf"missing value \(None\) at row {first_pool}, but the unlabeled marker is -1.*"
         r"pass unlabeled=None"),
        (-1, nan_float, rf"missing value \(.*nan\) at row {first_pool}|Input y contains NaN"),
        (None, text_none, rf"text 'None' at row {first}, and unlabeled=None marks missing"),
        (-1, text_minus_one, rf"'-1' at row {second}, which reads as the unlabeled marker -1"),
        ("", blank, rf"'  ' at row {third}, which reads as the unlabeled marker ''"),
        ("-1", ints, rf"at row {first_pool}, which reads as the unlabeled marker '-1'"),
    ]


@pytest.mark.parametrize("entry", ["PseudoLabeler", "SelfTrainingClassifier",
                                   "LabeledStratifiedKFold", "make_labeled_scorer"])
def test_an_ambiguous_marker_is_an_error_naming_the_row(iris, entry):
    X, y, labeled = iris
    for marker, y_m, message in _ambiguous(y, labeled):
        with pytest.raises((InputError, ValueError), match=message):
            if entry == "PseudoLabeler":
                PseudoLabeler(estimator=_model(), guardrail="none", max_iter=1,
                              unlabeled=marker).fit(X, y_m)
            elif entry == "SelfTrainingClassifier":
                SelfTrainingClassifier(LogisticRegression(), max_iter=1,
                                       unlabeled=marker).fit(X, y_m)
            elif entry == "LabeledStratifiedKFold":
                list(LabeledStratifiedKFold(3, unlabeled=marker).split(X, y_m))
            else:
                fitted = PseudoLabeler(estimator=_model(), guardrail="none", max_iter=1,
                                       unlabeled=-1).fit(X, np.where(labeled, y, -1))
                make_labeled_scorer("accuracy", unlabeled=marker)(fitted, X, y_m)


def test_active_learner_refuses_missing_labels_and_takes_an_oracles_none(iris):
    X, y, labeled = iris
    names = NAMES[y]
    learner = ActiveLearner(random_state=0)
    for bad in (np.array(["setosa", None, "virginica"], dtype=object),
                np.array([0.0, np.nan, 2.0])):
        with pytest.raises(InputError, match=r"missing label \(None/NaN\) at row 1"):
            learner.teach(X[[0, 60, 120]], bad)
    seed = np.r_[0:3, 50:53, 100:103]
    learner.teach(X[seed], names[seed])
    pool = np.setdiff1d(np.arange(len(y)), seed)

    def oracle(idx):  # abstains on the first row of every batch
        return [None] + [names[pool[i]] for i in idx[1:]]

    learner.run(X[pool], oracle, budget=12, batch_size=6)
    taught = learner.y_labeled_.tolist()
    assert None not in taught and set(taught) <= set(NAMES.tolist())
    assert len(seed) < len(taught) <= len(seed) + 10

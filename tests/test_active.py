"""ActiveLearner: estimator conventions, teach/query/run, the CEAL loop, events, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from pseudolabel import ActiveLearner, LearningCurve
from pseudolabel.exceptions import InputError, ParameterError, PluginError, PseudolabelWarning
from pseudolabel.hookspecs import hookimpl
from pseudolabel.plugins import isolated_plugin_manager



@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small fits on a shared CPU: BLAS thread oversubscription makes them many times slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), isolated_plugin_manager():
        yield  # built-in plugins only: tests never depend on what happens to be installed

@parametrize_with_checks(
    [
        ActiveLearner(),
        ActiveLearner(query_strategy="margin", pseudo_label="ceal", random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


def _start(X, y, per_class=2, seed=0):
    rng = np.random.default_rng(seed)
    init = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
    )
    pool = np.setdiff1d(np.arange(len(y)), init)
    return init, pool


class Recorder:
    """A plugin that records the event hooks."""

    def __init__(self):
        self.rounds = []
        self.selected = []

    @hookimpl
    def pseudolabel_round_end(self, summary):
        self.rounds.append(summary)

    @hookimpl
    def pseudolabel_labels_selected(self, selection):
        self.selected.append(selection)


def test_teach_query_predict_and_scores():
    X, y = load_iris(return_X_y=True)
    init, pool = _start(X, y)
    # margin from the first batch: the default first batch (TypiClust) is test_typical.py's
    learner = ActiveLearner(_model(), query_strategy="margin", cold_start=None).teach(
        X[init], y[init])
    assert learner.model_version_ == 1 and learner.classes_.tolist() == [0, 1, 2]
    idx = learner.query(X[pool], 7)
    assert idx.dtype == np.int64 and len(idx) == 7
    assert learner.query_scores_.shape == (7,)
    assert np.all(np.diff(learner.query_scores_) <= 1e-12)  # best first
    idx2, scores = learner.query(X[pool], 7, return_scores=True)
    assert idx2.tolist() == idx.tolist()
    # scores are the strategy's: 1 - margin of the model's probabilities
    P = learner.predict_proba(X[pool][idx])
    top2 = np.sort(P, axis=1)[:, -2:]
    np.testing.assert_allclose(scores, 1 - (top2[:, 1] - top2[:, 0]), atol=1e-9)
    expected = learner.classes_[np.argmax(learner.predict_proba(X[:3]), axis=1)]
    assert learner.predict(X[:3]).tolist() == expected.tolist()
    assert 0.0 <= learner.score(X, y) <= 1.0
    # exclude
    idx3 = learner.query(X[pool], 5, exclude=idx[:3])
    assert not np.isin(idx3, idx[:3]).any()


def test_query_before_teach_is_a_clear_error():
    X, _ = load_iris(return_X_y=True)
    with pytest.raises(NotFittedError, match="before any teach"):
        ActiveLearner().query(X, 5)
    learner = ActiveLearner().teach(X[[0, 50]], [0, 1], refit=False)
    with pytest.raises(NotFittedError, match="refit"):
        learner.query(X, 5)


def test_n_larger_than_pool_returns_the_pool_with_a_warning():
    X, y = load_iris(return_X_y=True)
    learner = ActiveLearner(_model()).teach(X[[0, 50, 100]], y[[0, 50, 100]])
    with pytest.warns(PseudolabelWarning, match="only 10 rows"):
        idx = learner.query(X[:12], 50, exclude=[0, 1])
    assert sorted(idx.tolist()) == list(range(2, 12))
    with pytest.raises(ParameterError, match="positive"):
        learner.query(X, 0)
    with pytest.raises(InputError, match="empty"):
        learner.query(X[:0], 3)
    with pytest.raises(InputError, match="features"):
        learner.query(X[:, :2], 3)


def test_deferred_refit():
    X, y = load_iris(return_X_y=True)
    learner = ActiveLearner(_model()).teach(X[[0, 50, 100]], y[[0, 50, 100]])
    learner.teach(X[[1, 51]], y[[1, 51]], refit=False)
    learner.teach(X[[2, 52]], y[[2, 52]], refit=False)
    assert learner.n_pending_ == 4 and learner.model_version_ == 1
    assert len(learner.y_labeled_) == 7
    learner.refit()
    assert learner.n_pending_ == 0 and learner.model_version_ == 2


def test_label_space_and_bad_labels():
    X, y = load_iris(return_X_y=True)
    learner = ActiveLearner(_model(), classes=[0, 1, 2]).teach(X[[0, 50]], [0, 1])
    assert learner.classes_.tolist() == [0, 1, 2]
    assert learner.predict_proba(X[:2]).shape == (2, 3)
    with pytest.raises(InputError, match="not a known class"):
        learner.teach(X[[3]], [7])
    assert len(learner.y_labeled_) == 2  # nothing added
    with pytest.raises(InputError, match="missing label"):
        ActiveLearner().teach(X[:3], np.array(["a", None, "b"], dtype=object))
    with pytest.raises(InputError, match="string labels"):
        ActiveLearner(_model()).teach(X[[0, 50]], [0, 1]).teach(X[[1]], ["x"])
    with pytest.raises(InputError, match="NaN"):
        ActiveLearner().teach(np.full((2, 4), np.nan), [0, 1])


def test_run_learning_curve_budget_and_events():
    X, y = load_wine(return_X_y=True)
    init, pool = _start(X, y)
    rec = Recorder()
    with isolated_plugin_manager(rec):
        learner = ActiveLearner(_model(), query_strategy="entropy", random_state=0)
        learner.teach(X[init], y[init])
        asked = []

        def oracle(idx):
            asked.extend(idx.tolist())
            return y[pool][idx]

        curve = learner.run(
            X[pool], oracle, budget=25, batch_size=10, X_test=X[pool], y_test=y[pool]
        )
    assert isinstance(curve, LearningCurve)
    assert curve.n_queried.tolist() == [0, 10, 20, 25]
    assert curve.n_labels.tolist() == [6, 16, 26, 31]
    assert len(asked) == 25 and len(set(asked)) == 25  # never asked twice
    assert curve.scores.shape == (4,) and curve.scores[-1] > curve.scores[0]
    assert 0 < curve.auc() <= 1 and curve.auc(x="n_labels") == pytest.approx(curve.auc())
    assert len(curve.to_frame()) == 4
    assert [s.round for s in rec.rounds] == [0, 1, 2, 3]
    assert all(s.source == "active_learning" for s in rec.rounds)
    assert rec.rounds[-1].n_selected == 5 and rec.rounds[-1].score == pytest.approx(curve.scores[-1])
    queries = [s for s in rec.selected if s.source == "active_learning"]
    assert [len(s) for s in queries] == [10, 10, 5]
    assert len(learner.history_) == 4


def test_run_oracle_abstains_and_unknown_classes():
    X, y = load_iris(return_X_y=True)
    init, pool = _start(X, y)
    learner = ActiveLearner(_model(), query_strategy="margin").teach(X[init], y[init])

    def shy_oracle(idx):
        labels = y[pool][idx].astype(object)
        labels[::2] = None  # abstain on every other row
        return labels

    curve = learner.run(X[pool], shy_oracle, budget=20, batch_size=10)
    assert curve.scores is None
    assert curve.n_queried[-1] == 20 and curve.n_abstained[-1] == 10
    assert curve.n_labels[-1] == len(init) + 10
    with pytest.raises(ParameterError, match="no scores"):
        curve.auc()

    n_before = len(learner.y_labeled_)
    with pytest.raises(InputError, match="'cat'.*not a known class"):
        learner.run(X[pool], lambda idx: ["cat"] * len(idx), budget=5)
    assert len(learner.y_labeled_) == n_before  # nothing taught
    with pytest.raises(InputError, match="3 labels for 5"):
        learner.run(X[pool], lambda idx: [0, 1, 2], budget=5)
    with pytest.raises(InputError, match="returned None"):
        learner.run(X[pool], lambda idx: None, budget=5)
    masked = learner.run(
        X[pool], lambda idx: np.ma.masked_array(y[pool][idx], mask=[True] + [False] * (len(idx) - 1)),
        budget=5,
    )
    assert masked.n_abstained[-1] == 1


def test_run_before_teach_and_bad_params():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(NotFittedError):
        ActiveLearner().run(X, lambda idx: y[idx], budget=5)
    learner = ActiveLearner(_model()).teach(X[[0, 50, 100]], y[[0, 50, 100]])
    with pytest.raises(ParameterError, match="budget"):
        learner.run(X, lambda idx: y[idx], budget=0)
    with pytest.raises(ParameterError, match="X_test"):
        learner.run(X, lambda idx: y[idx], budget=5, X_test=X)


def test_run_stops_when_the_pool_is_exhausted():
    X, y = load_iris(return_X_y=True)
    learner = ActiveLearner(_model(), query_strategy="random", random_state=0)
    learner.teach(X[[0, 50, 100]], y[[0, 50, 100]])
    curve = learner.run(X[:30], lambda idx: y[:30][idx], budget=100, batch_size=8)
    assert curve.n_queried[-1] == 30


def test_ceal_pseudo_labels_never_override_humans_and_are_redecided():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    init, pool = _start(X, y, seed=1)
    rec = Recorder()
    from pseudolabel.strategies.selection import CEALStrategy

    with isolated_plugin_manager(rec):
        learner = ActiveLearner(
            _model(), query_strategy="entropy",
            pseudo_label=CEALStrategy(delta0=0.5, decay=0.05), random_state=0,
        )
        learner.teach(X[init], y[init])
        queried: set[int] = set()
        seen_pseudo: list[np.ndarray] = []

        def oracle(idx):
            # pseudo-labels of the previous round never include a row a human has answered
            assert not (set(learner.pseudo_indices_.tolist()) & queried)
            queried.update(idx.tolist())
            seen_pseudo.append(learner.pseudo_indices_.copy())
            return y[pool][idx]

        curve = learner.run(X[pool], oracle, budget=40, batch_size=10,
                            X_test=X[pool], y_test=y[pool])
    assert not (set(learner.pseudo_indices_.tolist()) & queried)
    assert curve.n_pseudo[1:].max() > 0
    assert curve.thresholds[1:] == pytest.approx([0.5, 0.45, 0.4, 0.35])
    # rebuilt each round (not a growing union)
    last = learner.pseudo_indices_
    assert len(last) == curve.n_pseudo[-1]
    pseudo_events = [s for s in rec.selected if s.source == "ceal"]
    assert pseudo_events and all(len(s) > 0 for s in pseudo_events)
    # pseudo labels are the model's, in the label space
    assert set(np.unique(learner.pseudo_labels_)) <= set(learner.classes_)
    acc = np.mean(learner.pseudo_labels_ == y[pool][learner.pseudo_indices_])
    assert acc > 0.9
    assert [s.thresholds for s in rec.rounds[1:]] == pytest.approx([0.5, 0.45, 0.4, 0.35])


def test_update_pseudo_labels_manual_loop_and_human_wins():
    X, y = load_iris(return_X_y=True)
    init, pool = _start(X, y, per_class=5)
    learner = ActiveLearner(_model(), pseudo_label="threshold").teach(X[init], y[init])
    learner.update_pseudo_labels(X[pool])
    first = set(learner.pseudo_indices_.tolist())
    assert first
    human = np.array(sorted(first))[:5]
    learner.update_pseudo_labels(X[pool], exclude=human)
    assert not (set(learner.pseudo_indices_.tolist()) & set(human.tolist()))
    with pytest.raises(ParameterError, match="pseudo_label"):
        ActiveLearner(_model()).teach(X[init], y[init]).update_pseudo_labels(X[pool])


def test_pseudo_confidence_is_the_probability_of_the_pseudo_label():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    init, pool = _start(X, y, per_class=5)
    learner = ActiveLearner(_model(), pseudo_label="threshold",
                            classes=["virginica", "setosa", "versicolor"])
    learner.teach(X[init], names[init]).update_pseudo_labels(X[pool], refit=False)
    assert learner.pseudo_indices_.shape[0] > 10
    P = learner.predict_proba(X[pool])
    cols = [learner.classes_.tolist().index(v) for v in learner.pseudo_labels_.tolist()]
    np.testing.assert_allclose(learner.pseudo_confidence_, P[learner.pseudo_indices_, cols])
    np.testing.assert_array_equal(cols, P[learner.pseudo_indices_].argmax(axis=1))


def test_a_selection_strategy_that_ignores_exclude_is_named():
    from pseudolabel.strategies.base import Decision, SelectionStrategy

    class Greedy(SelectionStrategy):
        rebuild = True

        def _select(self, proba, *, round, exclude):
            rows = np.arange(proba.shape[0])  # takes every row, excluded or not
            return Decision(rows, proba.argmax(axis=1), None, None, {})

    X, y = load_iris(return_X_y=True)
    init, pool = _start(X, y, per_class=5)
    learner = ActiveLearner(_model(), pseudo_label=Greedy()).teach(X[init], y[init])
    with pytest.raises(PluginError, match="Greedy pseudo-labeled pool row 3, which has a human"):
        learner.update_pseudo_labels(X[pool], exclude=[3, 7])


def test_dataframe_pool_and_string_labels():
    X, y = load_iris(return_X_y=True, as_frame=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y.to_numpy()]
    init, pool = _start(X.to_numpy(), y.to_numpy())
    learner = ActiveLearner(_model(), query_strategy="least_confident", chunk_size=16)
    learner.teach(X.iloc[init], names[init])
    idx = learner.query(X.iloc[pool], 4)
    assert len(idx) == 4
    curve = learner.run(X.iloc[pool], lambda i: names[pool][i], budget=10, batch_size=5,
                        X_test=X, y_test=names)
    assert curve.scores[-1] > 0.8
    assert set(learner.predict(X)) <= set(names)


@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
def test_real_boosting_backends(backend):
    X, y = load_breast_cancer(return_X_y=True)
    init, pool = _start(X, y, per_class=5)
    params = {"n_estimators": 15, "n_jobs": 1}
    if backend == "lightgbm":
        params.update(min_child_samples=2, verbose=-1)
    from pseudolabel.plugins import make_backend

    # the committee from the first batch (this tests qbc over the real backends)
    learner = ActiveLearner(make_backend(backend, **params), query_strategy="qbc",
                            cold_start=None, random_state=0)
    learner.teach(X[init], y[init])
    curve = learner.run(X[pool], lambda i: y[pool][i], budget=20, batch_size=10,
                        X_test=X, y_test=y)
    assert curve.n_labels[-1] == 30 and curve.scores[-1] > 0.8


def test_clone_and_params_are_pure():
    learner = ActiveLearner(_model(), query_strategy="qbc", pseudo_label="ceal")
    twin = clone(learner)
    assert twin.get_params()["query_strategy"] == "qbc"
    X, y = load_iris(return_X_y=True)
    learner.fit(X, y)
    assert not hasattr(learner.estimator[-1], "coef_")  # the given estimator is never fitted
    with pytest.raises(Exception, match="unknown query strategy"):
        ActiveLearner(query_strategy="nope").fit(X, y)


def test_margin_beats_random_on_digits_quality():
    """Quality check on a real dataset (several seeds, small budget): the benchmark does more."""
    X, y = load_digits(return_X_y=True)
    gains = []
    for seed in range(2):
        init, pool = _start(X, y, seed=seed)
        aucs = {}
        for strategy in ("random", "margin"):
            learner = ActiveLearner(_model(), query_strategy=strategy, random_state=seed)
            learner.teach(X[init], y[init])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                curve = learner.run(X[pool], lambda i: y[pool][i], budget=150, batch_size=30,
                                    X_test=X[pool], y_test=y[pool])
            aucs[strategy] = curve.scores[-1]
        gains.append(aucs["margin"] - aucs["random"])
    assert np.mean(gains) > 0, gains


def test_run_records_the_loop_in_a_label_store(tmp_path):
    from pseudolabel.store import SQLiteStore

    X, y = load_digits(return_X_y=True)
    X, y = X[:500], y[:500]
    init, pool = _start(X, y, seed=2)
    ids = np.array([f"img{i:04d}" for i in pool])
    learner = ActiveLearner(_model(), query_strategy="margin", pseudo_label="ceal",
                            random_state=0).teach(X[init], y[init])

    def oracle(idx):
        labels = y[pool][idx].astype(object)
        labels[0] = None
        return labels

    with SQLiteStore(tmp_path / "labels.db", create=True) as store:
        learner.run(X[pool], oracle, budget=20, batch_size=10, store=store, ids=ids,
                    annotator="sim")
        st = store.status()
        hist = store.history()
        assert st.round == 2 and st.n_batches == 2
        human = hist[hist["source"] == "human"]
        assert len(human) == 18 and set(human["annotator"]) == {"sim"}
        assert sorted(set(human["round"])) == [1, 2]
        truth = dict(zip(ids, y[pool].astype(str)))
        assert all(truth[i] == lab for i, lab in zip(human["id"], human["label"]))
        pseudo = hist[hist["source"] == "pseudo"]
        assert len(pseudo) > 0 and pseudo["confidence"].between(0, 1).all()
        assert st.n_pending == 2  # the two abstentions
        current = store.current_labels(include_pseudo=True).set_index("id")
        assert (current.loc[human["id"], "source"] == "human").all()
    with pytest.raises(ParameterError, match="ids="):
        learner.run(X[pool], oracle, budget=5, store=object())

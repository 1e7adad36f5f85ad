"""ActiveLearner on the one loop core: its defaults, its parameter checks, its CEAL round."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from pseudolabel import ActiveLearner
from pseudolabel._compat import InvalidParameterError
from pseudolabel.exceptions import ParameterError
from pseudolabel.loop import PseudoSet, run_round
from pseudolabel.plugins import isolated_plugin_manager
from pseudolabel.strategies.query import MarginQuery


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), isolated_plugin_manager():
        yield


def _seed_rows(y, per_class=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
    )


def test_defaults_are_margin_and_the_one_scaled_logistic_regression():
    X, y = load_wine(return_X_y=True)
    init = _seed_rows(y)
    learner = ActiveLearner(random_state=0).teach(X[init], y[init])
    assert isinstance(learner.query_strategy_, MarginQuery)
    model = learner.backend_.estimator
    assert isinstance(model, Pipeline)
    assert isinstance(model.steps[0][1], StandardScaler) and model.steps[0][1].with_mean
    # the same model as the explicit pipeline: same probabilities
    explicit = Pipeline([("s", StandardScaler()), ("l", LogisticRegression(max_iter=1000))])
    explicit.fit(X[init], y[init])
    np.testing.assert_allclose(learner.predict_proba(X), explicit.predict_proba(X), atol=1e-8)


def test_default_model_scales_without_centring_for_sparse_input():
    X, y = load_iris(return_X_y=True)
    init = _seed_rows(y)
    learner = ActiveLearner(random_state=0).teach(sp.csr_matrix(X[init]), y[init])
    model = learner.backend_.estimator
    assert model.steps[0][1].with_mean is False
    assert learner.query(sp.csr_matrix(X), 4).shape == (4,)


@pytest.mark.parametrize(
    "params, name",
    [({"chunk_size": 0}, "chunk_size"), ({"chunk_size": 2.5}, "chunk_size"),
     ({"random_state": "x"}, "random_state"), ({"query_strategy": 3}, "query_strategy"),
     ({"pseudo_label": 1.0}, "pseudo_label"), ({"estimator": 7}, "estimator")],
)
def test_parameter_constraints_name_the_parameter(params, name):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ParameterError, match=name) as info:
        ActiveLearner(**params).fit(X[:100:10], y[:100:10])
    assert isinstance(info.value, InvalidParameterError)


def test_strategy_instances_are_copied_never_used_in_place():
    X, y = load_iris(return_X_y=True)
    strategy = MarginQuery()
    learner = ActiveLearner(query_strategy=strategy).fit(X[::10], y[::10])
    assert learner.query_strategy_ is not strategy
    assert type(learner.query_strategy_) is MarginQuery


def test_ceal_round_is_the_loop_cores_run_round():
    """update_pseudo_labels gives exactly the pseudo-set of run_round over the same
    probabilities (accumulating strategy: held rows are kept, humans blocked)."""
    X, y = load_iris(return_X_y=True)
    init = _seed_rows(y, per_class=5)
    pool = np.setdiff1d(np.arange(len(y)), init)
    human = np.zeros(len(pool), dtype=bool)
    human[:7] = True
    learner = ActiveLearner(LogisticRegression(max_iter=500), pseudo_label="threshold")
    learner.teach(X[init], y[init]).update_pseudo_labels(X[pool], exclude=human, refit=False)

    from pseudolabel.plugins import make_strategy

    strategy = make_strategy("threshold", kind="selection")
    prior = np.bincount(y[init]) / len(init)
    strategy.start(n_classes=3, n_labeled=len(init), n_unlabeled=len(pool), class_prior=prior)
    proba = learner.predict_proba(X[pool])
    result = run_round(PseudoSet.empty(), strategy=strategy, predict=lambda rows: proba[rows],
                       n_pool=len(pool), n_classes=3, round=1, rebuild=strategy.rebuild,
                       predict_all=True, blocked=human)
    np.testing.assert_array_equal(learner.pseudo_indices_, result.pseudo_set.rows)
    np.testing.assert_array_equal(learner.pseudo_labels_,
                                  learner.classes_[result.pseudo_set.labels])
    np.testing.assert_allclose(learner.pseudo_confidence_, result.pseudo_set.confidence)
    assert not human[learner.pseudo_indices_].any()
    # a second round adds to the set (accumulate) and never re-takes held rows
    first = learner.pseudo_indices_.copy()
    learner.update_pseudo_labels(X[pool], exclude=human, refit=True)
    assert set(first.tolist()) <= set(learner.pseudo_indices_.tolist())
    assert len(set(learner.pseudo_indices_.tolist())) == len(learner.pseudo_indices_)

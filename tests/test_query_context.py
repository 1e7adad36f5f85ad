"""QueryContext: the one contract between a learner and a query strategy."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from pseudolabel import ActiveLearner
from pseudolabel.exceptions import ParameterError
from pseudolabel.plugins import as_backend, isolated_plugin_manager, make_strategy
from pseudolabel.strategies import query as query_module
from pseudolabel.strategies.base import (
    LearnerContext,
    QueryContext,
    as_query_context,
    require_labeled,
)


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    with isolated_plugin_manager():
        yield


def _iris_learner(strategy="margin"):
    X, y = load_iris(return_X_y=True)
    lab = np.r_[0:3, 50:53, 100:103]
    learner = ActiveLearner(LogisticRegression(max_iter=500), query_strategy=strategy,
                            random_state=0).teach(X[lab], y[lab])
    return X, y, lab, learner


class PlainContext:
    """A QueryContext written from the protocol alone (no pseudolabel base class)."""

    def __init__(self, model, X_labeled, y_labeled, classes):
        self.model = model
        self.classes = classes
        self.X_labeled = X_labeled
        self.y_labeled = y_labeled
        self.rng = np.random.default_rng(0)
        self.chunk_size = 11
        self.model_version = 1
        self.prepared = 0

    def predict_proba(self, X):
        return self.model.predict_proba(X)

    def prepare(self, X):
        self.prepared += 1
        return X

    def new_member(self, purpose):
        return as_backend(LogisticRegression(max_iter=500)).clone()


def test_active_learner_context_holds_what_strategies_may_know():
    X, y, lab, learner = _iris_learner()
    context = learner.query_context()
    assert isinstance(context, QueryContext)
    np.testing.assert_array_equal(context.classes, learner.classes_)
    np.testing.assert_array_equal(context.y_labeled, y[lab])
    assert context.chunk_size == learner.chunk_size and context.rng is learner.rng_
    np.testing.assert_allclose(context.predict_proba(X[:5]), learner.predict_proba(X[:5]))
    member = context.new_member("a test")
    assert not hasattr(member, "classes_")  # unfitted
    version = context.model_version
    learner.teach(X[[10]], y[[10]])
    assert learner.query_context().model_version != version
    assert as_query_context(learner).model_version == learner.query_context().model_version


@pytest.mark.parametrize("name", ["random", "least_confident", "margin", "entropy", "qbc",
                                  "kl_divergence", "ranked_batch"])
def test_every_builtin_strategy_runs_on_a_protocol_only_context(name):
    X, y, lab, learner = _iris_learner()
    model = LogisticRegression(max_iter=500).fit(X[lab], y[lab])
    context = PlainContext(model, X[lab], y[lab], np.unique(y))
    strategy = make_strategy(name, kind="query")
    exclude = np.zeros(len(X), dtype=bool)
    exclude[lab] = True
    idx, scores = strategy.query(context, X, 6, exclude=exclude)
    assert idx.shape == (6,) and not exclude[idx].any()
    assert len(set(idx.tolist())) == 6
    if name in ("margin", "entropy", "least_confident"):
        # the same ranking as the learner's own context gives (same model, same probabilities)
        ref, _ = make_strategy(name, kind="query").query(
            LearnerContext(predict=model.predict_proba, classes=np.unique(y)), X, 6,
            exclude=exclude)
        np.testing.assert_array_equal(idx, ref)


def test_strategies_never_read_the_learners_private_state():
    source = inspect.getsource(query_module)
    for private in ("_prepare_X", "backend_", "X_labeled_", "y_labeled_", "rng_"):
        assert private not in source, private


def test_frozen_context_has_no_labels_and_no_member_factory():
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    context = LearnerContext(predict=model.predict_proba, classes=np.unique(y),
                             source="a frozen model bundle (--model)")
    with pytest.raises(ParameterError, match="labeled rows"):
        require_labeled(context, "query-by-committee")
    with pytest.raises(ParameterError, match="frozen model bundle"):
        context.new_member("a bootstrap committee")
    with pytest.raises(ParameterError, match="labeled rows"):
        make_strategy("qbc", kind="query").query(context, X, 3)
    # ranked_batch works without labeled rows (no distance to them)
    idx, _ = make_strategy("ranked_batch", kind="query").query(context, X, 4)
    assert idx.shape == (4,)


def test_bad_chunk_size_is_named():
    with pytest.raises(ParameterError, match="chunk_size"):
        LearnerContext(predict=None, chunk_size=0)

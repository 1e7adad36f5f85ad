"""The round function hands a RoundContext to the sources that need one, and only to them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pseudolabel.exceptions import ParameterError
from pseudolabel.loop.pseudoset import PseudoSet
from pseudolabel.loop.round import run_round
from pseudolabel.plugins import make_strategy
from pseudolabel.strategies.base import RoundContext


def make_member():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


@pytest.mark.parametrize("name", ["committee", "label_spreading", "sinkhorn"])
def test_run_round_passes_the_context_to_the_sources(name):
    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    L, P = order[:40], order[40:]
    model = make_member().fit(X[L], y[L])
    strategy = make_strategy(name, kind="selection")
    strategy.start(n_classes=2, n_labeled=40, n_unlabeled=len(P),
                   class_prior=np.bincount(y[L]) / 40, random_state=0)
    asked = []

    def context(rows):
        asked.append(rows)
        return RoundContext(X[L], y[L], X[P][rows], make_member=make_member)

    result = run_round(PseudoSet.empty(), strategy=strategy,
                       predict=lambda rows: model.predict_proba(X[P][rows]),
                       n_pool=len(P), n_classes=2, round=1, rebuild=strategy.rebuild,
                       context=context)
    assert result.n_selected > 0
    assert np.mean(result.labels == y[P][result.rows]) > 0.9
    if strategy.needs_context:
        assert len(asked) == 1 and np.array_equal(asked[0], np.arange(len(P)))
        strategy.start(n_classes=2, n_labeled=40, n_unlabeled=len(P))
        with pytest.raises(ParameterError, match="needs a RoundContext"):
            run_round(PseudoSet.empty(), strategy=strategy,
                      predict=lambda rows: model.predict_proba(X[P][rows]),
                      n_pool=len(P), n_classes=2, round=1, rebuild=True)
    else:
        assert asked == []

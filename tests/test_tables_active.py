"""``ActiveLearner`` on the churn-like table: LightGBM takes pandas categoricals and NaN as they
are; the default estimator gets the default preprocessing for a frame with string columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pseudolabel.datasets import CATEGORICAL, churn_frame
from pseudolabel import ActiveLearner


@pytest.fixture(scope="module")
def churn():
    df = churn_frame(500, seed=5)
    return df.drop(columns=["churn", "customer_id"]), df["churn"].to_numpy()


def _loop(learner, X, y, rounds=3, batch=10):
    seed = np.arange(40)
    learner.fit(X.iloc[seed], y[seed])
    labeled = np.zeros(len(y), dtype=bool)
    labeled[seed] = True
    for _ in range(rounds):
        idx = learner.query(X, batch, exclude=labeled)
        assert not labeled[idx].any() and len(set(idx.tolist())) == batch
        learner.teach(X.iloc[idx], y[idx])
        labeled[idx] = True
    return learner, labeled


def test_active_learner_with_lightgbm_takes_categoricals_and_nan(churn):
    from lightgbm import LGBMClassifier

    X, y = churn
    X = X.copy()
    for c in CATEGORICAL:
        X[c] = X[c].astype("category")
    assert X.isna().any().any()
    model = LGBMClassifier(n_estimators=30, min_child_samples=3, n_jobs=1, verbose=-1)
    learner, labeled = _loop(ActiveLearner(model, random_state=0), X, y)
    assert learner.X_labeled_.shape == (70, X.shape[1])
    assert isinstance(learner.X_labeled_, pd.DataFrame)
    assert (learner.X_labeled_[CATEGORICAL].dtypes == "category").all()
    accuracy = float((learner.predict(X[~labeled]) == y[~labeled]).mean())
    assert accuracy > 0.65, accuracy  # 70 labels: boosting is weaker than on 600


def test_active_learner_default_estimator_on_string_columns(churn):
    from sklearn.compose import ColumnTransformer

    X, y = churn
    learner, labeled = _loop(ActiveLearner(random_state=0), X, y)
    pipeline = learner.backend_.estimator_
    assert isinstance(pipeline.named_steps["preprocess"], ColumnTransformer)
    accuracy = float((learner.predict(X[~labeled]) == y[~labeled]).mean())
    assert accuracy > 0.7, accuracy
    unseen = X.iloc[:5].copy()
    unseen["region"] = "atlantis"  # never taught: encoded as no category, no error
    assert learner.predict_proba(unseen).shape == (5, 2)

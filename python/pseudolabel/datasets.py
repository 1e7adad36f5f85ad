"""Example tables: a churn-like customer table with strings, categories and missing values.

:func:`churn_frame` builds the table the README's "Real tables" commands, the tests and
``pseudolabel demo --example-files`` use: a ``customer_id``, 8 numeric columns
(:data:`NUMERIC`), 3 string categorical columns (:data:`CATEGORICAL`: region, plan, city),
5% missing values in each feature column, and string class labels (``churn`` = "stay" /
"churn"). The label depends on numeric columns and on two of the categorical columns, so a
model that ignores or mis-encodes the categories does measurably worse. Deterministic for a
seed; needs only numpy and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CATEGORICAL", "CITIES", "NUMERIC", "PLANS", "REGIONS", "churn_frame"]

REGIONS = ["east", "north", "south", "west"]
PLANS = ["basic", "family", "pro"]
CITIES = [f"city_{i:02d}" for i in range(14)]  # more than the one-hot limit: ordinal
NUMERIC = [f"num_{i}" for i in range(8)]
CATEGORICAL = ["region", "plan", "city"]


def churn_frame(n: int = 600, *, seed: int = 0, missing: float = 0.05) -> pd.DataFrame:
    """``n`` rows: ``customer_id`` (10000, 10001, ...), 8 numeric, 3 string categorical
    columns with a ``missing`` share of empty cells each (NaN / None), then ``churn``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    region = rng.choice(REGIONS, n)
    plan = rng.choice(PLANS, n, p=[0.5, 0.3, 0.2])
    city = rng.choice(CITIES, n)
    logit = (1.5 * X[:, 0] - 1.0 * X[:, 1] + 0.5 * X[:, 2]
             + np.select([region == "west", region == "east"], [2.0, -2.0], 0.0)
             + np.where(plan == "pro", -1.5, 0.5))
    churn = np.where(logit + rng.logistic(size=n) * 0.5 > 0, "churn", "stay")
    df = pd.DataFrame(X, columns=NUMERIC)
    df.insert(0, "customer_id", np.arange(10_000, 10_000 + n))
    df["region"], df["plan"], df["city"] = region, plan, city
    for col in [*NUMERIC, *CATEGORICAL]:
        holes = rng.random(n) < missing
        df[col] = df[col].astype(object if col in CATEGORICAL else float)
        df.loc[holes, col] = None if col in CATEGORICAL else np.nan
    df["churn"] = churn
    return df

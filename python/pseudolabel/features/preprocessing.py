"""The default scikit-learn preprocessing for a table with categorical columns.

Backends without native categorical support (the ``sklearn`` backend) get their estimator
wrapped as ``Pipeline([("preprocess", ColumnTransformer(...)), ("model", estimator)])``:

* numeric columns: median imputation, then standard scaling;
* categorical columns with at most :data:`ONE_HOT_MAX_CATEGORIES` recorded categories:
  one-hot encoding over the recorded categories (a missing or unseen value is all zeros);
* other categorical columns: ordinal codes over the recorded categories (missing = -1),
  then standard scaling.

Every step is a scikit-learn transformer, so the pipeline is saved with skops in the bundle
like any other scikit-learn estimator (no pickle). Columns are selected by name, except in a
schema of numbers only, whose input is a float matrix: by position.
"""

from __future__ import annotations

from typing import Any

from pseudolabel._validation import numeric_features
from pseudolabel.features.schema import CATEGORICAL, NUMERIC, FeatureSchema

__all__ = ["ONE_HOT_MAX_CATEGORIES", "default_estimator_for", "default_preprocessing",
           "with_preprocessing"]

#: categorical columns with at most this many categories are one-hot encoded
ONE_HOT_MAX_CATEGORIES = 10


def default_preprocessing(schema: FeatureSchema) -> Any:
    """A ``ColumnTransformer`` for the columns of ``schema`` (see the module docstring)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric: list[Any] = [c.name for c in schema.columns if c.kind == NUMERIC]
    if schema.is_numeric:  # the input is a float matrix (encode_table): columns by position
        numeric = list(range(len(schema.columns)))
    few = [c for c in schema.columns
           if c.kind == CATEGORICAL and len(c.categories) <= ONE_HOT_MAX_CATEGORIES]
    many = [c for c in schema.columns
            if c.kind == CATEGORICAL and len(c.categories) > ONE_HOT_MAX_CATEGORIES]
    steps: list[tuple[str, Any, list[Any]]] = []
    if numeric:
        steps.append(("numeric", make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
            numeric))
    if few:
        steps.append(("one_hot", OneHotEncoder(
            categories=[list(c.categories) for c in few], handle_unknown="ignore",
            sparse_output=False), [c.name for c in few]))
    if many:
        steps.append(("ordinal", make_pipeline(
            OrdinalEncoder(categories=[list(c.categories) for c in many],
                           handle_unknown="use_encoded_value", unknown_value=-1,
                           encoded_missing_value=-1),
            StandardScaler()), [c.name for c in many]))
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)


def with_preprocessing(estimator: Any, schema: FeatureSchema) -> Any:
    """``estimator`` behind the default preprocessing of ``schema`` (a scikit-learn Pipeline)."""
    from sklearn.pipeline import Pipeline

    return Pipeline([("preprocess", default_preprocessing(schema)), ("model", estimator)])


def default_estimator_for(X: Any) -> Any:
    """The default model for a table the plain default cannot take: a logistic regression
    behind :func:`default_preprocessing`, or None (the plain default estimator applies).

    A DataFrame with string or category columns, or with missing values, gets the
    preprocessing of its inferred schema (categories from these rows; unseen ones later are
    all-zero one-hot / ordinal -1): the model ``pseudolabel train --backend sklearn`` fits on
    the same table. Arrays and sparse matrices get None: a numeric array with NaN stays an
    error of the estimator (scikit-learn's estimator checks expect one).
    """
    if not hasattr(X, "dtypes") or not hasattr(X, "columns"):
        return None
    if numeric_features(X) and not X.isna().to_numpy().any():
        return None
    from sklearn.linear_model import LogisticRegression

    from pseudolabel.features.encode import as_arrow
    from pseudolabel.features.schema import infer_schema

    names = [str(c) for c in X.columns]
    table = as_arrow(X.set_axis(names, axis=1))
    schema = infer_schema(table, names, where="X")
    return with_preprocessing(LogisticRegression(max_iter=1000), schema)

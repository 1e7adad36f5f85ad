"""Feature schema of a table: which columns are features, which are categorical, their categories.

* :mod:`pseudolabel.features.schema`: choosing the feature columns (``--features`` /
  ``--exclude``), each column's kind (numeric or categorical) and a categorical column's
  recorded categories (:class:`FeatureSchema`, kept in a model bundle's manifest);
* :mod:`pseudolabel.features.encode`: a table chunk encoded exactly as training saw it
  (numbers as float64 with NaN, categories as a pandas ``category`` dtype with the recorded
  categories; a category never seen in training becomes missing and is counted per column);
* :mod:`pseudolabel.features.preprocessing`: the default scikit-learn preprocessing
  (``ColumnTransformer``) for backends without native categorical support.
"""

from __future__ import annotations

from pseudolabel.features.encode import EncodedChunk, UnseenCounts, encode_table
from pseudolabel.features.schema import (
    CATEGORICAL,
    NUMERIC,
    FeatureColumn,
    FeatureSchema,
    choose_features,
    infer_schema,
    looks_like_id,
    match_features,
    parse_column_list,
)

__all__ = [
    "CATEGORICAL",
    "NUMERIC",
    "EncodedChunk",
    "FeatureColumn",
    "FeatureSchema",
    "UnseenCounts",
    "choose_features",
    "encode_table",
    "infer_schema",
    "looks_like_id",
    "match_features",
    "parse_column_list",
]

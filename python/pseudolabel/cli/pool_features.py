"""The ``query`` command's model input: a pool's feature columns under a feature schema.

A pool whose features are all numbers keeps the float matrix of
:meth:`pseudolabel.io_pool.PoolFile.features` (a Parquet pool is streamed). A pool with
string or category columns, or with missing values and the ``sklearn`` backend, is encoded
with a :class:`~pseudolabel.features.FeatureSchema`: the bundle's (``--model``), else one
inferred from the pool itself. Its feature columns are then loaded whole (a DataFrame with
categorical columns cannot be streamed like the float matrix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PoolInput", "pool_input", "query_backend"]


@dataclass
class PoolInput:
    """The pool's model input ``X``, its schema, and unseen-category counts per column."""

    X: Any
    schema: Any
    encoded: bool
    unseen: dict[str, int] = field(default_factory=dict)


def _scan(pool: Any, features: list[str]) -> tuple[bool, bool]:
    """(every feature column numeric, some feature missing), streaming the pool once."""
    import numpy as np
    import pyarrow as pa

    from pseudolabel.features.schema import NUMERIC, column_kind

    numeric, missing = True, False
    for batch in pool.iter_feature_batches(features):
        for col in batch.columns:
            if column_kind(col.type) != NUMERIC:
                return False, missing
            if col.null_count or (pa.types.is_floating(col.type)
                                  and np.isnan(col.to_numpy(zero_copy_only=False)).any()):
                missing = True
    return numeric, missing


def pool_input(pool: Any, features: list[str], *, where: str, bundle: Any = None,
               backend: str = "sklearn") -> PoolInput:
    """The input for ``features`` of ``pool`` (see the module docstring)."""
    from pseudolabel.features import encode_table, infer_schema

    if bundle is not None:
        schema = bundle.schema
        if schema.is_numeric:
            return PoolInput(pool.features(features), schema, False)
        encoded = encode_table(schema, pool.feature_table(features), path=where)
        return PoolInput(encoded.X, schema, True, encoded.unseen)
    numeric, missing = _scan(pool, features)
    if numeric and (backend != "sklearn" or not missing):
        return PoolInput(pool.features(features), None, False)
    table = pool.feature_table(features)
    schema = infer_schema(table, features, where=where)
    encoded = encode_table(schema, table, path=where, as_frame=backend == "sklearn")
    return PoolInput(encoded.X, schema, True, encoded.unseen)


def query_backend(name: str, params: dict[str, Any], schema: Any) -> Any:
    """The ``sklearn`` model of ``query`` for an encoded pool: the default preprocessing
    (imputation, one-hot / ordinal categories, scaling) before a logistic regression."""
    from sklearn.linear_model import LogisticRegression

    from pseudolabel.exceptions import ParameterError
    from pseudolabel.features.preprocessing import with_preprocessing
    from pseudolabel.plugins import as_backend

    try:
        model = LogisticRegression(**{"max_iter": 1000, **params})
    except TypeError as exc:
        raise ParameterError(f"invalid --param for LogisticRegression: {exc}") from exc
    return as_backend(with_preprocessing(model, schema))

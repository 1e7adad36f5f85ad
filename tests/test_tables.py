"""Mixed-type tables (strings, categories, NaN) through the feature schema and ``train``.

The encoding is held against a plain-Python reference (hypothesis); the bundles are trained
on real Parquet/CSV files of the churn-like table of issue 12 with real LightGBM, XGBoost and
scikit-learn.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudolabel.datasets import CATEGORICAL, NUMERIC, churn_frame
from pseudolabel.batch import load_bundle, train_bundle
from pseudolabel.exceptions import InputError, PseudolabelWarning
from pseudolabel.features import (
    CATEGORICAL as KIND_CATEGORICAL,
    FeatureSchema,
    choose_features,
    encode_table,
    infer_schema,
    looks_like_id,
)

VALUES = st.sampled_from(["a", "b", "c", "d", "zz", "", None])


@settings(max_examples=60, deadline=None)
@given(train=st.lists(VALUES, min_size=1, max_size=30), chunk=st.lists(VALUES, max_size=30),
       numbers=st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=30),
       as_dictionary=st.booleans())
def test_encoding_matches_a_plain_reference(train, chunk, numbers, as_dictionary):
    column = pa.array(train, type=pa.string())
    if as_dictionary:
        column = column.dictionary_encode()
    schema = infer_schema(pa.table({"c": column, "x": pa.array([1.0] * len(train))}),
                          ["c", "x"], where="train.parquet")
    categories = schema.columns[0].categories
    if as_dictionary:  # the dictionary's order: first appearance
        assert list(categories) == list(dict.fromkeys(v for v in train if v))
    else:
        assert list(categories) == sorted({v for v in train if v})
    n = min(len(chunk), len(numbers))
    chunk, numbers = chunk[:n], numbers[:n]
    encoded = encode_table(schema, pa.table({"x": pa.array(numbers, type=pa.float64()),
                                             "c": pa.array(chunk, type=pa.string())}))
    codes = encoded.X["c"].cat.codes.to_numpy()
    lookup = {c: i for i, c in enumerate(categories)}
    expected = [lookup.get(v, -1) if v else -1 for v in chunk]  # "" is missing, as None
    assert codes.tolist() == expected
    assert list(encoded.X["c"].cat.categories) == list(categories)
    unseen = sum(bool(v) and v not in lookup for v in chunk)
    assert encoded.unseen == ({"c": unseen} if unseen else {})
    reference = np.array([np.nan if v is None else v for v in numbers], dtype=np.float64)
    np.testing.assert_array_equal(encoded.X["x"].to_numpy(), reference)
    assert list(encoded.X.columns) == ["c", "x"]  # the schema's order, not the chunk's


def test_numeric_schema_gives_a_float_matrix_and_refuses_strings():
    schema = FeatureSchema.numeric(["a", "b"])
    out = encode_table(schema, pa.table({"b": [1, None], "a": [0.5, 2.0]}))
    assert out.X.dtype == np.float64 and out.X.flags.c_contiguous
    np.testing.assert_array_equal(out.X, [[0.5, 1.0], [2.0, np.nan]])
    with pytest.raises(InputError, match=r"pool\.csv: feature column 'a' has type string"):
        encode_table(schema, pa.table({"a": ["x"], "b": [1]}), path="pool.csv")
    with pytest.raises(InputError, match=r"pool\.csv: missing feature column\(s\) 'b'"):
        encode_table(schema, pa.table({"a": [1.0]}), path="pool.csv")


def test_schema_round_trips_and_refuses_malformed():
    table = pa.Table.from_pandas(churn_frame(50), preserve_index=False)
    schema = infer_schema(table, [*NUMERIC, *CATEGORICAL], where="t")
    assert FeatureSchema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema
    assert [c.name for c in schema.categorical] == CATEGORICAL
    with pytest.raises(InputError, match="malformed feature schema"):
        FeatureSchema.from_dict({"columns": [{"name": "a", "kind": "text"}]})


def test_column_choice_errors_name_the_column_and_the_file():
    names = ["customer_id", "age", "region", "churn"]
    with pytest.raises(InputError, match=r"t\.csv: --features column 'regoin' not found; "
                                         r"did you mean 'region'"):
        choose_features(names, where="t.csv", target="churn", features=["age", "regoin"])
    with pytest.raises(InputError, match=r"t\.csv: --exclude column 'nope' not found"):
        choose_features(names, where="t.csv", target="churn", exclude=["nope"])
    with pytest.raises(InputError, match="names the target column 'churn'"):
        choose_features(names, where="t.csv", target="churn", features=["churn"])
    with pytest.raises(InputError, match="no feature columns left"):
        choose_features(names, where="t.csv", target="churn", id_column="customer_id",
                        exclude=["age", "region"])
    with pytest.warns(PseudolabelWarning, match="'customer_id' looks like a row id"):
        assert choose_features(names, where="t.csv", target="churn") == \
            ["customer_id", "age", "region"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert choose_features(names, where="t.csv", target="churn", id_column="customer_id",
                               exclude=["age"]) == ["region"]
    assert looks_like_id("id") and looks_like_id("User_ID") and looks_like_id("user-id")
    assert not looks_like_id("valid") and not looks_like_id("idle")
    assert looks_like_id("uuid") and looks_like_id("order_GUID") and not looks_like_id("fluid")


def test_unusable_column_type_names_column_and_file(tmp_path):
    df = churn_frame(40)
    df["signup"] = pd.Timestamp("2024-01-01")
    df.to_parquet(tmp_path / "dates.parquet")
    with pytest.raises(InputError, match=r"dates\.parquet: feature column 'signup' has type "
                                         r"timestamp"):
        train_bundle(tmp_path / "dates.parquet", backend="lightgbm", target="churn",
                     id_column="customer_id", output=tmp_path / "m")
    bundle = train_bundle(tmp_path / "dates.parquet", backend="lightgbm", target="churn",
                          id_column="customer_id", exclude=["signup"], output=tmp_path / "m",
                          params={"n_estimators": 5})
    assert "signup" not in bundle.feature_columns


@pytest.fixture(scope="module")
def churn_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("churn")
    df = churn_frame(800, seed=1)
    train, test = df.iloc[:600], df.iloc[600:].reset_index(drop=True)
    train.to_parquet(root / "train.parquet", index=False)
    train.to_csv(root / "train.csv", index=False)
    # a pandas category column in Parquet (an Arrow dictionary column) for `plan`
    cat = train.copy()
    cat["plan"] = pd.Categorical(cat["plan"], categories=["pro", "basic", "family"])
    cat.to_parquet(root / "train_cat.parquet", index=False)
    return root, train, test


@pytest.mark.parametrize("backend,source,params", [
    ("lightgbm", "train.parquet", {"n_estimators": 40, "random_state": 0}),
    ("xgboost", "train.csv", {"n_estimators": 40, "random_state": 0}),
    ("sklearn", "train_cat.parquet", {}),
])
def test_mixed_table_trains_with_categoricals_and_nan(churn_files, tmp_path, backend, source,
                                                      params):
    root, train, test = churn_files
    bundle = train_bundle(root / source, backend=backend, target="churn",
                          id_column="customer_id", params=params, output=tmp_path / "m")
    schema = bundle.schema
    assert [c.name for c in schema.categorical] == CATEGORICAL
    plan = next(c for c in schema.columns if c.name == "plan")
    if source == "train_cat.parquet":  # a category column keeps its own categories' order
        assert plan.categories == ("pro", "basic", "family")
    else:
        assert plan.categories == ("basic", "family", "pro")
    assert bundle.manifest["features"] == schema.to_dict()
    encoded = encode_table(schema, test)
    predicted = bundle.classes[bundle.backend.predict_proba(encoded.X).argmax(axis=1)]
    accuracy = float((predicted == test["churn"].to_numpy()).mean())
    assert accuracy > 0.75, accuracy
    # the categories matter: scrambling `region` costs accuracy
    shuffled = test.copy()
    shuffled["region"] = shuffled["region"].map({"east": "west", "west": "east",
                                                 "north": "south", "south": "north"})
    scrambled = bundle.classes[bundle.backend.predict_proba(
        encode_table(schema, shuffled).X).argmax(axis=1)]
    assert float((scrambled == test["churn"].to_numpy()).mean()) < accuracy - 0.05


def test_sklearn_backend_preprocessing_is_a_column_transformer_saved_with_skops(churn_files,
                                                                              tmp_path):
    import skops.io as sio
    from sklearn.compose import ColumnTransformer

    root, train, test = churn_files
    bundle = train_bundle(root / "train.parquet", backend="sklearn", target="churn",
                          id_column="customer_id", output=tmp_path / "m",
                          estimator="random_forest", params={"n_estimators": 30,
                                                            "random_state": 0})
    files = sorted(bundle.manifest["files"])
    assert "model/model.skops" in files and not any(f.endswith((".pkl", ".pickle"))
                                                    for f in files)
    pipeline = bundle.backend.estimator_
    preprocess = pipeline.named_steps["preprocess"]
    assert isinstance(preprocess, ColumnTransformer)
    steps = {name: cols for name, _, cols in preprocess.transformers_ if name != "remainder"}
    assert steps["one_hot"] == ["region", "plan"]
    assert steps["ordinal"] == ["city"]  # 14 categories: over the one-hot limit
    assert steps["numeric"] == NUMERIC
    loaded = sio.load(tmp_path / "m" / "model" / "model.skops",
                      trusted=sio.get_untrusted_types(file=tmp_path / "m" / "model" /
                                                      "model.skops"))
    X = encode_table(bundle.schema, test).X
    np.testing.assert_allclose(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_unseen_categories_become_missing_and_are_counted(churn_files, tmp_path):
    root, train, test = churn_files
    bundle = train_bundle(root / "train.parquet", backend="lightgbm", target="churn",
                          id_column="customer_id", params={"n_estimators": 10},
                          output=tmp_path / "m")
    pool = test.copy()
    pool.loc[:9, "region"] = "atlantis"
    pool.loc[:2, "city"] = "nowhere"
    encoded = encode_table(bundle.schema, pool)
    assert encoded.unseen == {"region": 10, "city": 3}
    as_missing = pool.copy()
    as_missing.loc[:9, "region"] = None
    as_missing.loc[:2, "city"] = None
    np.testing.assert_array_equal(bundle.backend.predict_proba(encoded.X),
                                  bundle.backend.predict_proba(
                                      encode_table(bundle.schema, as_missing).X))


def test_backend_without_categorical_support_is_refused_by_name(churn_files, tmp_path):
    from pseudolabel.batch.train import _make_backend

    root, train, _ = churn_files
    schema = infer_schema(pa.Table.from_pandas(train), [*NUMERIC, *CATEGORICAL], where="t")
    assert schema.columns[-1].kind == KIND_CATEGORICAL
    # every registered backend but sklearn (preprocessing) must take categoricals natively
    backend = _make_backend("lightgbm", {}, None, schema)
    assert backend.capabilities.categorical


def test_catboost_plugin_takes_categoricals_with_missing_values(churn_files, tmp_path):
    pytest.importorskip("pseudolabel_catboost")
    root, train, test = churn_files
    bundle = train_bundle(root / "train.csv", backend="catboost", target="churn",
                          id_column="customer_id", output=tmp_path / "m",
                          params={"iterations": 60, "random_seed": 0, "thread_count": 1})
    X = encode_table(bundle.schema, test).X
    assert X["region"].isna().any()  # 5% missing, passed to CatBoost as a category
    predicted = bundle.classes[bundle.backend.predict_proba(X).argmax(axis=1)]
    assert float((predicted == test["churn"].to_numpy()).mean()) > 0.75


def test_sklearn_backend_imputes_a_numeric_table_with_missing_values(churn_files, tmp_path):
    from pseudolabel.batch import label

    root, train, test = churn_files
    bundle = train_bundle(root / "train.parquet", backend="sklearn", target="churn",
                          id_column="customer_id", exclude=CATEGORICAL, output=tmp_path / "m")
    assert bundle.schema.is_numeric
    preprocess = bundle.backend.estimator_.named_steps["preprocess"]
    assert preprocess.transformers_[0][2] == list(range(8))  # a float matrix: by position
    test.to_parquet(tmp_path / "pool.parquet")
    assert test[NUMERIC].isna().any().any()
    result = label(tmp_path / "m", tmp_path / "pool.parquet", tmp_path / "out.parquet",
                   threshold=0.5)
    assert result.rows == len(test)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert float((out["label"] == test["churn"]).mean()) > 0.7

"""The churn-like table through ``label`` (local and a 2-worker Dask cluster) and ``query``:
a bundle trained on categoricals labels exactly as ``PseudoLabeler.predict`` does, unseen
categories are counted per column, and the query / teach / status / export loop runs on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pseudolabel.datasets import churn_frame
from pseudolabel import PseudoLabeler
from pseudolabel.batch import label, load_bundle
from pseudolabel.batch.train import SelfTraining
from pseudolabel.cli import main
from pseudolabel.features import encode_table
from pseudolabel.plugins import make_backend

PARAMS = {"n_estimators": 25, "min_child_samples": 5, "random_state": 0, "n_jobs": 1}
SETTINGS = SelfTraining(max_iter=3, guardrail="none", random_state=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables_label")
    df = churn_frame(600, seed=4)
    semi = df.copy()
    semi.loc[semi.index[120:], "churn"] = None
    semi.to_parquet(root / "semi.parquet", index=False)
    pool = df.drop(columns="churn")
    pool.loc[:6, "region"] = "atlantis"  # never seen in training
    pool.to_csv(root / "pool.csv", index=False)
    pool.to_parquet(root / "pool.parquet", index=False)
    assert main(["train", "--backend", "lightgbm", "--input", str(root / "semi.parquet"),
                 "--target", "churn", "--id-column", "customer_id", "--guardrail", "none",
                 "--max-iter", "3", "--output", str(root / "model"),
                 *[a for k, v in PARAMS.items() for a in ("--param", f"{k}={v}")]]) == 0
    return root, df, semi, pool


def test_labels_agree_with_pseudolabeler_predict(trained, tmp_path):
    root, df, semi, pool = trained
    bundle = load_bundle(root / "model")
    assert bundle.manifest["training"]["self_training"]["n_pseudo_labeled"] > 0
    features = bundle.feature_columns
    X = encode_table(bundle.schema, semi[features]).X
    y = semi["churn"].to_numpy(dtype=object)
    model = PseudoLabeler(backend=make_backend("lightgbm", **PARAMS), max_iter=3,
                          guardrail="none", unlabeled=None, random_state=0).fit(X, y)
    result = label(root / "model", root / "pool.parquet", tmp_path / "out.parquet",
                   threshold=0.5)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["customer_id"].tolist() == pool["customer_id"].tolist()
    expected = model.predict(encode_table(bundle.schema, pool[features]).X)
    np.testing.assert_array_equal(out["label"].to_numpy(), expected.astype(str))
    np.testing.assert_allclose(
        out["confidence"].to_numpy(),
        model.predict_proba(encode_table(bundle.schema, pool[features]).X).max(axis=1))
    assert result.unseen_categories == {"region": 7}
    assert any("column 'region': 7 cell(s) with a category not seen" in line
               for line in result.summary_lines())


def test_label_csv_local_and_two_dask_workers_agree(trained, tmp_path, capsys):
    root, df, semi, pool = trained
    args = ["label", "--model", str(root / "model"), "--input", str(root / "pool.csv"),
            "--top-k", "100", "--chunk-rows", "128", "--no-progress"]
    assert main([*args, "--output", str(tmp_path / "local.parquet")]) == 0
    local_out = capsys.readouterr().out
    assert main([*args, "--output", str(tmp_path / "dask.parquet"), "--workers", "2"]) == 0
    dask_out = capsys.readouterr().out
    for text in (local_out, dask_out):
        assert "column 'region': 7 cell(s) with a category not seen in training" in text
    local = pd.read_parquet(tmp_path / "local.parquet")
    dask = pd.read_parquet(tmp_path / "dask.parquet")
    pd.testing.assert_frame_equal(local, dask)
    assert int(local["selected"].sum()) == 100


def test_query_teach_status_export_on_the_mixed_table(trained, tmp_path, capsys):
    root, df, semi, pool = trained
    pool = pool.rename(columns={"customer_id": "id"})
    pool.to_parquet(tmp_path / "pool.parquet", index=False)
    seed = df.iloc[:40][["customer_id", "churn"]].set_axis(["id", "label"], axis=1)
    seed.to_csv(tmp_path / "seed.csv", index=False)
    store = str(tmp_path / "labels.db")
    assert main(["teach", "--store", store, "--source", "seed", str(tmp_path / "seed.csv")]) == 0
    for n, extra in enumerate([[], ["--backend", "lightgbm", "--param", "n_estimators=10",
                                    "--param", "min_child_samples=3"],
                               ["--model", str(root / "model")]]):
        out = tmp_path / f"batch{n}.csv"
        assert main(["query", "--store", store, "--input", str(tmp_path / "pool.parquet"),
                     "--n", "8", "--output", str(out), *extra]) == 0, extra
        batch = pd.read_csv(out, dtype={"id": str})
        assert len(batch) == 8 and set(batch["guess"]) <= {"churn", "stay"}
        assert not set(batch["id"]) & set(seed["id"].astype(str))  # labeled rows skipped
        truth = df.set_index(df["customer_id"].astype(str))["churn"]
        batch["label"] = truth[batch["id"]].to_numpy()
        batch["annotator"] = f"annotator{n % 2}"
        batch.to_csv(out, index=False)
        assert main(["teach", "--store", store, str(out)]) == 0
    err = capsys.readouterr().err
    assert "column 'region'" in err  # query --model counts unseen categories too
    assert main(["status", "--store", store]) == 0
    assert main(["export", "--store", store, "--output", str(tmp_path / "labels.parquet")]) == 0
    exported = pd.read_parquet(tmp_path / "labels.parquet")
    assert len(exported) == 40 + 24
    assert sorted(set(exported["annotator"])) == ["", "annotator0", "annotator1"]


@pytest.mark.parametrize("decision", [["--threshold", "0.7"], ["--per-class-k", "20"]])
def test_label_only_selected_writes_the_selected_rows_alone(trained, tmp_path, capsys,
                                                            decision):
    root, *_ = trained
    base = ["label", "--model", str(root / "model"), "--input", str(root / "pool.parquet"),
            "--chunk-rows", "100", "--no-progress", *decision]
    assert main([*base, "--output", str(tmp_path / "all.parquet")]) == 0
    assert main([*base, "--output", str(tmp_path / "selected"), "--only-selected"]) == 0
    full = pd.read_parquet(tmp_path / "all.parquet")
    alone = pd.read_parquet(tmp_path / "selected").sort_values("customer_id")
    expected = full[full["selected"]].sort_values("customer_id")
    assert 0 < len(alone) < len(full)
    pd.testing.assert_frame_equal(alone.reset_index(drop=True),
                                  expected.reset_index(drop=True))
    out = capsys.readouterr().out
    assert out.count(f"labeled {len(full)} rows") == 2  # the counts cover every row


def test_a_categorical_bundle_refuses_npy_input(trained, tmp_path):
    from pseudolabel.exceptions import InputError

    root, *_ = trained
    np.save(tmp_path / "pool.npy", np.zeros((5, 11)))
    with pytest.raises(InputError, match=r"pool\.npy: a \.npy file holds numbers only"):
        label(root / "model", tmp_path / "pool.npy", tmp_path / "o.parquet", threshold=0.5)
    assert not (tmp_path / "o.parquet").exists()


def _pool_with_extras(pool: pd.DataFrame) -> pd.DataFrame:
    """The pool with columns the model was not trained on: notes and an empty target."""
    extra = pool.copy()
    extra["notes"] = "called twice"
    extra["churn"] = None
    return extra


def test_label_features_and_exclude_select_the_pool_columns(trained, tmp_path, capsys):
    root, df, semi, pool = trained
    bundle = load_bundle(root / "model")
    extra = _pool_with_extras(pool)
    extra.to_parquet(tmp_path / "extra.parquet", index=False)
    extra.to_csv(tmp_path / "extra.csv", index=False)
    base = ["label", "--model", str(root / "model"), "--threshold", "0.6", "--chunk-rows",
            "128", "--no-progress"]
    assert main([*base, "--input", str(root / "pool.parquet"),
                 "--output", str(tmp_path / "plain.parquet")]) == 0
    plain = pd.read_parquet(tmp_path / "plain.parquet")
    reordered = ",".join(reversed(bundle.feature_columns))
    runs = {"exclude-parquet": ["--input", str(tmp_path / "extra.parquet"), "--exclude", "notes"],
            "features-parquet": ["--input", str(tmp_path / "extra.parquet"), "--features",
                                 reordered],
            "exclude-csv": ["--input", str(tmp_path / "extra.csv"), "--exclude", "notes"],
            "exclude-csv-dask": ["--input", str(tmp_path / "extra.csv"), "--exclude", "notes",
                                 "--workers", "2"],
            "features-parquet-dask": ["--input", str(tmp_path / "extra.parquet"), "--features",
                                      reordered, "--workers", "2"]}
    for name, extra_args in runs.items():
        assert main([*base, *extra_args, "--output", str(tmp_path / f"{name}.parquet")]) == 0
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"), plain,
                                      obj=name)
    capsys.readouterr()


@pytest.mark.parametrize("options, message", [
    ({"exclude": ["city"]}, r"extra\.parquet: the columns selected by --features/--exclude "
                            r"are not the model's features: missing 'city' \(the model needs "
                            r"them\); extra 'notes' \(the model was not trained on them\)"),
    ({"features": ["num_0", "region", "notes"]},
     r"extra\.parquet: .*missing 'num_1', .*'city' .*; extra 'notes'"),
    ({"exclude": ["notes", "nope"]},
     r"extra\.parquet: --exclude column 'nope' not found; did you mean 'notes'\?"),
    ({"features": ["num_0", "churn"]}, r"extra\.parquet: --features names the target "
                                       r"column 'churn'"),
])
def test_label_selection_errors_name_the_columns_and_the_file(trained, tmp_path, options,
                                                              message):
    from pseudolabel.exceptions import InputError

    root, df, semi, pool = trained
    _pool_with_extras(pool).to_parquet(tmp_path / "extra.parquet", index=False)
    with pytest.raises(InputError, match=message):
        label(root / "model", tmp_path / "extra.parquet", tmp_path / "o.parquet",
              threshold=0.5, **options)
    assert not (tmp_path / "o.parquet").exists()
    assert not any(p.name.endswith("pseudolabel-partial") for p in tmp_path.iterdir())


def test_label_selection_errors_on_the_command_line_and_with_dask(trained, tmp_path, capsys):
    root, df, semi, pool = trained
    _pool_with_extras(pool).to_csv(tmp_path / "extra.csv", index=False)
    args = ["label", "--model", str(root / "model"), "--input", str(tmp_path / "extra.csv"),
            "--threshold", "0.5", "--no-progress", "--output", str(tmp_path / "o.parquet")]
    for more in ([], ["--workers", "2"]):
        assert main([*args, *more, "--features", "num_0,num_1"]) == 2
        err = capsys.readouterr().err
        assert "extra.csv: the columns selected by --features/--exclude" in err, more
        assert "missing 'num_2'" in err and "'city'" in err
    np.save(tmp_path / "pool.npy", np.zeros((5, 11)))
    assert main([*args[:4], str(tmp_path / "pool.npy"), *args[5:], "--exclude", "x"]) == 2
    assert "pool.npy: a .npy file has no column names, so --features/--exclude" in \
        capsys.readouterr().err


def test_default_pseudolabeler_on_the_raw_table_labels_as_a_sklearn_bundle(tmp_path):
    """No estimator: PseudoLabeler on strings, a pandas category column and NaN gets the
    default preprocessing, and labels the pool as the ``train --backend sklearn`` bundle of
    the same table does."""
    df = churn_frame(400, seed=7)
    df["plan"] = pd.Categorical(df["plan"], categories=["pro", "basic", "family"])
    semi = df.copy()
    semi.loc[semi.index[80:], "churn"] = None
    semi.to_parquet(tmp_path / "semi.parquet", index=False)
    pool = df.drop(columns="churn")
    pool.loc[:4, "city"] = "city_99"  # never seen in training
    pool.to_parquet(tmp_path / "pool.parquet", index=False)
    assert main(["train", "--backend", "sklearn", "--input", str(tmp_path / "semi.parquet"),
                 "--target", "churn", "--id-column", "customer_id", "--guardrail", "none",
                 "--max-iter", "3", "--output", str(tmp_path / "model")]) == 0
    X = semi.drop(columns=["customer_id", "churn"])
    y = semi["churn"].to_numpy(dtype=object)
    assert X.isna().to_numpy().any() and (X.dtypes == object).any()
    model = PseudoLabeler(max_iter=3, guardrail="none", unlabeled=None,
                          random_state=0).fit(X, y)
    assert model.transduction_[80:].tolist().count(None) < 320  # it pseudo-labeled rows
    label(tmp_path / "model", tmp_path / "pool.parquet", tmp_path / "out.parquet",
          threshold=0.5, probabilities=True)
    out = pd.read_parquet(tmp_path / "out.parquet")
    X_pool = pool.drop(columns="customer_id")
    np.testing.assert_array_equal(out["label"].to_numpy(), model.predict(X_pool))
    np.testing.assert_allclose(out[["proba_churn", "proba_stay"]].to_numpy(),
                               model.predict_proba(X_pool), atol=1e-6)


def test_default_pseudolabeler_takes_a_mixed_frame_as_it_is():
    df = churn_frame(300, seed=8)
    X = df.drop(columns=["customer_id", "churn"])
    y = np.where(np.random.default_rng(0).random(len(df)) < 0.3, df["churn"], None)
    model = PseudoLabeler(max_iter=2, unlabeled=None, random_state=0).fit(X, y)
    assert set(model.predict(X)) <= {"churn", "stay"}
    assert model.predict_proba(X).shape == (300, 2)
    assert model.score(X, df["churn"].to_numpy(dtype=object)) > 0.7


def test_dask_dataframe_label_checks_the_selection_against_its_columns(trained, tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    from pseudolabel.dask import label as dask_label
    from pseudolabel.exceptions import InputError

    root, df, semi, pool = trained
    ddf = dd.from_pandas(_pool_with_extras(pool), npartitions=2)
    plain = label(root / "model", root / "pool.parquet", tmp_path / "plain.parquet",
                  threshold=0.6)
    with pytest.raises(InputError, match=r"the Dask DataFrame: the columns selected by "
                                         r"--features/--exclude .* extra 'notes'"):
        dask_label(root / "model", ddf, tmp_path / "bad.parquet", threshold=0.6,
                   workers=2, exclude=["city"])
    result = dask_label(root / "model", ddf, tmp_path / "dask.parquet", threshold=0.6,
                        workers=2, exclude=["notes"])
    assert (result.rows, result.selected) == (plain.rows, plain.selected)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask.parquet"),
                                  pd.read_parquet(tmp_path / "plain.parquet"))

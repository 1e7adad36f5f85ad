"""Model bundles: ``train`` writes them, ``load_bundle`` verifies them, edits are refused."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris, load_wine

from pseudolabel.batch.bundle import (
    MANIFEST_NAME,
    load_bundle,
    parse_params,
    read_manifest,
    save_bundle,
    train_bundle,
)
from pseudolabel.cli import main
from pseudolabel.exceptions import BundleError, InputError, OutputExistsError
from pseudolabel.plugins import isolated_plugin_manager


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    with isolated_plugin_manager():
        yield


@pytest.fixture(scope="module")
def wine_parquet(tmp_path_factory) -> Path:
    X, y = load_wine(return_X_y=True, as_frame=True)
    df = X.copy()
    df.insert(0, "row_id", np.arange(len(df)) * 7)
    df["target"] = y
    path = tmp_path_factory.mktemp("data") / "wine.parquet"
    df.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory) -> Path:
    data = load_iris(as_frame=True)
    df = data.data.copy()
    df["species"] = np.asarray(data.target_names)[data.target]
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    df.to_csv(path, index=False)
    return path


LGB = {"n_estimators": 15, "verbose": -1, "n_jobs": 1}


def test_train_writes_verified_bundle_that_predicts_like_the_backend(wine_parquet, tmp_path):
    bundle = train_bundle(wine_parquet, backend="lightgbm", target="target",
                          id_column="row_id", output=tmp_path / "m", params=LGB)
    m = json.loads((tmp_path / "m" / MANIFEST_NAME).read_text())
    df = pd.read_parquet(wine_parquet)
    features = [c for c in df.columns if c not in ("row_id", "target")]
    assert m["feature_columns"] == features == bundle.feature_columns
    assert m["classes"] == {"dtype": "int64", "values": [0, 1, 2]}
    assert m["backend"] == "lightgbm" and m["id_column"] == "row_id"
    assert "lightgbm" in m["versions"] and "numpy" in m["versions"]
    assert m["training"]["n_rows"] == len(df)
    assert set(m["files"]) == {"model/backend.json", "model/model.txt"}
    assert all(len(h) == 64 for h in m["files"].values())
    # the reloaded model predicts exactly like a backend fitted the same way
    from pseudolabel.plugins import make_backend

    ref = make_backend("lightgbm", **LGB).fit(df[features].to_numpy(float), df["target"])
    again = load_bundle(tmp_path / "m")
    X = df[features].to_numpy(float)
    np.testing.assert_allclose(again.backend.predict_proba(X), ref.predict_proba(X))
    assert again.checksum == bundle.checksum


def test_string_classes_roundtrip_from_csv_with_xgboost(iris_csv, tmp_path):
    bundle = train_bundle(iris_csv, backend="xgboost", target="species", output=tmp_path / "m",
                          params={"n_estimators": 10, "n_jobs": 1})
    assert list(bundle.classes) == ["setosa", "versicolor", "virginica"]
    assert load_bundle(tmp_path / "m").classes.tolist() == ["setosa", "versicolor", "virginica"]


@pytest.fixture()
def bundle_dir(wine_parquet, tmp_path) -> Path:
    train_bundle(wine_parquet, backend="lightgbm", target="target", output=tmp_path / "m",
                 params=LGB)
    return tmp_path / "m"


def test_edited_manifest_is_refused(bundle_dir):
    p = bundle_dir / MANIFEST_NAME
    m = json.loads(p.read_text())
    m["classes"]["values"] = [0, 2, 1]
    p.write_text(json.dumps(m))
    with pytest.raises(BundleError, match="manifest was edited"):
        load_bundle(bundle_dir)


def test_corrupt_model_file_is_refused(bundle_dir):
    f = bundle_dir / "model" / "model.txt"
    f.write_bytes(f.read_bytes().replace(b"tree", b"TREE", 1))
    with pytest.raises(BundleError, match=r"model/model.txt was modified or is corrupt"):
        load_bundle(bundle_dir)


def test_missing_unlisted_and_garbage_files_are_refused(bundle_dir, tmp_path):
    other = tmp_path / "copy"
    shutil.copytree(bundle_dir, other)
    (other / "model" / "extra.bin").write_bytes(b"x")
    with pytest.raises(BundleError, match="extra.bin is not part of the bundle"):
        load_bundle(other)
    (bundle_dir / "model" / "backend.json").unlink()
    with pytest.raises(BundleError, match="backend.json listed in the manifest is missing"):
        load_bundle(bundle_dir)
    (bundle_dir / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="corrupt manifest"):
        load_bundle(bundle_dir)
    with pytest.raises(BundleError, match="no such model bundle"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


def _pickle_bundle(tmp_path: Path, bundle_dir: Path) -> Path:
    """A bundle whose files include a pickle, with a manifest consistent with it."""
    from pseudolabel.batch import bundle as mod

    out = tmp_path / "pickled"
    shutil.copytree(bundle_dir, out)
    (out / "model" / "extra.pkl").write_bytes(pickle.dumps({"a": 1}))
    m = json.loads((out / MANIFEST_NAME).read_text())
    m["files"]["model/extra.pkl"] = mod._sha256(out / "model" / "extra.pkl")
    m["checksum"] = mod._manifest_checksum(m)
    (out / MANIFEST_NAME).write_text(json.dumps(m))
    return out


def test_pickle_files_refused_unless_trusted(bundle_dir, tmp_path):
    out = _pickle_bundle(tmp_path, bundle_dir)
    with pytest.raises(BundleError, match=r"extra.pkl is a pickle.*--trust-pickle"):
        load_bundle(out)
    assert read_manifest(out, trust_pickle=True)["backend"] == "lightgbm"
    # pickle detected by content as well as by name
    (out / "model" / "extra.pkl").rename(out / "model" / "extra.dat")
    m = json.loads((out / MANIFEST_NAME).read_text())
    m["files"]["model/extra.dat"] = m["files"].pop("model/extra.pkl")
    from pseudolabel.batch import bundle as mod

    m["checksum"] = mod._manifest_checksum(m)
    (out / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(BundleError, match="extra.dat is a pickle"):
        read_manifest(out)


def test_model_path_outside_the_verified_files_is_refused(bundle_dir, tmp_path):
    from pseudolabel.batch import bundle as mod

    elsewhere = tmp_path / "elsewhere"  # a saved backend that no checksum of the bundle covers
    shutil.copytree(bundle_dir / "model", elsewhere)
    out = tmp_path / "redirected"
    shutil.copytree(bundle_dir, out)
    for model_path in ["../elsewhere", str(elsewhere), "nowhere"]:
        m = json.loads((out / MANIFEST_NAME).read_text())
        m["model_path"] = model_path
        m["checksum"] = mod._manifest_checksum(m)  # the checksum is no signature
        (out / MANIFEST_NAME).write_text(json.dumps(m))
        with pytest.raises(BundleError, match="model_path .* outside the bundle's verified"):
            load_bundle(out)


def test_save_bundle_refuses_unfitted_and_existing(tmp_path, bundle_dir):
    from pseudolabel.plugins import make_backend

    with pytest.raises(BundleError, match="not fitted"):
        save_bundle(make_backend("lightgbm"), tmp_path / "x", feature_columns=["a"])
    b = load_bundle(bundle_dir)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        save_bundle(b.backend, bundle_dir, feature_columns=b.feature_columns)
    save_bundle(b.backend, bundle_dir, feature_columns=b.feature_columns, overwrite=True)
    assert load_bundle(bundle_dir).feature_columns == b.feature_columns
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_train_input_errors_name_the_problem(wine_parquet, tmp_path):
    with pytest.raises(InputError, match="target column 'nope' not found"):
        train_bundle(wine_parquet, backend="lightgbm", target="nope", output=tmp_path / "m")
    df = pd.read_parquet(wine_parquet)
    df.loc[5, "target"] = None
    bad = tmp_path / "bad.parquet"
    df.to_parquet(bad)
    # issue 12: a row with an empty target is unlabeled, and train self-trains on it
    semi = train_bundle(bad, backend="lightgbm", target="target", output=tmp_path / "semi",
                        params={"n_estimators": 5})
    assert semi.manifest["training"]["self_training"]["n_unlabeled"] == 1
    assert semi.manifest["training"]["n_rows"] == len(df) - 1
    assert list(semi.classes) == [0, 1, 2]
    with pytest.raises(InputError, match="target column 'target' is empty in every row"):
        df["target"] = None
        df.to_parquet(bad)
        train_bundle(bad, backend="lightgbm", target="target", output=tmp_path / "m")
    assert not (tmp_path / "m").exists()
    from pseudolabel.exceptions import UnknownNameError

    with pytest.raises(UnknownNameError, match="no_such_backend"):
        train_bundle(wine_parquet, backend="no_such_backend", target="target",
                     output=tmp_path / "m")


def test_parse_params():
    assert parse_params(["n_estimators=20", "learning_rate=0.1", "objective=multiclass",
                         "verbose=false", "x=None", "l=[1,2]"]) == {
        "n_estimators": 20, "learning_rate": 0.1, "objective": "multiclass",
        "verbose": False, "x": None, "l": [1, 2]}
    with pytest.raises(InputError, match="key=value"):
        parse_params(["novalue"])
    with pytest.raises(InputError, match="more than once"):
        parse_params(["a=1", "a=2"])


def test_cli_train_and_exit_codes(wine_parquet, tmp_path, capsys):
    out = tmp_path / "m"
    args = ["train", "--backend", "lightgbm", "--input", str(wine_parquet), "--target",
            "target", "--id-column", "row_id", "--param", "n_estimators=10", "--param",
            "verbose=-1", "--output", str(out)]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert load_bundle(out).manifest["backend_params"] == {"n_estimators": 10, "verbose": -1}
    assert main(args) == 4  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert main([*args[:-2], "--target", "missing", "--output", str(tmp_path / "m2")]) == 2
    # label with an edited bundle: exit code 3
    (out / "model" / "model.txt").write_text("garbage")
    code = main(["label", "--model", str(out), "--input", str(wine_parquet), "--output",
                 str(tmp_path / "o.parquet"), "--threshold", "0.5"])
    assert code == 3
    assert "modified or is corrupt" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_bundle_file_that_is_a_symlink_out_of_the_bundle_is_refused(wine_parquet, tmp_path):
    train_bundle(wine_parquet, backend="lightgbm", target="target", id_column="row_id",
                 output=tmp_path / "m", params=LGB)
    model_file = tmp_path / "m" / "model" / "model.txt"
    outside = tmp_path / "elsewhere.txt"
    shutil.copyfile(model_file, outside)  # same bytes, so the checksum still matches
    model_file.unlink()
    model_file.symlink_to(outside)
    with pytest.raises(BundleError, match="model/model.txt is a symlink"):
        load_bundle(tmp_path / "m")


def test_unreadable_bundle_file_is_named(wine_parquet, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    train_bundle(wine_parquet, backend="lightgbm", target="target", id_column="row_id",
                 output=tmp_path / "m", params=LGB)
    model_file = tmp_path / "m" / "model" / "model.txt"
    model_file.chmod(0)
    try:
        with pytest.raises(BundleError, match="model.txt: cannot read this bundle file"):
            load_bundle(tmp_path / "m")
    finally:
        model_file.chmod(0o644)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_bundle_modes_follow_the_umask(wine_parquet, tmp_path, umask):
    import os
    import stat

    old = os.umask(umask)
    try:
        train_bundle(wine_parquet, backend="lightgbm", target="target", id_column="row_id",
                     output=tmp_path / "m", params=LGB)
    finally:
        os.umask(old)
    root = tmp_path / "m"
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == expected, (path, oct(mode), oct(expected))

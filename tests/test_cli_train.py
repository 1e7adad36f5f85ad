"""``pseudolabel train`` on real files: mixed tables, self-training, estimators, checked
parameters, and the errors a new user hits (issue 12 parts 1 and 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pseudolabel.datasets import CATEGORICAL, churn_frame
from pseudolabel.batch import load_bundle
from pseudolabel.cli import build_parser, main
from pseudolabel.features import encode_table


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_train")
    df = churn_frame(700, seed=2)
    df.iloc[:500].to_csv(root / "labeled.csv", index=False)
    semi = df.iloc[:500].copy()
    semi.loc[semi.index[100:], "churn"] = None  # 100 labeled rows, 400 with an empty target
    semi.to_parquet(root / "semi.parquet", index=False)
    pool = df.iloc[500:].drop(columns="churn")
    pool.to_parquet(root / "pool.parquet", index=False)
    return root, df


def train(*args):
    return main(["train", *map(str, args)])


def test_train_csv_with_strings_and_nan_and_an_id_warning(files, tmp_path, capsys):
    root, df = files
    assert train("--backend", "lightgbm", "--input", root / "labeled.csv", "--target", "churn",
                 "--param", "n_estimators=20", "--output", tmp_path / "m") == 0
    out, err = capsys.readouterr()
    assert "12 features (9 numeric, 3 categorical)" in out
    assert "warning: " in err and "'customer_id' looks like a row id" in err
    bundle = load_bundle(tmp_path / "m")
    assert "customer_id" in bundle.feature_columns
    assert train("--backend", "lightgbm", "--input", root / "labeled.csv", "--target", "churn",
                 "--id-column", "customer_id", "--exclude", "city,num_7",
                 "--output", tmp_path / "m2") == 0
    out, err = capsys.readouterr()
    assert "looks like a row id" not in err
    bundle = load_bundle(tmp_path / "m2")
    assert bundle.feature_columns == [f"num_{i}" for i in range(7)] + ["region", "plan"]
    assert bundle.id_column == "customer_id"
    assert train("--backend", "xgboost", "--input", root / "labeled.csv", "--target", "churn",
                 "--id-column", "customer_id", "--features", "num_0,region,plan",
                 "--param", "n_estimators=10", "--output", tmp_path / "m3") == 0
    assert load_bundle(tmp_path / "m3").feature_columns == ["num_0", "region", "plan"]


def test_column_and_parameter_errors_name_the_problem(files, tmp_path, capsys):
    root, _ = files
    base = ["--input", root / "labeled.csv", "--target", "churn", "--id-column", "customer_id",
            "--output", tmp_path / "m"]
    assert train("--backend", "lightgbm", *base, "--features", "num_0,regoin") == 2
    err = capsys.readouterr().err
    assert "labeled.csv: --features column 'regoin' not found; did you mean 'region'" in err
    assert train("--backend", "lightgbm", *base, "--param", "n_estimator=5") == 2
    assert "has no parameter 'n_estimator'; did you mean n_estimators" in capsys.readouterr().err
    assert train("--backend", "sklearn", "--estimator", "random_forest", *base,
                 "--param", "max_dept=3") == 2
    assert "RandomForestClassifier has no parameter 'max_dept'; did you mean max_depth" in \
        capsys.readouterr().err
    assert train("--backend", "sklearn", "--estimator", "random_forrest", *base) == 2
    assert "did you mean random_forest" in capsys.readouterr().err
    assert train("--backend", "sklearn", "--estimator", "sklearn.svm:LinearSVC", *base) == 2
    assert "no predict_proba" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_float_target_with_many_values_looks_like_regression(files, tmp_path, capsys):
    root, df = files
    reg = df.iloc[:60].drop(columns="churn").assign(spend=np.round(df["num_0"][:60] * 50, 1))
    reg.to_parquet(tmp_path / "reg.parquet")
    args = ["--backend", "sklearn", "--estimator", "random_forest", "--input",
            tmp_path / "reg.parquet", "--target", "spend", "--id-column", "customer_id",
            "--output", tmp_path / "m"]
    assert train(*args) == 2
    assert "looks like regression" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert train(*args, "--allow-many-classes", "--param", "n_estimators=2") == 0
    assert len(load_bundle(tmp_path / "m").classes) > 20


@pytest.mark.parametrize("estimator,params,expected", [
    ("logistic_regression", ["C=0.5"], "LogisticRegression"),
    ("random_forest", ["n_estimators=20", "random_state=0"], "RandomForestClassifier"),
    ("hist_gradient_boosting", ["max_iter=20"], "HistGradientBoostingClassifier"),
    ("sklearn.ensemble:ExtraTreesClassifier", ["n_estimators=20"], "ExtraTreesClassifier"),
])
def test_sklearn_estimators_by_name_and_module_class(files, tmp_path, estimator, params,
                                                     expected):
    root, df = files
    args = ["--backend", "sklearn", "--estimator", estimator, "--input", root / "labeled.csv",
            "--target", "churn", "--id-column", "customer_id", "--output", tmp_path / "m"]
    for p in params:
        args += ["--param", p]
    assert train(*args) == 0
    bundle = load_bundle(tmp_path / "m")
    model = bundle.backend.estimator_.named_steps["model"]
    assert type(model).__name__ == expected
    test = df.iloc[500:]
    proba = bundle.backend.predict_proba(encode_table(bundle.schema, test).X)
    accuracy = float((bundle.classes[proba.argmax(1)] == test["churn"].to_numpy()).mean())
    assert accuracy > 0.7, (estimator, accuracy)


def test_self_training_on_empty_targets_and_a_pool_writes_the_history(files, tmp_path, capsys):
    root, df = files
    assert train("--backend", "lightgbm", "--input", root / "semi.parquet", "--target", "churn",
                 "--id-column", "customer_id", "--unlabeled", root / "pool.parquet",
                 "--param", "n_estimators=30", "--param", "min_child_samples=5",
                 "--guardrail", "none", "--max-iter", "3", "--output", tmp_path / "m") == 0
    out = capsys.readouterr().out
    assert "self-trained on 600 unlabeled rows" in out
    bundle = load_bundle(tmp_path / "m")
    facts = bundle.manifest["training"]["self_training"]
    assert facts["n_unlabeled"] == 600 and facts["unlabeled_files"] == ["pool.parquet"]
    history = json.loads((tmp_path / "m" / "history.json").read_text())
    assert history["n_labeled"] == 100 and history["n_unlabeled"] == 600
    assert 1 <= len(history["rounds"]) <= 3
    assert history["rounds"][0]["n_selected"] > 0
    assert facts["n_pseudo_labeled"] == history["rounds"][-1]["n_pseudo"] > 0
    assert "history.json" in bundle.manifest["files"]  # checksummed like the model
    assert list(bundle.classes) == ["churn", "stay"]


def test_every_train_option_has_help_with_its_default():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["train"]
    for action in sub._actions:
        if action.dest == "help":
            continue
        assert action.help, action.dest
        assert "default" in action.help or "required" in action.help, (action.dest,
                                                                        action.help)


def test_every_option_of_every_command_has_help_with_its_default(capsys):
    parser = build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            text = action.help or ""
            assert text and not text.startswith(("default", "(")), (name, action.dest, text)
            assert "default" in text or "required" in text, (name, action.dest, text)
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "4    the output exists" in out

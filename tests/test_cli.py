"""The `pseudolabel` console script and `python -m pseudolabel` entry points."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pseudolabel
from pseudolabel.cli import COMMAND_MODULES, build_parser, main
from pseudolabel.store import SQLiteStore


def run(*args, exe=None):
    cmd = exe or [sys.executable, "-m", "pseudolabel"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)


def test_python_dash_m_prints_version():
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"pseudolabel {pseudolabel.__version__}"


def test_console_script_is_installed_and_lists_every_command():
    exe = shutil.which("pseudolabel", path=str(Path(sys.executable).parent))
    assert exe is not None, "the pseudolabel console script is not installed in this venv"
    out = run("--help", exe=[exe])
    assert out.returncode == 0
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for name in commands:
        assert name in out.stdout
    assert "demo" in commands


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: pseudolabel" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    out = run("no-such-command")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_every_command_module_registers_commands(module):
    import importlib

    assert callable(importlib.import_module(module).register_commands)


def test_import_is_light():
    code = ("import sys, pseudolabel; "
            "heavy = {'lightgbm', 'xgboost', 'dask', 'matplotlib', 'catboost'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# one error handler, one table of exit codes (issue 10 items 5, 7 and 10)
# ---------------------------------------------------------------------------------------------

NAMES = ["setosa", "versicolor", "virginica"]
TRAIN = ["train", "--backend", "lightgbm", "--target", "species", "--id-column", "id",
         "--param", "n_estimators=5", "--param", "min_child_samples=2", "--param", "verbose=-1"]


@pytest.fixture(autouse=True)
def _builtin_plugins_only():
    """Tests never depend on whatever plugins happen to be installed."""
    from pseudolabel.plugins import isolated_plugin_manager

    with isolated_plugin_manager():
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A pool, a seeded label store, a trained model bundle and a labeled output."""
    import pandas as pd
    from sklearn.datasets import load_iris

    from pseudolabel.plugins import isolated_plugin_manager

    tmp = tmp_path_factory.mktemp("cli")
    X, y = load_iris(return_X_y=True)
    pool = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    pool.insert(0, "id", [f"f{i:03d}" for i in range(len(y))])
    pool.to_parquet(tmp / "pool.parquet")
    seed = [0, 1, 50, 51, 100, 101]
    pd.DataFrame({"id": pool["id"].iloc[seed], "label": [NAMES[y[i]] for i in seed]}).to_csv(
        tmp / "seed.csv", index=False)
    train = pool.copy()
    train["species"] = [NAMES[k] for k in y]
    train.to_parquet(tmp / "train.parquet")
    with isolated_plugin_manager():
        assert main(["teach", "--store", str(tmp / "labels.db"), "--source", "seed",
                     str(tmp / "seed.csv")]) == 0
        assert main([*TRAIN, "--input", str(tmp / "train.parquet"),
                     "--output", str(tmp / "bundle")]) == 0
    (tmp / "not_a_bundle").mkdir()
    (tmp / "not_a_bundle" / "model.txt").write_text("hello")
    (tmp / "somefile").write_text("a regular file, not a directory")
    return tmp


def _query(tmp, *extra):
    return ["query", "--store", str(tmp / "labels.db"), "--input", str(tmp / "pool.parquet"),
            "--n", "5", *extra]


def _label(tmp, *extra, model=None):
    return ["label", "--model", str(model or tmp / "bundle"), "--input",
            str(tmp / "pool.parquet"), "--id-column", "id", "--no-progress", *extra]


def _run_cases(cases, capsys):
    for argv, code, message in cases:
        got = main(argv)
        err = capsys.readouterr().err
        assert got == code, (argv, err)
        if message:
            assert message in err, (argv, err)
        assert "Traceback" not in err


def test_exit_codes_of_query(project, tmp_path, capsys):
    tmp = project
    out = tmp_path / "batch.csv"
    _run_cases([
        (_query(tmp, "--output", str(out)), 0, None),
        (_query(tmp, "--output", str(out)), 4, "exists; pass --overwrite"),
        (_query(tmp, "--output", str(tmp_path / "b.csv"), "--model", str(tmp / "not_a_bundle")),
         3, None),
        (_query(tmp, "--output", str(tmp_path / "b.csv"), "--model", str(tmp_path / "nothing")),
         3, None),
        (_query(tmp, "--output", str(tmp_path / "b.csv"), "--strategy", "nope"), 2, "nope"),
        (_query(tmp, "--output", str(tmp_path / "b.csv"), "--id-column", "key"), 2,
         f"{tmp / 'pool.parquet'} has no 'key' column"),
        (_query(tmp, "--output", str(tmp_path / "b.csv"), "--features", "sl,petal"), 2,
         f"{tmp / 'pool.parquet'} has no feature column(s) ['petal']"),
        (["query", "--store", str(tmp_path / "none.db"), "--input", str(tmp / "pool.parquet"),
          "--n", "5", "--output", str(tmp_path / "b.csv")], 2, "no label store at"),
    ], capsys)
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("option, value", [("--n", "0"), ("--n", "-3"), ("--n", "many"),
                                           ("--seed", "-1")])
def test_query_numeric_options_are_usage_errors_naming_the_option(project, tmp_path, capsys,
                                                                   option, value):
    with pytest.raises(SystemExit) as exc:
        main([*_query(project, "--output", str(tmp_path / "b.csv")), option, value])
    assert exc.value.code == 2
    assert f"argument {option}: must be" in capsys.readouterr().err


def test_query_output_in_a_missing_or_unwritable_directory_is_one_line_exit_2(
        project, tmp_path, capsys):
    tmp = project
    with SQLiteStore(tmp / "labels.db") as store:
        round_before = store.current_round()
    for target in (tmp_path / "missing_dir" / "x.csv", tmp / "somefile" / "x.csv"):
        assert main(_query(tmp, "--output", str(target))) == 2
        err = capsys.readouterr().err
        assert err.startswith("pseudolabel query: error: ") and err.count("\n") == 1, err
        assert str(target) in err
    with SQLiteStore(tmp / "labels.db") as store:
        assert store.current_round() == round_before  # nothing recorded


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_query_output_in_a_read_only_directory_is_exit_2(project, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(_query(project, "--output", str(ro / "x.csv"))) == 2
        err = capsys.readouterr().err
        assert str(ro / "x.csv") in err and "Traceback" not in err
    finally:
        ro.chmod(0o755)


def test_os_errors_become_one_line_naming_the_file(capsys):
    from pseudolabel.cli.errors import run_guarded

    def fail():
        open("/no/such/dir/file.csv", "w")

    assert run_guarded("query", fail) == 2
    assert capsys.readouterr().err == (
        "pseudolabel query: error: /no/such/dir/file.csv: No such file or directory\n")

    def is_a_directory():
        raise IsADirectoryError(21, "Is a directory", "/tmp")

    assert run_guarded("label", is_a_directory) == 2
    assert capsys.readouterr().err == "pseudolabel label: error: /tmp: Is a directory\n"


def test_exit_codes_of_label(project, tmp_path, capsys):
    tmp = project
    out = tmp_path / "out.parquet"
    _run_cases([
        (_label(tmp, "--output", str(out), "--threshold", "0.9"), 0, None),
        (_label(tmp, "--output", str(out), "--threshold", "0.9"), 4, None),
        (_label(tmp, "--output", str(tmp_path / "o2.parquet"), "--threshold", "0.9",
                model=tmp / "not_a_bundle"), 3, None),
        (_label(tmp, "--output", str(tmp_path / "o2.parquet"), "--threshold", "0.9",
                "--id-column", "key"), 2, "key"),
    ], capsys)


@pytest.mark.parametrize("option, value", [
    ("--chunk-rows", "0"), ("--chunk-rows", "-5"), ("--chunk-rows", "x"),
    ("--top-k", "0"), ("--top-k", "-1"), ("--per-class-k", "0"), ("--workers", "0"),
    ("--threshold", "nan"), ("--threshold", "inf"), ("--threshold", "high"),
])
def test_label_numeric_options_are_usage_errors_naming_the_option(project, tmp_path, capsys,
                                                                   option, value):
    argv = _label(project, "--output", str(tmp_path / "o.parquet"), option, value)
    if option not in ("--threshold", "--top-k", "--per-class-k"):
        argv += ["--threshold", "0.9"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert f"argument {option}: must be" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_exit_codes_of_train(project, tmp_path, capsys):
    tmp = project
    args = TRAIN
    _run_cases([
        ([*args, "--input", str(tmp / "train.parquet"), "--output", str(tmp / "bundle")], 4,
         "exists"),
        ([*args, "--input", str(tmp_path / "none.parquet"), "--output", str(tmp_path / "b")], 2,
         "none.parquet"),
        ([*args, "--input", str(tmp / "train.parquet"), "--output", str(tmp_path / "b"),
          "--backend", "no_such_backend"], 2, "no_such_backend"),
    ], capsys)


def test_exit_codes_of_teach_and_status(project, tmp_path, capsys):
    import pandas as pd

    tmp = project
    db = tmp_path / "t.db"
    pd.DataFrame({"key": ["a"], "label": ["x"]}).to_csv(tmp_path / "nokey.csv", index=False)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    _run_cases([
        (["status", "--store", str(db)], 2, "no label store at"),
        (["teach", "--store", str(db), str(tmp / "seed.csv")], 2, "no label store at"),
        (["teach", "--store", str(db), "--source", "seed", str(tmp / "seed.csv")], 0, None),
        (["status", "--store", str(db)], 0, None),
        (["status", "--store", str(db), "--json"], 0, None),
        (["teach", "--store", str(db), "--source", "seed", str(tmp_path / "nokey.csv")], 2,
         f"{tmp_path / 'nokey.csv'} has no 'id' column"),
        (["teach", "--store", str(db), "--source", "seed", "--label-column", "answer",
          str(tmp / "seed.csv")], 2, f"{tmp / 'seed.csv'} has no 'answer' column"),
        (["teach", "--store", str(db), str(tmp_path / "none.csv")], 2, "none.csv"),
        (["status", "--store", str(junk)], 1, "not a pseudolabel label store"),
        (["teach", "--store", str(tmp_path / "no_dir" / "t.db"), "--source", "seed",
          str(tmp / "seed.csv")], 2, f"{str(tmp_path / 'no_dir')!r} does not exist"),
    ], capsys)
    assert junk.read_bytes() == b"not a database" * 100  # never modified


def test_exit_codes_of_plugins_and_demo(capsys):
    assert main(["plugins"]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--no-such-option"])
    assert exc.value.code == 2


def test_help_documents_every_exit_code():
    out = run("--help")
    assert out.returncode == 0
    for code, words in [("0", "success"), ("1", "failed"), ("2", "bad usage"),
                        ("3", "bundle"), ("4", "output exists"), ("130", "interrupted"),
                        ("141", "stdout was closed")]:
        assert any(line.split()[:1] == [code] and words in line
                   for line in out.stdout.splitlines()), (code, out.stdout)
    for command in ("query", "teach", "status", "train", "label"):
        sub = run(command, "--help")
        assert "exit codes:" in sub.stdout and "141" in sub.stdout, command
    import pseudolabel.cli

    assert "141" in pseudolabel.cli.__doc__ and "130" in pseudolabel.cli.__doc__


def test_status_into_a_closed_pipe_prints_no_traceback(project, tmp_path):
    import pandas as pd

    db = tmp_path / "many.db"
    classes = [f"class_{k:04d}" for k in range(3000)]  # a long status table: many pipe blocks
    pd.DataFrame({"id": [f"i{k}" for k in range(3000)], "label": classes}).to_csv(
        tmp_path / "seed.csv", index=False)
    assert main(["teach", "--store", str(db), "--source", "seed", str(tmp_path / "seed.csv")]) == 0
    env = dict(os.environ, PSEUDOLABEL_DISABLE_PLUGINS="all")
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "pseudolabel", "status", "--store",
                                 str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        first = proc.stdout.readline()  # what `head -1` does: one line, then close
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=120)
        assert first.startswith(b"label store ")
        assert err == "", err
        assert proc.returncode in (0, 141)
    shell = subprocess.run(f"{sys.executable} -m pseudolabel status --store {db} | head -1",
                           shell=True, capture_output=True, text=True, env=env, timeout=120)
    assert shell.stdout.startswith("label store ") and shell.stdout.count("\n") == 1
    assert shell.stderr == ""

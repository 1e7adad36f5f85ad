"""The `pseudolabel` console script and `python -m pseudolabel` entry points."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pseudolabel
from pseudolabel.cli import COMMAND_MODULES, build_parser, main


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

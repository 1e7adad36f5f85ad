"""pseudolabel-catboost: conformance, entry-point discovery, self-training, disabling.

`make test` installs this package (editable) before running these tests, so the entry point
is real: nothing here registers the plugin by hand except the conformance checks, which
register it explicitly to stay independent of whatever else is installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

import pseudolabel_catboost
from pseudolabel.exceptions import UnknownNameError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.plugins import (
    DISABLE_ENV,
    as_backend,
    create_plugin_manager,
    isolated_plugin_manager,
    load_backend,
    make_backend,
)
from pseudolabel.testing import backend_checks
from pseudolabel_catboost import CatBoostBackend

PARAMS = {"iterations": 30, "random_seed": 0, "thread_count": 1}


@pytest.fixture
def catboost_registered():
    with isolated_plugin_manager(("catboost", pseudolabel_catboost)) as pm:
        yield pm


def _check_names():
    with isolated_plugin_manager(("catboost", pseudolabel_catboost)):
        return [c.name for c in backend_checks("catboost", **PARAMS)]


@pytest.mark.parametrize("check_name", _check_names())
def test_check_backend(catboost_registered, check_name):
    checks = {c.name: c for c in backend_checks("catboost", **PARAMS)}
    checks[check_name]()


def test_entry_point_is_declared():
    eps = [ep for ep in importlib.metadata.entry_points(group="pseudolabel") if ep.name == "catboost"]
    assert len(eps) == 1, "install the package: pip install -e plugins/pseudolabel-catboost"
    assert eps[0].value == "pseudolabel_catboost"
    assert eps[0].dist.metadata["Name"] == "pseudolabel-catboost"
    assert eps[0].dist.version == pseudolabel_catboost.__version__


def test_discovered_through_the_entry_point():
    pm = create_plugin_manager(disabled="")
    assert pm.has_plugin("catboost") and "catboost" not in pm.builtin_plugins
    entry = pm.backends.get("catboost")
    assert entry.factory is CatBoostBackend
    assert (entry.plugin, entry.version) == ("catboost", "0.1.0")


def _run(code: str, **env: str) -> str:
    full_env = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    full_env.update(env)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=full_env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


LIST_CODE = """
    import json, sys
    from pseudolabel.cli import main
    main(["plugins", "--json"])
"""


def test_cli_lists_it_and_disable_env_blocks_it():
    rows = json.loads(_run(LIST_CODE))
    row = next(r for r in rows if r["name"] == "catboost")
    assert row == {**row, "kind": "backend", "plugin": "catboost", "version": "0.1.0"}
    for disabled in ("catboost", "some_other,catboost", "all"):
        rows = json.loads(_run(LIST_CODE, **{DISABLE_ENV: disabled}))
        assert "catboost" not in {r["name"] for r in rows}, disabled
        assert {"sklearn", "lightgbm", "xgboost"} <= {r["name"] for r in rows}
    out = _run(
        """
        import sys
        from pseudolabel.plugins import make_backend
        from pseudolabel.exceptions import UnknownNameError
        try:
            make_backend("catboost")
        except UnknownNameError as exc:
            print("unknown:", exc)
        print("imported:", "pseudolabel_catboost" in sys.modules)
        """,
        **{DISABLE_ENV: "catboost"},
    )
    assert "unknown: unknown backend 'catboost'" in out and "imported: False" in out


def test_disable_in_process():
    pm = create_plugin_manager(disabled="catboost")
    assert "catboost" in pm.blocked_plugins and "catboost" not in pm.backends
    with isolated_plugin_manager(load_entrypoints=False):
        with pytest.raises(UnknownNameError):
            make_backend("catboost")


def test_self_training_run_with_catboost():
    """A full PseudoLabeler run on the backend found through the entry point."""
    from pseudolabel import PseudoLabeler

    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.default_rng(0)
    y_semi = y_train.copy()
    y_semi[rng.random(len(y_semi)) > 0.3] = -1

    class Rounds:
        def __init__(self):
            self.summaries = []

        @hookimpl
        def pseudolabel_round_end(self, summary):
            self.summaries.append(summary)

    rounds = Rounds()
    with isolated_plugin_manager(rounds, load_entrypoints=True) as pm:
        assert pm.backends.get("catboost").plugin == "catboost"  # via the entry point
        model = PseudoLabeler(
            backend="catboost", backend_params=PARAMS, strategy="threshold",
            strategy_params={"threshold": 0.8}, guardrail="none", max_iter=3, random_state=0,
        ).fit(X_train, y_semi)
    assert isinstance(model.backend_, CatBoostBackend)
    assert model.n_iter_ >= 1
    n_pseudo = int(((y_semi == -1) & (model.transduction_ != -1)).sum())
    assert n_pseudo > 0, "no pseudo-labels were added"
    assert [s.round for s in rounds.summaries][:2] == [0, 1]
    assert sum(s.n_selected for s in rounds.summaries) >= n_pseudo
    accuracy = float(np.mean(model.predict(X_test) == y_test))
    assert accuracy > 0.85, accuracy


def test_as_backend_maps_catboost_estimators(catboost_registered):
    from catboost import CatBoostClassifier

    backend = as_backend(CatBoostClassifier(iterations=7, depth=3))
    assert isinstance(backend, CatBoostBackend)
    assert backend.get_params() == {"iterations": 7, "depth": 3}


def test_categorical_frames_and_round_trip(catboost_registered, tmp_path):
    rng = np.random.default_rng(1)
    color = rng.choice(["red", "green", "blue", "teal"], 300)
    size = rng.normal(size=300)
    y = np.where(np.isin(color, ["red", "teal"]) ^ (size > 1.5), "yes", "no")
    X = pd.DataFrame({"color": pd.Categorical(color), "size": size})
    backend = make_backend("catboost", **PARAMS).fit(X, y)
    assert backend.model_.get_cat_feature_indices() == [0]
    assert np.mean(backend.predict(X) == y) > 0.95
    backend.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.cbm").is_file()
    loaded = load_backend(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(X), backend.predict_proba(X))
    assert not (tmp_path / "catboost_info").exists() and not os.path.exists("catboost_info")

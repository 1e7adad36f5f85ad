"""Plugin manager, registries, discovery, events, and the `pseudolabel plugins` command.

Every test registers the plugins it needs explicitly (``isolated_plugin_manager``), so nothing
here depends on what happens to be installed. Entry-point discovery is exercised for real
with throw-away ``*.dist-info`` directories put on ``sys.path``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import pseudolabel
from pseudolabel import cli, hookspecs, plugins
from pseudolabel.backends import Backend, LightGBMBackend, SklearnBackend, XGBoostBackend
from pseudolabel.exceptions import (
    DuplicateNameError,
    ParameterError,
    PluginError,
    PluginWarning,
    UnknownNameError,
)
from pseudolabel.hookspecs import LabelsSelected, RoundSummary, hookimpl
from pseudolabel.plugins import (
    as_backend,
    create_plugin_manager,
    emit_labels_selected,
    emit_round_end,
    get_plugin_manager,
    hook_names,
    isolated_plugin_manager,
    make_backend,
    make_strategy,
)

REPO = Path(__file__).resolve().parents[1]


class Recorder:
    """A plugin that implements every hook and records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    @hookimpl
    def pseudolabel_add_backends(self, registry):
        self.calls.append(("pseudolabel_add_backends", registry))

    @hookimpl
    def pseudolabel_add_strategies(self, registry):
        self.calls.append(("pseudolabel_add_strategies", registry))

    @hookimpl
    def pseudolabel_round_end(self, summary):
        self.calls.append(("pseudolabel_round_end", summary))

    @hookimpl
    def pseudolabel_labels_selected(self, selection):
        self.calls.append(("pseudolabel_labels_selected", selection))

    def of(self, hook: str) -> list:
        return [payload for name, payload in self.calls if name == hook]


def _semi_supervised_iris(seed: int = 0, keep: float = 0.3):
    X, y = load_iris(return_X_y=True)
    y = y.copy()
    y[np.random.default_rng(seed).random(len(y)) > keep] = -1
    return X, y


# ---------------------------------------------------------------------------------------------
# hook specifications


def test_every_hook_is_documented():
    names = hook_names()
    assert names == sorted(
        n for n, f in vars(hookspecs).items() if n.startswith("pseudolabel_") and callable(f)
    )
    for name in names:
        spec = getattr(hookspecs, name)
        doc = inspect.getdoc(spec) or ""
        assert "Called" in doc, f"{name}: say when it is called"
        assert "firstresult" in doc, f"{name}: say whether it is firstresult"
        assert "Parameters" in doc, f"{name}: document what it receives"
        hints = inspect.get_annotations(spec)
        assert set(hints) >= set(inspect.signature(spec).parameters) | {"return"}, (
            f"{name}: hook specifications are typed"
        )
        opts = getattr(spec, "pseudolabel_spec")
        assert not opts.get("firstresult"), f"{name}: docs say no hook is firstresult"


def test_every_hook_is_exercised_by_a_real_run():
    """Every hookspec fires during a real self-training fit: a new hook cannot slip through."""
    from pseudolabel import PseudoLabeler

    recorder = Recorder()
    X, y = _semi_supervised_iris()
    with isolated_plugin_manager(recorder):
        model = PseudoLabeler(
            estimator=LogisticRegression(max_iter=500),
            strategy="threshold",
            strategy_params={"threshold": 0.6},
            guardrail="none",
            max_iter=2,
            random_state=0,
        ).fit(X, y)
    called = {name for name, _ in recorder.calls}
    assert called == set(hook_names()), f"hooks never called: {set(hook_names()) - called}"

    rounds = recorder.of("pseudolabel_round_end")
    assert [s.round for s in rounds] == list(range(model.n_iter_ + 1))
    assert all(isinstance(s, RoundSummary) and s.source == "self_training" for s in rounds)
    assert rounds[0].n_selected == 0
    selections = recorder.of("pseudolabel_labels_selected")
    assert selections and all(isinstance(s, LabelsSelected) for s in selections)
    first = selections[0]
    assert first.round == 1
    assert set(np.unique(first.labels)) <= set(model.classes_)
    assert not first.indices.flags.writeable and not first.confidence.flags.writeable
    assert np.all(first.confidence > 0.6)
    assert rounds[1].n_selected == len(first)
    assert sum(rounds[1].n_selected_per_class.values()) == rounds[1].n_selected


def test_event_payloads_are_frozen_copies():
    indices = np.array([3, 1, 4])
    labels = np.array(["a", "b", "a"])
    with isolated_plugin_manager(recorder := Recorder()):
        sel = emit_labels_selected(
            source="self_training", round=2, indices=indices, labels=labels,
            confidence=[0.9, 0.8, 0.7],
        )
        summary = emit_round_end(
            source="active_learning", estimator="LGBMClassifier", round=np.int64(2),
            n_selected=3, n_selected_per_class={np.str_("a"): np.int64(2), "b": 1},
            thresholds=np.array([0.9, 0.8]), score=np.float64(0.75), accepted=True,
            seconds=0.1, extra={"weights": np.ones(3), "nested": {"k": [1, 2]}},
        )
    assert recorder.of("pseudolabel_labels_selected") == [sel]
    assert recorder.of("pseudolabel_round_end") == [summary]
    indices[0] = 99  # the caller's arrays are copied
    assert sel.indices.tolist() == [3, 1, 4] and sel.indices.dtype == np.int64
    with pytest.raises(ValueError):
        sel.indices[0] = 0
    with pytest.raises(ValueError):
        sel.labels[0] = "z"
    with pytest.raises(AttributeError):
        sel.round = 5  # frozen dataclass
    assert summary.thresholds == (0.9, 0.8) and isinstance(summary.round, int)
    assert summary.n_selected_per_class == {"a": 2, "b": 1}
    with pytest.raises(TypeError):
        summary.n_selected_per_class["a"] = 0
    with pytest.raises(TypeError):
        summary.extra["new"] = 1
    with pytest.raises(TypeError):
        summary.extra["nested"]["k"] = 0
    with pytest.raises(ValueError):
        summary.extra["weights"][0] = 5.0
    assert summary.extra["nested"]["k"] == (1, 2)
    with pytest.raises(ValueError, match="same length"):
        LabelsSelected(source="x", round=1, indices=[1, 2], labels=[0], confidence=[0.5, 0.5])


def test_observer_errors_propagate():
    class Broken:
        @hookimpl
        def pseudolabel_round_end(self, summary):
            raise RuntimeError("tracker down")

    with isolated_plugin_manager(Broken()):
        with pytest.raises(RuntimeError, match="tracker down"):
            emit_round_end(source="self_training", estimator="x", round=0, n_selected=0)


# ---------------------------------------------------------------------------------------------
# registries and lookup


class _Dummy(Backend):
    name = "dummy"


def _backend_plugin(name: str, factory=_Dummy):
    class P:
        @hookimpl
        def pseudolabel_add_backends(self, registry):
            registry.add_backend(name, factory, description=f"{name} backend")

    return P()


def _strategy_plugin(name: str, kind: str, factory=dict):
    class P:
        @hookimpl
        def pseudolabel_add_strategies(self, registry):
            registry.add_strategy(name, factory, kind=kind)

    return P()


def test_builtins_are_registered_through_the_hooks():
    with isolated_plugin_manager() as pm:
        assert pm.builtin_plugins[0] == "pseudolabel.backends"
        assert {"sklearn", "lightgbm", "xgboost"} <= set(pm.backends.names())
        entry = pm.backends.get("lightgbm")
        assert entry.plugin == "pseudolabel.backends" and entry.factory is LightGBMBackend
        assert entry.version == plugins.__version__
        # the built-in strategy modules register through the same hook
        for e in pm.strategies:
            assert e.plugin in pm.builtin_plugins
        assert "threshold" in pm.strategies.names("selection")
        assert "entropy" in pm.strategies.names("query")


def test_duplicate_backend_names_both_plugins():
    with isolated_plugin_manager(("first_plugin", _backend_plugin("twin")), ("second_plugin", _backend_plugin("twin"))) as pm:
        with pytest.raises(DuplicateNameError, match="first_plugin.*second_plugin"):
            pm.backends
    with isolated_plugin_manager(("mine", _backend_plugin("sklearn"))) as pm:
        with pytest.raises(DuplicateNameError, match="pseudolabel.backends.*mine"):
            make_backend("sklearn", estimator=LogisticRegression())


def test_strategy_names_are_unique_per_kind():
    with isolated_plugin_manager(
        ("sel", _strategy_plugin("shared_name", "selection")),
        ("qry", _strategy_plugin("shared_name", "query")),
    ) as pm:
        assert ("selection", "shared_name") in pm.strategies
        assert ("query", "shared_name") in pm.strategies
        assert pm.strategies.get("shared_name", "query").plugin == "qry"
    with isolated_plugin_manager(
        ("one", _strategy_plugin("same", "query")), ("two", _strategy_plugin("same", "query"))
    ) as pm:
        with pytest.raises(DuplicateNameError, match="query strategy 'same'.*'one'.*'two'"):
            pm.strategies


@pytest.mark.parametrize(
    "name, factory, kind, match",
    [
        ("bad name!", dict, "selection", "invalid strategy name"),
        ("", dict, "selection", "invalid strategy name"),
        ("fine", 42, "selection", "not callable"),
        ("fine", dict, "pool", "kind must be one of"),
    ],
)
def test_invalid_registrations_are_errors(name, factory, kind, match):
    class Bad:
        @hookimpl
        def pseudolabel_add_strategies(self, registry):
            registry.add_strategy(name, factory, kind=kind)

    with isolated_plugin_manager(("bad", Bad())) as pm, pytest.warns(PluginWarning, match="'bad'.*" + match):
        # an external plugin whose registration fails is skipped with a warning naming it
        assert "threshold" in pm.strategies.names("selection")
    assert "bad" in pm.failed_plugins


def test_registry_outside_a_hook_is_refused():
    with pytest.raises(PluginError, match="pseudolabel_add_backends"):
        plugins.BackendRegistry().add_backend("x", _Dummy)


def test_unknown_names_list_the_known_ones():
    with isolated_plugin_manager():
        with pytest.raises(UnknownNameError, match=r"unknown backend 'nope'; known backends: .*lightgbm, sklearn, xgboost") as err:
            make_backend("nope")
        assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
        with pytest.raises(UnknownNameError, match="known query strategies: .*entropy"):
            make_strategy("threshold", kind="query")
        with pytest.raises(ParameterError, match="kind must be one of"):
            make_strategy("threshold", kind="selections")


def test_make_strategy():
    with isolated_plugin_manager():
        strategy = make_strategy("threshold", kind="selection", threshold=0.8)
        assert strategy.threshold == 0.8
        assert make_strategy(strategy, kind="selection") is strategy  # instances pass through
        with pytest.raises(ParameterError, match="only be given with a strategy name"):
            make_strategy(strategy, kind="selection", threshold=0.5)
        with pytest.raises(ParameterError, match="rejected the parameters"):
            make_strategy("threshold", kind="selection", no_such_param=1)
        with pytest.raises(ParameterError, match="got None"):
            make_strategy(None, kind="query")


def test_make_backend_checks_what_factories_return():
    with isolated_plugin_manager(("liar", _backend_plugin("liar", factory=lambda **kw: object()))):
        with pytest.raises(PluginError, match="'liar'.*not a pseudolabel.backends.Backend"):
            make_backend("liar")
        with pytest.raises(ParameterError, match="rejected the parameters"):
            make_backend("sklearn", estimator=LogisticRegression(), bogus=1)
        with pytest.raises(ParameterError, match="must be a str"):
            make_backend(LogisticRegression())


def test_as_backend():
    import lightgbm
    import xgboost

    with isolated_plugin_manager():
        lr = LogisticRegression(C=0.5)
        backend = as_backend(lr)
        assert isinstance(backend, SklearnBackend) and backend.estimator is lr
        assert as_backend(backend) is backend
        assert isinstance(as_backend("sklearn", estimator=lr), SklearnBackend)
        lgbm = as_backend(lightgbm.LGBMClassifier(n_estimators=7, num_leaves=5))
        assert isinstance(lgbm, LightGBMBackend)
        assert lgbm.get_params() == {"n_estimators": 7, "num_leaves": 5}  # only what was set
        xgb = as_backend(xgboost.XGBClassifier(n_estimators=4, max_depth=2))
        assert isinstance(xgb, XGBoostBackend) and xgb.get_params() == {"n_estimators": 4, "max_depth": 2}
        X, y = load_iris(return_X_y=True)
        lgbm.fit(X, y)
        assert lgbm.booster_.num_trees() == 7 * 3  # one tree per class and round
        with pytest.raises(ParameterError, match="only be given with a backend name"):
            as_backend(lr, C=1.0)
        with pytest.raises(ParameterError, match="estimator with fit"):
            as_backend(42)


def test_hooks_with_a_typo_are_refused():
    class Typo:
        @hookimpl
        def pseudolabel_add_backend(self, registry):  # missing "s"
            pass

    pm = create_plugin_manager(load_entrypoints=False)
    with pytest.raises(PluginError, match="'typo'.*unknown hook 'pseudolabel_add_backend'"):
        pm.register(Typo(), name="typo")
    assert not pm.has_plugin("typo")


def test_registries_rebuild_after_register_and_unregister():
    pm = create_plugin_manager(load_entrypoints=False)
    assert "late" not in pm.backends
    plugin = _backend_plugin("late")
    pm.register(plugin, name="late_plugin", version="9.9")
    assert pm.backends.get("late").version == "9.9"
    pm.unregister(plugin)
    assert "late" not in pm.backends


def test_isolated_manager_restores_the_previous_one():
    outer = get_plugin_manager()
    with isolated_plugin_manager(("x", _backend_plugin("only_here"))) as pm:
        assert get_plugin_manager() is pm and "only_here" in pm.backends
    assert get_plugin_manager() is outer


def test_missing_builtin_module_is_skipped_but_broken_one_is_not(tmp_path, monkeypatch):
    (tmp_path / "pl_broken_builtin.py").write_text("import pl_module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        plugins, "BUILTIN_PLUGINS",
        ("pseudolabel.backends", "pseudolabel.strategies.not_written_yet", "pl_absent_pkg.sub"),
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # skipped silently
        pm = create_plugin_manager(load_entrypoints=False)
    assert pm.builtin_plugins == ["pseudolabel.backends"]
    monkeypatch.setattr(plugins, "BUILTIN_PLUGINS", ("pseudolabel.backends", "pl_broken_builtin"))
    with pytest.raises(ModuleNotFoundError, match="pl_module_that_does_not_exist"):
        create_plugin_manager(load_entrypoints=False)


# ---------------------------------------------------------------------------------------------
# entry-point discovery (real importlib.metadata, throw-away distributions on sys.path)


def _fake_dist(root: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    info = root / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[pseudolabel]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
    from pseudolabel.hookspecs import hookimpl
    from pseudolabel.backends.sklearn import SklearnBackend

    @hookimpl
    def pseudolabel_add_backends(registry):
        registry.add_backend("ep_sklearn", SklearnBackend, description="from an entry point")
"""


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    _fake_dist(tmp_path, "pl_good_dist", "1.2.3", {"ep_good": "pl_good_mod"}, {"pl_good_mod": GOOD_PLUGIN})
    _fake_dist(
        tmp_path, "pl_broken_dist", "0.0.1", {"ep_broken": "pl_broken_mod"},
        {"pl_broken_mod": "raise ImportError('needs libfoo.so')\n"},
    )
    _fake_dist(
        tmp_path, "pl_typo_dist", "0.1", {"ep_typo": "pl_typo_mod"},
        {"pl_typo_mod": """
            from pseudolabel.hookspecs import hookimpl

            @hookimpl
            def pseudolabel_add_stratgies(registry):
                pass
        """},
    )
    _fake_dist(
        tmp_path, "pl_raising_dist", "0.2", {"ep_raising": "pl_raising_mod"},
        {"pl_raising_mod": """
            from pseudolabel.hookspecs import hookimpl
            from pseudolabel.backends.sklearn import SklearnBackend

            @hookimpl
            def pseudolabel_add_backends(registry):
                registry.add_backend("ep_half", SklearnBackend)
                raise RuntimeError("config file missing")
        """},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    return tmp_path


def _ours(names):
    return sorted(n for n in names if n.startswith("ep_"))


def test_entry_point_discovery(fake_plugins):
    with pytest.warns(PluginWarning) as record:
        pm = create_plugin_manager()
        backends = pm.backends
    messages = "\n".join(str(w.message) for w in record)
    assert "'ep_broken'" in messages and "needs libfoo.so" in messages and "pl_broken_dist" in messages
    assert "'ep_typo'" in messages and "pseudolabel_add_stratgies" in messages
    assert "'ep_raising'" in messages and "config file missing" in messages
    # the rest keep working; the half-registered plugin is rolled back
    assert _ours(backends.names()) == ["ep_sklearn"]
    entry = backends.get("ep_sklearn")
    assert (entry.plugin, entry.version) == ("ep_good", "1.2.3")
    assert {"sklearn", "lightgbm", "xgboost"} <= set(backends.names())
    assert set(pm.failed_plugins) >= {"ep_broken", "ep_typo", "ep_raising"}
    assert get_plugin_manager() is not pm  # the process-wide manager is untouched


@pytest.mark.parametrize(
    "disabled, expected",
    [("ep_good", []), ("all", []), ("ep_broken, ep_typo ,ep_raising", ["ep_sklearn"]), ("ALL", [])],
)
def test_disable_plugins_env(fake_plugins, monkeypatch, disabled, expected):
    monkeypatch.setenv(plugins.DISABLE_ENV, disabled)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = create_plugin_manager()
        names = pm.backends.names()
    assert _ours(names) == expected
    assert {"sklearn", "lightgbm", "xgboost"} <= set(names)  # built-ins stay
    for name in [n.strip() for n in disabled.split(",")]:
        if name.lower() != "all":
            assert name in pm.blocked_plugins
            assert not any(f"'{name}'" in str(w.message) for w in caught)
    if disabled.lower() == "all":
        assert {"ep_good", "ep_broken"} <= set(pm.blocked_plugins) and not caught


def test_duplicate_between_entry_points_names_both(fake_plugins):
    _fake_dist(fake_plugins, "pl_clash_dist", "3.0", {"ep_clash": "pl_clash_mod"},
               {"pl_clash_mod": GOOD_PLUGIN})
    pm = create_plugin_manager(disabled="ep_broken,ep_typo,ep_raising")
    with pytest.raises(DuplicateNameError, match="'ep_sklearn'.*'ep_clash'.*'ep_good'|'ep_sklearn'.*'ep_good'.*'ep_clash'"):
        pm.backends


# ---------------------------------------------------------------------------------------------
# the command line


def test_cli_plugins_json(capsys):
    with isolated_plugin_manager(("extra_plugin", _backend_plugin("extra"))):
        assert cli.main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all({"name", "kind", "plugin", "version"} <= set(r) for r in rows)
    by_name = {(r["name"], r["kind"], r["strategy_kind"]): r for r in rows}
    assert by_name[("extra", "backend", None)]["plugin"] == "extra_plugin"
    for name in ("sklearn", "lightgbm", "xgboost"):
        row = by_name[(name, "backend", None)]
        assert row["plugin"] == "pseudolabel.backends" and row["version"] == plugins.__version__
    assert by_name[("threshold", "strategy", "selection")]["plugin"] == "pseudolabel.strategies.selection"
    assert by_name[("entropy", "strategy", "query")]["plugin"] == "pseudolabel.strategies.query"
    assert {r["kind"] for r in rows} == {"backend", "strategy"}


def test_cli_plugins_table(capsys):
    with isolated_plugin_manager(("extra_plugin", _backend_plugin("extra"))) as pm:
        pm.blocked_plugins.append("someone")
        assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^NAME\s+KIND\s+PLUGIN\s+VERSION", out, re.M)
    assert re.search(r"^extra\s+backend\s+extra_plugin\s+", out, re.M)
    assert re.search(r"^entropy\s+strategy \(query\)\s+pseudolabel.strategies.query", out, re.M)
    assert "blocked by PSEUDOLABEL_DISABLE_PLUGINS: someone" in out


def test_cli_subprocess_with_external_plugins_disabled():
    env = {**os.environ, plugins.DISABLE_ENV: "all"}
    out = subprocess.run(
        [sys.executable, "-m", "pseudolabel", "plugins", "--json"],
        capture_output=True, text=True, env=env, check=True, cwd=REPO,
    ).stdout
    rows = json.loads(out)
    backends = sorted(r["name"] for r in rows if r["kind"] == "backend")
    assert backends == ["lightgbm", "sklearn", "xgboost"]
    assert all(r["plugin"].startswith("pseudolabel.") for r in rows)


def test_import_does_not_pull_optional_libraries():
    code = textwrap.dedent("""
        import sys
        import pseudolabel
        from pseudolabel import plugins
        from pseudolabel.plugins import make_backend
        b = make_backend("lightgbm", n_estimators=5)
        b = make_backend("xgboost", n_estimators=5)
        plugins.get_plugin_manager().backends
        heavy = sorted(m for m in ("lightgbm", "xgboost", "dask", "matplotlib", "catboost") if m in sys.modules)
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ---------------------------------------------------------------------------------------------
# README


def _readme_python_blocks(heading: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_writing_a_plugin_runs(tmp_path, monkeypatch, capsys):
    blocks = _readme_python_blocks("Writing a plugin")
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    with isolated_plugin_manager() as pm:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
        assert pm.backends.get("gaussian").plugin == "myplugin"
        assert pm.strategies.get("top_fraction", "selection").plugin == "myplugin"
        model = namespace["model"]
        assert model.backend_.name == "gaussian"
    out = capsys.readouterr().out
    assert "round 0: 0 selected" in out and "round 1:" in out


def test_readme_plugins_section_runs(tmp_path, monkeypatch):
    blocks = _readme_python_blocks("Plugins")
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_plugins"}
    with isolated_plugin_manager():
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["proba"].shape == (100, 3)
    assert (namespace["proba"][:, 1] == 0).all()
    np.testing.assert_array_equal(
        namespace["restored"].predict_proba(namespace["X"]),
        namespace["backend"].predict_proba(namespace["X"]),
    )


# ---------------------------------------------------------------------------------------------
# the module layout: registries a leaf, lookup next to what it builds, no import circle


def test_public_names_stay_where_the_docs_say_and_are_the_ones_defined_next_to_their_job():
    import pseudolabel.backends.lookup as backend_lookup
    import pseudolabel.cli.plugins as cli_plugins
    import pseudolabel.events as events
    import pseudolabel.registry as registry
    import pseudolabel.strategies.lookup as strategy_lookup

    assert plugins.make_backend is backend_lookup.make_backend
    assert plugins.as_backend is backend_lookup.as_backend
    assert plugins.load_backend is backend_lookup.load_backend
    assert plugins.make_strategy is strategy_lookup.make_strategy
    assert plugins.emit_round_end is events.emit_round_end
    assert plugins.emit_labels_selected is events.emit_labels_selected
    assert plugins.list_plugins is cli_plugins.list_plugins
    assert plugins.BackendRegistry is registry.BackendRegistry
    assert plugins.StrategyRegistry is registry.StrategyRegistry
    assert hookspecs.RoundSummary is events.RoundSummary is RoundSummary
    assert hookspecs.LabelsSelected is events.LabelsSelected is LabelsSelected
    assert pseudolabel.make_backend is backend_lookup.make_backend
    with pytest.raises(AttributeError, match="no attribute 'make_bakend'"):
        plugins.make_bakend  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'RoundSumary'"):
        hookspecs.RoundSumary  # noqa: B018


def _import_cycles(graph) -> set[tuple[str, str]]:
    """Pairs of modules that import each other, directly or through others."""
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.add(tuple(sorted((module, imported))))
    return cycles


def test_no_import_circle_through_the_plugin_machinery():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("pseudolabel", exclude_type_checking_imports=True)
    plugin_floor = {
        "pseudolabel.registry", "pseudolabel.hookspecs", "pseudolabel.plugins",
        "pseudolabel.events", "pseudolabel.backends.lookup", "pseudolabel.strategies.lookup",
        "pseudolabel.cli.plugins", "pseudolabel.backends.base", "pseudolabel.backends",
    }
    touching = {pair for pair in _import_cycles(graph) if plugin_floor & set(pair)}
    assert touching == set()
    # the manager imports none of what it registers; the registries are a leaf
    assert graph.find_modules_directly_imported_by("pseudolabel.registry") == {
        "pseudolabel.exceptions"
    }
    for module in ("pseudolabel.plugins", "pseudolabel.registry", "pseudolabel.hookspecs"):
        reached = graph.find_upstream_modules(module)
        assert not {m for m in reached if m.startswith("pseudolabel.backends")}, module
        assert not {m for m in reached if m.startswith("pseudolabel.strategies")}, module
    # a backend never reaches a loop
    reached = graph.find_upstream_modules("pseudolabel.backends", as_package=True)
    assert not {m for m in reached if m.split(".")[1] in {"loop", "selftrain", "active", "batch", "cli"}}

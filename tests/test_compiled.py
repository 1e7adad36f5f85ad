"""Compiled tree inference: exactness against the native predict, the cache, the engine rule.

Every model is small (a few trees) so each compile takes about a second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from pseudolabel.compiled import PAYBACK_ROWS, cache_root, choose_engine, compiled_model
from pseudolabel.compiled.cache import CACHE_ENV, entry_for
from pseudolabel.compiled.compilers import COMPILERS
from pseudolabel.exceptions import EngineUnavailableError, ParameterError
from pseudolabel.io.atomic import sha256_file
from pseudolabel.plugins import make_backend

pytest.importorskip("lleaves")
pytest.importorskip("tl2cgen")

INSTALLED = {c.name for c in COMPILERS if c.installed()}
TOLERANCE = 1e-6


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own cache directory, never the user's."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _saved(backend_name, params, X, y, directory: Path):
    backend = make_backend(backend_name, **params).fit(X, y)
    backend.save(directory)
    loaded = type(backend).load(directory)
    return loaded, directory / loaded.model_file


def _wine(nan: bool = False):
    X, y = load_wine(return_X_y=True)
    X = X.astype(np.float64)
    if nan:
        X[::5, 3] = np.nan
        X[1::7, 9] = np.nan
    return X, y


def _cancer():
    return load_breast_cancer(return_X_y=True)


def _random(seed: int, n_classes: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((400, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = rng.integers(0, n_classes, size=400)
    return X, y


def _categorical(seed: int = 0):
    rng = np.random.default_rng(seed)
    cat = rng.integers(0, 12, size=600)
    X = np.column_stack([cat, rng.standard_normal((600, 3))]).astype(np.float64)
    y = (np.isin(cat, [1, 4, 5, 9]) ^ (X[:, 1] > 1.0)).astype(int) + (cat == 7)
    X[::11, 0] = np.nan  # a missing category
    return X, y


LGBM = {"n_estimators": 3, "num_leaves": 7, "min_child_samples": 5, "random_state": 0}
XGB = {"n_estimators": 3, "max_depth": 3, "random_state": 0, "n_jobs": 1}
CASES = {
    "lightgbm-binary": ("lightgbm", LGBM, _cancer),
    "lightgbm-multiclass-nan": ("lightgbm", LGBM, lambda: _wine(nan=True)),
    "lightgbm-categorical": ("lightgbm", {**LGBM, "categorical_feature": [0],
                                          "min_data_per_group": 5, "cat_smooth": 1},
                             _categorical),
    "lightgbm-random-multiclass": ("lightgbm", LGBM, lambda: _random(2, 5)),
    "xgboost-binary": ("xgboost", XGB, _cancer),
    "xgboost-multiclass-nan": ("xgboost", XGB, lambda: _wine(nan=True)),
    "xgboost-random": ("xgboost", XGB, lambda: _random(3, 4)),
    "sklearn-forest": ("sklearn", {"estimator": RandomForestClassifier(
        n_estimators=4, max_depth=5, random_state=0)}, _wine),
    "sklearn-extra-trees-binary": ("sklearn", {"estimator": ExtraTreesClassifier(
        n_estimators=4, max_depth=5, random_state=0)}, _cancer),
    "sklearn-random-forest": ("sklearn", {"estimator": RandomForestClassifier(
        n_estimators=3, max_depth=5, random_state=1)}, lambda: (np.nan_to_num(_random(4, 3)[0]),
                                                  _random(4, 3)[1])),
}
CASES.update({
    "xgboost-deep-lossguide": ("xgboost", {"n_estimators": 4, "max_depth": 9, "max_leaves": 24,
                                           "grow_policy": "lossguide", "random_state": 0,
                                           "n_jobs": 1}, lambda: _random(5, 3)),
    "xgboost-stumps-binary": ("xgboost", {**XGB, "max_depth": 1}, _cancer),
    "xgboost-softmax": ("xgboost", {**XGB, "objective": "multi:softmax"}, lambda: _random(7, 3)),
    "xgboost-forest-multiclass": ("xgboost", {**XGB, "num_parallel_tree": 3, "subsample": 0.7,
                                              "colsample_bynode": 0.7}, lambda: _wine(nan=True)),
})
#: lleaves for every LightGBM case, xgboost-c for every XGBoost case; tl2cgen for the others
#: and one LightGBM case (its LightGBM path is the same frontend), to keep the number of
#: compiles down
PAIRS = [(case, "lleaves") for case, (b, _, _) in CASES.items() if b == "lightgbm"] + [
    (case, "xgboost-c") for case, (b, _, _) in CASES.items() if b == "xgboost"] + [
    (case, "tl2cgen") for case, (b, _, _) in CASES.items()
    if b == "sklearn" or case in ("lightgbm-multiclass-nan", "lightgbm-categorical",
                                  "xgboost-binary", "xgboost-multiclass-nan", "xgboost-random")]


@pytest.mark.parametrize(("case", "compiler"), PAIRS, ids=[f"{c}-{k}" for c, k in PAIRS])
def test_compiled_probabilities_equal_native(case, compiler, tmp_path):
    if compiler not in INSTALLED:
        pytest.skip(f"{compiler} not installed")
    backend_name, params, data = CASES[case]
    X, y = data()
    backend, model_file = _saved(backend_name, params, X, y, tmp_path / "model")
    if case == "lightgbm-categorical":
        assert "cat_boundaries" in model_file.read_text()  # the model really splits on categories
    native = backend.predict_proba(X)
    model = compiled_model(backend, model_file, compiler=compiler)
    P = model.predict_proba(X)
    assert P.shape == native.shape and P.dtype == np.float64
    assert np.abs(P - native).max() <= TOLERANCE
    np.testing.assert_array_equal(P.argmax(axis=1), native.argmax(axis=1))
    # values never seen in training (an unseen category, out of every split's range)
    X_new = X.copy()
    X_new[::3, 0] = 40.0
    X_new[1::3, 0] = -3.0
    assert np.abs(model.predict_proba(X_new) - backend.predict_proba(X_new)).max() <= TOLERANCE
    # chunks of other sizes (one row, odd sizes) give the same rows
    np.testing.assert_array_equal(model.predict_proba(X[3:4]), P[3:4])
    np.testing.assert_array_equal(model.predict_proba(X[:37]), P[:37])


def test_classes_absent_from_the_training_labels_get_zero_columns(tmp_path):
    X, y = _wine()
    backend = make_backend("lightgbm", **LGBM).fit(X, y, classes=[0, 1, 2, 3])
    backend.save(tmp_path / "m")
    backend = type(backend).load(tmp_path / "m")
    P = compiled_model(backend, tmp_path / "m" / "model.txt", compiler="lleaves").predict_proba(X)
    native = backend.predict_proba(X)
    assert P.shape == (len(X), 4) and (P[:, 3] == 0).all()
    assert np.abs(P - native).max() <= TOLERANCE


@pytest.fixture
def lightgbm_model(tmp_path):
    X, y = _wine()
    backend, model_file = _saved("lightgbm", LGBM, X, y, tmp_path / "model")
    return backend, model_file, X


def test_second_load_uses_the_cache_and_a_tampered_entry_is_rebuilt(lightgbm_model,
                                                                   private_cache):
    backend, model_file, X = lightgbm_model
    logs: list[str] = []
    import pseudolabel.compiled.engine as engine

    P = compiled_model(backend, model_file, compiler="lleaves", log=logs.append).predict_proba(X)
    assert any("compiling" in m for m in logs)
    entries = list((private_cache / "compiled").iterdir())
    assert len(entries) == 1 and entries[0].name.startswith("lleaves-")
    assert oct(entries[0].stat().st_mode & 0o777) == oct(0o700)
    engine._LOADED.clear()
    logs.clear()
    compiled_model(backend, model_file, compiler="lleaves", log=logs.append)
    assert logs == [f"using the compiled model cached in {entries[0]}"]
    # a library that does not match its recorded sha256 is never loaded: rebuilt
    (library,) = entries[0].glob("model-*.so")
    tampered = library.with_name("tampered")  # replaced, not edited in place: this process
    tampered.write_bytes(library.read_bytes()[:-16] + b"\0" * 16)  # has it mapped
    os.replace(tampered, library)
    engine._LOADED.clear()
    logs.clear()
    Q = compiled_model(backend, model_file, compiler="lleaves", log=logs.append).predict_proba(X)
    assert any("compiling" in m for m in logs)
    np.testing.assert_array_equal(P, Q)
    # an entry.json naming another model is not trusted either
    meta_path = entries[0] / "entry.json"
    meta = json.loads(meta_path.read_text())
    meta["model_sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    engine._LOADED.clear()
    logs.clear()
    compiled_model(backend, model_file, compiler="lleaves", log=logs.append)
    assert any("compiling" in m for m in logs)
    assert not [p for p in (private_cache / "compiled").iterdir() if p.name.startswith(".")]


def test_labeling_from_the_cache_does_not_load_llvm(lightgbm_model, private_cache):
    """The lleaves library is linked with gcc and called through ctypes: no LLVM in RSS."""
    import subprocess
    import sys

    backend, model_file, X = lightgbm_model
    P = compiled_model(backend, model_file, compiler="lleaves").predict_proba(X)
    np.save(private_cache.parent / "P.npy", P)
    np.save(private_cache.parent / "X.npy", X)
    code = (
        "import sys, numpy as np\n"
        "from pseudolabel.backends.lightgbm import LightGBMBackend\n"
        "from pseudolabel.compiled import compiled_model\n"
        f"d = {str(model_file.parent)!r}\n"
        "logs = []\n"
        "m = compiled_model(LightGBMBackend.load(d), d + '/model.txt', compiler='lleaves',\n"
        "                   log=logs.append)\n"
        f"P = m.predict_proba(np.load({str(private_cache.parent / 'X.npy')!r}))\n"
        f"assert (P == np.load({str(private_cache.parent / 'P.npy')!r})).all()\n"
        "assert logs[0].startswith('using the compiled model cached'), logs\n"
        "assert 'llvmlite' not in sys.modules and 'lleaves' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ)


def test_without_gcc_lleaves_loads_its_object_code(lightgbm_model, monkeypatch):
    import pseudolabel.compiled.compilers as compilers

    backend, model_file, X = lightgbm_model
    real = compilers.shutil.which
    monkeypatch.setattr(compilers.shutil, "which",
                        lambda name: None if name == "gcc" else real(name))
    model = compiled_model(backend, model_file, compiler="lleaves")
    assert model.library.suffix == ".o"
    assert np.abs(model.predict_proba(X) - backend.predict_proba(X)).max() <= TOLERANCE


def test_cache_key_covers_model_and_compiler_version(tmp_path):
    a = entry_for(tmp_path, "a" * 64, "lleaves", "lleaves 1.3.0")
    assert a.directory != entry_for(tmp_path, "b" * 64, "lleaves", "lleaves 1.3.0").directory
    assert a.directory != entry_for(tmp_path, "a" * 64, "lleaves", "lleaves 1.4.0").directory
    assert a.directory == entry_for(tmp_path, "a" * 64, "lleaves", "lleaves 1.3.0").directory


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "pseudolabel"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "option") == tmp_path / "option"


def test_a_cache_others_can_write_is_refused(lightgbm_model, tmp_path):
    backend, model_file, _ = lightgbm_model
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(ParameterError, match="writable by other users"):
        compiled_model(backend, model_file, compiler="lleaves", cache_dir=shared)


def test_engine_rule(lightgbm_model):
    backend, model_file, X = lightgbm_model
    assert choose_engine(backend, model_file, engine="native").engine == "native"
    small = choose_engine(backend, model_file, engine="auto", n_rows=1000)
    assert small.engine == "native" and "pay back" in small.reason
    unknown = choose_engine(backend, model_file, engine="auto", n_rows=None)
    assert unknown.engine == "native"
    big = choose_engine(backend, model_file, engine="auto", n_rows=PAYBACK_ROWS)
    assert (big.engine, big.compiler) == ("compiled", "lleaves")
    forced = choose_engine(backend, model_file, engine="compiled", n_rows=10)
    assert (forced.engine, forced.compiler) == ("compiled", "lleaves")
    compiled_model(backend, model_file, compiler="lleaves")
    cached = choose_engine(backend, model_file, engine="auto", n_rows=10)
    assert (cached.engine, cached.reason) == ("compiled", "compiled model found in the cache")
    with pytest.raises(ParameterError, match="engine must be one of"):
        choose_engine(backend, model_file, engine="fast")


def test_auto_uses_a_compiler_only_where_it_was_measured_faster(lightgbm_model, monkeypatch):
    from pseudolabel.compiled.compilers import Lleaves

    backend, model_file, X = lightgbm_model
    monkeypatch.setattr(Lleaves, "installed", lambda self: False)
    choice = choose_engine(backend, model_file, engine="auto", n_rows=10 * PAYBACK_ROWS)
    assert choice.engine == "native" and "not faster than native for lightgbm" in choice.reason
    forced = choose_engine(backend, model_file, engine="compiled")
    assert (forced.engine, forced.compiler) == ("compiled", "tl2cgen")


def test_linear_trees_fall_back_under_auto_and_are_refused_under_compiled(tmp_path):
    X, y = _wine()
    backend, model_file = _saved("lightgbm", {**LGBM, "linear_tree": True}, X, y, tmp_path / "m")
    choice = choose_engine(backend, model_file, engine="auto", n_rows=10 * PAYBACK_ROWS)
    assert choice.engine == "native" and "linear trees" in choice.reason
    with pytest.raises(EngineUnavailableError, match="linear trees"):
        choose_engine(backend, model_file, engine="compiled")
    with pytest.raises(EngineUnavailableError, match="linear trees"):
        compiled_model(backend, model_file, compiler="lleaves")
    assert isinstance(EngineUnavailableError("x"), ValueError)  # the CLI's usage exit code


def test_models_no_compiler_supports(tmp_path):
    from sklearn.naive_bayes import GaussianNB

    X, y = _wine()
    backend, model_file = _saved("sklearn", {"estimator": GaussianNB()},
                                 X, y, tmp_path / "m")
    choice = choose_engine(backend, model_file, engine="auto", n_rows=10 * PAYBACK_ROWS)
    assert choice.engine == "native" and "GaussianNB is not supported" in choice.reason
    with pytest.raises(EngineUnavailableError, match="GaussianNB"):
        choose_engine(backend, model_file, engine="compiled")


def test_an_entry_built_meanwhile_by_another_process_is_fine(tmp_path):
    """Two builders of one entry: whichever publishes last wins, both results verify."""
    from pseudolabel.compiled.cache import build_entry, find_entry

    entry = entry_for(tmp_path / "root", "c" * 64, "lleaves", "v1")

    def inner(d: Path) -> str:
        (d / "model.o").write_bytes(b"inner")
        return "model.o"

    def outer(d: Path) -> str:
        assert build_entry(entry, inner).read_bytes() == b"inner"  # the other process
        (d / "model.o").write_bytes(b"outer")
        return "model.o"

    assert build_entry(entry, outer).read_bytes() == b"outer"
    assert find_entry(entry).name.startswith("model-")
    assert [p.name for p in entry.directory.parent.iterdir()] == [entry.directory.name]
    # a build that fails leaves the published entry and no temporary behind
    def failing(d: Path) -> str:
        raise RuntimeError("compiler crashed")

    with pytest.raises(RuntimeError):
        build_entry(entry, failing)
    assert find_entry(entry) is not None
    assert [p.name for p in entry.directory.parent.iterdir()] == [entry.directory.name]


def test_xgboost_c_reads_float32_and_float64_alike_and_uses_best_iteration(tmp_path):
    X, y = _wine(nan=True)
    backend = make_backend("xgboost", **{**XGB, "n_estimators": 12}).fit(X, y)
    backend.model_.get_booster().set_attr(best_iteration="4")  # what early stopping stores
    backend.save(tmp_path / "m")
    backend = type(backend).load(tmp_path / "m")
    assert backend.model_.best_iteration == 4
    native = backend.predict_proba(X)
    model = compiled_model(backend, tmp_path / "m" / "model.ubj", compiler="xgboost-c")
    assert np.abs(model.predict_proba(X) - native).max() <= TOLERANCE
    np.testing.assert_array_equal(model.predict_proba(X.astype(np.float32)),
                                  model.predict_proba(X))


def test_auto_picks_xgboost_c_and_hands_what_it_cannot_compile_to_tl2cgen(tmp_path):
    X, y = _random(6, 3)
    backend, model_file = _saved("xgboost", XGB, X, y, tmp_path / "m")
    from pseudolabel.compiled.compilers import XGBoostC

    assert XGBoostC.payback_rows is not None and XGBoostC.payback_rows < PAYBACK_ROWS
    big = choose_engine(backend, model_file, engine="auto", n_rows=XGBoostC.payback_rows)
    assert (big.engine, big.compiler) == ("compiled", "xgboost-c")
    small = choose_engine(backend, model_file, engine="auto", n_rows=XGBoostC.payback_rows - 1)
    assert small.engine == "native" and "1,000,000 rows with xgboost-c" in small.reason
    deep, deep_file = _saved("xgboost", {**XGB, "max_depth": 0, "max_leaves": 60,
                                         "grow_policy": "lossguide"}, X, y, tmp_path / "deep")
    choice = choose_engine(deep, deep_file, engine="auto", n_rows=10 * PAYBACK_ROWS)
    assert choice.engine == "native" and "at most depth 10" in choice.reason
    forced = choose_engine(deep, deep_file, engine="compiled")
    assert (forced.engine, forced.compiler) == ("compiled", "tl2cgen")
    P = compiled_model(deep, deep_file, compiler="tl2cgen").predict_proba(X)
    assert np.abs(P - deep.predict_proba(X)).max() <= TOLERANCE
    with pytest.raises(EngineUnavailableError, match="at most depth 10"):
        compiled_model(deep, deep_file, compiler="xgboost-c")


def test_xgboost_c_refuses_categorical_features():
    import pandas as pd

    from pseudolabel.compiled.xgboost_c import model_problem

    X, y = _categorical()
    frame = pd.DataFrame({"c": pd.Categorical(np.nan_to_num(X[:, 0], nan=-1).astype(int)),
                          "a": X[:, 1], "b": X[:, 2]})
    backend = make_backend("xgboost", **XGB).fit(frame, y)
    assert model_problem(backend.model_.get_booster(), backend.model_.missing) \
        == "categorical features"


def test_a_cached_xgboost_c_library_still_refuses_a_missing_value_other_than_nan(tmp_path):
    """The cache stands for the model file's checks, not for `missing`, which the file
    does not hold: the same file with missing=0.0 is refused even with its library cached."""
    X, y = _random(3, 3)
    backend, model_file = _saved("xgboost", XGB, X, y, tmp_path / "m")
    model = compiled_model(backend, model_file, compiler="xgboost-c")
    assert np.abs(model.predict_proba(X) - backend.predict_proba(X)).max() <= TOLERANCE
    cached = choose_engine(backend, model_file, engine="auto", n_rows=1)
    assert (cached.engine, cached.reason) == ("compiled", "compiled model found in the cache")
    other = type(backend).load(tmp_path / "m")
    other.model_.set_params(missing=0.0)
    with pytest.raises(EngineUnavailableError, match=r"missing=0\.0"):
        compiled_model(other, model_file, compiler="xgboost-c")
    choice = choose_engine(other, model_file, engine="auto", n_rows=10 * PAYBACK_ROWS)
    assert choice.engine == "native" and "missing=0.0" in choice.reason

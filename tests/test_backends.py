"""Built-in backends (sklearn, LightGBM, XGBoost), the Backend base class and check_backend."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from pseudolabel.backends import Backend, Capabilities, LightGBMBackend, SklearnBackend, XGBoostBackend
from pseudolabel.backends.base import encode_labels, read_metadata
from pseudolabel.exceptions import (
    BackendError,
    BundleError,
    InputError,
    ParameterError,
)
from pseudolabel.plugins import isolated_plugin_manager, load_backend, make_backend
from pseudolabel.testing import backend_checks, check_backend, make_blobs_data

BUILTIN_PARAMS = {
    "sklearn": {"estimator": LogisticRegression(max_iter=1000)},
    "lightgbm": {"n_estimators": 20, "random_state": 0, "n_jobs": 1},
    "xgboost": {"n_estimators": 20, "random_state": 0, "n_jobs": 1},
}


@pytest.fixture(autouse=True)
def _only_builtins():
    with isolated_plugin_manager() as pm:
        yield pm


def _cases():
    with isolated_plugin_manager():
        for name, params in BUILTIN_PARAMS.items():
            for check in backend_checks(name, **params):
                yield pytest.param(name, check.name, id=f"{name}-{check.name}")


@pytest.mark.parametrize("name, check_name", list(_cases()))
def test_builtin_backends_pass_check_backend(name, check_name):
    checks = {c.name: c for c in backend_checks(name, **BUILTIN_PARAMS[name])}
    checks[check_name]()


@pytest.mark.parametrize(
    "estimator",
    [
        KNeighborsClassifier(n_neighbors=5),  # no sample_weight: refusal path of the suite
        make_pipeline(StandardScaler(), LogisticRegression()),  # weights routed to the last step
        CalibratedClassifierCV(LinearSVC(), cv=3),
    ],
    ids=["knn", "pipeline", "calibrated-svc"],
)
def test_check_backend_on_other_sklearn_estimators(estimator):
    assert len(check_backend("sklearn", estimator=estimator)) == 10


# ---------------------------------------------------------------------------------------------
# check_backend must be able to fail


class _Blobby(Backend):
    """A correct nearest-mean backend; subclasses below break it in one way each."""

    name = "blobby"
    capabilities = Capabilities(sample_weight=True)
    model_file = "model.npz"

    def _fit_model(self, X, y, sample_weight):
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        onehot = np.eye(y.max() + 1)[y] * w[:, None]
        self.means_ = onehot.T @ X / onehot.sum(axis=0)[:, None]
        self.prior_ = np.log(onehot.sum(axis=0) / onehot.sum())

    def _predict_model(self, X):
        logits = self.prior_ - ((X[:, None, :] - self.means_[None]) ** 2).sum(axis=2) / 2
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def _save_model(self, directory):
        np.savez(directory / self.model_file, means=self.means_, prior=self.prior_)

    def _load_model(self, directory, meta):
        with np.load(directory / meta["model_file"]) as f:
            self.means_, self.prior_ = f["means"], f["prior"]


class _SwappedColumns(_Blobby):
    def _predict_model(self, X):
        return super()._predict_model(X)[:, ::-1]


class _IgnoresWeights(_Blobby):
    def _fit_model(self, X, y, sample_weight):
        super()._fit_model(X, y, None)


class _Noisy(_Blobby):
    def _predict_model(self, X):
        p = super()._predict_model(X) + np.random.default_rng().random((len(X), len(self.means_))) * 1e-3
        return p / p.sum(axis=1, keepdims=True)


class _LossySave(_Blobby):
    def _save_model(self, directory):
        np.savez(directory / self.model_file, means=self.means_.astype(np.float16), prior=self.prior_)


class _Pickler(_Blobby):
    protocol = 5

    def _save_model(self, directory):
        import pickle

        data = pickle.dumps((self.means_, self.prior_), protocol=self.protocol)
        (directory / self.model_file).write_bytes(data)

    def _load_model(self, directory, meta):
        import pickle

        self.means_, self.prior_ = pickle.loads((directory / meta["model_file"]).read_bytes())


def test_check_backend_passes_a_correct_backend():
    assert "check_save_load" in check_backend(_Blobby)


@pytest.mark.parametrize(
    "broken, failing_check",
    [
        (_SwappedColumns, "check_string_labels"),
        (_IgnoresWeights, "check_sample_weight"),
        (_LossySave, "check_save_load"),
        (_Pickler, "check_save_load"),
        (type("_OldPickler", (_Pickler,), {"protocol": 2}), "check_save_load"),
    ],
)
def test_check_backend_catches_broken_backends(broken, failing_check):
    with pytest.raises(AssertionError, match=failing_check):
        check_backend(broken)


def test_make_blobs_data_shapes_and_bad_sizes():
    X, y = make_blobs_data(n_per_class=5, n_features=2)
    assert X.shape == (15, 2) and sorted(set(y)) == ["ant", "bee", "cat"]
    with pytest.raises(ParameterError, match="n_features >= 2"):
        make_blobs_data(n_features=1)


def test_check_backend_catches_nondeterminism():
    checks = {c.name: c for c in backend_checks(_Noisy)}
    with pytest.raises(AssertionError, match="check_determinism.*differ"):
        checks["check_determinism"]()


# ---------------------------------------------------------------------------------------------
# sklearn backend


@pytest.mark.parametrize("estimator", [LinearSVC(), SVC(), KNeighborsClassifier], ids=["linearsvc", "svc", "class"])
def test_sklearn_backend_refuses_estimators_without_predict_proba(estimator):
    match = "CalibratedClassifierCV" if not isinstance(estimator, type) else "instance"
    with pytest.raises(ParameterError, match=match):
        make_backend("sklearn", estimator=estimator)


def test_sklearn_backend_needs_an_estimator():
    with pytest.raises(ParameterError, match="needs an estimator"):
        make_backend("sklearn")


def test_sklearn_backend_never_modifies_the_estimator():
    X, y = make_blobs_data()
    lr = LogisticRegression()
    backend = make_backend("sklearn", estimator=lr).fit(X, y)
    assert not hasattr(lr, "coef_")
    assert backend.estimator_ is not lr and hasattr(backend.estimator_, "coef_")
    clone = backend.clone()
    assert not clone.is_fitted and clone.estimator is not lr


def test_sklearn_backend_capabilities_follow_the_estimator():
    assert make_backend("sklearn", estimator=LogisticRegression()).capabilities.sample_weight
    assert not make_backend("sklearn", estimator=KNeighborsClassifier()).capabilities.sample_weight
    assert make_backend("sklearn", estimator=KNeighborsClassifier(n_jobs=1)).capabilities.threads
    assert not SklearnBackend.capabilities.continued_training
    pipe = make_backend("sklearn", estimator=make_pipeline(StandardScaler(), KNeighborsClassifier()))
    assert not pipe.capabilities.sample_weight
    X, y = make_blobs_data()
    with pytest.raises(BackendError, match="does not support sample_weight"):
        pipe.fit(X, y, sample_weight=np.ones(len(y)))


def test_sklearn_backend_wraps_estimator_input_errors():
    X, y = make_blobs_data()
    X = X.copy()
    X[5, 1] = np.nan
    with pytest.raises(InputError, match="LogisticRegression.fit rejected the input.*NaN"):
        make_backend("sklearn", estimator=LogisticRegression()).fit(X, y)


class _CustomLR(LogisticRegression):
    """An estimator class skops does not trust by default."""


def test_skops_load_refuses_untrusted_types(tmp_path):
    X, y = make_blobs_data()
    backend = make_backend("sklearn", estimator=_CustomLR()).fit(X, y)
    backend.save(tmp_path / "m")
    with pytest.raises(BundleError, match="_CustomLR.*trusted="):
        SklearnBackend.load(tmp_path / "m")
    type_name = f"{_CustomLR.__module__}._CustomLR"
    loaded = load_backend(tmp_path / "m", trusted=[type_name])
    np.testing.assert_array_equal(loaded.predict_proba(X), backend.predict_proba(X))


# ---------------------------------------------------------------------------------------------
# LightGBM / XGBoost specifics


def _categorical_frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue", "teal"], n)
    size = rng.normal(size=n)
    # the label depends on the category in a non-ordinal way
    y = np.where(np.isin(color, ["red", "teal"]) ^ (size > 1.5), "yes", "no")
    X = pd.DataFrame({"color": pd.Categorical(color), "size": size})
    return X, y


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_gbdt_backends_take_categorical_frames_untouched(name, tmp_path):
    X, y = _categorical_frame()
    X_before = X.copy()
    backend = make_backend(name, **BUILTIN_PARAMS[name]).fit(X, y)
    pd.testing.assert_frame_equal(X, X_before)
    assert backend.capabilities.categorical
    assert list(backend.feature_names_in_) == ["color", "size"]
    accuracy = np.mean(backend.predict(X) == y)
    assert accuracy > 0.95
    if name == "lightgbm":
        assert "num_cat=0" not in backend.booster_.model_to_string().split("Tree=0")[1].split("\n\n")[0]
        assert backend.booster_.pandas_categorical == [["blue", "green", "red", "teal"]]
    else:
        assert backend.model_.get_booster().feature_types == ["c", "float"]
    backend.save(tmp_path / "m")
    loaded = load_backend(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(X), backend.predict_proba(X))
    with pytest.raises(InputError, match="missing \\['size'\\]"):
        backend.predict_proba(X.rename(columns={"size": "length"}))


def test_lightgbm_params_pass_straight_through():
    X, y = load_breast_cancer(return_X_y=True)
    backend = make_backend("lightgbm", n_estimators=3, num_leaves=4, n_jobs=1, random_state=0).fit(X, y)
    assert backend.booster_.num_trees() == 3
    assert backend.booster_.params["num_leaves"] == 4
    backend.continue_fit(X, y, n_more=2)
    assert backend.booster_.num_trees() == 5


def test_xgboost_params_pass_straight_through():
    X, y = load_wine(return_X_y=True)
    backend = make_backend("xgboost", n_estimators=3, max_depth=2, n_jobs=1).fit(X, y)
    booster = backend.model_.get_booster()
    assert booster.num_boosted_rounds() == 3
    config = json.loads(booster.save_config())
    assert config["learner"]["gradient_booster"]["tree_train_param"]["max_depth"] == "2"
    backend.continue_fit(X, y, n_more=2)
    assert backend.model_.get_booster().num_boosted_rounds() == 5


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_continue_fit_needs_the_fitted_label_space(name):
    X, y = load_wine(return_X_y=True)
    backend = make_backend(name, **BUILTIN_PARAMS[name]).fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(BackendError, match=r"absent from the first fit"):
        backend.continue_fit(X, np.where(y == 2, 3, y), n_more=1)
    with pytest.raises(BackendError, match=r"missing from y: \[2\]"):
        backend.continue_fit(X[y < 2], y[y < 2], n_more=1)
    with pytest.raises(InputError, match="outside classes"):
        backend.continue_fit(X, np.where(y == 2, 7, y), n_more=1)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ParameterError, match="n_more"):
            backend.continue_fit(X, y, n_more=bad)


def test_continue_fit_unsupported():
    X, y = make_blobs_data()
    backend = make_backend("sklearn", estimator=LogisticRegression()).fit(X, y)
    with pytest.raises(BackendError, match="does not support continued training"):
        backend.continue_fit(X, y, n_more=1)


@pytest.mark.parametrize("module, name", [("lightgbm", "lightgbm"), ("xgboost", "xgboost")])
def test_missing_optional_library_says_what_to_install(module, name):
    code = textwrap.dedent(f"""
        import sys
        sys.modules[{module!r}] = None  # as if it were not installed
        import numpy as np
        from pseudolabel.plugins import make_backend
        from pseudolabel.exceptions import MissingDependencyError
        backend = make_backend({name!r})  # creating it needs no library
        try:
            backend.fit(np.eye(4), [0, 1, 0, 1])
        except MissingDependencyError as exc:
            assert isinstance(exc, ImportError)
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f'pip install "pseudolabel[{name}]"' in out.stdout, out.stdout + out.stderr


def test_import_optional_says_what_to_install_and_why():
    from pseudolabel.backends.base import import_optional
    from pseudolabel.exceptions import MissingDependencyError

    assert import_optional("json", "unused").dumps([1]) == "[1]"
    with pytest.raises(MissingDependencyError, match=r"pip install nothing_here \(Module"
                       r"NotFoundError: No module named 'nothing_here_xyz'\)"):
        import_optional("nothing_here_xyz", "pip install nothing_here")


# ---------------------------------------------------------------------------------------------
# the base class: labels, save format


def test_encode_labels():
    idx, classes = encode_labels(["b", "a", "c", "a"])
    assert classes.tolist() == ["a", "b", "c"] and idx.tolist() == [1, 0, 2, 0]
    idx, classes = encode_labels([5, 1, 5], classes=[5, 9, 1])
    assert classes.tolist() == [5, 9, 1] and idx.tolist() == [0, 2, 0]
    idx, classes = encode_labels(pd.Series(["x", "y"], dtype="category"))
    assert classes.tolist() == ["x", "y"]
    with pytest.raises(InputError, match="outside classes: 'd'"):
        encode_labels(["a", "d"], classes=["a", "b"])
    with pytest.raises(InputError, match="NaN at row 1"):
        encode_labels([0.0, np.nan])
    with pytest.raises(InputError, match="missing label.*row 2"):
        encode_labels(np.array(["a", "b", None], dtype=object))
    with pytest.raises(InputError, match="1-D"):
        encode_labels(np.zeros((3, 2)))
    with pytest.raises(InputError, match="empty"):
        encode_labels([])
    with pytest.raises(ParameterError, match="duplicate"):
        encode_labels(["a"], classes=["a", "a"])
    with pytest.raises(InputError, match="mixes label types|cannot be compared"):
        encode_labels(np.array(["a", 1], dtype=object))


@pytest.mark.parametrize(
    "labels",
    [np.array(["x", "y", "z"]), np.array([10, 20, 30]), np.array(["x", "y", "z"], dtype=object), np.array([False, True, True])],
    ids=["str", "int", "object-str", "bool"],
)
def test_label_dtypes_survive_save_load(labels, tmp_path):
    X, y = make_blobs_data()
    y = labels[np.searchsorted(["ant", "bee", "cat"], y) % len(np.unique(labels))]
    backend = make_backend("lightgbm", **BUILTIN_PARAMS["lightgbm"]).fit(X, y)
    backend.save(tmp_path / "m")
    loaded = load_backend(tmp_path / "m")
    assert loaded.classes_.dtype == backend.classes_.dtype
    assert loaded.classes_.tolist() == backend.classes_.tolist()
    np.testing.assert_array_equal(loaded.predict(X), backend.predict(X))


def test_saved_layout_and_errors(tmp_path):
    X, y = make_blobs_data()
    backend = make_backend("xgboost", **BUILTIN_PARAMS["xgboost"]).fit(X, y)
    backend.save(tmp_path / "deep" / "m")
    meta = read_metadata(tmp_path / "deep" / "m")
    assert meta["backend"] == "xgboost" and meta["model_file"] == "model.ubj"
    assert meta["params"] == {"n_estimators": 20, "random_state": 0, "n_jobs": 1}
    assert sorted(p.name for p in (tmp_path / "deep" / "m").iterdir()) == ["backend.json", "model.ubj"]
    with pytest.raises(BundleError, match="holds a 'xgboost' backend, not 'lightgbm'"):
        LightGBMBackend.load(tmp_path / "deep" / "m")
    assert isinstance(Backend.load(tmp_path / "deep" / "m"), XGBoostBackend)
    (tmp_path / "deep" / "m" / "backend.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_backend(tmp_path / "deep" / "m")
    with pytest.raises(BundleError, match="does not exist"):
        load_backend(tmp_path / "nowhere")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(BackendError, match="refusing to overwrite"):
        backend.save(tmp_path / "afile")


def test_failed_save_leaves_nothing_behind(tmp_path):
    class HalfWriter(_Blobby):
        def _save_model(self, directory):
            (directory / self.model_file).write_bytes(b"partial")
            raise OSError("disk full")

    X, y = make_blobs_data()
    backend = HalfWriter().fit(X, y)
    with pytest.raises(OSError, match="disk full"):
        backend.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []
    good = _Blobby().fit(X, y)
    good.save(tmp_path / "m")
    with pytest.raises(OSError, match="disk full"):
        backend.save(tmp_path / "m")  # a failed overwrite keeps the previous save intact
    np.testing.assert_array_equal(_Blobby.load(tmp_path / "m").predict_proba(X), good.predict_proba(X))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_save_that_fails_to_move_into_place_keeps_the_previous_save(tmp_path, monkeypatch):
    import os

    X, y = make_blobs_data()
    good = _Blobby().fit(X, y)
    good.save(tmp_path / "m")
    real = {"rename": os.rename, "replace": os.replace}

    def refusing(how):
        def move(src, dst):
            if ".tmp-" in os.fspath(src):  # the finished new save refuses to move
                raise OSError("rename failed")
            return real[how](src, dst)

        return move

    for how in real:
        monkeypatch.setattr(os, how, refusing(how))
    with pytest.raises(OSError, match="rename failed"):
        _Blobby().fit(X[::-1], y[::-1]).save(tmp_path / "m")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # the old save is back, no leftovers
    np.testing.assert_array_equal(_Blobby.load(tmp_path / "m").predict_proba(X), good.predict_proba(X))


def test_unjsonable_params_are_refused_at_save(tmp_path):
    X, y = make_blobs_data()
    backend = make_backend("lightgbm", n_estimators=5, random_state=np.random.RandomState(0)).fit(X, y)
    with pytest.raises(BackendError, match=r"cannot save parameters \['random_state'\]"):
        backend.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_explicit_classes_never_misalign_columns():
    """A class known only from `classes=` gets zeros in its own column, wherever it sits."""
    X, y = load_wine(return_X_y=True)
    labels = np.array(["barolo", "grignolino", "barbera"])[y]
    keep = labels != "grignolino"
    for name, params in BUILTIN_PARAMS.items():
        backend = make_backend(name, **params).fit(X[keep], labels[keep], classes=["barbera", "grignolino", "barolo"])
        proba = backend.predict_proba(X)
        assert (proba[:, 1] == 0).all(), name
        pred = backend.predict(X[keep])
        assert np.mean(pred == labels[keep]) > 0.95, name


# ---------------------------------------------------------------------------------------------
# property tests: label encoding against a plain numpy reference

_label_values = st.one_of(
    st.lists(st.integers(-5, 5), min_size=1, max_size=40),
    st.lists(st.sampled_from(["ant", "bee", "cat", "dog", "", "é"]), min_size=1, max_size=40),
)


@settings(max_examples=60, deadline=None)
@given(values=_label_values, data=st.data())
def test_encode_labels_matches_numpy(values, data):
    y = np.asarray(values)
    idx, classes = encode_labels(y)
    ref_classes, ref_idx = np.unique(y, return_inverse=True)
    np.testing.assert_array_equal(classes, ref_classes)
    np.testing.assert_array_equal(idx, ref_idx)
    # an explicit label space: any order, with extra classes that never occur
    extra = ["zz_extra"] if y.dtype.kind == "U" else [100, -100]
    space = list(ref_classes) + extra
    order = data.draw(st.permutations(range(len(space))))
    explicit = np.asarray([space[i] for i in order])
    idx2, classes2 = encode_labels(y, classes=explicit)
    np.testing.assert_array_equal(classes2, explicit)
    np.testing.assert_array_equal(classes2[idx2], y)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_predict_proba_columns_follow_classes(data):
    """Columns of classes absent from y are zero; the others equal the model's, in order."""
    n_classes = data.draw(st.integers(2, 5))
    space = np.asarray([f"c{i}" for i in range(n_classes + 2)])
    present = np.asarray(sorted(data.draw(st.sets(st.integers(0, len(space) - 1), min_size=2, max_size=len(space)))))
    order = np.asarray(data.draw(st.permutations(range(len(space)))))
    classes = space[order]
    X, y_blob = make_blobs_data(n_per_class=6)
    y = space[present][np.searchsorted(["ant", "bee", "cat"], y_blob) % len(present)]
    backend = _Blobby().fit(X, y, classes=classes)
    proba = backend.predict_proba(X)
    reference = _Blobby().fit(X, y).predict_proba(X)  # columns: sorted present classes
    for j, c in enumerate(classes):
        if c in set(y):
            ref_col = list(np.unique(y)).index(c)
            np.testing.assert_allclose(proba[:, j], reference[:, ref_col])
        else:
            assert (proba[:, j] == 0).all()


# ---------------------------------------------------------------------------------------------
# the one probability check; float32 model output stays float32


from pseudolabel.backends import check_probabilities  # noqa: E402
from pseudolabel.backends.checks import PROBA_TOLERANCE  # noqa: E402
from pseudolabel.exceptions import ProbabilityError  # noqa: E402


class _FixedOutput(SklearnBackend):
    """A backend whose model output is replaced by ``output(P)`` (dtype or values)."""

    name = "fixed_output"

    def __init__(self, output=None, **params):
        super().__init__(**params)
        self._output = output

    def clone(self):
        return type(self)(self._output, **self.get_params())

    def _predict_model(self, X):
        return self._output(super()._predict_model(X))


def _fitted(output):
    X, y = load_wine(return_X_y=True)
    backend = _FixedOutput(output, estimator=make_pipeline(StandardScaler(), LogisticRegression()))
    return backend.fit(X, y), X


@pytest.mark.parametrize("dtype, expected", [
    (np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float64),
    (np.longdouble, np.float64),
])
def test_predict_proba_keeps_float32_and_makes_other_floats_float64(dtype, expected):
    backend, X = _fitted(lambda P: P.astype(dtype))
    P = backend.predict_proba(X)
    assert P.dtype == expected and P.flags.c_contiguous
    reference = np.clip(backend.estimator_.predict_proba(X).astype(dtype).astype(expected), 0, 1)
    np.testing.assert_array_equal(P, reference)


def test_predict_proba_keeps_float32_with_a_class_absent_from_y():
    X, y = load_wine(return_X_y=True)
    backend = _FixedOutput(lambda P: P.astype(np.float32), estimator=LogisticRegression(max_iter=2000))
    backend.fit(X, y, classes=[0, 1, 2, 7])
    P = backend.predict_proba(X)
    assert P.dtype == np.float32 and P.shape == (len(X), 4) and (P[:, 3] == 0).all()


@pytest.mark.parametrize("output, match", [
    (lambda P: P[:, :2], r"shape \(178, 2\), expected \(178, 3\)"),
    (lambda P: P.astype(str), "dtype <U"),
])
def test_predict_proba_refuses_a_wrong_shape_or_dtype(output, match):
    backend, X = _fitted(output)
    with pytest.raises(ProbabilityError, match=match) as info:
        backend.predict_proba(X)
    assert "backend 'fixed_output'" in str(info.value)


@pytest.mark.parametrize("output, match", [
    (lambda P: np.where(np.arange(P.shape[0])[:, None] == 3, np.nan, P), "row 3, column 0: NaN"),
    (lambda P: np.where(np.arange(P.shape[1]) == 2, np.inf, P), "row 0, column 2"),
    (lambda P: P - 0.5, "row 0, column [0-2]"),
])
def test_invalid_values_pass_the_backend_unchanged_for_the_kernels_to_report(output, match):
    from pseudolabel import kernels

    backend, X = _fitted(output)
    P = backend.predict_proba(X)
    np.testing.assert_array_equal(P, output(backend.estimator_.predict_proba(X)))
    with pytest.raises(ProbabilityError, match=match):
        kernels.summarize(P)


def test_check_probabilities_clips_round_off_and_never_touches_the_callers_array():
    proba = np.array([[1.0 + 1e-12, -1e-12], [0.25, 0.75], [1.5, np.nan]])
    before = proba.copy()
    checked = check_probabilities(proba, n_rows=3, n_classes=2, source="m")
    np.testing.assert_array_equal(checked, [[1.0, 0.0], [0.25, 0.75], [1.5, np.nan]])
    np.testing.assert_array_equal(proba, before)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([np.float16, np.float32, np.float64, np.int64, np.bool_]),
    st.integers(1, 6), st.integers(1, 4),
    st.data(),
)
def test_check_probabilities_matches_a_numpy_reference(dtype, n, k, data):
    values = data.draw(st.lists(
        st.one_of(st.floats(-0.01, 1.01), st.sampled_from([0.0, 1.0, 1.0 + 1e-12, -1e-12]),
                  st.just(float("nan"))),
        min_size=n * k, max_size=n * k,
    ))
    raw = np.asarray(values, dtype=np.float64).reshape(n, k)
    if dtype in (np.int64, np.bool_):
        raw = np.clip(np.nan_to_num(raw, nan=0.0).round(), 0, 1)
    proba = raw.astype(dtype)
    expected_dtype = np.float32 if dtype == np.float32 else np.float64
    as_float = proba.astype(expected_dtype)
    near = (np.abs(as_float - np.clip(as_float, 0.0, 1.0)) <= PROBA_TOLERANCE)
    expected = np.where(near, np.clip(as_float, 0.0, 1.0), as_float)
    checked = check_probabilities(proba, n_rows=n, n_classes=k, source="m")
    assert checked.dtype == expected_dtype and checked.flags.c_contiguous
    np.testing.assert_array_equal(checked, expected)
    with pytest.raises(ProbabilityError, match=r"shape \(%d, %d\), expected \(%d, %d\)" % (n, k, n, k + 1)):
        check_probabilities(proba, n_rows=n, n_classes=k + 1, source="m")


def test_xgboost_float32_output_arrives_float32():
    pytest.importorskip("xgboost")
    from pseudolabel import kernels

    X, y = load_wine(return_X_y=True)
    backend = XGBoostBackend(n_estimators=20, max_depth=3, random_state=0, n_jobs=1).fit(X, y)
    raw = backend.model_.predict_proba(X)
    if raw.dtype != np.float32:  # pragma: no cover - depends on the installed XGBoost
        pytest.skip(f"this XGBoost returns {raw.dtype}")
    P = backend.predict_proba(X)
    assert P.dtype == np.float32
    np.testing.assert_array_equal(P, np.clip(raw, 0.0, 1.0))
    assert kernels.summarize(P).confidence.dtype == np.float32


def test_lightgbm_output_keeps_the_dtype_lightgbm_returns():
    pytest.importorskip("lightgbm")
    X, y = load_wine(return_X_y=True)
    backend = LightGBMBackend(n_estimators=20, random_state=0, n_jobs=1, verbose=-1).fit(X, y)
    raw = np.asarray(backend.booster_.predict(X))
    P = backend.predict_proba(X)
    assert P.dtype == raw.dtype
    np.testing.assert_array_equal(P, np.clip(raw, 0.0, 1.0))


class _XGBoostAsFloat64(XGBoostBackend):
    """The XGBoost backend as it was: every prediction cast to float64."""

    def _predict_model(self, X):
        return np.asarray(super()._predict_model(X), dtype=np.float64)


def test_float32_to_the_kernels_leaves_self_training_results_unchanged():
    pytest.importorskip("xgboost")
    from pseudolabel import PseudoLabeler

    X, y = load_wine(return_X_y=True)
    y_part = np.where(np.arange(len(y)) % 4 == 0, y, -1)
    params = {"n_estimators": 15, "max_depth": 3, "random_state": 0, "n_jobs": 1}
    models = [
        PseudoLabeler(backend=backend(**params), strategy="threshold", max_iter=3,
                      random_state=0).fit(X, y_part)
        for backend in (XGBoostBackend, _XGBoostAsFloat64)
    ]
    float32, float64 = models
    assert float32.backend_.predict_proba(X).dtype == np.float32
    assert float64.backend_.predict_proba(X).dtype == np.float64
    assert sum(r["n_selected"] for r in float32.history_) > 0
    assert [r["n_selected"] for r in float32.history_] == [r["n_selected"] for r in float64.history_]
    np.testing.assert_array_equal(float32.transduction_, float64.transduction_)
    np.testing.assert_array_equal(float32.predict(X), float64.predict(X))
    np.testing.assert_allclose(float32.predict_proba(X), float64.predict_proba(X), rtol=0, atol=1e-6)

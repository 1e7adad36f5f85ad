"""Conformance checks for plugin authors: :func:`check_backend`.

A backend plugin should pass ``check_backend("mybackend", random_state=0)`` in its own tests::

    from pseudolabel.testing import check_backend

    def test_conformance():
        check_backend("catboost", iterations=30, random_seed=0, thread_count=1)

or, to get one pytest test per check::

    import pytest
    from pseudolabel.testing import backend_checks

    @pytest.mark.parametrize("check", backend_checks("catboost", iterations=30), ids=str)
    def test_conformance(check):
        check()

The checks use a small synthetic data set (three well-separated blobs, 120 rows), so a
correct backend passes them in well under a second.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.exceptions import (
    BackendError,
    BundleError,
    InputError,
    ParameterError,
    PseudolabelError,
)

__all__ = ["check_backend", "backend_checks", "BackendCheck", "make_blobs_data"]


class BackendCheck:
    """One named conformance check; calling it runs it (raises ``AssertionError`` on failure)."""

    def __init__(self, name: str, func: Callable[..., None], factory: Callable[[], Any], label: str):
        self.name = name
        self._func = func
        self._factory = factory
        self._label = label

    def __call__(self) -> None:
        try:
            self._func(self._factory)
        except AssertionError as exc:
            raise AssertionError(f"check_backend({self._label}) failed {self.name}: {exc}") from exc

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


def make_blobs_data(
    n_per_class: int = 40, n_features: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian blobs with string labels ``"cat"``, ``"ant"``, ``"bee"``.

    The labels appear in an order different from their sorted order, so a backend that mixes
    up column order fails the checks.
    """
    if n_features < 2 or n_per_class < 1:
        raise ParameterError(
            "make_blobs_data needs n_features >= 2 (the blobs differ in the first two) and "
            f"n_per_class >= 1, got n_features={n_features!r}, n_per_class={n_per_class!r}"
        )
    rng = np.random.default_rng(seed)
    centers = np.array([[3.0, 0.0], [-3.0, 3.0], [0.0, -3.0]])
    X_parts, y_parts = [], []
    for c, label in enumerate(["cat", "ant", "bee"]):
        block = rng.normal(0.0, 1.0, size=(n_per_class, n_features))
        block[:, :2] += centers[c]
        X_parts.append(block)
        y_parts.append(np.full(n_per_class, label))
    order = rng.permutation(3 * n_per_class)
    X = np.vstack(X_parts)[order]
    y = np.concatenate(y_parts)[order]
    return X, y


def _expect(exc_type: type[BaseException] | tuple[type[BaseException], ...], what: str, func: Callable[[], Any]) -> None:
    try:
        func()
    except exc_type as exc:
        if not str(exc):
            raise AssertionError(f"{what}: raised {type(exc).__name__} with an empty message") from exc
        return
    except Exception as exc:  # noqa: BLE001 - the point is to report the wrong type
        raise AssertionError(
            f"{what}: expected {_names(exc_type)}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise AssertionError(f"{what}: expected {_names(exc_type)}, nothing was raised")


def _names(exc_type: Any) -> str:
    types = exc_type if isinstance(exc_type, tuple) else (exc_type,)
    return " or ".join(t.__name__ for t in types)


def _check_proba(proba: Any, n: int, k: int) -> np.ndarray:
    """``predict_proba`` output must need nothing from the one probability check, and sum to 1."""
    from pseudolabel import kernels
    from pseudolabel.backends.checks import check_probabilities
    from pseudolabel.exceptions import ProbabilityError

    assert isinstance(proba, np.ndarray), f"predict_proba returned {type(proba).__name__}"
    try:
        checked = check_probabilities(proba, n_rows=n, n_classes=k, source="predict_proba")
        kernels.summarize(checked)  # the kernels validate the values (finite, in [0, 1])
    except ProbabilityError as exc:
        raise AssertionError(str(exc)) from exc
    assert checked.dtype == proba.dtype, (
        f"predict_proba dtype {proba.dtype}, expected float32 or float64"
    )
    assert np.array_equal(checked, proba), "predict_proba returned values outside [0, 1]"
    sums = proba.sum(axis=1, dtype=np.float64)
    assert np.allclose(sums, 1.0, atol=1e-6), f"rows do not sum to 1 (min {sums.min()}, max {sums.max()})"
    return proba


def _check_column_order(proba: np.ndarray, y: np.ndarray, classes: np.ndarray) -> None:
    for j, c in enumerate(classes):
        rows = y == c
        if not rows.any():
            continue
        means = proba[rows].mean(axis=0)
        assert int(np.argmax(means)) == j, (
            f"rows labeled {c!r} get their highest mean probability in column "
            f"{int(np.argmax(means))} ({classes[int(np.argmax(means))]!r}), not in column {j}: "
            "predict_proba columns are not in classes_ order"
        )
    accuracy = float(np.mean(classes[np.argmax(proba, axis=1)] == y))
    assert accuracy >= 0.9, f"training accuracy {accuracy:.2f} on well-separated blobs"


# ------------------------------------------------------------------------------------------
# the checks; each takes a zero-argument factory returning a fresh, unfitted backend


def check_interface(factory: Callable[[], Any]) -> None:
    """name, capabilities, get_params, clone, and errors before fitting."""
    from pseudolabel.backends.base import Backend, Capabilities

    backend = factory()
    assert isinstance(backend, Backend), f"{type(backend).__name__} is not a pseudolabel Backend"
    assert isinstance(backend.name, str) and backend.name, "Backend.name must be a non-empty str"
    assert isinstance(backend.capabilities, Capabilities), "capabilities must be a Capabilities"
    assert isinstance(backend.get_params(), dict), "get_params() must return a dict"
    twin = backend.clone()
    assert type(twin) is type(backend), "clone() returned another type"
    assert twin is not backend, "clone() returned the same object"
    assert sorted(twin.get_params()) == sorted(backend.get_params()), "clone() changed the parameters"
    X, _ = make_blobs_data()
    _expect(BackendError, "predict_proba before fit", lambda: factory().predict_proba(X))
    with tempfile.TemporaryDirectory() as tmp:
        _expect(BackendError, "save before fit", lambda: factory().save(Path(tmp) / "never"))
        assert not (Path(tmp) / "never").exists(), "save before fit wrote files"


def check_string_labels(factory: Callable[[], Any]) -> None:
    """String labels: classes_ sorted, predict_proba shape and column order."""
    X, y = make_blobs_data()
    X_orig, y_orig = X.copy(), y.copy()
    backend = factory()
    assert backend.fit(X, y) is backend, "fit must return self"
    assert np.array_equal(X, X_orig) and np.array_equal(y, y_orig), "fit modified its input"
    classes = np.asarray(backend.classes_)
    assert list(classes) == ["ant", "bee", "cat"], f"classes_ {list(classes)}, expected sorted labels"
    proba = _check_proba(backend.predict_proba(X), len(X), 3)
    _check_column_order(proba, y, classes)
    assert backend.n_features_in_ == X.shape[1], "n_features_in_ not set"


def check_integer_labels(factory: Callable[[], Any]) -> None:
    """Non-contiguous integer labels keep their values and sorted order."""
    X, y = make_blobs_data(seed=1)
    y_int = np.select([y == "cat", y == "ant"], [10, 3], 7).astype(np.int64)
    backend = factory().fit(X, y_int)
    classes = np.asarray(backend.classes_)
    assert list(classes) == [3, 7, 10], f"classes_ {list(classes)}, expected [3, 7, 10]"
    assert classes.dtype.kind in "iu", f"integer labels came back as dtype {classes.dtype}"
    proba = _check_proba(backend.predict_proba(X), len(X), 3)
    _check_column_order(proba, y_int, classes)


def check_explicit_classes(factory: Callable[[], Any]) -> None:
    """classes= gives the label space: absent classes get zero columns, in the given order."""
    X, y = make_blobs_data(seed=2)
    classes = ["zebra", "cat", "ant", "bee"]
    backend = factory().fit(X, y, classes=classes)
    assert list(backend.classes_) == classes, f"classes_ {list(backend.classes_)}, expected {classes}"
    proba = _check_proba(backend.predict_proba(X), len(X), 4)
    assert (proba[:, 0] == 0).all(), "the class absent from y must get a column of zeros"
    _check_column_order(proba, y, np.asarray(classes, dtype=object))
    _expect(InputError, "fit with a label outside classes=", lambda: factory().fit(X, y, classes=["ant", "bee"]))


def check_sample_weight(factory: Callable[[], Any]) -> None:
    """Sample weights change the model (or are refused with BackendError when unsupported)."""
    X, y = make_blobs_data(seed=3)
    backend = factory()
    if not backend.capabilities.sample_weight:
        _expect(BackendError, "sample_weight on a backend without that capability",
                lambda: backend.fit(X, y, sample_weight=np.ones(len(y))))
        return
    plain = factory().fit(X, y).predict_proba(X)
    unit = factory().fit(X, y, sample_weight=np.ones(len(y))).predict_proba(X)
    assert np.allclose(plain, unit, atol=1e-9), "unit sample weights changed the model"
    weights = np.where(y == "ant", 20.0, 1.0)
    weights[y == "bee"] = 0.05
    weighted = factory().fit(X, y, sample_weight=weights).predict_proba(X)
    change = float(np.abs(weighted - plain).max())
    assert change > 1e-4, f"sample_weight had no effect (max probability change {change:.2e})"
    ant = list(np.asarray(factory().fit(X, y).classes_)).index("ant")
    assert weighted[:, ant].mean() > plain[:, ant].mean(), (
        "up-weighting class 'ant' did not raise its mean probability"
    )
    _expect(InputError, "negative sample_weight",
            lambda: factory().fit(X, y, sample_weight=-np.ones(len(y))))
    _expect(InputError, "sample_weight of the wrong length",
            lambda: factory().fit(X, y, sample_weight=np.ones(len(y) - 1)))


def check_save_load(factory: Callable[[], Any]) -> None:
    """save/load round trip: identical probabilities and classes; corrupt files are refused."""
    from pseudolabel.io.atomic import looks_like_pickle
    from pseudolabel.backends.base import Backend, read_metadata

    X, y = make_blobs_data(seed=4)
    backend = factory().fit(X, y)
    before = backend.predict_proba(X)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        backend.save(path)
        meta = read_metadata(path)
        model_file = path / meta["model_file"]
        assert not looks_like_pickle(model_file), "the model file looks like a pickle"
        loaded = type(backend).load(path)
        assert type(loaded) is type(backend), "load() returned another type"
        after = loaded.predict_proba(X)
        assert np.array_equal(before, after), (
            f"probabilities differ after save/load (max {np.abs(before - after).max():.2e})"
        )
        assert list(loaded.classes_) == list(backend.classes_), "classes_ differ after save/load"
        assert np.asarray(loaded.classes_).dtype.kind == np.asarray(backend.classes_).dtype.kind, (
            "classes_ dtype changed after save/load"
        )
        if _registered(backend):
            generic = Backend.load(path)
            assert np.array_equal(generic.predict_proba(X), before), "Backend.load() differs"
        backend.save(path)  # saving again over a saved backend replaces it
        assert np.array_equal(type(backend).load(path).predict_proba(X), before)
        leftovers = [p.name for p in Path(tmp).iterdir() if p.name != "model"]
        assert not leftovers, f"save() left temporary files behind: {leftovers}"
        with open(model_file, "ab") as fh:
            fh.write(b"tampered")
        _expect(BundleError, "loading an edited model file", lambda: type(backend).load(path))
        _expect(BundleError, "loading a directory that is not a saved backend",
                lambda: type(backend).load(Path(tmp) / "missing"))
        other = Path(tmp) / "other"
        other.mkdir()
        (other / "notes.txt").write_text("mine")
        _expect(BackendError, "saving over a foreign directory", lambda: backend.save(other))
        assert (other / "notes.txt").read_text() == "mine", "save() damaged a foreign directory"


def _registered(backend: Any) -> bool:
    from pseudolabel.plugins import get_plugin_manager

    backends = get_plugin_manager().backends
    return backend.name in backends and backends.get(backend.name).factory is type(backend)


def check_determinism(factory: Callable[[], Any]) -> None:
    """Two fits with the same parameters (and seed) give identical probabilities."""
    X, y = make_blobs_data(seed=5)
    first = factory().fit(X, y).predict_proba(X)
    second = factory().fit(X, y).predict_proba(X)
    assert np.array_equal(first, second), (
        f"two fits with the same parameters differ (max {np.abs(first - second).max():.2e}); "
        "pass a seed in the parameters"
    )
    cloned = factory().clone().fit(X, y).predict_proba(X)
    assert np.array_equal(first, cloned), "a clone fits a different model"


def check_bad_input(factory: Callable[[], Any]) -> None:
    """Bad input raises pseudolabel errors that say what is wrong."""
    X, y = make_blobs_data(seed=6)
    _expect(InputError, "fit with len(X) != len(y)", lambda: factory().fit(X, y[:-1]))
    _expect(InputError, "fit with empty X", lambda: factory().fit(X[:0], y[:0]))
    _expect(InputError, "fit with 1-D X", lambda: factory().fit(X[:, 0], y))
    _expect(InputError, "fit with a single class", lambda: factory().fit(X, np.full(len(y), "ant")))
    y_nan = np.where(y == "ant", 0.0, 1.0)
    y_nan[3] = np.nan
    _expect(InputError, "fit with a NaN label", lambda: factory().fit(X, y_nan))
    fitted = factory().fit(X, y)
    _expect(InputError, "predict_proba with another number of features",
            lambda: fitted.predict_proba(X[:, :-1]))
    _expect(InputError, "predict_proba with 1-D X", lambda: fitted.predict_proba(X[0]))
    _expect(PseudolabelError, "predict_proba with text", lambda: fitted.predict_proba(np.full(X.shape, "x")))


def check_continue_fit(factory: Callable[[], Any]) -> None:
    """continue_fit adds rounds when supported, and is refused otherwise."""
    X, y = make_blobs_data(seed=7)
    backend = factory().fit(X, y)
    if not backend.capabilities.continued_training:
        _expect(BackendError, "continue_fit without that capability",
                lambda: backend.continue_fit(X, y, n_more=2))
        return
    before = backend.predict_proba(X)
    assert backend.continue_fit(X, y, n_more=3) is backend, "continue_fit must return self"
    after = _check_proba(backend.predict_proba(X), len(X), 3)
    assert not np.array_equal(before, after), "continue_fit did not change the model"
    _check_column_order(after, y, np.asarray(backend.classes_))
    y_new = y.copy()
    y_new[0] = "yak"
    _expect((InputError, BackendError), "continue_fit with a new class", lambda: backend.continue_fit(X, y_new, n_more=1))


def check_categorical(factory: Callable[[], Any]) -> None:
    """A backend claiming native categorical features fits a DataFrame with a category column.

    The column decides the label in a non-ordinal way, the frame is not modified, and the
    save/load round trip keeps the category mapping. Skipped when not claimed.
    """
    backend = factory()
    if not backend.capabilities.categorical:
        return
    import pandas as pd

    rng = np.random.default_rng(8)
    color = rng.choice(["red", "green", "blue", "teal"], 240)
    noise = rng.normal(size=240)
    y = np.where(np.isin(color, ["red", "teal"]), "warm", "cold")
    X = pd.DataFrame({"color": pd.Categorical(color), "noise": noise})
    before = X.copy()
    backend.fit(X, y)
    pd.testing.assert_frame_equal(X, before)
    proba = _check_proba(backend.predict_proba(X), len(X), 2)
    _check_column_order(proba, y, np.asarray(backend.classes_))
    with tempfile.TemporaryDirectory() as tmp:
        backend.save(Path(tmp) / "model")
        loaded = type(backend).load(Path(tmp) / "model")
        assert np.array_equal(loaded.predict_proba(X), proba), "categorical model differs after save/load"
    swapped = X.iloc[::-1].reset_index(drop=True)
    assert np.array_equal(backend.predict_proba(swapped), proba[::-1]), (
        "predictions depend on row order (category codes re-derived from the data?)"
    )


_CHECKS: tuple[Callable[[Callable[[], Any]], None], ...] = (
    check_interface,
    check_string_labels,
    check_integer_labels,
    check_explicit_classes,
    check_sample_weight,
    check_save_load,
    check_determinism,
    check_bad_input,
    check_continue_fit,
    check_categorical,
)


def backend_checks(name: Any, **params: Any) -> list[BackendCheck]:
    """The conformance checks for a backend, as callables (one pytest test each).

    Parameters
    ----------
    name : str or callable
        A registered backend name, or a factory (a ``Backend`` subclass) not registered yet.
    **params
        Backend parameters; include a seed so that the determinism check can pass.
    """
    if isinstance(name, str):
        from pseudolabel.plugins import make_backend

        make_backend(name, **params)  # fail now on an unknown name or bad parameters

        def factory() -> Any:
            return make_backend(name, **params)

        label = repr(name)
    elif callable(name):

        def factory() -> Any:
            return name(**params)

        label = getattr(name, "__name__", repr(name))
    else:
        raise TypeError(f"name must be a backend name or a Backend class, got {type(name).__name__}")
    return [BackendCheck(check.__name__, check, factory, label) for check in _CHECKS]


def check_backend(name: Any, **params: Any) -> list[str]:
    """Run every conformance check on a backend; raise ``AssertionError`` at the first failure.

    Checks shapes and class order with string and integer labels, an explicit label space
    (``classes=``), that sample weights have an effect, the save/load round trip (identical
    probabilities; edited files refused), determinism with the given seed, continued training
    and native categorical features when the backend claims them, and clear errors on bad
    input.

    Parameters
    ----------
    name : str or callable
        A registered backend name, or a ``Backend`` subclass.
    **params
        Backend parameters (include a seed).

    Returns
    -------
    list of str
        Names of the checks that passed (all of them).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from pseudolabel.testing import check_backend
    >>> check_backend("sklearn", estimator=LogisticRegression())  # doctest: +ELLIPSIS
    ['check_interface', ...]
    """
    passed = []
    for check in backend_checks(name, **params):
        check()
        passed.append(check.name)
    return passed


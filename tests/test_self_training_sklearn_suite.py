"""scikit-learn's own SelfTrainingClassifier tests, run against ours.

The test module installed with scikit-learn (``sklearn/semi_supervised/tests/
test_self_training.py``) is imported once with ``sklearn.semi_supervised.SelfTrainingClassifier``
swapped for :class:`pseudolabel.SelfTrainingClassifier`; its test functions are then collected
here by pytest, with their parametrizations and fixtures. Nothing is copied: a newer
scikit-learn brings its newer tests.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import sklearn.semi_supervised

from pseudolabel import SelfTrainingClassifier

_PATH = Path(sklearn.semi_supervised.__file__).parent / "tests" / "test_self_training.py"


def _register_sklearn_markers() -> None:
    """scikit-learn's tests use markers its own conftest registers (``thread_unsafe``).

    Our pytest runs with ``--strict-markers``; register them on the running config (pytest
    exposes it to marker generation as ``pytest.mark._config``) before the import.
    """
    config = getattr(pytest.mark, "_config", None)
    if config is not None:
        config.addinivalue_line(
            "markers", "thread_unsafe: scikit-learn marker (imported scikit-learn tests)"
        )


def _load_swapped():
    _register_sklearn_markers()
    if not _PATH.exists():  # pragma: no cover - scikit-learn installed without its tests
        pytest.skip(f"scikit-learn's tests are not installed ({_PATH})", allow_module_level=True)
    original = sklearn.semi_supervised.SelfTrainingClassifier
    sklearn.semi_supervised.SelfTrainingClassifier = SelfTrainingClassifier
    try:
        name = "_pseudolabel_swapped_sklearn_self_training_tests"
        spec = importlib.util.spec_from_file_location(name, _PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sklearn.semi_supervised.SelfTrainingClassifier = original
    return module


_sklearn_tests = _load_swapped()
_SWAPPED = sorted(name for name in vars(_sklearn_tests) if name.startswith("test_"))

for _name in _SWAPPED:
    globals()[f"{_name}_sklearn"] = getattr(_sklearn_tests, _name)


def test_the_swap_took_effect():
    assert _sklearn_tests.SelfTrainingClassifier is SelfTrainingClassifier
    assert sklearn.semi_supervised.SelfTrainingClassifier is not SelfTrainingClassifier
    # the suite is not empty (a broken import would silently run nothing)
    assert len(_SWAPPED) >= 15, _SWAPPED

"""Which engine scores a model (native or compiled), and the compiled model that does it.

``choose_engine`` applies the ``--engine`` rule; ``compiled_model`` loads (or builds, then
loads) the cached library of a model once per process and wraps it as a
:class:`CompiledModel` whose ``predict_proba`` returns what the backend's own
``predict_proba`` returns: one column per class of the bundle, in its order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel._validation import check_probabilities
from pseudolabel.compiled.cache import build_entry, cache_root, entry_for, find_entry
from pseudolabel.compiled.compilers import COMPILERS, Compiler, RawPredict
from pseudolabel.exceptions import EngineUnavailableError, ParameterError, ProbabilityError
from pseudolabel.io.atomic import sha256_file

__all__ = ["ENGINES", "PAYBACK_ROWS", "EngineChoice", "CompiledModel", "choose_engine",
           "compiled_model"]

ENGINES = ("auto", "native", "compiled")

#: ``auto`` compiles an uncached model only for a job of at least this many rows (unless the
#: compiler sets its own ``payback_rows``: xgboost-c compiles in about a second). Compile
#: time and the per-row saving both grow with the number of trees, so the break-even is a
#: row count. Measured (benches/bench_compilers.py, 400 trees, 2 loaded cores): lleaves
#: compiled in 21 s and saved 9.9 us a row (2.1M rows to break even); the issue's figures
#: (71 s, 3.9x) give about 20M. Once compiled, the entry serves every later job.
PAYBACK_ROWS = 5_000_000


@dataclass(frozen=True)
class EngineChoice:
    """The engine a job uses, the compiler (when compiled) and why, for the progress output."""

    engine: str  # "native" | "compiled"
    compiler: str | None
    reason: str


def _compiler_named(name: str) -> Compiler:
    for c in COMPILERS:
        if c.name == name:
            return c
    raise ParameterError(f"unknown compiler {name!r}; known: {[c.name for c in COMPILERS]}")


def _cached(compiler: Compiler, model_sha256: str, root: Path) -> Path | None:
    """The compiler's library for the model file of this sha256 when the cache holds a
    valid one."""
    return find_entry(entry_for(root, model_sha256, compiler.name, compiler.version()))


def _usable(backend: Any, model_file: Path, *, auto: bool,
            cache: tuple[Path, str] | None = None) -> tuple[Compiler | None, str]:
    """The preferred installed compiler that supports the model, or None and why not;
    under ``auto`` only one measured faster than native for this kind of model.

    A compiler whose library for this model file is in the cache (``cache``: its root and
    the file's sha256) supports it
    without asking again: the entry was built after the same check passed on the same
    file (the key is the file's sha256 and the compiler's version); what the file does not
    hold (:meth:`Compiler.backend_problem`) is still asked. For XGBoost models
    the check parses the whole model (0.3 s for 400 trees), a fixed cost of every job."""
    installed = [c for c in COMPILERS if c.installed()]
    if not installed:
        return None, ("no tree compiler is installed (pip install 'pseudolabel[compiled]': "
                      "lleaves for LightGBM, treelite + tl2cgen and gcc for LightGBM, "
                      "XGBoost and scikit-learn forests; gcc alone for XGBoost with xgboost-c)")
    reasons = []
    for c in installed:
        candidate = not auto or getattr(backend, "name", None) in c.auto_backends
        if (candidate and cache is not None and c.backend_problem(backend) is None
                and _cached(c, cache[1], cache[0]) is not None):
            return c, ""
        problem = c.problem(backend, model_file)
        if problem is None and not candidate:
            problem = (f"not faster than native for {getattr(backend, 'name', '?')} models "
                       "(use --engine compiled to force it)")
        if problem is None:
            return c, ""
        reasons.append(f"{c.name}: {problem}")
    return None, "; ".join(reasons)


def choose_engine(backend: Any, model_file: str | Path, *, engine: str = "auto",
                  n_rows: int | None = None, cache_dir: str | os.PathLike[str] | None = None) -> EngineChoice:
    """Apply the engine rule.

    ``native``: the backend's own predict. ``compiled``: the preferred installed compiler
    that supports the model, else :class:`EngineUnavailableError` naming why. ``auto``:
    compiled when such a compiler exists and either the model's library is already in the
    cache or the job has at least the compiler's ``payback_rows`` (default
    :data:`PAYBACK_ROWS`) rows (``n_rows``; None = unknown,
    which does not pay); native otherwise, with the reason.
    """
    if engine not in ENGINES:
        raise ParameterError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    if engine == "native":
        return EngineChoice("native", None, "asked for")
    model_file = Path(model_file)
    root, model_sha256 = cache_root(cache_dir), sha256_file(model_file)
    compiler, why = _usable(backend, model_file, auto=engine == "auto",
                            cache=(root, model_sha256))
    if compiler is None:
        if engine == "compiled":
            raise EngineUnavailableError(f"--engine compiled cannot compile {model_file}: {why}")
        return EngineChoice("native", None, why)
    if engine == "compiled":
        return EngineChoice("compiled", compiler.name, "asked for")
    if _cached(compiler, model_sha256, root) is not None:
        return EngineChoice("compiled", compiler.name, "compiled model found in the cache")
    payback = compiler.payback_rows or PAYBACK_ROWS
    if n_rows is not None and n_rows >= payback:
        return EngineChoice("compiled", compiler.name,
                            f"{n_rows:,} rows pay back the compile time")
    return EngineChoice("native", None,
                        f"not cached, and {'an unknown number of' if n_rows is None else f'{n_rows:,}'}"
                        f" rows do not pay back compiling (auto compiles from "
                        f"{payback:,} rows with {compiler.name}; --engine compiled forces it)")


class CompiledModel:
    """A compiled model with the backend's ``predict_proba`` contract."""

    def __init__(self, backend: Any, raw: RawPredict, *, compiler: str, library: Path) -> None:
        self.backend, self._raw, self.compiler, self.library = backend, raw, compiler, library
        self._present = np.asarray(getattr(backend, "_present", np.arange(len(backend.classes_))))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities of ``X`` (n_rows x n_features), columns in the bundle's class order."""
        X = np.ascontiguousarray(X)
        n, k = len(X), len(self._present)
        try:  # as Backend.predict_proba: the one check, which clips float round-off
            proba = check_probabilities(self._raw(X), n_rows=n, n_classes=k,
                                        source=self.compiler)
        except ProbabilityError as exc:
            raise EngineUnavailableError(str(exc)) from exc
        proba = proba.astype(np.float64, copy=False)  # the native path's dtype
        C = len(self.backend.classes_)  # then map to the full label space
        if k == C:
            return proba
        out = np.zeros((n, C), dtype=np.float64)
        out[:, self._present] = proba
        return out


_LOADED: dict[tuple[str, str, str], CompiledModel] = {}


def compiled_model(backend: Any, model_file: str | Path, *, compiler: str,
                   cache_dir: str | os.PathLike[str] | None = None,
                   log: Callable[[str], None] | None = None) -> CompiledModel:
    """Load the model's compiled library from the cache, building it first when missing or
    not matching; once per process and model (Dask workers each call this)."""
    model_file = Path(model_file)
    adapter = _compiler_named(compiler)
    model_sha256 = sha256_file(model_file)
    root = cache_root(cache_dir)
    key = (str(root), model_sha256, compiler)
    model = _LOADED.get(key)
    if model is not None and model.backend is backend:
        return model
    entry = entry_for(root, model_sha256, compiler, adapter.version())
    library = find_entry(entry)  # a valid entry was built after the check below passed
    problem = adapter.backend_problem(backend)
    if library is None or problem is not None:
        problem = problem or adapter.problem(backend, model_file)
        if problem is not None:
            raise EngineUnavailableError(f"{compiler} cannot compile {model_file}: {problem}")
        if log:
            log(f"compiling the model with {adapter.version()} into {entry.directory} ...")
        t0 = time.perf_counter()
        try:
            library = build_entry(entry, lambda d: adapter.build(backend, model_file, d))
        except (EngineUnavailableError, ParameterError):
            raise
        except Exception as exc:
            raise EngineUnavailableError(
                f"{compiler} failed to compile {model_file}: {type(exc).__name__}: {exc}"
            ) from exc
        if log:
            log(f"compiled in {time.perf_counter() - t0:.1f} s")
    elif log:
        log(f"using the compiled model cached in {entry.directory}")
    model = CompiledModel(backend, adapter.load(backend, model_file, library),
                          compiler=compiler, library=library)
    _LOADED.clear()
    _LOADED[key] = model
    return model

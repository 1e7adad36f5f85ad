"""Compiler adapters: lleaves (LightGBM, via LLVM), xgboost-c (XGBoost, our C via gcc) and
Treelite + TL2cgen (C via the system compiler).

Each adapter says whether its packages are installed, which version string keys its cache
entries, why it cannot compile a given model (or None), how to build a library from the
bundle's model file into a directory, and how to load that library into a function
``raw(X) -> probabilities`` with one column per class the model was fitted on (what the
backend's ``_predict_model`` returns).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Compiler", "Lleaves", "XGBoostC", "Treelite", "COMPILERS", "lightgbm_model_problem"]

RawPredict = Callable[[np.ndarray], np.ndarray]

_LIGHTGBM_OBJECTIVES = ("binary", "multiclass", "softmax")
_XGBOOST_OBJECTIVES = ("binary:logistic", "multi:softprob", "multi:softmax")
_SKLEARN_FORESTS = ("RandomForestClassifier", "ExtraTreesClassifier")


def _threads() -> int:
    return max(1, os.cpu_count() or 1)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def lightgbm_model_problem(model_file: Path) -> str | None:
    """Why a LightGBM text model cannot be compiled (objective, linear trees), or None."""
    objective = None
    with open(model_file, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("objective=") and objective is None:
                objective = (line.split("=", 1)[1].split() or [""])[0]
            elif line.startswith("is_linear=") and line.strip() != "is_linear=0":
                return "the model has linear trees (linear_tree=true), which no tree compiler " \
                       "supports"
            elif line.startswith("end of trees"):
                break
    if objective not in _LIGHTGBM_OBJECTIVES:
        return f"LightGBM objective {objective!r} is not supported (only binary and multiclass)"
    return None


class Compiler:
    """The interface of a compiler adapter."""

    #: short name, used in cache entry names and messages
    name = ""
    #: the packages it needs (what ``pip install pseudolabel[compiled]`` brings)
    packages: tuple[str, ...] = ()
    #: the library file it writes
    library_name = ""
    #: backends for which ``--engine auto`` may pick it (measured faster than native)
    auto_backends: frozenset[str] = frozenset()
    #: the job size from which ``auto`` compiles an uncached model (None: the engine's
    #: ``PAYBACK_ROWS``)
    payback_rows: int | None = None

    def installed(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.modules())

    def modules(self) -> tuple[str, ...]:
        return self.packages

    def version(self) -> str:
        """Everything the compiled code depends on besides the model."""
        raise NotImplementedError

    def problem(self, backend: Any, model_file: Path) -> str | None:
        """Why this adapter cannot compile the model, or None when it can."""
        raise NotImplementedError

    def backend_problem(self, backend: Any) -> str | None:
        """What :meth:`problem` checks that the model file does not hold (asked even when
        the cache has the file's library, which stands for the file's own checks)."""
        return None

    def build(self, backend: Any, model_file: Path, directory: Path) -> str:
        """Compile into ``directory``; return the library's file name."""
        raise NotImplementedError

    def load(self, backend: Any, model_file: Path, library: Path) -> RawPredict:
        raise NotImplementedError


def _row_spans(threads: int) -> Callable[[Callable[[int, int], None], int], None]:
    """``run(fn, n)``: call ``fn(begin, end)`` on ``threads`` equal spans of ``n`` rows, on
    one thread pool kept for the model's life (no new threads, or malloc arenas, per
    chunk). ``fn`` must release the GIL (a ctypes call does)."""
    pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None

    def run(fn: Callable[[int, int], None], n: int) -> None:
        step = max(1, -(-n // threads))
        spans = [(a, min(a + step, n)) for a in range(0, n, step)]
        if pool is None or len(spans) <= 1:
            for a, b in spans:
                fn(a, b)
        else:
            list(pool.map(lambda span: fn(*span), spans))

    return run


def _gcc_version() -> str | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    out = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout.splitlines() or ["gcc"])[0]


@functools.cache
def _cpu_identity() -> str:
    """The CPU model and feature flags (what code compiled for this host depends on),
    read without loading LLVM."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = [platform.processor()]
    return f"{platform.machine()} {hashlib.sha256(''.join(lines).encode()).hexdigest()[:16]}"


def _lightgbm_header(model_file: Path) -> dict[str, str]:
    header: dict[str, str] = {}
    with open(model_file, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("Tree="):
                break
            key, sep, value = line.strip().partition("=")
            if sep:
                header.setdefault(key, value)
    return header


class Lleaves(Compiler):
    """lleaves: LightGBM text models compiled with LLVM (llvmlite).

    With gcc on the machine the object code is linked into a shared library and called
    through ctypes, so labeling never loads LLVM (about 60 MB of resident memory); without
    gcc, lleaves loads the object code itself.
    """

    name = "lleaves"
    packages = ("lleaves", "llvmlite")
    library_name = "model.so"
    auto_backends = frozenset({"lightgbm"})

    @functools.cache  # noqa: B019 (one instance per process)
    def version(self) -> str:
        return (f"lleaves {_version('lleaves')}; llvmlite {_version('llvmlite')}; "
                f"{_gcc_version() or 'no gcc'}; {_cpu_identity()}")

    def problem(self, backend: Any, model_file: Path) -> str | None:
        if getattr(backend, "name", None) != "lightgbm":
            return "lleaves compiles LightGBM models only"
        return lightgbm_model_problem(model_file)

    def build(self, backend: Any, model_file: Path, directory: Path) -> str:
        import lleaves

        obj = directory / "model.o"
        lleaves.Model(model_file=str(model_file)).compile(cache=str(obj))
        gcc = shutil.which("gcc")
        if gcc is None:
            return obj.name
        # lleaves emits position-independent code: it links into a shared library as is
        subprocess.run([gcc, "-shared", "-o", str(directory / self.library_name), str(obj)],
                       check=True, capture_output=True, text=True)
        obj.unlink()
        return self.library_name

    def load(self, backend: Any, model_file: Path, library: Path) -> RawPredict:
        header = _lightgbm_header(model_file)
        n_classes = int(header.get("num_class", "1"))
        n_features = int(header.get("max_feature_idx", "-1")) + 1
        threads = _threads()
        if library.suffix == ".so":
            forest = ctypes.CDLL(str(library)).forest_root  # CDLL calls release the GIL
            forest.restype = None
            forest.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                               ctypes.c_int32, ctypes.c_int32]
            run = _row_spans(threads)

            def predict(X: np.ndarray) -> np.ndarray:
                X = np.ascontiguousarray(X, dtype=np.float64)
                if X.ndim != 2 or X.shape[1] != n_features:
                    raise ValueError(f"data must have {n_features} columns, has {X.shape}")
                out = np.zeros((len(X), n_classes) if n_classes > 1 else len(X))
                data = X.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
                result = out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
                run(lambda a, b: forest(data, result, a, b), len(X))
                return out
        else:
            import lleaves

            model = lleaves.Model(model_file=str(model_file))
            model.compile(cache=str(library))

            def predict(X: np.ndarray) -> np.ndarray:
                return np.asarray(model.predict(X, n_jobs=threads), dtype=np.float64)

        def raw(X: np.ndarray) -> np.ndarray:
            P = predict(X)
            if P.ndim == 1:  # binary: the probability of class 1, as Booster.predict
                return np.column_stack([1.0 - P, P])
            return P

        return raw


class XGBoostC(Compiler):
    """XGBoost gbtree models as branch-free C over complete-tree tables
    (:mod:`pseudolabel.compiled.xgboost_c`), built with gcc ``-O3`` and called through
    ctypes: the bit-mask kernel (AVX-512) where this CPU has it and the trees are at most
    6 deep, else the scalar walk, which runs on any CPU of the architecture."""

    name = "xgboost-c"
    packages = ("xgboost",)
    library_name = "model.so"
    auto_backends = frozenset({"xgboost"})
    # compiled in 0.8 s (400 trees, benches/bench_compilers.py) and saves some 2.5-7 us a
    # row (2 threads, this machine idle to loaded): pays from a few 100k rows
    payback_rows = 1_000_000

    def __init__(self) -> None:
        self._checked: tuple[Any, str | None] | None = None  # (the model, its problem)

    @functools.cache  # noqa: B019
    def version(self) -> str:
        from pseudolabel.compiled.xgboost_c import GENERATOR_VERSION, cpu_kernel

        # the CPU's kernel is in the key: an entry built with AVX-512 in a cache shared
        # with machines without it must not be loaded there
        return (f"xgboost-c {GENERATOR_VERSION}; xgboost {_version('xgboost')}; "
                f"{_gcc_version() or 'no gcc'}; {platform.machine()}; {cpu_kernel()} kernel")

    def installed(self) -> bool:
        return super().installed() and shutil.which("gcc") is not None

    def problem(self, backend: Any, model_file: Path) -> str | None:
        from pseudolabel.compiled.xgboost_c import model_problem

        problem = self.backend_problem(backend)
        if problem is not None:
            return problem
        model = backend.model_
        if self._checked is None or self._checked[0] is not model:  # asked twice per job
            problem = model_problem(model.get_booster(), model.missing)
            self._checked = (model, None if problem is None else f"XGBoost model with {problem}")
        return self._checked[1]

    def backend_problem(self, backend: Any) -> str | None:
        from pseudolabel.compiled.xgboost_c import missing_problem

        if getattr(backend, "name", None) != "xgboost":
            return "xgboost-c compiles XGBoost models only"
        # `missing` is a parameter of the estimator, not saved in the model file
        problem = missing_problem(backend.model_.missing)
        return None if problem is None else f"XGBoost model with {problem}"

    def build(self, backend: Any, model_file: Path, directory: Path) -> str:
        from pseudolabel.compiled.xgboost_c import Forest, c_source, gcc_flags, kernel_for

        forest = Forest(backend.model_.get_booster())
        kernel = kernel_for(forest)
        source = directory / "model.c"
        source.write_text(c_source(forest, kernel))
        # no -march=native: measured no faster than the instruction sets the kernel names
        subprocess.run([str(shutil.which("gcc")), "-O3", "-std=c99", "-fPIC", "-shared",
                        *gcc_flags(kernel), "-o", str(directory / self.library_name),
                        str(source), "-lm"],
                       check=True, capture_output=True, text=True)
        source.unlink()
        return self.library_name

    def load(self, backend: Any, model_file: Path, library: Path) -> RawPredict:
        booster = backend.model_.get_booster()
        n_features = booster.num_features()
        n_classes = int(backend.model_.n_classes_)  # the model's, not the bundle's label space
        n_groups = n_classes if n_classes > 2 else 1
        lib = ctypes.CDLL(str(library))  # CDLL calls release the GIL
        kernels = {}
        for dtype, name in ((np.float32, "predict_f32"), (np.float64, "predict_f64")):
            fn = getattr(lib, name)
            fn.restype = None
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
            kernels[np.dtype(dtype)] = fn
        run = _row_spans(_threads())

        def raw(X: np.ndarray) -> np.ndarray:
            dtype = X.dtype if X.dtype in kernels else np.dtype(np.float32)
            X = np.ascontiguousarray(X, dtype=dtype)  # float64 is read and rounded in C
            if X.ndim != 2 or X.shape[1] != n_features:
                raise ValueError(f"data must have {n_features} columns, has {X.shape}")
            out = np.empty((len(X), n_groups), dtype=np.float32)
            fn, data, result = kernels[dtype], X.ctypes.data, out.ctypes.data
            run(lambda a, b: fn(data, a, b, result), len(X))
            if n_groups == 1:  # binary: the probability of class 1, as XGBClassifier
                p = out[:, 0]
                return np.column_stack([1.0 - p, p])
            return out

        return raw


class Treelite(Compiler):
    """Treelite + TL2cgen: LightGBM, XGBoost and scikit-learn forests as C, built with gcc."""

    name = "tl2cgen"
    packages = ("treelite", "tl2cgen")
    library_name = "model.so"
    # Measured slower than the library itself on 100 rounds x 4 classes, 2M rows: 0.43x
    # LightGBM's predict, 0.28x XGBoost's predict_proba (benches/bench_compilers.py),
    # 0.31x XGBoost's end to end (benches/bench_batch.py --only compiled); scikit-learn
    # forests not measured. Why, for XGBoost (max_depth 6): TL2cgen writes every split as
    # an ``if`` (3 MB of C for 400 trees) and walks it row by row, so each row runs through
    # all of the code with unpredictable branches. Tried (500k / 200k rows, ratios to
    # inplace_predict in the same run): its trees split into 25-400 units (parallel_comp)
    # and called by our own driver 64 rows per unit, 0.45-0.55x; + quantize=1, 0.55-0.61x;
    # + -march=native, no gain. Branch annotation was not tried (it reorders the same
    # branches). XGBoost therefore goes to xgboost-c (no branches, 1.8x inplace_predict);
    # TL2cgen keeps what xgboost-c refuses (categorical splits, depth > 10) and
    # scikit-learn forests. So ``auto`` never picks it; ``--engine compiled`` does.
    auto_backends: frozenset[str] = frozenset()

    @functools.cache  # noqa: B019
    def version(self) -> str:
        return (f"treelite {_version('treelite')}; tl2cgen {_version('tl2cgen')}; "
                f"{_gcc_version() or 'no gcc'}; {platform.machine()}")

    def installed(self) -> bool:
        return super().installed() and shutil.which("gcc") is not None

    def problem(self, backend: Any, model_file: Path) -> str | None:
        kind = getattr(backend, "name", None)
        if kind == "lightgbm":
            return lightgbm_model_problem(model_file)
        if kind == "xgboost":
            config = backend.model_.get_booster().save_config()
            booster = re.search(r'"booster"\s*:\s*"(\w+)"', config)
            if booster is None or booster.group(1) != "gbtree":
                return (f"XGBoost booster {booster.group(1) if booster else '?'!r} is not "
                        "supported (only gbtree)")
            objective = re.search(r'"objective"\s*:\s*\{\s*"name"\s*:\s*"([\w:]+)"', config)
            if objective is None or objective.group(1) not in _XGBOOST_OBJECTIVES:
                return (f"XGBoost objective {objective.group(1) if objective else '?'!r} is "
                        "not supported (only binary:logistic and multi:softprob/softmax)")
            if '"multi_strategy":"multi_output_tree"' in config.replace(" ", ""):
                return "XGBoost multi-output trees are not supported"
            return None
        if kind == "sklearn":
            est = type(getattr(backend, "estimator_", None)).__name__
            if est not in _SKLEARN_FORESTS:
                return (f"scikit-learn {est} is not supported (only RandomForestClassifier "
                        "and ExtraTreesClassifier)")
            return None
        return f"backend {kind!r} has no tree compiler"

    def _treelite_model(self, backend: Any, model_file: Path) -> Any:
        import treelite

        if backend.name == "lightgbm":
            return treelite.frontend.load_lightgbm_model(str(model_file))
        if backend.name == "xgboost":
            return treelite.frontend.from_xgboost(backend.model_.get_booster())
        return treelite.sklearn.import_model(backend.estimator_)

    def build(self, backend: Any, model_file: Path, directory: Path) -> str:
        import tl2cgen

        model = self._treelite_model(backend, model_file)
        tl2cgen.export_lib(model, toolchain="gcc", libpath=str(directory / self.library_name),
                           params={"parallel_comp": _threads()})
        return self.library_name

    def load(self, backend: Any, model_file: Path, library: Path) -> RawPredict:
        import tl2cgen

        predictor = tl2cgen.Predictor(str(library))  # threads: as OpenMP allows
        kind = backend.name

        def raw(X: np.ndarray) -> np.ndarray:
            # Compare features as the library does: XGBoost converts its input to float32
            # (float32 thresholds), scikit-learn trees round it to float32 and compare with
            # float64 thresholds, LightGBM works in float64.
            if kind == "xgboost":
                data = tl2cgen.DMatrix(np.ascontiguousarray(X, dtype=np.float32), dtype="float32")
            elif kind == "sklearn":
                data = tl2cgen.DMatrix(X.astype(np.float32).astype(np.float64), dtype="float64")
            else:
                data = tl2cgen.DMatrix(np.ascontiguousarray(X, dtype=np.float64),
                                       dtype="float64")
            P = np.asarray(predictor.predict(data), dtype=np.float64).reshape(len(X), -1)
            if P.shape[1] == 1:  # binary: probability of class 1
                p = P[:, 0]
                return np.column_stack([1.0 - p, p])
            return P

        return raw


#: in order of preference: lleaves is about twice as fast for LightGBM and xgboost-c about
#: four times as fast for XGBoost as Treelite + TL2cgen (benches/bench_compilers.py)
COMPILERS: tuple[Compiler, ...] = (Lleaves(), XGBoostC(), Treelite())

"""The :class:`Backend` base class: what every model backend does, and the saved format.

A backend only fits and predicts. The base class owns everything that must behave the same in
every backend, so that plugin authors implement four small methods and get the rest right:

* label handling: string and integer labels; ``classes=`` fixes the label space, and classes
  absent from ``y`` get a column of zeros (never a silently shifted column);
* input checks with clear :mod:`pseudolabel.exceptions` errors (lengths, empty input, feature
  count, sample weights, predicting before fitting) and the one probability check of the
  model's output (:func:`~pseudolabel.backends.checks.check_probabilities`: shape, dtype,
  float32 stays float32; the kernels validate the values);
* the on-disk format: :meth:`Backend.save` writes a directory holding the model in the model
  library's own safe format plus ``backend.json`` (backend name, parameters, classes, a SHA-256
  of the model file), atomically: a failed save leaves nothing behind (the description
  file's format and its reader live in :mod:`pseudolabel.backends.saved_format`).

Subclasses implement ``_fit_model``, ``_predict_model``, ``_save_model`` and ``_load_model``
(and ``_continue_model`` when ``capabilities.continued_training``). They always see labels
encoded as ``0..k-1`` over the classes present in the training labels, with ``k >= 2``.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pseudolabel.io.atomic import replace_path, sha256_file
from pseudolabel._version import __version__
from pseudolabel.exceptions import (
    BackendError,
    BundleError,
    InputError,
    MissingDependencyError,
    ParameterError,
    PluginError,
)
from pseudolabel.backends.checks import check_probabilities, check_sample_weight, encode_labels
from pseudolabel.plugins import get_plugin_manager
from pseudolabel.backends.saved_format import (
    FORMAT,
    FORMAT_VERSION,
    META_FILE,
    _classes_from_json,
    _classes_to_json,
    _json_ok,
    _plain,
    read_metadata,
)

__all__ = [
    "Capabilities",
    "Backend",
    "check_probabilities",
    "encode_labels",
    "check_sample_weight",
    "import_optional",
    "read_metadata",
    "META_FILE",
    "FORMAT",
    "FORMAT_VERSION",
]

@dataclass(frozen=True)
class Capabilities:
    """What a backend can do.

    Attributes
    ----------
    sample_weight : bool
        ``fit`` honours ``sample_weight`` (otherwise passing one raises ``BackendError``).
    continued_training : bool
        ``continue_fit`` adds boosting rounds to the fitted model.
    categorical : bool
        Native categorical features (pandas ``category`` columns are used as they are).
    threads : bool
        The model library trains with several threads (``n_jobs`` / ``nthread``...).
    out_of_bag : bool
        :meth:`Backend.out_of_bag_proba` gives the fitted model's out-of-bag probabilities
        of its own training rows (a bagged forest: Breiman 1996, 2001).
    """

    sample_weight: bool = True
    continued_training: bool = False
    categorical: bool = False
    threads: bool = False
    out_of_bag: bool = False

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)


class Backend:
    """Base class of model backends: fit, predict probabilities, save, load.

    Parameters
    ----------
    **params
        Backend parameters, kept as given (:meth:`get_params`) and used by :meth:`clone`.

    Attributes
    ----------
    classes_ : numpy.ndarray
        The label space, in ``predict_proba`` column order.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : numpy.ndarray
        Column names, when ``fit`` got a DataFrame.

    Notes
    -----
    Subclasses set the class variables ``name`` (registry name), ``capabilities``,
    ``model_file`` (file name inside a saved directory) and optionally ``estimator_types``
    (fully qualified estimator class names that :func:`pseudolabel.plugins.as_backend` maps to
    this backend through :meth:`from_estimator`).
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    estimator_types: ClassVar[tuple[str, ...]] = ()
    model_file: ClassVar[str] = "model.bin"

    def __init__(self, **params: Any) -> None:
        self._params = dict(params)

    # -- parameters -----------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The parameters this backend was created with."""
        return dict(self._params)

    @classmethod
    def from_estimator(cls, estimator: Any) -> Backend:
        """Build this backend from an estimator instance.

        The backend gets the estimator's parameters that differ from the defaults of its class
        (``get_params(deep=False)``), so saved metadata stays short and the backend's own
        defaults apply to everything the user did not set.
        """
        params = estimator.get_params(deep=False)
        try:
            defaults = type(estimator)().get_params(deep=False)
        except Exception:  # a class without a no-argument constructor: keep everything
            return cls(**params)
        return cls(**{k: v for k, v in params.items() if k not in defaults or not _same(v, defaults[k])})

    def clone(self) -> Backend:
        """An unfitted backend with the same parameters (deep-copied)."""
        return type(self)(**copy.deepcopy(self._params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self._params.items()))
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "classes_")

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, classes: Any = None) -> Backend:
        """Fit the model.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Passed to the model library as is (DataFrames keep their dtypes).
        y : array-like of shape (n_samples,)
            Class labels: strings, integers, or any sortable labels.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative finite weights.
        classes : array-like, optional
            The full label space, in column order. Classes absent from ``y`` get a column of
            zeros in ``predict_proba``; a label of ``y`` outside ``classes`` is an error.
            Default: the sorted unique labels of ``y``.

        Returns
        -------
        self
        """
        X, n = self._check_X(X, fitting=True)
        idx, classes_ = encode_labels(y, classes)
        if len(idx) != n:
            raise InputError(f"X has {n} rows but y has {len(idx)} labels")
        sample_weight = self._check_weight(sample_weight, n)
        present = np.unique(idx)
        if len(present) < 2:
            raise InputError(
                f"y holds a single class ({classes_[present[0]]!r}); a classifier needs at least "
                "two classes"
            )
        y_model = np.searchsorted(present, idx).astype(np.int64)
        self._fit_model(X, y_model, sample_weight)
        self.classes_ = classes_
        self.n_fit_rows_ = n
        self._present = present.astype(np.int64)
        self.n_features_in_ = int(X.shape[1])
        names = _feature_names(X)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def continue_fit(self, X: Any, y: Any, sample_weight: Any = None, *, n_more: int) -> Backend:
        """Add ``n_more`` boosting rounds to the fitted model, trained on ``(X, y)``.

        Only when ``capabilities.continued_training``. ``y`` must use the fitted label space
        and hold every class the model was fitted on.
        """
        if not self.capabilities.continued_training:
            raise BackendError(
                f"backend {self.name!r} does not support continued training; refit instead"
            )
        self._check_fitted()
        if isinstance(n_more, bool) or not isinstance(n_more, (int, np.integer)) or n_more < 1:
            raise ParameterError(f"n_more must be a positive integer, got {n_more!r}")
        X, n = self._check_X(X)
        idx, _ = encode_labels(y, self.classes_)
        if len(idx) != n:
            raise InputError(f"X has {n} rows but y has {len(idx)} labels")
        sample_weight = self._check_weight(sample_weight, n)
        pos = np.searchsorted(self._present, idx)
        pos_clipped = np.minimum(pos, len(self._present) - 1)
        bad = self._present[pos_clipped] != idx
        if bad.any():
            new = sorted({_plain(self.classes_[i]) for i in idx[bad]}, key=str)
            raise BackendError(
                f"continue_fit got classes {new} that were absent from the first fit; the "
                "model has no output for them: refit instead"
            )
        missing = np.setdiff1d(np.arange(len(self._present)), pos)
        if len(missing):
            lost = [_plain(self.classes_[self._present[i]]) for i in missing]
            raise BackendError(
                f"continue_fit needs every class the model was fitted on; missing from y: {lost}"
            )
        self._continue_model(X, pos.astype(np.int64), sample_weight, int(n_more))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, len(classes_))``, columns in ``classes_`` order.

        The model's output goes through :func:`~pseudolabel.backends.checks.check_probabilities`
        (the one probability check): a wrong shape is a
        :class:`~pseudolabel.exceptions.ProbabilityError`; float32 stays float32 so that it
        reaches the float32 kernels as it is, any other numeric dtype becomes float64;
        round-off within 1e-9 of [0, 1] is clipped. NaN and real violations are left as they
        are for the kernels to report by row and column.
        """
        self._check_fitted()
        X, n = self._check_X(X)
        k = len(self._present)
        proba = check_probabilities(
            self._predict_model(X), n_rows=n, n_classes=k, source=f"backend {self.name!r}"
        )
        return self._in_label_space(proba)

    def _in_label_space(self, proba: np.ndarray) -> np.ndarray:
        """The model's columns (the classes it was fitted on) spread over ``classes_``."""
        if proba.shape[1] == len(self.classes_):
            return proba
        out = np.zeros((len(proba), len(self.classes_)), dtype=proba.dtype)
        out[:, self._present] = proba
        return out

    def out_of_bag_proba(self, X: Any, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of training rows from the parts of the model that did not see them.

        Only when ``capabilities.out_of_bag`` (a bagged forest: each tree is grown on a
        bootstrap sample, and a row's out-of-bag estimate averages the trees whose sample
        missed it; Breiman 1996, 2001). A model's probabilities on its own training rows are
        over-confident; these are not, and cost no refit.

        Parameters
        ----------
        X : array-like or DataFrame of shape (len(rows), n_features)
            The features of the rows, as passed to :meth:`fit`.
        rows : array-like of int
            Their positions among the rows of the last :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (len(rows), len(classes_)), float64
            Columns in ``classes_`` order; a row with no out-of-bag estimate is all zeros.
        covered : ndarray of bool of shape (len(rows),)
            Which rows have an estimate (with 100 trees, all but about ``0.63^100``).
        """
        if not self.capabilities.out_of_bag:
            raise BackendError(
                f"backend {self.name!r} has no out-of-bag predictions (a bagged forest with "
                "bootstrap=True has them)"
            )
        self._check_fitted()
        X, n = self._check_X(X)
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.size != n or (rows.size and rows.dtype.kind not in "iu"):
            raise InputError(
                f"rows must be {n} integer positions of the fitted rows, one per row of X; "
                f"got {rows.dtype} of shape {rows.shape}"
            )
        n_fit = getattr(self, "n_fit_rows_", None)
        if n_fit is None:
            raise BackendError("out-of-bag predictions need the model of a fit() in this session")
        if rows.size and (rows.min() < 0 or rows.max() >= n_fit):
            raise InputError(f"rows must be positions in [0, {n_fit}) of the fitted rows")
        proba, n_trees = self._out_of_bag_model(X, rows.astype(np.int64), int(n_fit))
        covered = n_trees > 0
        k = len(self._present)
        if proba.shape != (n, k):
            raise BackendError(
                f"backend {self.name!r} gave out-of-bag probabilities of shape {proba.shape}, "
                f"expected {(n, k)}"
            )
        return self._in_label_space(proba), covered

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row (ties: the first column)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # -- save / load ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the fitted model to the directory ``path``, atomically.

        The directory holds the model in the model library's own format (``model_file``) and
        ``backend.json``. An existing directory written by ``save`` (or an empty one) is
        replaced; anything else at ``path`` is refused. Never pickles.
        """
        self._check_fitted()
        path = Path(path)
        if path.exists():
            if not path.is_dir() or (any(path.iterdir()) and not (path / META_FILE).is_file()):
                raise BackendError(
                    f"{path} exists and is not a saved pseudolabel backend; refusing to overwrite"
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            self._save_model(tmp)
            model_path = tmp / self.model_file
            if not model_path.is_file():
                raise BackendError(
                    f"backend {self.name!r} did not write its model file {self.model_file!r}"
                )
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "backend": self.name,
                "backend_class": f"{type(self).__module__}.{type(self).__qualname__}",
                "pseudolabel_version": __version__,
                "params": self._params_to_json(),
                **_classes_to_json(self.classes_),
                "present": [int(i) for i in self._present],
                "n_features_in": self.n_features_in_,
                "feature_names_in": (
                    None
                    if getattr(self, "feature_names_in_", None) is None
                    else [str(c) for c in self.feature_names_in_]
                ),
                "model_file": self.model_file,
                "model_sha256": sha256_file(model_path),
            }
            with open(tmp / META_FILE, "w", encoding="utf-8") as fh:
                json.dump(meta, fh, indent=2)
            replace_path(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: Any) -> Backend:
        """Load a backend saved with :meth:`save`.

        On the base class this dispatches to the backend registered under the name in
        ``backend.json`` (also :func:`pseudolabel.plugins.load_backend`). Extra keyword arguments
        go to the backend (the ``sklearn`` backend takes ``trusted=`` for skops).

        Raises
        ------
        BundleError
            The directory is missing, not a saved backend, from another backend, edited or
            corrupt.
        """
        meta = read_metadata(path)
        if cls is Backend:
            entry = get_plugin_manager().backends.get(meta["backend"])
            loader = getattr(entry.factory, "load", None)
            if loader is None:
                raise PluginError(
                    f"backend {meta['backend']!r} from plugin {entry.plugin!r} has no load() "
                    "classmethod"
                )
            return loader(path, **kwargs)
        if meta["backend"] != cls.name:
            raise BundleError(
                f"{path} holds a {meta['backend']!r} backend, not {cls.name!r}; use "
                "pseudolabel.plugins.load_backend() to load any backend"
            )
        directory = Path(path)
        model_path = directory / meta["model_file"]
        if not model_path.is_file():
            raise BundleError(f"{path} is missing its model file {meta['model_file']!r}")
        if sha256_file(model_path) != meta["model_sha256"]:
            raise BundleError(
                f"{model_path} does not match the checksum recorded in {META_FILE}; the model "
                "file was edited or is corrupt"
            )
        try:
            backend = cls._from_metadata(meta, directory, **kwargs)
            backend._load_model(directory, meta)
        except (BundleError, ParameterError):
            raise
        except Exception as exc:
            raise BundleError(
                f"could not load the {cls.name!r} model in {path}: {type(exc).__name__}: {exc}"
            ) from exc
        backend.classes_ = _classes_from_json(meta)
        backend._present = np.asarray(meta["present"], dtype=np.int64)
        backend.n_features_in_ = int(meta["n_features_in"])
        if meta.get("feature_names_in") is not None:
            backend.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        return backend

    # -- for subclasses -------------------------------------------------------------------

    def _fit_model(self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        """Fit the underlying model on labels ``0..k-1`` (``k >= 2``)."""
        raise NotImplementedError

    def _predict_model(self, X: Any) -> np.ndarray:
        """Probabilities of shape ``(n, k)`` for the ``k`` classes the model was fitted on."""
        raise NotImplementedError

    def _continue_model(
        self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None, n_more: int
    ) -> None:
        """Add ``n_more`` rounds (only when ``capabilities.continued_training``)."""
        raise NotImplementedError

    def _out_of_bag_model(
        self, X: Any, rows: np.ndarray, n_fit_rows: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-bag probabilities ``(n, k)`` and tree counts ``(n,)`` of fitted rows ``rows``
        (only when ``capabilities.out_of_bag``)."""
        raise NotImplementedError

    def _save_model(self, directory: Path) -> None:
        """Write the fitted model to ``directory / self.model_file`` in a safe native format."""
        raise NotImplementedError

    def _load_model(self, directory: Path, meta: dict[str, Any]) -> None:
        """Read the model written by :meth:`_save_model` into this (fresh) backend."""
        raise NotImplementedError

    def _params_to_json(self) -> dict[str, Any] | None:
        """JSON-ready parameters for ``backend.json``; they rebuild the backend on load."""
        try:
            text = json.dumps(self._params)
        except (TypeError, ValueError) as exc:
            bad = [k for k, v in self._params.items() if not _json_ok(v)]
            raise BackendError(
                f"backend {self.name!r} cannot save parameters {bad} (not JSON-serializable): "
                f"{exc}"
            ) from exc
        return json.loads(text)

    @classmethod
    def _from_metadata(cls, meta: dict[str, Any], directory: Path, **kwargs: Any) -> Backend:
        """A fresh, unfitted backend built from the saved parameters."""
        if kwargs:
            raise ParameterError(f"backend {cls.name!r} load() got unexpected {sorted(kwargs)}")
        return cls(**(meta.get("params") or {}))

    # -- checks ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise BackendError(
                f"this {type(self).__name__} is not fitted yet; call fit() before using it"
            )

    def _check_X(self, X: Any, *, fitting: bool = False) -> tuple[Any, int]:
        if X is None:
            raise InputError("X is None; expected an array or DataFrame of shape (n_samples, n_features)")
        if not hasattr(X, "shape") or not hasattr(X, "ndim"):
            try:
                X = np.asarray(X)
            except Exception as exc:
                raise InputError(f"X cannot be converted to an array: {exc}") from exc
        if X.ndim != 2:
            raise InputError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        n, d = int(X.shape[0]), int(X.shape[1])
        if n == 0:
            raise InputError("X has no rows")
        if d == 0:
            raise InputError("X has no columns")
        if isinstance(X, np.ndarray) and X.dtype.kind not in "biuf":
            if X.dtype.kind in "OUS":
                raise InputError(
                    f"X has dtype {X.dtype}; convert to numbers, or pass a pandas DataFrame with "
                    "categorical columns to a backend that supports them"
                )
        if not fitting:
            if d != self.n_features_in_:
                raise InputError(f"X has {d} features, but the model was fitted on {self.n_features_in_}")
            expected = getattr(self, "feature_names_in_", None)
            names = _feature_names(X)
            if expected is not None and names is not None and list(names) != list(expected):
                missing = [c for c in expected if c not in set(names)]
                detail = f"missing {missing}" if missing else "in a different order"
                raise InputError(f"X has other columns than the model was fitted on: {detail}")
        return X, n

    def _check_weight(self, sample_weight: Any, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        if not self.capabilities.sample_weight:
            raise BackendError(
                f"backend {self.name!r} ({self!r}) does not support sample_weight; use a model "
                "that accepts sample_weight in fit, or drop the weights"
            )
        return check_sample_weight(sample_weight, n)


def import_optional(module: str, hint: str) -> Any:
    """Import the model library ``module`` when a backend first needs it.

    Backends import their library lazily, so ``import pseudolabel`` works without it. A
    missing library raises :class:`~pseudolabel.exceptions.MissingDependencyError` (also an
    ``ImportError``) with ``hint``, which should say what to install, followed by the
    import error itself (a library that is installed but broken says why).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(f"{hint} ({type(exc).__name__}: {exc})") from exc


def _same(a: Any, b: Any) -> bool:
    """Parameter equality that treats NaN == NaN and never raises (arrays, odd objects)."""
    if a is b:
        return True
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _feature_names(X: Any) -> np.ndarray | None:
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    return names if all(isinstance(c, str) for c in names) else None

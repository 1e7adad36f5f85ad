"""Model bundles: a fitted backend in its own safe format plus a checked JSON manifest.

A bundle is a directory::

    MODEL_DIR/
      pseudolabel-bundle.json   manifest: classes, feature columns and their schema (kinds,
                                the recorded categories of categorical columns), backend,
                                versions, sha256 of every other file, and a checksum of itself
      model...                  whatever ``Backend.save`` wrote (file or directory; the
                                ``sklearn`` backend's skops file holds its preprocessing)
      history.json              (self-trained bundles) the per-round history of ``train``

:func:`load_bundle` verifies the manifest's own checksum, then every file's sha256, and
refuses unlisted files: a bundle that was edited or is corrupt raises
:class:`~pseudolabel.exceptions.BundleError`. Files in pickle format (by suffix or by the
pickle protocol header) are refused unless ``trust_pickle=True``, because loading a pickle
runs arbitrary code. The checksums detect corruption and accidental edits; they are not a
signature and do not authenticate who wrote the bundle.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.io.atomic import looks_like_pickle, make_temp_dir, publish
from pseudolabel.io.atomic import sha256_file
from pseudolabel._version import __version__
from pseudolabel.exceptions import (
    BundleError,
    InputError,
    OutputExistsError,
    PseudolabelWarning,
    UnknownNameError,
)

__all__ = [
    "MANIFEST_NAME",
    "ModelBundle",
    "save_bundle",
    "load_bundle",
    "train_bundle",
    "parse_params",
]

MANIFEST_NAME = "pseudolabel-bundle.json"
FORMAT_NAME = "pseudolabel-model-bundle"
FORMAT_VERSION = 1
# libraries whose version is worth recording when a backend of that name is saved
_BACKEND_LIBRARIES = {
    "sklearn": ["scikit-learn"],
    "lightgbm": ["lightgbm"],
    "xgboost": ["xgboost", "xgboost-cpu"],
    "catboost": ["catboost"],
}


@dataclass(frozen=True)
class ModelBundle:
    """A loaded, verified model bundle.

    Attributes
    ----------
    path : Path
    backend : Backend
        The fitted backend, loaded with ``Backend.load``.
    classes : ndarray
        Original class labels, in the order of ``predict_proba``'s columns.
    feature_columns : list of str
    id_column : str or None
        The id column used at training time (the default id column when labeling).
    backend_name : str
    manifest : dict
    """

    path: Path
    backend: Any
    classes: np.ndarray
    feature_columns: list[str]
    id_column: str | None
    backend_name: str
    manifest: dict = field(repr=False)

    @property
    def checksum(self) -> str:
        """The manifest's own sha256: identifies this exact bundle."""
        return self.manifest["checksum"]

    @property
    def schema(self) -> Any:
        """The :class:`~pseudolabel.features.FeatureSchema` to encode input with (bundles
        without one recorded have numeric features)."""
        from pseudolabel.features import FeatureSchema

        spec = self.manifest.get("features")
        if spec is None:
            return FeatureSchema.numeric(self.feature_columns)
        try:
            schema = FeatureSchema.from_dict(spec, where=f"{self.path}")
        except InputError as exc:
            raise BundleError(str(exc)) from exc
        if schema.names != list(self.feature_columns):
            raise BundleError(f"{self.path}: the feature schema and feature_columns differ")
        return schema

    @property
    def class_prior(self) -> np.ndarray | None:
        counts = self.manifest.get("training", {}).get("class_counts")
        if not counts:
            return None
        c = np.asarray(counts, dtype=np.float64)
        return c / c.sum()


def _canonical(obj: Mapping) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _manifest_checksum(manifest: Mapping) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in manifest.items() if k != "checksum"})
                          ).hexdigest()


def _encode_classes(classes: np.ndarray) -> dict:
    classes = np.asarray(classes)
    kind = classes.dtype.kind
    if kind == "b":
        return {"dtype": "bool", "values": [bool(v) for v in classes]}
    if kind in "iu":
        return {"dtype": "int64", "values": [int(v) for v in classes]}
    if kind == "f":
        return {"dtype": "float64", "values": [float(v) for v in classes]}
    if kind in "UO" and all(isinstance(v, str) for v in classes):
        return {"dtype": "str", "values": [str(v) for v in classes]}
    raise BundleError(
        f"class labels of dtype {classes.dtype} cannot be stored in a bundle; use integers, "
        "floats, booleans or strings"
    )


def _decode_classes(spec: Any) -> np.ndarray:
    try:
        dtype = {"bool": bool, "int64": np.int64, "float64": np.float64, "str": object}[
            spec["dtype"]]
        values = np.asarray(spec["values"], dtype=dtype)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"bundle manifest has malformed classes: {spec!r}") from exc
    if values.ndim != 1 or len(values) < 1:
        raise BundleError("bundle manifest lists no classes")
    return values


def _jsonable(value: Any) -> Any:
    """``value`` if JSON can hold it, else its repr (estimator instances, callables)."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _library_versions(backend_name: str) -> dict[str, str]:
    dists = ["numpy", "scikit-learn", "pyarrow", *_BACKEND_LIBRARIES.get(backend_name, [])]
    versions = {"pseudolabel": __version__, "python": platform.python_version()}
    for d in dists:
        v = _version_of(d)
        if v is not None:
            versions[d] = v
    return versions


def _bundle_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)


def save_bundle(backend: Any, path: str | os.PathLike, *, feature_columns: Sequence[str],
                id_column: str | None = None, target: str | None = None,
                training: Mapping[str, Any] | None = None, params: Mapping | None = None,
                overwrite: bool = False, trust_pickle: bool = False, schema: Any = None,
                extra_files: Mapping[str, bytes] | None = None) -> Path:
    """Write a fitted backend and its manifest as a bundle directory, atomically.

    The bundle is assembled in a temporary directory beside ``path`` and renamed into place,
    so ``path`` never holds a half-written bundle.

    Parameters
    ----------
    backend : Backend
        A fitted backend (has ``classes_``, ``save``, and a registered ``name``).
    path : path-like
        Bundle directory to create.
    feature_columns : sequence of str
        Feature names in the column order the backend was fitted on.
    id_column, target : str, optional
        Recorded for reference; ``id_column`` becomes the default id column when labeling.
    training : mapping, optional
        Facts about the training set (``n_rows``, ``class_counts``) kept in the manifest.
    params : mapping, optional
        Backend parameters, recorded (must be JSON-serializable).
    overwrite : bool, default False
        Replace an existing ``path``; otherwise :class:`OutputExistsError`.
    trust_pickle : bool, default False
        Allow a backend whose ``save`` writes pickle files.
    schema : FeatureSchema, optional
        The features' kinds and categories (default: every feature numeric).
    extra_files : mapping of str to bytes, optional
        More files of the bundle by name (``history.json``), listed and checksummed.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    name = getattr(backend, "name", None)
    if not isinstance(name, str) or not name:
        raise BundleError(f"{type(backend).__name__} has no registered backend name")
    if not hasattr(backend, "classes_"):
        raise BundleError("the backend is not fitted (no classes_); fit it before saving")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True "
        "(--overwrite on the command line) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(path.parent, f".{path.name}.tmp-")
    try:
        backend.save(tmp / "model")
        for rel, data in (extra_files or {}).items():
            if "/" in rel or rel in ("model", MANIFEST_NAME) or rel.startswith("."):
                raise BundleError(f"bundle file name {rel!r} is reserved or not plain")
            (tmp / rel).write_bytes(data)
        files = _bundle_files(tmp)
        if not files:
            raise BundleError(f"backend {name!r} saved no files")
        pickles = [p for p in files if looks_like_pickle(p)]
        if pickles and not trust_pickle:
            raise BundleError(
                f"backend {name!r} saved pickle file(s) ({pickles[0].relative_to(tmp)}); "
                "pickles run code when loaded. Pass --trust-pickle (trust_pickle=True) to "
                "write such a bundle anyway"
            )
        manifest: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "backend": name,
            "backend_params": {str(k): _jsonable(v) for k, v in (params or {}).items()},
            "model_path": "model",
            "classes": _encode_classes(backend.classes_),
            "feature_columns": [str(c) for c in feature_columns],
            **({} if schema is None else {"features": schema.to_dict()}),
            "id_column": id_column,
            "target": target,
            "training": dict(training or {}),
            "versions": _library_versions(name),
            "contains_pickle": bool(pickles),
            "files": {p.relative_to(tmp).as_posix(): _sha256(p) for p in files},
        }
        try:
            manifest["checksum"] = _manifest_checksum(manifest)
            text = json.dumps(manifest, indent=2, sort_keys=True)
        except TypeError as exc:
            raise BundleError(f"bundle manifest is not JSON-serializable: {exc}") from exc
        (tmp / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")
        publish(tmp, path, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _sha256(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError as exc:
        raise BundleError(f"{path}: cannot read this bundle file ({exc.strerror or exc})"
                          ) from exc


def _links_out(root: Path, path: Path) -> bool:
    """Whether ``path`` or a directory between ``root`` and it is a symlink."""
    current = path
    while current != root and current != current.parent:
        if current.is_symlink():
            return True
        current = current.parent
    return False


def read_manifest(path: str | os.PathLike, *, trust_pickle: bool = False) -> dict:
    """Read and verify a bundle's manifest and files; return the manifest.

    Raises
    ------
    BundleError
        Missing or malformed manifest, a checksum that does not match, a missing or
        unlisted file, or a pickle file without ``trust_pickle``.
    """
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: no such model bundle directory")
    mpath = root / MANIFEST_NAME
    if mpath.is_symlink():
        raise BundleError(f"{mpath}: the manifest is a symlink; a bundle holds its files itself")
    if not mpath.is_file():
        raise BundleError(f"{root}: not a model bundle (no {MANIFEST_NAME})")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{mpath}: corrupt manifest ({exc})") from exc
    except OSError as exc:
        raise BundleError(f"{mpath}: cannot read the manifest ({exc.strerror or exc})"
                          ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise BundleError(f"{mpath}: not a pseudolabel model bundle manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{mpath}: bundle format version {manifest.get('format_version')!r} is not "
            f"supported (this pseudolabel reads version {FORMAT_VERSION})"
        )
    if manifest.get("checksum") != _manifest_checksum(manifest):
        raise BundleError(f"{mpath}: the manifest was edited or is corrupt (checksum mismatch)")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not listed:
        raise BundleError(f"{mpath}: manifest lists no files")
    for rel, digest in sorted(listed.items()):
        f = root / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise BundleError(f"{mpath}: file entry {rel!r} points outside the bundle")
        if _links_out(root, f):
            raise BundleError(f"{root}: file {rel} is a symlink or lies behind one; a "
                              "bundle holds its files itself")
        if not f.is_file():
            raise BundleError(f"{root}: file {rel} listed in the manifest is missing")
        if _sha256(f) != digest:
            raise BundleError(f"{root}: file {rel} was modified or is corrupt (sha256 mismatch)")
    extra = [p.relative_to(root).as_posix() for p in _bundle_files(root)
             if p.relative_to(root).as_posix() not in listed]
    if extra:
        raise BundleError(f"{root}: file {extra[0]} is not part of the bundle (unlisted file)")
    if not trust_pickle:
        for rel in sorted(listed):
            if looks_like_pickle(root / rel):
                raise BundleError(
                    f"{root}: file {rel} is a pickle; loading it can run arbitrary code. "
                    "Pass --trust-pickle (trust_pickle=True) only for bundles you trust"
                )
    return manifest


def load_bundle(path: str | os.PathLike, *, trust_pickle: bool = False) -> ModelBundle:
    """Verify and load a model bundle written by :func:`save_bundle`.

    Parameters
    ----------
    path : path-like
        The bundle directory.
    trust_pickle : bool, default False
        Allow bundles that contain pickle files.

    Returns
    -------
    ModelBundle

    Raises
    ------
    BundleError
        The bundle is missing, corrupt, edited, or holds a pickle without ``trust_pickle``;
        or the backend failed to load it.
    UnknownNameError
        The bundle's backend is not registered (a plugin is missing).
    """
    from pseudolabel.plugins import load_backend

    root = Path(path)
    manifest = read_manifest(root, trust_pickle=trust_pickle)
    classes = _decode_classes(manifest.get("classes"))
    features = manifest.get("feature_columns")
    if not isinstance(features, list) or not all(isinstance(c, str) for c in features):
        raise BundleError(f"{root}: manifest has malformed feature_columns")
    name = manifest.get("backend")
    if not isinstance(name, str) or not name:
        raise BundleError(f"{root}: manifest names no backend")
    versions = manifest.get("versions", {})
    for dist in _BACKEND_LIBRARIES.get(name, []):
        saved, now = versions.get(dist), _version_of(dist)
        if saved and now and saved != now:
            warnings.warn(
                f"bundle {root} was saved with {dist} {saved}; {now} is installed",
                PseudolabelWarning, stacklevel=2,
            )
    model_path = manifest.get("model_path", "model")
    if (not isinstance(model_path, str) or Path(model_path).is_absolute()
            or ".." in Path(model_path).parts
            or not any(rel == model_path or rel.startswith(f"{model_path}/")
                       for rel in manifest["files"])):
        raise BundleError(f"{root}: manifest has a model_path {model_path!r} outside the "
                          "bundle's verified files")
    try:
        backend = load_backend(root / model_path)
    except (BundleError, UnknownNameError):
        raise
    except Exception as exc:  # the backend's own error: report it as a bundle problem
        raise BundleError(f"{root}: backend {name!r} could not load its model ({exc})") from exc
    if getattr(backend, "name", None) != name:
        raise BundleError(f"{root}: the manifest says backend {name!r}, the model is "
                          f"{getattr(backend, 'name', None)!r}")
    got = getattr(backend, "classes_", None)
    if got is None or [str(c) for c in got] != [str(c) for c in classes]:
        raise BundleError(
            f"{root}: the loaded model's classes {None if got is None else list(got)} differ "
            f"from the manifest's {list(classes)}"
        )
    return ModelBundle(root, backend, classes, list(features), manifest.get("id_column"), name,
                       manifest)


def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    """Parse ``key=value`` strings; values are JSON when they parse as JSON, else strings.

    ``n_estimators=200`` gives an int, ``learning_rate=0.1`` a float, ``verbose=false`` a
    bool, ``objective=multiclass`` a string.
    """
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InputError(f"--param expects key=value, got {item!r}")
        if key in params:
            raise InputError(f"--param {key} given more than once")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = {"True": True, "False": False, "None": None}.get(value, value)
    return params


def train_bundle(input: str | os.PathLike, **kwargs: Any) -> ModelBundle:
    """Fit a backend on labeled data and write a bundle: see
    :func:`pseudolabel.batch.train.train_bundle` (kept here for existing imports)."""
    from pseudolabel.batch.train import train_bundle as train

    return train(input, **kwargs)

"""The saved backend directory's description file (``backend.json``): format and reading.

:meth:`pseudolabel.backends.base.Backend.save` writes it next to the model file;
:func:`read_metadata` reads and checks it; the class labels go through JSON with their dtype.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel._version import __version__
from pseudolabel.exceptions import BackendError, BundleError

__all__ = ["META_FILE", "FORMAT", "FORMAT_VERSION", "read_metadata"]

#: Name of the metadata file inside a saved backend directory.
META_FILE = "backend.json"
#: ``format`` field of ``backend.json``.
FORMAT = "pseudolabel-backend"
#: Bumped when the saved layout changes incompatibly.
FORMAT_VERSION = 1

def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _classes_to_json(classes: np.ndarray) -> dict[str, Any]:
    kind = classes.dtype.kind
    if kind in "biuf":
        return {"classes": classes.tolist(), "classes_dtype": classes.dtype.str}
    if kind in "US":
        return {"classes": [str(c) for c in classes], "classes_dtype": classes.dtype.str}
    values = [_plain(c) for c in classes]
    if kind == "O" and all(isinstance(v, str) for v in values):
        return {"classes": values, "classes_dtype": "object"}
    if kind == "O" and all(isinstance(v, (int, bool)) for v in values):
        return {"classes": values, "classes_dtype": "object"}
    raise BackendError(
        f"cannot save class labels of dtype {classes.dtype} ({values[:3]}...); use str or int labels"
    )


def _classes_from_json(meta: dict[str, Any]) -> np.ndarray:
    dtype = meta.get("classes_dtype")
    values = meta.get("classes")
    if not isinstance(values, list):
        raise BundleError(f"{META_FILE} has no list of classes")
    if dtype == "object":
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr
    try:
        return np.asarray(values, dtype=np.dtype(dtype))
    except TypeError as exc:
        raise BundleError(f"{META_FILE} has an invalid classes_dtype {dtype!r}") from exc


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``backend.json`` of a directory written by :meth:`Backend.save`."""
    directory = Path(path)
    if not directory.exists():
        raise BundleError(f"{directory} does not exist")
    meta_path = directory / META_FILE
    if not directory.is_dir() or not meta_path.is_file():
        raise BundleError(f"{directory} is not a saved pseudolabel backend (no {META_FILE})")
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BundleError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{meta_path} is not a pseudolabel backend description")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{meta_path} has format version {meta.get('format_version')!r}; this pseudolabel "
            f"({__version__}) reads version {FORMAT_VERSION}"
        )
    for key in ("backend", "model_file", "model_sha256", "classes", "present", "n_features_in"):
        if key not in meta:
            raise BundleError(f"{meta_path} lacks the field {key!r}")
    model_file = meta["model_file"]
    if not isinstance(model_file, str) or Path(model_file).name != model_file:
        raise BundleError(f"{meta_path} has an invalid model_file {model_file!r}")
    return meta

"""Batch labeling: model bundles and the streaming ``train`` / ``label`` jobs.

* :func:`train_bundle` fits a registered backend on a labeled file and writes a
  :class:`ModelBundle` (the backend's own safe format + a checked JSON manifest);
* :func:`load_bundle` verifies and loads one;
* :func:`label` streams Parquet / CSV / ``.npy`` files through a bundle in chunks and writes
  labels, confidences, margins and a decision as Parquet, resumably.

The same job runs on a Dask cluster with :func:`pseudolabel.dask.label`. Names are imported
on first use, so ``pseudolabel --help`` does not load pyarrow.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "DEFAULT_CHUNK_ROWS": "pseudolabel.batch.label",
    "LabelResult": "pseudolabel.batch.label",
    "label": "pseudolabel.batch.label",
    "ModelBundle": "pseudolabel.batch.bundle",
    "load_bundle": "pseudolabel.batch.bundle",
    "save_bundle": "pseudolabel.batch.bundle",
    "train_bundle": "pseudolabel.batch.train",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pseudolabel.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

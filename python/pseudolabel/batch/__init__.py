"""Batch labeling: model bundles and the streaming ``train`` / ``label`` jobs.

* :func:`train_bundle` fits a registered backend on a labeled file and writes a
  :class:`ModelBundle` (the backend's own safe format + a checked JSON manifest);
* :func:`load_bundle` verifies and loads one;
* :func:`label` streams Parquet / CSV / ``.npy`` files through a bundle in chunks and writes
  labels, confidences, margins and a decision as Parquet, resumably.

The same job runs on a Dask cluster with :func:`pseudolabel.dask.label`.
"""

from __future__ import annotations

from pseudolabel.batch.bundle import ModelBundle, load_bundle, save_bundle, train_bundle
from pseudolabel.batch.label import DEFAULT_CHUNK_ROWS, LabelResult, label

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "LabelResult",
    "ModelBundle",
    "label",
    "load_bundle",
    "save_bundle",
    "train_bundle",
]

"""The ``train`` job: fit a backend on a labeled table (self-training on its pool) -> a bundle.

:func:`train_bundle` reads Parquet/CSV training files, chooses the feature columns
(``features`` / ``exclude``, never the target or id column), records their
:class:`~pseudolabel.features.FeatureSchema` (kinds and categories) and encodes the table with
it. LightGBM and XGBoost get categorical columns natively (a pandas ``category`` dtype with the
recorded categories) and NaN as missing; the ``sklearn`` backend gets the default
scikit-learn preprocessing (:mod:`pseudolabel.features.preprocessing`). Rows with an empty
target, and the rows of ``unlabeled`` files, form a pool: the model is then self-trained with
:class:`~pseudolabel.PseudoLabeler` and its per-round history is saved in the bundle
(``history.json``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pseudolabel.batch.bundle import ModelBundle, load_bundle, save_bundle
from pseudolabel.batch.estimators import (
    backend_estimator_class,
    check_param_names,
    make_estimator,
)
from pseudolabel.exceptions import InputError, OutputExistsError, ParameterError
from pseudolabel.features import FeatureSchema, choose_features, encode_table, infer_schema

__all__ = ["HISTORY_NAME", "MANY_CLASSES", "SelfTraining", "train_bundle"]

#: the self-training history inside a bundle
HISTORY_NAME = "history.json"
#: a float target with more distinct values than this "looks like regression"
MANY_CLASSES = 20


@dataclass(frozen=True)
class SelfTraining:
    """How ``train`` self-trains when there is a pool (``PseudoLabeler``'s parameters)."""

    strategy: str | None = None
    strategy_params: Mapping[str, Any] | None = None
    max_iter: int = 10
    guardrail: str = "auto"
    random_state: int = 0

    def make(self, backend: Any) -> Any:
        from pseudolabel.selftrain.pseudolabeler import DEFAULT_STRATEGY, PseudoLabeler

        return PseudoLabeler(
            backend=backend, strategy=self.strategy or DEFAULT_STRATEGY,
            strategy_params=dict(self.strategy_params) if self.strategy_params else None,
            max_iter=self.max_iter, guardrail=self.guardrail, unlabeled=-1,
            random_state=self.random_state,
        )


def _read(paths: list[str], what: str) -> tuple[pa.Table, str]:
    from pseudolabel.io.tables import read_table

    tables = [read_table(p) for p in paths]
    where = paths[0] if len(paths) == 1 else f"{len(paths)} files ({paths[0]}, ...)"
    try:
        table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 \
            else tables[0]
    except pa.ArrowInvalid as exc:
        raise InputError(f"{what} files have incompatible schemas ({exc})") from exc
    return table, where


def _empty_target(column: pa.ChunkedArray) -> np.ndarray:
    """Rows whose target is missing: null, NaN or an empty / blank string."""
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_dictionary(t):
        column = column.cast(t.value_type)
        t = column.type
    empty = pc.is_null(column, nan_is_null=pa.types.is_floating(t))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        empty = pc.or_kleene(empty, pc.equal(pc.utf8_trim_whitespace(column), ""))
    return np.asarray(pc.fill_null(empty, True).to_numpy(zero_copy_only=False), dtype=bool)


def _labels(column: pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    y = column.take(pa.array(rows)).to_numpy(zero_copy_only=False)
    if y.dtype.kind == "f" and len(y) and np.all(y == np.round(y)) and column.null_count:
        y = y.astype(np.int64)  # an integer column with empty cells reads as floats
    if y.dtype.kind == "O":
        y = np.asarray([str(v).strip() for v in y], dtype=object)
    return y


def _check_classes(y: np.ndarray, target: str, where: str, allow_many: bool) -> np.ndarray:
    classes = np.unique(y)
    if len(classes) < 2:
        raise InputError(f"{where}: target column {target!r} holds a single class "
                         f"({classes[0]!r}); a classifier needs at least two")
    if y.dtype.kind == "f" and len(classes) > MANY_CLASSES and not allow_many:
        raise InputError(
            f"{where}: target column {target!r} holds {len(classes)} distinct float values; "
            "it looks like regression, and pseudolabel trains classifiers. Pass "
            "--allow-many-classes (allow_many_classes=True) if each value is a class"
        )
    return classes


def _make_backend(backend: str, params: Mapping[str, Any], estimator: str | None,
                  schema: FeatureSchema, missing: bool = False) -> Any:
    from pseudolabel.features.preprocessing import with_preprocessing
    from pseudolabel.plugins import make_backend

    if backend == "sklearn":
        if "estimator" in params:  # the Python API: an estimator instance, as make_backend
            given = params["estimator"]
            if isinstance(given, str) or estimator is not None or len(params) > 1:
                raise ParameterError(
                    "pass the sklearn backend's estimator either as estimator= (a name or "
                    "module:Class, with its parameters in params) or as params={'estimator': "
                    "an instance} alone")
            model = given
        else:
            model = make_estimator(estimator, params)
        if not schema.is_numeric or missing:  # categories or missing values: imputation
            model = with_preprocessing(model, schema)
        elif "estimator" not in params and estimator in (None, "logistic_regression"):
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            model = make_pipeline(StandardScaler(), model)
        return make_backend("sklearn", estimator=model)
    if estimator is not None:
        raise ParameterError(f"--estimator applies to --backend sklearn, not {backend!r}")
    cls = backend_estimator_class(backend)
    if cls is not None:
        check_param_names(cls, params, strict=False, what=f"backend {backend!r}")
    made = make_backend(backend, **params)
    if not schema.is_numeric and not made.capabilities.categorical:
        names = ", ".join(repr(c.name) for c in schema.categorical[:5])
        raise InputError(
            f"backend {backend!r} takes no categorical features, and {names} are "
            "categorical; use --backend sklearn (default preprocessing), lightgbm or "
            "xgboost, or leave them out with --exclude"
        )
    return made


def train_bundle(input: str | os.PathLike | Sequence[str | os.PathLike], *, backend: str,
                 target: str, output: str | os.PathLike, id_column: str | None = None,
                 params: Mapping[str, Any] | None = None, overwrite: bool = False,
                 trust_pickle: bool = False, features: Sequence[str] | None = None,
                 exclude: Sequence[str] | None = None,
                 unlabeled: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
                 estimator: str | None = None, allow_many_classes: bool = False,
                 self_training: SelfTraining | None = None) -> ModelBundle:
    """Fit a registered backend on labeled Parquet/CSV data and write a bundle.

    Parameters
    ----------
    input : path-like or sequence
        Training data (Parquet or CSV; a glob or directory of several files is
        concatenated). Rows with an empty target (null, NaN, blank) are unlabeled.
    backend : str
        Registered backend name (``pseudolabel.plugins.make_backend``).
    target : str
        Column holding the labels.
    output : path-like
        Bundle directory to write.
    id_column : str, optional
        Column excluded from the features and recorded as the default id column.
    params : mapping, optional
        Backend parameters (for ``"sklearn"``: the estimator's), names checked.
    features, exclude : sequence of str, optional
        Feature columns to use (default: every column but the target and id) / to leave out.
    unlabeled : path-like or sequence, optional
        Files of unlabeled rows (the feature columns; a target column is ignored).
    estimator : str, optional
        For ``backend="sklearn"``: ``logistic_regression`` (default), ``random_forest``,
        ``hist_gradient_boosting`` or ``module:Class``.
    allow_many_classes : bool, default False
        Accept a float target with more than :data:`MANY_CLASSES` distinct values.
    self_training : SelfTraining, optional
        ``PseudoLabeler`` settings used when there are unlabeled rows.
    overwrite, trust_pickle : bool
        See :func:`~pseudolabel.batch.bundle.save_bundle`.

    Returns
    -------
    ModelBundle
        The bundle as written, loaded back and verified.
    """
    from pseudolabel.io.tables import expand_inputs

    output = Path(output)
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} already exists; pass overwrite=True "
        "(--overwrite on the command line) to replace it")
    params = dict(params or {})
    paths = expand_inputs(input)
    table, where = _read(paths, "training")
    names = table.column_names
    for col, what in ((target, "target"), (id_column, "id")):
        if col is not None and col not in names:
            raise InputError(f"{where}: {what} column {col!r} not found; columns: {names}")
    if table.num_rows == 0:
        raise InputError(f"{where}: no rows to train on")
    chosen = choose_features(names, where=where, target=target, id_column=id_column,
                             features=features, exclude=exclude)
    pool_table, pool_where, pool_paths = None, None, []
    if unlabeled is not None:
        pool_paths = expand_inputs(unlabeled)
        pool_table, pool_where = _read(pool_paths, "unlabeled")
        lacking = [c for c in chosen if c not in pool_table.column_names]
        if lacking:
            raise InputError(f"{pool_where}: missing feature column(s) "
                             f"{', '.join(map(repr, lacking))}")
    features_table = table.select(chosen)
    if pool_table is not None:
        try:
            features_table = pa.concat_tables([features_table, pool_table.select(chosen)],
                                              promote_options="permissive")
        except pa.ArrowInvalid as exc:
            raise InputError(f"{pool_where}: feature columns do not match {where} ({exc})"
                             ) from exc
    schema = infer_schema(features_table, chosen, where=where)
    empty = _empty_target(table.column(target))
    labeled_rows = np.flatnonzero(~empty)
    if labeled_rows.size == 0:
        raise InputError(f"{where}: target column {target!r} is empty in every row")
    y = _labels(table.column(target), labeled_rows)
    classes = _check_classes(y, target, where, allow_many_classes)
    X_all = encode_table(schema, features_table, path=where).X
    n_pool = int(empty.sum()) + (0 if pool_table is None else pool_table.num_rows)
    missing = bool(np.isnan(X_all).any()) if isinstance(X_all, np.ndarray) else True
    model = _make_backend(backend, params, estimator, schema, missing)
    training: dict[str, Any] = {"n_rows": int(labeled_rows.size),
                                "files": [os.path.basename(p) for p in paths]}
    extra_files: dict[str, bytes] = {}
    if n_pool == 0:
        model.fit(X_all, y)
    else:
        pseudo = _self_train(model, X_all, y, labeled_rows, table.num_rows, classes,
                             self_training or SelfTraining())
        model = pseudo.backend_
        history = {"n_labeled": int(labeled_rows.size), "n_unlabeled": n_pool,
                   "n_iter": int(pseudo.n_iter_),
                   "termination_condition": pseudo.termination_condition_,
                   "guardrail": pseudo.guardrail_, "rounds": pseudo.history_}
        extra_files[HISTORY_NAME] = (json.dumps(history, indent=2, default=_plain) + "\n"
                                     ).encode()
        n_pseudo = int(np.sum(pseudo.labeled_iter_ > 0))
        training["self_training"] = {
            "n_unlabeled": n_pool, "n_pseudo_labeled": n_pseudo, "n_iter": int(pseudo.n_iter_),
            "termination_condition": pseudo.termination_condition_,
            "unlabeled_files": [os.path.basename(p) for p in pool_paths],
            "history": HISTORY_NAME,
        }
    counts = [int((y == c).sum()) for c in classes]
    if len(classes) == len(model.classes_) and np.array_equal(classes, model.classes_):
        training["class_counts"] = counts
    save_bundle(model, output, feature_columns=chosen, id_column=id_column, target=target,
                training=training, params=params, overwrite=overwrite,
                trust_pickle=trust_pickle, schema=schema, extra_files=extra_files)
    return load_bundle(output, trust_pickle=trust_pickle)


def _self_train(backend: Any, X_all: Any, y: np.ndarray, labeled_rows: np.ndarray,
                n_table: int, classes: np.ndarray, settings: SelfTraining) -> Any:
    """``PseudoLabeler`` fitted on every row, the labels as class indices, the pool as -1.

    Class indices follow the sorted ``classes``, as ``PseudoLabeler`` orders string or number
    labels itself, so the model is the one ``fit(X, labels)`` gives; indices spare the
    label-type checks a float or mixed label column would trip.
    """
    y_all = np.full(X_all.shape[0], -1, dtype=np.int64)
    y_all[labeled_rows] = np.searchsorted(classes, y)
    model = settings.make(backend).fit(X_all, y_all)
    # PseudoLabeler's backend learned class indices 0..k-1 (the columns of classes_, in
    # order); the bundle records the labels themselves for those columns
    model.backend_.classes_ = np.asarray(classes)
    return model


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

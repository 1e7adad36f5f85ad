"""``pseudolabel query``, ``teach`` and ``status``: the commands that put humans in the loop.

``query`` fits a model on a label store's labels (or takes a model bundle), ranks the pool and
writes the rows to label next, recording the batch in the store; ``teach`` imports labeled
files into the store; ``status`` counts labels by class and source and, given the pool, reports
the stopping signal (stabilizing predictions: the agreement of the models of the last rounds,
each refit from the store's labels of its round, on a fixed stop set of pool rows). Errors and exit codes are
the ones every subcommand shares (see :mod:`pseudolabel.cli`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pseudolabel.io.atomic import remove_path, replace_path
from pseudolabel.cli.errors import EXIT_CODES_HELP, EXIT_OK
from pseudolabel.cli.annotators import add_status_options, print_annotators
from pseudolabel.cli.options import column_list, non_negative_int, positive_int
from pseudolabel.cli.pool_features import pool_input, query_backend
from pseudolabel.features.schema import choose_features
from pseudolabel.exceptions import InputError, OutputExistsError, ParameterError
from pseudolabel.io_pool import PoolFile, read_frame
from pseudolabel.store import SOURCES, open_store
from pseudolabel.store.base import as_text_ids

__all__ = ["register_commands"]


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pseudolabel query``, ``teach`` and ``status``."""
    q = subparsers.add_parser(
        "query",
        help="write the pool rows a human should label next (with scores and the model's guess)",
        description=(
            "Fit a model on the store's labels (seed + human), score the unlabeled rows of the "
            "pool and write the N most useful ones to label, with their scores and the model's "
            "guess, plus an empty 'label' column for annotators. Rows already labeled, and rows "
            "sent out in earlier batches and not answered yet, are skipped. The batch is "
            "recorded in the store (a new round)."
        ),
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--store", required=True, help="label store (SQLite file)")
    q.add_argument("--input", required=True, help="the pool: a Parquet or CSV file")
    q.add_argument("--id-column", default="id", help="id column of the pool (default: id)")
    q.add_argument("--n", type=positive_int, required=True, help="rows to write")
    q.add_argument("--output", required=True, help="CSV (or .parquet) file to write")
    q.add_argument("--strategy", default="margin", help="query strategy (default: margin)")
    q.add_argument("--backend", default="sklearn", help="model backend (default: sklearn = "
                   "logistic regression)")
    q.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="backend parameter (JSON values; repeatable)")
    q.add_argument("--model", default=None, metavar="BUNDLE",
                   help="score with a model bundle from `pseudolabel train` instead of fitting "
                        "one on the store's labels (--backend/--param are then ignored)")
    q.add_argument("--features", default=None,
                   help="comma-separated feature columns (default: every column but the id "
                        "and label columns); strings and categories are categorical")
    q.add_argument("--exclude", type=column_list, default=None, metavar="COL,...",
                   help="comma-separated columns to leave out of the features (default: none)")
    q.add_argument("--use-pseudo", action="store_true",
                   help="also train on the store's pseudo-labels")
    q.add_argument("--requery-pending", action="store_true",
                   help="allow rows of earlier, unanswered batches")
    q.add_argument("--seed", type=non_negative_int, default=0, help="random seed")
    q.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    q.set_defaults(func=_cmd_query)

    t = subparsers.add_parser(
        "teach",
        help="import labeled rows (annotators' batches, seed labels) into the label store",
        description=(
            "Import labels from CSV/Parquet files with an id column and a label column. Rows "
            "with an empty label are skipped (and counted). Each file is one transaction: an "
            "unknown id or class rejects the whole file. Importing a file twice adds nothing. "
            "--source seed creates the store if needed and registers new ids and classes. "
            "A *.json file is Label Studio's JSON export: each task's latest non-cancelled "
            "annotation (by updated_at) is its label, its id is data[--id-column]."
        ),
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--store", required=True, help="label store (SQLite file)")
    t.add_argument("files", nargs="+", help="CSV or Parquet files, or Label Studio JSON exports")
    t.add_argument("--source", choices=SOURCES, default="human",
                   help="where the labels come from (default: human)")
    t.add_argument("--annotator", default=None,
                   help="who labeled (default: the file's 'annotator' column, else none)")
    t.add_argument("--id-column", default="id",
                   help="column holding the row ids (in a Label Studio export: the task data "
                        "field; default: id)")
    t.add_argument("--format", choices=("table", "label-studio"), default=None,
                   help="table (CSV/Parquet) or label-studio (its JSON export: the latest "
                        "non-cancelled annotation of each task, annotator from completed_by); "
                        "default: label-studio for *.json, else table")
    t.add_argument("--label-config", default=None, metavar="XML",
                   help="a Label Studio export's labeling config file: read only its "
                        "<Choices> tag and check the choices against it")
    t.add_argument("--label-column", default="label", help="column holding the labels")
    t.add_argument("--allow-new-classes", action="store_true",
                   help="declare unknown classes instead of rejecting the file")
    t.add_argument("--allow-new-ids", action="store_true",
                   help="register unknown ids instead of rejecting the file")
    t.set_defaults(func=_cmd_teach)

    s = subparsers.add_parser(
        "status", help="label counts by source and class (and, with --input, whether the "
                       "model has stopped changing)",
        description=(
            "Count the store's labels by class and source. With --input POOL, also report the "
            "stopping signal (stabilizing predictions, Bloodgood & Vijay-Shanker 2009): the "
            "model after each of the last rounds is refit from the store's seed and human "
            "labels up to that round, and Cohen's kappa of successive models' predictions on "
            "a fixed stop set (up to 2000 evenly spaced pool rows) is compared with "
            "--stop-threshold over --stop-window rounds."
        ),
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--store", required=True, help="label store (SQLite file)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--input", default=None, help="the pool (Parquet or CSV): report the "
                   "stopping signal")
    s.add_argument("--id-column", default="id", help="id column of the pool (default: id)")
    s.add_argument("--features", default=None, help="comma-separated feature columns")
    s.add_argument("--backend", default="sklearn", help="model backend, as for query")
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="backend parameter (JSON values; repeatable)")
    s.add_argument("--stop-threshold", type=float, default=0.99,
                   help="kappa of successive models that counts as stable (default: 0.99)")
    s.add_argument("--stop-window", type=positive_int, default=3,
                   help="rounds the kappa must stay above the threshold (default: 3)")
    add_status_options(s)
    s.set_defaults(func=_cmd_status)


def _cmd_teach(args: argparse.Namespace) -> int:
    seeding = args.source == "seed"
    store = open_store(args.store, create=seeding)
    try:
        for path in args.files:
            if (args.format or ("label-studio" if path.lower().endswith(".json")
                                else "table")) == "label-studio":
                _teach_label_studio(store, path, args)
                continue
            if args.label_config is not None:
                raise InputError("--label-config is for Label Studio exports (*.json)")
            table = read_frame(path, text_columns=(args.id_column, args.label_column))
            for col in (args.id_column, args.label_column):
                if col not in table.columns:
                    raise InputError(
                        f"{path} has no {col!r} column (columns: {list(table.columns)})"
                    )
            has_label = table[args.label_column].notna() & (
                table[args.label_column].astype(str).str.strip() != ""
            )
            rows = table[has_label]
            n_skipped = int((~has_label).sum())
            annotator = args.annotator
            if annotator is None and "annotator" in rows.columns:
                names = rows["annotator"].dropna().astype(str).unique()
                if len(names) > 1:
                    raise InputError(
                        f"{path} has several annotators ({', '.join(names[:5])}); import one "
                        "annotator's rows per file or pass --annotator"
                    )
                annotator = names[0] if len(names) else None
            round_ = rows["round"].to_numpy() if "round" in rows.columns else None
            version = rows["model_version"].to_numpy() if "model_version" in rows.columns else None
            conf = rows["confidence"].to_numpy() if "confidence" in rows.columns else None
            result = store.add_labels(
                rows[args.id_column].to_numpy(),
                rows[args.label_column].to_numpy(),
                source=args.source,
                annotator=annotator,
                round=round_,
                confidence=conf,
                model_version=version,
                allow_new_ids=seeding or args.allow_new_ids,
                allow_new_classes=seeding or args.allow_new_classes,
                origin=os.path.basename(path),
            )
            extra = f", {n_skipped} rows without a label skipped" if n_skipped else ""
            print(
                f"{path}: {result.n_new} new {args.source} labels, {result.n_duplicate} already "
                f"in the store{extra}"
                + (f", {result.n_new_items} new ids" if result.n_new_items else "")
                + (f", {result.n_new_classes} new classes" if result.n_new_classes else "")
            )
    finally:
        store.close()
    return EXIT_OK


def _teach_label_studio(store: Any, path: str, args: argparse.Namespace) -> None:
    """Import one Label Studio JSON export (see :mod:`pseudolabel.serve.label_studio_files`)."""
    from pseudolabel.serve.label_studio_files import read_export
    from pseudolabel.serve.protocol import parse_label_config

    tag = None
    if args.label_config is not None:
        tag = parse_label_config(Path(args.label_config).read_text(encoding="utf-8"))
    found = read_export(path, args.id_column, tag)
    seeding = args.source == "seed"
    annotators = found.annotators
    if args.annotator is not None:
        annotators = [args.annotator] * len(found.ids)
    result = store.add_labels(
        found.ids, found.labels, source=args.source, annotator=annotators,
        allow_new_ids=seeding or args.allow_new_ids,
        allow_new_classes=seeding or args.allow_new_classes,
        origin=os.path.basename(path), row_origins=found.origins, reassert=True)
    skipped = (f", {found.n_unannotated} tasks without a (non-cancelled) annotation skipped"
               if found.n_unannotated else "")
    print(f"{path}: {result.n_new} new {args.source} labels from {found.n_tasks} Label Studio "
          f"tasks, {result.n_duplicate} already in the store{skipped}"
          + (f", {result.n_new_items} new ids" if result.n_new_items else "")
          + (f", {result.n_new_classes} new classes" if result.n_new_classes else ""))


def _cmd_status(args: argparse.Namespace) -> int:
    if args.by == "annotator" or args.conflicts:
        with open_store(args.store) as store:
            print_annotators(store, args)
        return EXIT_OK
    with open_store(args.store) as store:
        st = store.status()
        signal = None if args.input is None else _stopping_signal(store, args)
    if args.json:
        out = st.as_dict()
        if signal is not None:
            out["stopping"] = signal.as_dict()
        print(json.dumps(out, indent=2, sort_keys=True))
        return EXIT_OK
    print(f"label store {args.store}")
    print(f"  items {st.n_items}, labeled {st.n_labeled}, round {st.round}, "
          f"batches {st.n_batches}, sent out and not answered {st.n_pending}")
    width = max([5] + [len(c) for c in st.counts])
    print(f"  {'class':<{width}}  " + "  ".join(f"{s:>7}" for s in (*SOURCES, "total")))
    totals = dict.fromkeys(SOURCES, 0)
    for cls, by_source in st.counts.items():
        vals = [by_source.get(s, 0) for s in SOURCES]
        for s, v in zip(SOURCES, vals):
            totals[s] += v
        print(f"  {cls:<{width}}  " + "  ".join(f"{v:>7}" for v in (*vals, sum(vals))))
    vals = [totals[s] for s in SOURCES]
    print(f"  {'total':<{width}}  " + "  ".join(f"{v:>7}" for v in (*vals, sum(vals))))
    print("  label records by source: "
          + ", ".join(f"{s} {st.n_records.get(s, 0)}" for s in SOURCES))
    if st.n_retracted:
        print(f"  {st.n_retracted} retracted label records (not counted above)")
    if st.n_conflicts:
        print(f"  {st.n_conflicts} items have conflicting human labels (the latest wins; "
              "--conflicts lists them)")
    if signal is not None:
        print(f"  {signal.message()}")
    return EXIT_OK


def _stopping_signal(store: Any, args: argparse.Namespace) -> Any:
    """The stabilizing-predictions signal of the store's last rounds over the pool ``--input``.

    The model after round ``r`` is refit from the seed and human labels recorded up to round
    ``r`` (the latest label of an item wins), as ``query`` would have fitted it; the stop set
    is up to 2000 evenly spaced pool rows. Only the last ``--stop-window`` + 1 rounds are
    refit.
    """
    import pandas as pd

    from pseudolabel.active import ActiveLearner
    from pseudolabel.active.stopping import StabilizingPredictions
    from pseudolabel.batch.bundle import parse_params
    from pseudolabel.strategies.query import take_rows

    tracker = StabilizingPredictions(args.stop_threshold, args.stop_window)
    params = parse_params(args.param)
    pool = PoolFile(args.input, args.id_column)
    if args.id_column not in pool.columns:
        raise InputError(
            f"{args.input} has no {args.id_column!r} column (columns: {list(pool.columns)})"
        )
    ids = np.asarray(as_text_ids(pool.ids()), dtype=object)
    pool_in = pool_input(pool, _feature_columns(pool, args), where=args.input,
                         backend=args.backend)
    X = pool_in.X
    history = store.history()
    gold = history[history["source"].isin(("seed", "human"))]
    gold = gold[gold["id"].isin(pd.Index(ids))]
    rounds = sorted(set(gold["round"].astype(int).tolist()))[-(args.stop_window + 1):]
    size = min(len(ids), 2000)
    stop_rows = np.unique(np.linspace(0, len(ids) - 1, size).round().astype(np.int64))
    X_stop = take_rows(X, stop_rows)
    pos = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
    for r in rounds:
        labels = gold[gold["round"] <= r].drop_duplicates("id", keep="last")
        if labels["label"].nunique() < 2:
            continue  # no classifier before two classes are labeled
        model = query_backend(args.backend, params, pool_in.schema) if (
            pool_in.encoded and args.backend == "sklearn" and "estimator" not in params
        ) else _cli_backend(args.backend, params)
        learner = ActiveLearner(model, classes=store.classes())
        learner.fit(take_rows(X, pos[labels["id"]].to_numpy()),
                    labels["label"].to_numpy().astype(str))
        tracker.observe(learner.predict(X_stop))
    return tracker.signal


def _feature_columns(pool: Any, args: argparse.Namespace) -> list[str]:
    """The pool's feature columns: ``--features``, else every column but the id and label."""
    if args.features:
        features = [c.strip() for c in args.features.split(",") if c.strip()]
    else:
        features = [c for c in pool.columns if c not in (args.id_column, "label")]
    missing = [c for c in features if c not in pool.columns]
    if missing:
        raise InputError(f"{args.input} has no feature column(s) {missing}")
    if not features:
        raise InputError(f"{args.input} has no feature columns besides {args.id_column!r}")
    return features


def _model_version(backend: str, params: dict[str, Any], labels: Any, strategy: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"backend": backend, "params": params, "strategy": strategy},
                        sort_keys=True, default=str).encode())
    if len(labels):  # the same bytes as one "id\x1flabel\x1e" update per row, in one go
        pairs = labels["id"].astype(str) + "\x1f" + labels["label"].astype(str) + "\x1e"
        h.update(pairs.str.cat().encode())
    return f"{backend}-{h.hexdigest()[:12]}"


@dataclass
class PoolModel:
    """A model for a pool: fitted on the store's labels (or a bundle), and what it saw."""

    pool: Any
    ids: np.ndarray  # the pool's ids, as text
    X: Any  # the pool's model input
    labels: Any  # the store's labels of pool rows used for fitting
    exclude: np.ndarray  # bool per pool row: labeled (or pending, unless requeried)
    learner: Any  # ActiveLearner or FrozenLearner
    version: str
    bundle: Any
    features: list[str]  # the pool's columns the model reads


@contextlib.contextmanager
def _printed_warnings() -> Iterator[None]:
    """Print the warnings raised inside as ``warning: ...`` lines on stderr."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)


def fit_pool_model(store: Any, args: argparse.Namespace, params: dict[str, Any]) -> PoolModel:
    """``query``'s model: ``args.model``'s bundle, or ``args.backend`` fitted on the store's
    labels of the pool ``args.input`` (also used by ``export --format label-studio``)."""
    import pandas as pd

    from pseudolabel.active import ActiveLearner
    from pseudolabel.frozen_learner import FrozenLearner
    from pseudolabel.strategies.query import take_rows

    pool = PoolFile(args.input, args.id_column)
    if args.id_column not in pool.columns:
        raise InputError(
            f"{args.input} has no {args.id_column!r} column (columns: {list(pool.columns)})"
        )
    ids = np.asarray(as_text_ids(pool.ids()), dtype=object)
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise InputError(f"{args.input}: id {ids[np.flatnonzero(dup)[0]]!r} appears twice")
    bundle = None
    if args.model:
        from pseudolabel.batch.bundle import load_bundle

        if args.features:
            raise ParameterError("--features cannot be combined with --model (the bundle "
                                 "fixes its feature columns)")
        bundle = load_bundle(args.model)
        missing = [c for c in bundle.feature_columns if c not in pool.columns]
        if missing:
            raise InputError(f"{args.input} has no feature column(s) {missing}")
        features = list(bundle.feature_columns)
    else:
        features = _feature_columns(pool, args)
    if args.exclude:
        features = choose_features(pool.columns, where=args.input, features=features,
                                   exclude=args.exclude, warn_ids=False)
    pool_in = pool_input(pool, features, where=args.input, bundle=bundle,
                         backend=args.backend)
    X = pool_in.X
    for name, k in sorted(pool_in.unseen.items()):
        print(f"note: column {name!r}: {k} cell(s) with a category not seen in training "
              "(encoded as missing)", file=sys.stderr)
    labels = store.current_labels(include_pseudo=args.use_pseudo)
    if labels.empty and bundle is None:
        raise InputError(
            f"the label store {args.store} has no labels yet; seed it first: "
            f"pseudolabel teach --store {args.store} --source seed seed.csv"
        )
    pos = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
    in_pool = labels["id"].isin(pos.index)
    n_outside = int((~in_pool).sum())
    if n_outside and n_outside == len(labels) and bundle is None:
        raise InputError(
            f"none of the store's {len(labels)} labeled ids is in {args.input} (column "
            f"{args.id_column!r}); is it the right pool?"
        )
    if n_outside:
        print(f"note: {n_outside} labeled ids are not in {args.input} and are not used",
              file=sys.stderr)
    labels = labels[in_pool]
    lab_rows = pos[labels["id"]].to_numpy()
    exclude = np.zeros(len(ids), dtype=bool)
    exclude[lab_rows] = True
    if not args.requery_pending:
        pending = pd.Index(store.pending_ids())
        exclude[pos[pending[pending.isin(pos.index)]].to_numpy()] = True
    learner: Any
    if bundle is None:
        model = query_backend(args.backend, params, pool_in.schema) if (
            pool_in.encoded and args.backend == "sklearn" and "estimator" not in params
        ) else _cli_backend(args.backend, params)
        learner = ActiveLearner(
            model, query_strategy=args.strategy,
            # the store's first batch is the learner's first (TypiClust); later ones are not
            cold_start="auto" if store.current_round() == 0 else None,
            classes=store.classes(), random_state=args.seed,
        )
        learner.fit(take_rows(X, lab_rows), labels["label"].to_numpy().astype(str))
        version = _model_version(args.backend, params, labels, args.strategy)
    else:
        learner = FrozenLearner(
            bundle, query_strategy=args.strategy, random_state=args.seed,
            X_labeled=take_rows(X, lab_rows) if lab_rows.shape[0] else None,
        )
        version = f"bundle-{bundle.checksum[:12]}"
    return PoolModel(pool, ids, X, labels, exclude, learner, version, bundle, features)


def _cmd_query(args: argparse.Namespace) -> int:
    import pandas as pd

    from pseudolabel.strategies.query import take_rows

    if args.n < 1:
        raise ParameterError(f"--n must be a positive integer, got {args.n}")
    out = Path(args.output)
    if os.path.lexists(out) and not args.overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    _check_output_dir(out)
    from pseudolabel.batch.bundle import parse_params  # the same --param as `train`

    params = parse_params(args.param)
    store = open_store(args.store)
    try:
        with _printed_warnings():
            fitted = fit_pool_model(store, args, params)
            learner, X, ids, pool = fitted.learner, fitted.X, fitted.ids, fitted.pool
            labels, bundle, version = fitted.labels, fitted.bundle, fitted.version
            idx, scores = learner.query(X, args.n, exclude=fitted.exclude, return_scores=True)
        if idx.shape[0] == 0:
            raise InputError("no unlabeled rows left in the pool to query")
        P = np.asarray(learner.predict_proba(take_rows(X, idx)))
        guess = np.asarray(learner.classes_)[np.argmax(P, axis=1)]
        batch = pool.rows(idx)
        front = pd.DataFrame(
            {
                args.id_column: ids[idx],
                "label": "",
                "guess": guess,
                "guess_confidence": P.max(axis=1),
                "score": scores,
                "rank": np.arange(1, idx.shape[0] + 1),
            }
        )
        rest = batch.drop(columns=[args.id_column]).reset_index(drop=True)
        table = pd.concat([front, rest], axis=1)
        table.insert(6, "round", 0)
        table.insert(7, "batch", "")
        table.insert(8, "model_version", version)

        written: list[bool] = []

        def write_batch_file(info: Any) -> None:
            # inside the store's transaction: the file is in place before the batch is
            # committed, and a failure here records nothing
            table["round"] = info.round
            table["batch"] = info.batch_id
            _write_table(table, out, overwrite=args.overwrite)
            written.append(True)

        try:
            info = store.record_batch(ids[idx], scores=scores, guesses=guess,
                                      model_version=version, before_commit=write_batch_file)
        except BaseException:
            if written:  # the commit failed: no batch file without its record
                remove_path(out)
            raise
        print(f"wrote {idx.shape[0]} rows to {out} (batch {info.batch_id}, round {info.round}, "
              f"strategy {args.strategy}, model {version}"
              + (f", trained on {len(labels)} labels)" if bundle is None else ")"))
    finally:
        store.close()
    return EXIT_OK


def _cli_backend(name: str, params: dict[str, Any]) -> Any:
    """The model of ``pseudolabel query``: ``sklearn`` is a standardized logistic regression
    (``--param`` values go to ``LogisticRegression``); other backends get the params as is."""
    from pseudolabel.plugins import as_backend

    if name == "sklearn" and "estimator" not in params:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        params = {"max_iter": 1000, **params}
        try:
            model = LogisticRegression(**params)
        except TypeError as exc:
            raise ParameterError(f"invalid --param for LogisticRegression: {exc}") from exc
        return as_backend(make_pipeline(StandardScaler(), model))
    return as_backend(name, **params)


def _check_output_dir(out: Path) -> None:
    """Refuse an output whose directory is missing or is not a directory, naming both."""
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise InputError(f"cannot write {out}: the directory {parent} {what}")


def _write_table(table: Any, out: Path, *, overwrite: bool) -> None:
    """Write ``table`` as ``out`` (CSV, TSV or Parquet by suffix) atomically: a temporary
    sibling, then moved into place; an OS error names ``out``."""
    suffix = out.suffix.lower()
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if suffix in (".parquet", ".pq"):
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")
        if os.path.lexists(out) and not overwrite:
            raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
        replace_path(tmp, out)
    except OSError as exc:
        if isinstance(exc, OutputExistsError) or exc.errno is None:
            raise
        raise OSError(exc.errno, f"cannot write: {exc.strerror}", str(out)) from exc
    finally:
        remove_path(tmp)

"""``pseudolabel export`` and ``pseudolabel cancel``: the label store's labels out, a batch back.

``export`` writes the current label of every labeled item with its provenance (source,
annotator, round, model version, time, the file it came from, whether gold labels disagree)
as CSV or Parquet, or, with ``--format label-studio``, the pool's rows as Label Studio tasks
with the model's predictions (:mod:`pseudolabel.cli.export_tasks`); ``cancel`` returns the
unanswered rows of a batch to the pool. Errors and exit codes are the ones every subcommand
shares (see :mod:`pseudolabel.cli`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pseudolabel.cli.errors import EXIT_CODES_HELP, EXIT_OK
from pseudolabel.exceptions import InputError, OutputExistsError, ParameterError

__all__ = ["register_commands", "EXPORT_FORMATS"]

#: output suffix -> format
EXPORT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "label-studio"}


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pseudolabel export`` and ``pseudolabel cancel``."""
    fmt = argparse.RawDescriptionHelpFormatter
    e = subparsers.add_parser(
        "export", help="write the store's current labels with their provenance (CSV/Parquet), "
                       "or the pool as Label Studio tasks with predictions",
        description="Write one row per labeled item: id, label, source (seed, human, pseudo), "
                    "annotator, round, confidence, model_version, created_at, origin (the "
                    "imported file), n_gold (seed/human records of the item) and conflict "
                    "(its gold labels disagree; the latest wins). Gold labels beat "
                    "pseudo-labels. Retracted labels (deleted annotations) are left out.\n\n"
                    "--format label-studio writes the unlabeled rows of --pool as a JSON list "
                    "of Label Studio tasks for bulk import: data = the id and feature columns, "
                    "one prediction = the model's guess (a choices result for the <Choices> "
                    "tag of --label-config) with score = the margin between the two most "
                    "probable classes (lowest = label first, as `serve` scores). The model is "
                    "--model BUNDLE, or --backend fitted on the store's labels (as `query`).",
        epilog=EXIT_CODES_HELP, formatter_class=fmt)
    e.add_argument("--store", required=True, help="label store (SQLite file; required)")
    e.add_argument("--output", required=True,
                   help="*.csv, *.parquet or (Label Studio tasks) *.json file to write "
                        "(required)")
    e.add_argument("--format", choices=sorted(set(EXPORT_FORMATS.values())), default=None,
                   help="csv, parquet or label-studio (default: by the --output suffix)")
    e.add_argument("--include-pseudo", action="store_true",
                   help="also export items that have only a pseudo-label (default: seed and "
                        "human labels only)")
    e.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file (default: refuse)")
    ls = e.add_argument_group("label-studio format")
    ls.add_argument("--pool", "--input", dest="input", default=None, metavar="FILE",
                    help="CSV/Parquet pool whose rows become tasks (required)")
    ls.add_argument("--label-config", default=None, metavar="XML",
                    help="the project's labeling config file (its <Choices> tag; required)")
    ls.add_argument("--id-column", default="id", help="id column of the pool (default: id)")
    ls.add_argument("--model", default=None, metavar="BUNDLE",
                    help="predict with a bundle from `pseudolabel train` (default: fit "
                         "--backend on the store's labels)")
    ls.add_argument("--backend", default="sklearn", help="model fitted on the store's seed "
                    "and human labels (default: sklearn = logistic regression)")
    ls.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="backend parameter (JSON values; repeatable)")
    ls.add_argument("--features", default=None,
                    help="comma-separated feature columns (default: the bundle's, or every "
                         "pool column but the id and label)")
    ls.add_argument("--include-labeled", action="store_true",
                    help="also write the rows that have a label (default: unlabeled rows)")
    e.set_defaults(func=_cmd_export, exclude=None, use_pseudo=False, requery_pending=True,
                   strategy="margin", seed=0)

    c = subparsers.add_parser(
        "cancel", help="return the unanswered rows of a query batch to the pool",
        description="Forget that the unanswered rows of batch BATCH were sent out, so that "
                    "`pseudolabel query` may choose them again. Rows already labeled, and "
                    "every label, stay. The batch id is printed by `query` and is the "
                    "file's 'batch' column.",
        epilog=EXIT_CODES_HELP, formatter_class=fmt)
    c.add_argument("batch", metavar="BATCH", help="batch id, e.g. r3-1a2b3c4d (required)")
    c.add_argument("--store", required=True, help="label store (SQLite file; required)")
    c.set_defaults(func=_cmd_cancel)


def _cmd_export(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from pseudolabel.io.atomic import atomic_write
    from pseudolabel.store import open_store

    out = Path(args.output)
    kind = args.format or EXPORT_FORMATS.get(out.suffix.lower())
    if kind is None:
        raise InputError(f"{out}: unsupported output type {out.suffix or '(no suffix)'!r}; "
                         f"use {', '.join(EXPORT_FORMATS)} or pass --format")
    if os.path.lexists(out) and not args.overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {out}: the directory {parent} does not exist")
    if kind == "label-studio":
        from pseudolabel.cli.export_tasks import export_tasks

        with open_store(args.store) as store:
            n, version = export_tasks(store, args, out)
        print(f"pseudolabel export: wrote {n} Label Studio tasks to {out} (predictions of "
              f"model {version}; import them in Label Studio, sort by prediction score)")
        return EXIT_OK
    if args.input is not None or args.label_config is not None:
        raise ParameterError("--pool and --label-config are for --format label-studio")
    with open_store(args.store) as store:
        labels = store.export_labels(include_pseudo=args.include_pseudo)
    table = pa.Table.from_pandas(labels, preserve_index=False)

    def write(tmp: Path) -> None:
        if kind == "csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, tmp)
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)

    atomic_write(out, write)
    by_source = labels["source"].value_counts().to_dict() if len(labels) else {}
    shown = ", ".join(f"{s} {n}" for s, n in sorted(by_source.items())) or "none"
    n_conflicts = int(labels["conflict"].sum()) if len(labels) else 0
    print(f"pseudolabel export: wrote {len(labels)} labels to {out} ({shown}"
          + (f"; {n_conflicts} items with conflicting labels" if n_conflicts else "") + ")")
    return EXIT_OK


def _cmd_cancel(args: argparse.Namespace) -> int:
    from pseudolabel.store import open_store

    with open_store(args.store) as store:
        result = store.cancel_batch(args.batch)
    kept = f"; {result.n_answered} already labeled rows kept" if result.n_answered else ""
    print(f"pseudolabel cancel: batch {result.batch_id}: {result.n_returned} rows returned "
          f"to the pool{kept}")
    return EXIT_OK

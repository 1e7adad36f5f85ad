"""``pseudolabel train`` and ``pseudolabel label``: the batch-labeling commands.

Their errors and exit codes are the ones every subcommand shares (see :mod:`pseudolabel.cli`).
"""

from __future__ import annotations

import argparse
import sys
import warnings

from pseudolabel.cli.errors import EXIT_CODES_HELP, EXIT_OK
from pseudolabel.cli.options import (
    ENGINES,
    column_list,
    finite_float,
    non_negative_int,
    positive_int,
)
from pseudolabel.exceptions import PseudolabelWarning

#: mirrors pseudolabel.batch.train.MANY_CLASSES (not imported: --help stays light)
MANY_CLASSES = 20


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    t = subparsers.add_parser(
        "train", help="fit a backend on labeled data (self-training on a pool) and write a "
                      "model bundle",
        description="Fit a registered backend on a labeled Parquet/CSV file and write a model "
                    "bundle: the backend's own safe format plus a checked JSON manifest with "
                    "the feature schema. Every column except the target and the id column is "
                    "a feature (or those of --features, minus --exclude); string and "
                    "category columns are categorical (LightGBM/XGBoost natively, the sklearn "
                    "backend through a default one-hot/ordinal preprocessing), missing values "
                    "are allowed. Rows with an empty target, and the rows of --unlabeled, "
                    "are a pool: the model is then self-trained with PseudoLabeler and the "
                    "per-round history is written into the bundle (history.json).",
        epilog=EXIT_CODES_HELP, formatter_class=fmt)
    t.add_argument("--backend", required=True,
                   help="registered backend name: lightgbm, xgboost, sklearn or a plugin's "
                        "(required)")
    t.add_argument("--input", required=True, nargs="+",
                   help="labeled Parquet/CSV file(s), glob(s) or directory (required)")
    t.add_argument("--target", required=True,
                   help="column holding the labels; empty cells are unlabeled (required)")
    t.add_argument("--id-column", help="column to leave out of the features (the row id; "
                                       "default: none)")
    t.add_argument("--features", type=column_list, metavar="COL,...",
                   help="comma-separated feature columns (default: every column but the "
                        "target and id)")
    t.add_argument("--exclude", type=column_list, metavar="COL,...",
                   help="comma-separated columns to leave out of the features (default: none)")
    t.add_argument("--unlabeled", nargs="+", metavar="POOL",
                   help="Parquet/CSV file(s) of unlabeled rows to self-train on (default: "
                        "none; rows with an empty target are unlabeled too)")
    t.add_argument("--estimator", metavar="NAME",
                   help="with --backend sklearn: logistic_regression (default), random_forest, "
                        "hist_gradient_boosting, or module:Class of any classifier with "
                        "predict_proba")
    t.add_argument("--param", action="append", metavar="KEY=VALUE", default=[],
                   help="backend (for sklearn: estimator) parameter, JSON value or string; "
                        "names are checked; repeatable (default: none)")
    t.add_argument("--allow-many-classes", action="store_true",
                   help=f"accept a float target with more than {MANY_CLASSES} distinct values "
                        "(default: refused as looking like regression)")
    t.add_argument("--strategy", metavar="NAME",
                   help="self-training selection strategy (default: PseudoLabeler's, "
                        "class_balanced)")
    t.add_argument("--strategy-param", action="append", metavar="KEY=VALUE", default=[],
                   help="self-training strategy parameter; repeatable (default: none)")
    t.add_argument("--max-iter", type=positive_int, default=10, metavar="N",
                   help="self-training rounds at most (default: 10)")
    t.add_argument("--guardrail", choices=["auto", "cv", "holdout", "none"], default="auto",
                   help="how a self-training round is judged (default: auto)")
    t.add_argument("--seed", type=non_negative_int, default=0,
                   help="random seed of self-training (default: 0)")
    t.add_argument("--output", required=True, help="model bundle directory to write (required)")
    t.add_argument("--overwrite", action="store_true",
                   help="replace an existing bundle (default: refuse)")
    t.add_argument("--trust-pickle", action="store_true",
                   help="allow a backend that saves pickle files (default: refuse)")
    t.set_defaults(func=run_train)

    p = subparsers.add_parser(
        "label", help="label Parquet/CSV/.npy files with a model bundle (streaming, resumable)",
        description="Stream rows through a model bundle in chunks and write id, label, "
                    "confidence, margin and selected as Parquet (a *.parquet file or a dataset "
                    "directory). Killed part-way, the same command with --resume finishes the "
                    "job with output identical to an uninterrupted run.",
        epilog=EXIT_CODES_HELP, formatter_class=fmt)
    p.add_argument("--model", required=True, help="model bundle directory")
    p.add_argument("--input", required=True, nargs="+",
                   help="Parquet/CSV/.npy file(s), glob(s) or directory")
    p.add_argument("--output", required=True,
                   help="output: *.parquet for one file, any other path for a dataset directory")
    p.add_argument("--id-column", help="input column copied as the row id (default: the "
                                       "bundle's id column if present, else global row numbers "
                                       "in a 'row' column)")
    p.add_argument("--features", type=column_list, metavar="COL,...",
                   help="comma-separated input columns to select; they must be the bundle's "
                        "features, or the error names the missing and extra ones (default: "
                        "no check; the bundle's features are read by name)")
    p.add_argument("--exclude", type=column_list, metavar="COL,...",
                   help="comma-separated input columns to ignore; every other column but the "
                        "id and the bundle's target must then be a feature of the bundle "
                        "(default: none)")
    d = p.add_mutually_exclusive_group(required=True)
    d.add_argument("--threshold", type=finite_float, metavar="T", help="select confidence > T")
    d.add_argument("--top-k", type=positive_int, metavar="K",
                   help="select the K most confident rows of the whole input")
    d.add_argument("--per-class-k", type=positive_int, metavar="K",
                   help="select the K most confident rows of each predicted class")
    d.add_argument("--strategy", metavar="NAME",
                   help="registered selection strategy, applied to each chunk on its own "
                        "(exact for row-wise rules such as 'threshold'; quota and adaptive "
                        "strategies decide per chunk: use --top-k/--per-class-k for global "
                        "quotas)")
    p.add_argument("--strategy-param", action="append", metavar="KEY=VALUE", default=[],
                   help="strategy parameter; repeatable")
    p.add_argument("--chunk-rows", type=positive_int, default=None, metavar="N",
                   help="rows scored at a time (default 100000); bounds memory")
    p.add_argument("--only-selected", action="store_true",
                   help="write the selected rows alone (default: every row, with a "
                        "'selected' column)")
    p.add_argument("--probabilities", action="store_true",
                   help="add one proba_<class> column per class")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the output / discard an interrupted run")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow a model bundle that contains pickle files")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--workers", type=positive_int, metavar="N",
                   help="run on a local Dask cluster of N worker processes")
    w.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster (tcp://host:port)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="what predicts: 'native' (the model library), 'compiled' (the model "
                        "compiled on this machine; exit 2 with the reason if it cannot be) or "
                        "'auto' (compiled when a compiler is installed, supports the model "
                        "and the compile pays: cached, or a large job; default)")
    p.add_argument("--compile-cache", metavar="DIR",
                   help="cache of compiled models (default $PSEUDOLABEL_CACHE_DIR, else "
                        "$XDG_CACHE_HOME/pseudolabel)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar or progress log lines")
    p.set_defaults(func=run_label)


def run_train(args: argparse.Namespace) -> int:
    from pseudolabel.batch.bundle import parse_params
    from pseudolabel.batch.train import SelfTraining, train_bundle

    settings = SelfTraining(strategy=args.strategy,
                            strategy_params=parse_params(args.strategy_param) or None,
                            max_iter=args.max_iter, guardrail=args.guardrail,
                            random_state=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PseudolabelWarning)
        bundle = train_bundle(
            args.input, backend=args.backend, target=args.target, output=args.output,
            id_column=args.id_column, params=parse_params(args.param),
            overwrite=args.overwrite, trust_pickle=args.trust_pickle, features=args.features,
            exclude=args.exclude, unlabeled=args.unlabeled, estimator=args.estimator,
            allow_many_classes=args.allow_many_classes, self_training=settings)
    report_warnings("train", caught)
    m = bundle.manifest
    training = m["training"]
    print(f"pseudolabel train: wrote {bundle.path} (backend {bundle.backend_name}, "
          f"{len(bundle.classes)} classes, {bundle.schema.describe()}, "
          f"{training.get('n_rows', '?')} labeled training rows)")
    selftrain = training.get("self_training")
    if selftrain:
        print(f"pseudolabel train: self-trained on {selftrain['n_unlabeled']} unlabeled rows: "
              f"{selftrain['n_pseudo_labeled']} pseudo-labeled in {selftrain['n_iter']} "
              f"round(s), stopped by {selftrain['termination_condition']}; history in "
              f"{bundle.path / selftrain['history']}")
    return EXIT_OK


def report_warnings(command: str, caught: list[warnings.WarningMessage]) -> None:
    """Print pseudolabel's warnings as ``pseudolabel COMMAND: warning: ...`` lines; others
    go on to the warnings machinery."""
    for w in caught:
        if issubclass(w.category, PseudolabelWarning):
            print(f"pseudolabel {command}: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def run_label(args: argparse.Namespace) -> int:
    from pseudolabel.batch.bundle import parse_params
    from pseudolabel.batch.label import DEFAULT_CHUNK_ROWS

    kwargs = dict(
        id_column=args.id_column, threshold=args.threshold, top_k=args.top_k,
        per_class_k=args.per_class_k, strategy=args.strategy,
        strategy_params=parse_params(args.strategy_param) or None,
        chunk_rows=DEFAULT_CHUNK_ROWS if args.chunk_rows is None else args.chunk_rows,
        probabilities=args.probabilities, only_selected=args.only_selected,
        resume=args.resume, overwrite=args.overwrite,
        trust_pickle=args.trust_pickle, progress=False if args.no_progress else None,
        engine=args.engine, compile_cache=args.compile_cache,
        features=args.features, exclude=args.exclude,
    )
    if args.workers is not None or args.scheduler is not None:
        from pseudolabel.dask import label as dask_label

        result = dask_label(args.model, args.input, args.output, workers=args.workers,
                            scheduler=args.scheduler, **kwargs)
    else:
        from pseudolabel.batch.label import label

        result = label(args.model, args.input, args.output, **kwargs)
    for line in result.summary_lines():
        print(f"pseudolabel label: {line}")
    return EXIT_OK

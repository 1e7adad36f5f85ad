"""``pseudolabel train`` and ``pseudolabel label``: the batch-labeling commands.

Their errors and exit codes are the ones every subcommand shares (see :mod:`pseudolabel.cli`).
"""

from __future__ import annotations

import argparse

from pseudolabel.cli.errors import EXIT_CODES_HELP, EXIT_OK
from pseudolabel.cli.options import ENGINES, finite_float, positive_int


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    t = subparsers.add_parser(
        "train", help="fit a backend on labeled data and write a model bundle",
        description="Fit a registered backend on a labeled Parquet/CSV file and write a model "
                    "bundle: the backend's own safe format plus a checked JSON manifest. Every "
                    "column except the target and the id column is a feature.",
        epilog=EXIT_CODES_HELP, formatter_class=fmt)
    t.add_argument("--backend", required=True, help="registered backend name (e.g. lightgbm)")
    t.add_argument("--input", required=True, help="labeled Parquet/CSV file, glob or directory")
    t.add_argument("--target", required=True, help="column holding the labels")
    t.add_argument("--id-column", help="column to leave out of the features (the row id)")
    t.add_argument("--param", action="append", metavar="KEY=VALUE", default=[],
                   help="backend parameter (JSON value or string); repeatable")
    t.add_argument("--output", required=True, help="model bundle directory to write")
    t.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    t.add_argument("--trust-pickle", action="store_true",
                   help="allow a backend that saves pickle files")
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
    from pseudolabel.batch.bundle import parse_params, train_bundle

    bundle = train_bundle(args.input, backend=args.backend, target=args.target,
                          output=args.output, id_column=args.id_column,
                          params=parse_params(args.param), overwrite=args.overwrite,
                          trust_pickle=args.trust_pickle)
    m = bundle.manifest
    print(f"pseudolabel train: wrote {bundle.path} (backend {bundle.backend_name}, "
          f"{len(bundle.classes)} classes, {len(bundle.feature_columns)} features, "
          f"{m['training'].get('n_rows', '?')} training rows)")
    return EXIT_OK



def run_label(args: argparse.Namespace) -> int:
    from pseudolabel.batch.bundle import parse_params
    from pseudolabel.batch.label import DEFAULT_CHUNK_ROWS

    kwargs = dict(
        id_column=args.id_column, threshold=args.threshold, top_k=args.top_k,
        per_class_k=args.per_class_k, strategy=args.strategy,
        strategy_params=parse_params(args.strategy_param) or None,
        chunk_rows=DEFAULT_CHUNK_ROWS if args.chunk_rows is None else args.chunk_rows,
        probabilities=args.probabilities, resume=args.resume, overwrite=args.overwrite,
        trust_pickle=args.trust_pickle, progress=False if args.no_progress else None,
        engine=args.engine, compile_cache=args.compile_cache,
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

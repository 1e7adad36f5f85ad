"""``pseudolabel serve``: run the Label Studio ML backend over a label store.

Label Studio (free edition) calls the backend for predictions and can sort its tasks by the
prediction score; this server scores by the model's margin, so the lowest scores are the tasks
a human should label first, and every annotation (a webhook event) goes into the store and
refits the model in the background. See :mod:`pseudolabel.serve`.
"""

from __future__ import annotations

import argparse

from pseudolabel.cli.errors import EXIT_CODES_HELP, EXIT_OK

__all__ = ["register_commands"]


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pseudolabel serve``."""
    s = subparsers.add_parser(
        "serve",
        help="serve a model to Label Studio as its ML backend (predictions, scores, learning)",
        description=(
            "Answer Label Studio's ML-backend protocol: GET /health, POST /setup, POST /predict "
            "(a guess and a score per task; lower score = less certain = label first) and POST "
            "/webhook (annotation events are written to the label store as human labels and the "
            "model is refit in the background). Tasks' data fields are the feature columns by "
            "name, or an id into --pool. Needs the optional extra: pip install "
            "'pseudolabel[serve]'."
        ),
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--store", required=True,
                   help="label store (SQLite file; created when missing)")
    s.add_argument("--backend", default="sklearn",
                   help="model refit on the store's labels (default: sklearn = standardized "
                        "logistic regression)")
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="backend parameter (JSON values; repeatable)")
    s.add_argument("--model", default=None, metavar="BUNDLE",
                   help="predict with a bundle from `pseudolabel train` and never refit "
                        "(default: none)")
    s.add_argument("--pool", default=None, metavar="FILE",
                   help="CSV/Parquet file whose rows the tasks' id field names (default: the "
                        "tasks' data holds the features)")
    s.add_argument("--id-column", default="id",
                   help="the tasks' data field (and --pool column) holding the item id "
                        "(default: id; without it a task is item ls-<task id>)")
    s.add_argument("--features", default=None,
                   help="comma-separated feature columns (default: the bundle's, or every "
                        "--pool column but the id and label)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                   "127.0.0.1)")
    s.add_argument("--port", type=int, default=9090,
                   help="port (default: 9090; 0 picks a free one, printed at start)")
    s.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from pseudolabel.batch.bundle import parse_params
    from pseudolabel.serve.app import run
    from pseudolabel.serve.service import LabelingService, ServeConfig

    features = tuple(c.strip() for c in (args.features or "").split(",") if c.strip())
    config = ServeConfig(
        store=args.store, backend=args.backend, params=parse_params(args.param),
        model=args.model, pool=args.pool, id_column=args.id_column, features=features,
    )
    run(LabelingService(config), args.host, args.port)
    return EXIT_OK

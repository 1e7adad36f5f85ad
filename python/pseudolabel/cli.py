"""The ``pseudolabel`` command line.

Subcommands live next to the code they drive: each module listed in ``COMMAND_MODULES``
defines ``register_commands(subparsers)``, which adds its parsers and sets ``func`` on each.
``func(args)`` returns the process exit code.

Exit codes shared by every subcommand:

====  =====================================================================
0     success
1     the job ran but failed (a backend error, a plugin error)
2     bad usage or bad input (unknown option, missing file, invalid data)
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pseudolabel import __version__
from pseudolabel.exceptions import PseudolabelError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Modules that contribute subcommands, in the order they appear in ``--help``.
COMMAND_MODULES: list[str] = [
    "pseudolabel.demo",
    "pseudolabel.plugins",
    "pseudolabel.batch.cli",
    "pseudolabel.store",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pseudolabel",
        description="Pseudo-labeling and active learning with a fast Rust selection core.",
    )
    parser.add_argument("--version", action="version", version=f"pseudolabel {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("pseudolabel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, FileNotFoundError) as exc:
        print(f"pseudolabel {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PseudolabelError as exc:
        print(f"pseudolabel {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED

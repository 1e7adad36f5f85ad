"""The ``pseudolabel`` command line: the parser, ``main`` and the subcommand modules.

Each module listed in ``COMMAND_MODULES`` defines ``register_commands(subparsers)``, which adds
its parsers and sets ``func`` on each; ``func(args)`` returns the exit code. Every subcommand
runs through the one error handler, :func:`pseudolabel.cli.errors.run_guarded`, so all of them
share one table of exit codes:

====  =====================================================================================
0     success
1     the job ran but failed (a backend failed to fit or predict, a worker or plugin
      failed, the label store is corrupt, foreign or busy)
2     bad usage or bad input: unknown or invalid option (a numeric option out of range names
      the option), missing or unreadable file or column, no label store at the path, a path that
      cannot be written (the message names the file)
3     the model bundle was refused: missing, corrupt, edited, or holds a pickle without
      ``--trust-pickle``
4     the output exists (pass ``--overwrite``), or an interrupted run left partial output
      (pass ``--resume`` to finish it or ``--overwrite`` to start over)
130   interrupted (Ctrl-C); nothing half-written is left as output, and ``label --resume``
      goes on from the last finished chunk
141   stdout was closed early (``pseudolabel status | head -1``); nothing is printed about it
====  =====================================================================================
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from pseudolabel import __version__
from pseudolabel.cli.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_BUNDLE,
    EXIT_CODES_HELP,
    EXIT_EXISTS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    run_guarded,
)

__all__ = [
    "COMMAND_MODULES",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_BUNDLE",
    "EXIT_EXISTS",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
    "build_parser",
    "main",
]

#: Modules that contribute subcommands, in the order they appear in ``--help``.
COMMAND_MODULES: list[str] = [
    "pseudolabel.demo",
    "pseudolabel.cli.plugins",
    "pseudolabel.cli.batch",
    "pseudolabel.cli.store",
    "pseudolabel.cli.export",
    "pseudolabel.cli.serve",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pseudolabel",
        description="Pseudo-labeling and active learning with a fast Rust selection core.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pseudolabel {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register_commands(subparsers)
    for sub in subparsers.choices.values():  # every subcommand documents the same table
        if sub.epilog is None:
            sub.epilog = EXIT_CODES_HELP
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in sub._actions:
            _state_default(action)
    return parser


def _state_default(action: argparse.Action) -> None:
    """End an option's help with its default (or "required"), unless it says so already."""
    text = action.help
    if text is None or text == argparse.SUPPRESS or action.dest == "help":
        return
    if "default" in text or "required" in text:
        return
    if action.required or (not action.option_strings and action.nargs not in ("?", "*")):
        note = "required"
    elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        note = "default: off" if action.default is False else "default: on"
    elif action.default in (None, [], ()):
        note = "default: none"
    else:
        note = f"default: {action.default}"
    action.help = f"{text} ({note})" if text else note


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    return run_guarded(args.command, lambda: args.func(args))

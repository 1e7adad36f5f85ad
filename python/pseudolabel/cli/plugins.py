"""The ``pseudolabel plugins`` command: a table (or JSON) of every backend and strategy and its plugin."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from pseudolabel.plugins import DISABLE_ENV, PluginManager, get_plugin_manager

__all__ = ["list_plugins", "register_commands"]


def list_plugins(pm: PluginManager | None = None) -> list[dict[str, Any]]:
    """Every backend and strategy as ``{"name", "kind", "plugin", "version", ...}`` dicts."""
    pm = get_plugin_manager() if pm is None else pm
    return [entry.as_dict() for entry in pm.entries()]


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pseudolabel plugins`` to the command line."""
    p = subparsers.add_parser(
        "plugins",
        help="list the backends and strategies that plugins provide",
        description=(
            "List every backend and strategy with the plugin that provides it and that "
            f"plugin's version. {DISABLE_ENV}=name1,name2 (or 'all') blocks external plugins."
        ),
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of objects with keys name, kind, plugin, version "
        "(plus strategy_kind and description)",
    )
    p.set_defaults(func=_run_plugins_command)


def _run_plugins_command(args: argparse.Namespace) -> int:
    try:
        return _print_plugins(args)
    except BrokenPipeError:  # `pseudolabel plugins | head`: the reader went away, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _print_plugins(args: argparse.Namespace) -> int:
    pm = get_plugin_manager()
    rows = list_plugins(pm)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    table = [("NAME", "KIND", "PLUGIN", "VERSION", "DESCRIPTION")]
    for row in rows:
        kind = row["kind"] if row["strategy_kind"] is None else f"{row['kind']} ({row['strategy_kind']})"
        description = row["description"].replace("``", "")  # reST literals read badly here
        table.append((row["name"], kind, row["plugin"], row["version"] or "-", description))
    widths = [max(len(str(r[i])) for r in table) for i in range(4)]
    for r in table:
        cells = [str(c).ljust(w) for c, w in zip(r[:4], widths)]
        print("  ".join([*cells, r[4]]).rstrip())
    if pm.blocked_plugins:
        print(f"\nblocked by {DISABLE_ENV}: {', '.join(sorted(pm.blocked_plugins))}")
    for name, reason in sorted(pm.failed_plugins.items()):
        print(f"failed: {name}: {reason}")
    return 0

"""``pseudolabel status --by annotator`` and ``--conflicts``: who labeled what, and where the
gold labels of an item disagree.

``--by annotator`` counts seed and human label records per annotator and class (the empty
annotator is shown as ``(none)``) and the items each annotator labeled in conflict with
someone; ``--conflicts`` lists those items with every gold label they got, oldest first.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_status_options", "print_annotators"]

#: conflicting items listed in text output (``--json`` lists all)
MAX_LISTED = 20


def add_status_options(parser: argparse.ArgumentParser) -> None:
    """The ``status`` options of this module."""
    parser.add_argument("--by", choices=["class", "annotator"], default="class",
                        help="count current labels by class and source, or gold label "
                             "records by annotator and class (default: class)")
    parser.add_argument("--conflicts", action="store_true",
                        help="list the items whose gold labels disagree, with each label "
                             "and annotator (default: only their number)")


def _name(annotator: Any) -> str:
    return str(annotator) if annotator else "(none)"


def print_annotators(store: Any, args: argparse.Namespace) -> None:
    """Print the ``--by annotator`` table and / or the ``--conflicts`` listing."""
    by_annotator = args.by == "annotator"
    counts = store.annotator_counts() if by_annotator else None
    conflicts = store.conflicts() if args.conflicts else None
    if args.json:
        out: dict[str, Any] = {}
        if counts is not None:
            table: dict[str, Any] = {}
            for row in counts.itertuples(index=False):
                entry = table.setdefault(str(row.annotator), {"labels": {},
                                                             "n_conflicts": 0})
                entry["labels"][str(row.label)] = int(row.n)
                entry["n_conflicts"] = int(row.n_conflicts)
            out["gold_labels_by_annotator"] = table
        if conflicts is not None:
            out["conflicts"] = {
                str(i): [{"label": r.label, "source": r.source, "annotator": r.annotator,
                          "created_at": r.created_at,
                          "origin": r.origin if isinstance(r.origin, str) else None}
                         for r in g.itertuples(index=False)]
                for i, g in conflicts.groupby("id", sort=True)}
        print(json.dumps(out, indent=2, sort_keys=True))
        return
    if counts is not None:
        classes = sorted(set(counts["label"]))
        names = sorted(set(counts["annotator"]), key=str)
        width = max([9] + [len(_name(a)) for a in names])
        print(f"gold label records by annotator ({args.store})")
        print(f"  {'annotator':<{width}}  " + "  ".join(f"{c:>7}" for c in classes)
              + f"  {'total':>7}  {'conflicts':>9}")
        for a in names:
            rows = counts[counts["annotator"] == a]
            per = dict(zip(rows["label"], rows["n"]))
            vals = [int(per.get(c, 0)) for c in classes]
            print(f"  {_name(a):<{width}}  " + "  ".join(f"{v:>7}" for v in vals)
                  + f"  {sum(vals):>7}  {int(rows['n_conflicts'].iloc[0]):>9}")
    if conflicts is not None:
        ids = list(dict.fromkeys(conflicts["id"]))
        print(f"{len(ids)} items with conflicting gold labels (the latest wins)"
              + (":" if ids else ""))
        for i in ids[:MAX_LISTED]:
            rows = conflicts[conflicts["id"] == i]
            print(f"  {i}: " + ", ".join(f"{r.label} ({_name(r.annotator)}, {r.source})"
                                          for r in rows.itertuples(index=False)))
        if len(ids) > MAX_LISTED:
            print(f"  ... and {len(ids) - MAX_LISTED} more (--json lists all)")

"""Per-cell comparison of two ``PseudoLabeler()`` default runs in ``bench_out/quality_cells.jsonl``.

    python benches/compare_default.py OLD_TAG NEW_TAG [--models rf]

Prints, per (set, fraction, model), the mean gain over supervised (test accuracy points,
over the seeds both runs measured) of each run, then the mean gain and the cells below -1
point per model.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--models", default=None)
    parser.add_argument("--cache", default="bench_out/quality_cells.jsonl")
    args = parser.parse_args()
    models = None if args.models is None else set(args.models.split(","))
    acc: dict[tuple, float] = {}
    for line in Path(args.cache).read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if models is None or r["model"] in models:
            acc[(r["dataset"], r["fraction"], r["model"], r["seed"], r["method"])] = r["accuracy"]
    cells: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for (ds, f, m, s, meth), sup in acc.items():
        if meth != "supervised":
            continue
        old, new = acc.get((ds, f, m, s, f"default@{args.old}")), acc.get(
            (ds, f, m, s, f"default@{args.new}"))
        if old is not None and new is not None:
            cells[(ds, f, m)].append((100 * (old - sup), 100 * (new - sup)))
    per_model: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key in sorted(cells):
        pairs = cells[key]
        old = sum(p[0] for p in pairs) / len(pairs)
        new = sum(p[1] for p in pairs) / len(pairs)
        per_model[key[2]].append((old, new))
        print(f"{key[0]:16s} {key[1]:.2f} {key[2]:8s} seeds {len(pairs)}  "
              f"old {old:+6.2f}  new {new:+6.2f}  diff {new - old:+6.2f}")
    for model, rows in sorted(per_model.items()):
        n = len(rows)
        print(f"{model}: {n} cells; mean gain old {sum(r[0] for r in rows) / n:+.2f} new "
              f"{sum(r[1] for r in rows) / n:+.2f}; below -1: old "
              f"{sum(r[0] < -1 for r in rows)} new {sum(r[1] < -1 for r in rows)}")


if __name__ == "__main__":
    main()

"""Run every benchmark script in ``benches/`` (``make bench``) and summarize.

Each script prints its own ratio table and PASS/FAIL lines and exits non-zero when it could not
run. Extra arguments (for example ``--quick``) are passed to every script.

    python benches/run_all.py            # full mode
    python benches/run_all.py --quick    # quick mode, for development
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Benchmark scripts, in the order they run. Add yours here.
SCRIPTS: list[str] = [
    "bench_kernels.py",
    "bench_strategies.py",
    "bench_active.py",
    "bench_backends.py",
    "bench_batch.py",
    "bench_quality.py",
    "bench_engine_speed.py",
]


def main(argv: list[str]) -> int:
    results = []
    for name in SCRIPTS:
        path = HERE / name
        if not path.exists():
            print(f"== {name}: missing, skipped", flush=True)
            results.append((name, None, 0.0))
            continue
        print(f"== {name} {' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(path), *argv], cwd=HERE.parent)
        results.append((name, rc, time.perf_counter() - t0))
    print("\n== summary")
    failed = 0
    for name, rc, seconds in results:
        status = "missing" if rc is None else ("ok" if rc == 0 else f"exit {rc}")
        failed += rc not in (0, None)
        print(f"  {name:<28} {status:<10} {seconds:8.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

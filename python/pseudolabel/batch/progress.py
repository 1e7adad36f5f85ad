"""Progress output of a ``label`` job: rows done, rows/s and ETA on stderr.

A tqdm bar on a terminal, plain log lines (every ``interval`` seconds) otherwise.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """Rows done, rows/s and ETA: a tqdm bar on a terminal, plain log lines otherwise."""

    def __init__(self, total: int | None, *, mode: bool | None = None,
                 stream: TextIO | None = None, interval: float = 5.0,
                 prefix: str = "pseudolabel label") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.done, self.interval, self.prefix = total, 0, interval, prefix
        self.skipped = 0
        self.t0 = time.perf_counter()
        self._last = -math.inf
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = mode is not False and (mode is True or mode is None)
        self.bar: Any = None
        if self.enabled and tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="rows", unit_scale=True, file=self.stream,
                            desc=prefix, dynamic_ncols=True)

    def __call__(self, n: int, skipped: bool = False) -> None:
        """Count ``n`` rows done; ``skipped`` rows (done by an earlier run) are not timed."""
        self.done += n
        self.skipped += n if skipped else 0
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self._log(now)

    def _log(self, now: float) -> None:
        dt = max(now - self.t0, 1e-9)
        rate = (self.done - self.skipped) / dt
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            msg = (f"{self.prefix}: {self.done:,}/{self.total:,} rows "
                   f"({100 * self.done / self.total:.1f}%), {rate:,.0f} rows/s, "
                   f"ETA {eta:.0f} s")
        else:
            msg = f"{self.prefix}: {self.done:,} rows, {rate:,.0f} rows/s"
        print(msg, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self._log(time.perf_counter())

    def log(self, msg: str) -> None:
        if self.enabled:
            print(f"{self.prefix}: {msg}", file=self.stream, flush=True)

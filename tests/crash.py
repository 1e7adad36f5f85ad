"""Test helper: simulate a Ctrl-C at a chosen point of a batch job (used by the batch tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def interrupted_at_call(module: Any, name: str, n: int) -> Iterator[None]:
    """Within the block, the ``n``-th call of ``module.name`` raises ``KeyboardInterrupt``
    (the earlier calls run normally); the real function is put back on exit."""
    real = getattr(module, name)
    calls = 0

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    setattr(module, name, interrupted)
    try:
        yield
    finally:
        setattr(module, name, real)

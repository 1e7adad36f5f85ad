"""Test helper: interrupt, slow down or kill a batch job from outside the package.

* :func:`interrupted_at_call`: within a block, the n-th call of a function raises
  ``KeyboardInterrupt`` (a Ctrl-C at a chosen point, in this process);
* :func:`stopped_after_steps`: the job's finishing stops after its first n steps, as a kill
  between two steps leaves it (no later step, no clean-up of this process runs);
* :func:`crash_cli`: run ``pseudolabel ...`` in a child process through this file, which
  (``--chunk-delay S``) sleeps S seconds after each committed chunk so that the test can
  SIGKILL it part-way, or (``--kill-after-step N``) SIGKILLs itself right after finishing
  step N. Nothing of this is in the package: the child wraps the package's functions here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
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


class Stopped(BaseException):
    """Raised where a stopped job would have gone on (caught by the test)."""


@contextlib.contextmanager
def stopped_after_steps(n: int) -> Iterator[None]:
    """Within the block, finishing a job runs its first ``n`` steps, then raises
    :class:`Stopped` instead of running the next one (the job's own handler then keeps
    the staging directory, as after a kill)."""
    from pseudolabel.batch import finish

    real = finish.finish_steps

    def first_steps(*args: Any, **kwargs: Any) -> list[Any]:
        steps = real(*args, **kwargs)

        def stop() -> None:
            raise Stopped(n)

        return [*steps[:n], finish.FinishStep("stopped", stop)]

    finish.finish_steps = first_steps
    try:
        yield
    finally:
        finish.finish_steps = real


def crash_cli(args: Sequence[str], *, chunk_delay: float | None = None,
              kill_after_step: int | None = None) -> subprocess.Popen:
    """Start ``pseudolabel ARGS`` in a child process run through this helper."""
    opts: list[str] = []
    if chunk_delay is not None:
        opts += ["--chunk-delay", str(chunk_delay)]
    if kill_after_step is not None:
        opts += ["--kill-after-step", str(kill_after_step)]
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *opts, "--", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _main(argv: list[str]) -> int:
    split = argv.index("--")
    opts, args = argv[:split], argv[split + 1:]
    chunk_delay = float(opts[opts.index("--chunk-delay") + 1]) \
        if "--chunk-delay" in opts else None
    kill_after = int(opts[opts.index("--kill-after-step") + 1]) \
        if "--kill-after-step" in opts else None
    from pseudolabel.batch import finish, scoring
    from pseudolabel.cli import main

    if chunk_delay is not None:
        commit = scoring.commit_chunk

        def slow_commit(*a: Any, **k: Any) -> None:
            commit(*a, **k)
            time.sleep(chunk_delay)  # after the chunk is recorded: a kill here loses nothing

        scoring.commit_chunk = slow_commit  # type: ignore[assignment]
    if kill_after is not None:
        real = finish.finish_steps

        def killed(*a: Any, **k: Any) -> list[Any]:
            steps = real(*a, **k)
            step = steps[kill_after - 1]

            def run_then_die() -> None:
                step.run()
                os.kill(os.getpid(), signal.SIGKILL)

            steps[kill_after - 1] = finish.FinishStep(step.name, run_then_die)
            return steps

        finish.finish_steps = killed  # type: ignore[assignment]
    return main(args)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


def race_for_lock(root: str, trials: int, barrier: Any, results: Any) -> None:
    """In a child process: for each trial, wait for the other racers, then try to take the
    run lock of ``root/<trial>``; put the list of trials won on ``results``."""
    from pathlib import Path

    from pseudolabel.batch.lock import acquire_lock
    from pseudolabel.exceptions import OutputExistsError

    won = []
    for trial in range(trials):
        staging = Path(root) / str(trial)
        barrier.wait()
        try:
            acquire_lock(staging / "lock", staging)
        except OutputExistsError:
            continue
        won.append(trial)
    barrier.wait()  # every racer lives until all trials are over (its locks stay live)
    results.put(won)

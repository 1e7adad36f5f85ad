"""Exit codes of the ``pseudolabel`` command and the one handler that maps errors to them.

Every subcommand runs through :func:`run_guarded`; an error it expects (bad input, a refused
bundle, an existing output, an OS error on a path) becomes one line on stderr,
``pseudolabel COMMAND: error: ...``, and the exit code of :data:`EXIT_CODES`. Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from pseudolabel.exceptions import (
    BundleError,
    OutputExistsError,
    PseudolabelError,
)

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_BUNDLE",
    "EXIT_EXISTS",
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_CODES",
    "EXIT_CODES_HELP",
    "exit_code",
    "describe",
    "run_guarded",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUNDLE = 3
EXIT_EXISTS = 4
EXIT_INTERRUPTED = 130
#: stdout was closed by the reader (``pseudolabel status | head -1``): 128 + SIGPIPE
EXIT_BROKEN_PIPE = 141

#: exit code of an error, first match wins (order matters: a BundleError is also a
#: ValueError, an OutputExistsError is also an OSError). A missing label store
#: (StoreNotFoundError) is a FileNotFoundError: 2; a corrupt or foreign one: 1.
EXIT_CODES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int], ...] = (
    (BundleError, EXIT_BUNDLE),
    (OutputExistsError, EXIT_EXISTS),
    ((ValueError, OSError), EXIT_USAGE),
    (PseudolabelError, EXIT_FAILED),
)

#: the table as ``--help`` prints it
EXIT_CODES_HELP = """exit codes:
  0    success
  1    the job ran but failed (a backend failed to fit or predict, a worker or plugin
       failed, the label store is corrupt, foreign or busy)
  2    bad usage or bad input: unknown or invalid option, missing or unreadable file or
       column, no label store at the path, a path that cannot be written (the message names it)
  3    the model bundle was refused: missing, corrupt, edited, or holds a pickle without
       --trust-pickle
  4    the output exists (pass --overwrite), or an interrupted run left partial output
       (pass --resume to finish it or --overwrite to start over)
  130  interrupted (Ctrl-C)
  141  stdout was closed early (e.g. piped into head); nothing is printed about it"""

_HANDLED: tuple[type[BaseException], ...] = tuple(
    t for types, _ in EXIT_CODES for t in (types if isinstance(types, tuple) else (types,))
)


def exit_code(exc: BaseException) -> int:
    """The exit code of an expected error (:data:`EXIT_CODES`)."""
    return next(code for types, code in EXIT_CODES if isinstance(exc, types))


def describe(exc: BaseException) -> str:
    """One line for an error; an OS error names the file it is about."""
    if isinstance(exc, OSError) and not isinstance(exc, OutputExistsError):
        if exc.filename is not None and exc.strerror:
            target = os.fsdecode(exc.filename)
            if exc.filename2 is not None:
                target += f" -> {os.fsdecode(exc.filename2)}"
            return f"{target}: {exc.strerror}"
    text = str(exc).strip()
    return " ".join(text.split("\n")) if text else type(exc).__name__


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush cannot fail again
    (what the Python docs advise for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def run_guarded(command: str, fn: Callable[[], int | None]) -> int:
    """Run one subcommand: its exit code, or the code and one-line message of its error."""
    try:
        code = int(fn() or 0)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("pseudolabel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except _HANDLED as exc:
        print(f"pseudolabel {command}: error: {describe(exc)}", file=sys.stderr)
        return exit_code(exc)

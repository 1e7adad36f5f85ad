"""The run lock: at most one live run writes a job's staging directory on this host.

The lock is a small JSON file (``{"pid": ..., "host": ...}``) in the work directory. Its
content is written to a private temporary file first and then hard-linked to the lock's
name, so the lock never exists empty or half-written; a link fails if the lock exists,
which makes taking it atomic. A lock whose process is gone (a run that was killed) is taken
over; the check and the takeover run under an advisory ``flock`` of a guard file, so two
processes that both find a stale lock cannot both take it. A lock that cannot be read (an
older version's, or a disk error) counts as held while it is younger than
:data:`UNREADABLE_LOCK_GRACE` seconds, and as stale after that.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pseudolabel.exceptions import OutputExistsError

__all__ = ["UNREADABLE_LOCK_GRACE", "acquire_lock", "refuse_if_locked", "release_lock"]

#: seconds during which an empty or unreadable lock is taken to be held by a live run
UNREADABLE_LOCK_GRACE = 10.0


def _holder_text() -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname()})


def _pid_alive(pid: Any) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(path: Path) -> tuple[dict[str, Any] | None, float | None]:
    """The lock's content (None when unreadable) and its age in seconds (None: no lock)."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None, None
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, age
    return (holder if isinstance(holder, dict) else None), age


def refuse_if_locked(path: Path, staging: Path) -> None:
    """Raise :class:`OutputExistsError` when a live run on this host holds ``path``.

    A lock held by this very process (an earlier call that was interrupted) is not a
    refusal; neither is a lock left by a process that is gone.
    """
    holder, age = _read_holder(path)
    if age is None:
        return
    if holder is None:
        if age < UNREADABLE_LOCK_GRACE:
            raise OutputExistsError(
                f"{staging} is being taken by another run (its lock is not readable yet); "
                "wait for it to finish or stop it first")
        return
    pid = holder.get("pid")
    if holder.get("host") == socket.gethostname() and pid != os.getpid() and _pid_alive(pid):
        raise OutputExistsError(
            f"{staging} is being written by another run (pid {pid}); wait for it to finish "
            "or stop it first")


@contextlib.contextmanager
def _guard(path: Path) -> Iterator[None]:
    """Serialize lock takeovers between processes (released when the process dies)."""
    fd = os.open(path.with_name(path.name + ".guard"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def acquire_lock(path: Path, staging: Path) -> None:
    """Take the lock ``path`` for this process, or refuse (:class:`OutputExistsError`)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.write_text(_holder_text())
    try:
        with _guard(path):
            refuse_if_locked(path, staging)
            holder, _ = _read_holder(path)
            if holder is not None and holder.get("pid") == os.getpid() \
                    and holder.get("host") == socket.gethostname():
                return  # already ours
            path.unlink(missing_ok=True)  # none, or left by a run that is gone
            try:
                os.link(tmp, path)
            except FileExistsError:  # a writer that does not take the guard
                raise OutputExistsError(
                    f"{staging}: another run took the lock at the same time") from None
            except OSError:  # a file system without hard links: create, under the guard
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                with os.fdopen(fd, "w") as fh:
                    fh.write(_holder_text())
    finally:
        tmp.unlink(missing_ok=True)


def release_lock(path: Path) -> None:
    """Remove the lock ``path`` if this process holds it."""
    holder, _ = _read_holder(path)
    if holder is not None and holder.get("pid") == os.getpid() \
            and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)

"""File helpers shared by the modules that write models and outputs (internal).

One implementation of "checksum a file" and "move a finished file or directory into place",
so that every writer (``Backend.save``, model bundles, ``pseudolabel label``) gives the same
guarantee: the target holds either the old content or the new, never half of either.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from pseudolabel.exceptions import OutputExistsError

__all__ = ["sha256_file", "replace_path", "remove_path", "publish", "looks_like_pickle"]

#: suffixes of files that are (or wrap) pickles
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pck", ".dill", ".cloudpickle"})


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def remove_path(path: Path) -> None:
    """Remove a file or a directory tree; a missing path or a failed removal is ignored."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: Path) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have: temporary files and
    directories (``mkstemp``, ``mkdtemp``) are private (0600/0700) whatever the umask."""
    base = 0o777 if path.is_dir() and not path.is_symlink() else 0o666
    os.chmod(path, base & ~_umask())


def replace_path(src: Path, dst: Path) -> None:
    """Move the finished ``src`` (file or directory) to ``dst``, replacing what is there.

    ``src`` first gets the mode the umask gives a new file or directory
    (:func:`honour_umask`), so outputs written through a temporary name are not private.

    An existing ``dst`` is first moved aside (a hidden sibling) and removed only once ``src``
    is in place; if that move fails, the old ``dst`` is put back, so a failure never leaves
    ``dst`` missing. ``src`` and ``dst`` must be on the same file system (siblings).
    """
    src, dst = Path(src), Path(dst)
    honour_umask(src)
    if not os.path.lexists(dst):
        os.replace(src, dst)
        return
    old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:12]}")
    os.replace(dst, old)
    try:
        os.replace(src, dst)
    except BaseException:
        os.replace(old, dst)
        raise
    remove_path(old)


def publish(src: Path, dst: Path, *, overwrite: bool) -> None:
    """:func:`replace_path` for outputs: an existing ``dst`` is replaced only with
    ``overwrite`` (else :class:`~pseudolabel.exceptions.OutputExistsError`)."""
    if os.path.lexists(dst) and not overwrite:
        raise OutputExistsError(f"{dst} already exists; pass --overwrite to replace it")
    replace_path(src, dst)


def looks_like_pickle(path: str | os.PathLike[str]) -> bool:
    """Whether a file is a pickle, by its suffix or by the protocol 2-5 header.

    Loading a pickle runs arbitrary code, so model files must never be one.
    """
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    with open(path, "rb") as fh:
        head = fh.read(2)
    # protocol 2+ streams start with PROTO (0x80) and the protocol number
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5

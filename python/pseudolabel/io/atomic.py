"""Atomic file writing: write beside, rename into place, honour the umask; checksums.

One implementation of "checksum a file" and "move a finished file or directory into place",
so that every writer (``Backend.save``, model bundles, ``pseudolabel label``) gives the same
guarantee: the target holds either the old content or the new, never half of either. Files
and directories made through a temporary name get the modes any tool gives under the
current umask (``0o666 & ~umask``, ``0o777 & ~umask``), not the private modes of
:mod:`tempfile`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pseudolabel.exceptions import OutputExistsError

__all__ = [
    "sha256_file", "replace_path", "remove_path", "publish", "looks_like_pickle",
    "current_umask", "honour_umask", "make_temp_dir", "atomic_write", "atomic_write_bytes",
    "atomic_write_json", "temp_name",
]

#: suffixes of files that are (or wrap) pickles
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pck", ".dill", ".cloudpickle"})


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def current_umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would: ``0o777 & ~umask`` for a
    directory, ``0o666 & ~umask`` for a file (keeping execute bits it already had).

    Only ``path`` itself is changed: ``tempfile.mkstemp``/``mkdtemp`` make just the temporary
    they create private, and what is written inside it with ``open`` already follows the
    umask. Symlinks are left alone.
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    mask = current_umask()
    if stat.S_ISDIR(st.st_mode):
        os.chmod(path, 0o777 & ~mask)
    else:
        os.chmod(path, ((0o666 | (st.st_mode & 0o111)) & ~mask))


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A fresh directory in ``parent`` with the umask's mode (:func:`tempfile.mkdtemp`
    alone makes it 0700)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    honour_umask(tmp)
    return tmp


def temp_name(path: Path) -> Path:
    """The hidden sibling a writer of ``path`` uses before renaming: ``.NAME.tmp-<pid>``."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove_path(path: Path) -> None:
    """Remove a file or a directory tree; a missing path or a failed removal is ignored."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` beside ``path``, then rename into place; a failure leaves no file."""
    tmp = temp_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def replace_path(src: Path, dst: Path) -> None:
    """Move the finished ``src`` (file or directory) to ``dst``, replacing what is there.

    An existing ``dst`` is first moved aside (a hidden sibling) and removed only once ``src``
    is in place; if that move fails, the old ``dst`` is put back, so a failure never leaves
    ``dst`` missing. ``src`` and ``dst`` must be on the same file system (siblings).
    ``src`` first gets the umask's modes (:func:`honour_umask`): outputs written through a
    temporary name (``mkstemp``/``mkdtemp`` make them private) are not left 0600/0700.
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
        raise OutputExistsError(f"{dst} already exists; pass overwrite=True "
        "(--overwrite on the command line) to replace it")
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

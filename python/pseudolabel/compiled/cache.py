"""The local cache of compiled models: where it is, how entries are keyed, verified and published.

A compiled model is machine code, as dangerous to load as a pickle, so it is never shipped in
or loaded from a bundle. It is built on the labeling machine into a cache directory:

* ``$PSEUDOLABEL_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/pseudolabel``, else
  ``~/.cache/pseudolabel``; an explicit ``cache_dir`` argument (``--compile-cache``) wins;
* one entry per model and compiler: ``compiled/<key>/`` holding the library (its name
  carries its sha256) and ``entry.json``. The key hashes the model file's sha256 and the compiler's version string
  (compiler packages, the C toolchain or the target CPU, the platform);
* an entry is used only when its ``entry.json`` names exactly that model sha256 and compiler
  version and the library's own sha256 matches the one recorded; anything else is rebuilt,
  never trusted;
* entries are built in a private temporary directory beside them and renamed into place,
  so a reader never sees half an entry, and two processes (Dask workers sharing the
  directory) can build the same entry at once;
* the cache directory must belong to the current user and must not be writable by others
  (it is created 0700).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pseudolabel.exceptions import ParameterError
from pseudolabel.io.atomic import remove_path, replace_path, sha256_file

__all__ = ["CACHE_ENV", "ENTRY_FORMAT", "CacheEntry", "cache_root", "entry_for", "find_entry",
           "build_entry"]

#: environment variable that moves the whole pseudolabel cache
CACHE_ENV = "PSEUDOLABEL_CACHE_DIR"
ENTRY_FORMAT = 1
_ENTRY_FILE = "entry.json"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The pseudolabel cache directory (not created here)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser().absolute()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "pseudolabel"


def _private_dir(path: Path) -> Path:
    """Create ``path`` (0700) if needed; refuse one that others could write into."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ParameterError(f"compile cache {path} belongs to another user (uid {st.st_uid}); "
                             "compiled code is loaded only from a cache of your own")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ParameterError(f"compile cache {path} is writable by other users (mode "
                             f"{stat.S_IMODE(st.st_mode):o}); compiled code is loaded only from "
                             "a cache no one else can write (chmod go-w)")
    return path


@dataclass(frozen=True)
class CacheEntry:
    """Where one model's compiled library lives and what it must match."""

    directory: Path
    model_sha256: str
    compiler: str
    compiler_version: str

    @property
    def expected(self) -> dict[str, Any]:
        return {"format": ENTRY_FORMAT, "model_sha256": self.model_sha256,
                "compiler": self.compiler, "compiler_version": self.compiler_version}


def entry_for(root: Path, model_sha256: str, compiler: str, compiler_version: str) -> CacheEntry:
    """The cache entry of a model (by its file's sha256) and a compiler version."""
    key = hashlib.sha256(json.dumps([ENTRY_FORMAT, model_sha256, compiler, compiler_version])
                         .encode()).hexdigest()[:40]
    return CacheEntry(root / "compiled" / f"{compiler}-{key}", model_sha256, compiler,
                      compiler_version)


def find_entry(entry: CacheEntry) -> Path | None:
    """The verified library of ``entry``, or None when it is missing or does not match."""
    try:
        meta = json.loads((entry.directory / _ENTRY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in entry.expected.items()):
        return None
    name = meta.get("library")
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        return None
    library = entry.directory / name
    try:
        if not library.is_file() or library.is_symlink() \
                or sha256_file(library) != meta.get("library_sha256"):
            return None
    except OSError:
        return None
    return library


def build_entry(entry: CacheEntry, build: Callable[[Path], str]) -> Path:
    """Build ``entry`` with ``build(directory) -> library file name`` and publish it.

    The build runs in a private temporary directory beside the entry; the finished
    directory (library + ``entry.json``) replaces whatever was there. When another process
    published a valid entry meanwhile, that one is used.
    """
    _private_dir(entry.directory.parent.parent)
    parent = _private_dir(entry.directory.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.directory.name}.build-", dir=parent))
    try:
        built = tmp / build(tmp)
        digest = sha256_file(built)
        # the file name carries its content's digest: a process that loaded an earlier
        # library from this entry (dlopen keeps one handle per path) never gets it back
        # for different code
        name = f"{built.stem}-{digest[:16]}{built.suffix}"
        built.rename(tmp / name)
        meta = {**entry.expected, "library": name, "library_sha256": digest}
        (tmp / _ENTRY_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        try:
            replace_path(tmp, entry.directory)
        except OSError:
            # another process published (or is publishing) the same entry
            if find_entry(entry) is None:
                raise
        # replace_path gives the directory the umask's modes; keep it private
        os.chmod(entry.directory, 0o700)
    finally:
        remove_path(tmp)
    found = find_entry(entry)
    if found is None:
        raise OSError(f"compiled model entry {entry.directory} did not verify after building it")
    return found

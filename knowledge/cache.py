"""Where results worked out from the knowledge base are kept between starts.

``PEERBOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/peerbot`` (``~/.cache/peerbot``),
never beside the package, which may be installed read-only. Every file is
named by a digest of what it was made from, written whole or not at all,
and only ever saves time: when nothing can be written, the work is done
again next start.

What is read back decides what the bot tells people (the crisis lines
among it), so a file is only read when it and its folder belong to the
user peerbot runs as and nobody else can write to them, the way ssh treats
its keys; the folder is made private (0700). Otherwise the work is done
again, as if there were no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)


def cache_dir() -> Path | None:
    """Where results are kept; None when there is no home to keep them in."""
    explicit = os.environ.get("PEERBOT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no passwd entry (some containers)
            return None
    return Path(base) / "peerbot"


def code_signature(*files: str) -> str:
    """A digest of source files whose code decides what is built (a changed
    tokeniser or weighting builds again, with no format number to remember)."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:16]


def package_version(name: str) -> str:
    """An installed package's version, read without importing it: a new
    release may build differently, so it is part of a cache key."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def _private(path: Path) -> bool:
    """Ours, and writable by nobody else."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def read_trusted(path: Path) -> bytes | None:
    """The file's bytes, or None when it is missing or someone else could have written it."""
    if not (_private(path.parent) and _private(path)):
        if path.exists():
            _warn_once(path.parent)
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


_warned: set[Path] = set()


def _warn_once(folder: Path) -> None:
    if folder not in _warned:
        _warned.add(folder)
        log.warning("not reading the cache in %s: it isn't private to this user (it should be 0700 and ours); "
                    "working it out again instead", folder)


def write_whole(path: Path, data: bytes, keep: int) -> bool:
    """Write atomically (a reader never sees half a file), then remove all but
    the ``keep`` newest files of the same kind (the part of the name before
    the last ``-``). False when it could not be written."""
    temporary: str | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(path.parent):
            _warn_once(path.parent)
            return False
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        log.info("%s not cached in %s (%s); it will be worked out again next start", path.name, path.parent, exc)
        if temporary is not None:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
        return False
    kind = path.name.rsplit("-", 1)[0]
    older = sorted(path.parent.glob(f"{kind}-*{path.suffix}"), key=_age, reverse=True)[keep:]
    for stale in older:
        with contextlib.suppress(OSError):
            stale.unlink()
    return True


def _age(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another process pruning
        return 0.0

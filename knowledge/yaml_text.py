"""Read the knowledge base's YAML quickly, and the same way every time.

The knowledge base is half a megabyte of YAML read at every start. libyaml's
parser (when PyYAML was built with it) reads it fourteen times faster than
the pure-Python one, but PyYAML still builds every value in Python: a tenth
of a second a start. So what a text parses to is also kept as JSON in the
cache folder (``knowledge.cache``), named by a digest of the text, and read
back with the json module: the same values, since a result is kept only
when JSON gives it back unchanged (dates are marked; a file with
non-text keys is parsed every time). An edited
file has a new digest and is parsed again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import yaml

from knowledge.cache import cache_dir, read_trusted, write_whole

log = logging.getLogger(__name__)

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Parsed files kept; one per version of each file, so a few edits' worth.
KEEP = 96


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)


def load_yaml(text: str) -> Any:
    """What ``text`` parses to as YAML (safe types only); a fresh copy each call."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    if digest not in _KEPT:
        kept = _read_kept(digest)
        if kept is None:
            value = parse_yaml(text)  # a YAML error goes to the caller, as before
            _KEPT[digest] = _keep(digest, value)
            return value
        _KEPT[digest] = kept
    kept = _KEPT[digest]
    return json.loads(kept, object_hook=_dated) if kept is not None else parse_yaml(text)


def forget() -> None:
    """Forget what this process has read (as a new process would start)."""
    _KEPT.clear()


# Digest of a text -> its value as JSON, or None when JSON can't hold it;
# a handful of files, so it is never pruned.
_KEPT: dict[str, str | None] = {}


def _path(digest: str) -> Path | None:
    folder = cache_dir()
    return folder / f"yaml-{digest}.json" if folder is not None else None


def _read_kept(digest: str) -> str | None:
    path = _path(digest)
    if path is None:
        return None
    data = read_trusted(path)
    if data is None:
        return None
    try:
        kept = data.decode("utf-8")
        json.loads(kept, object_hook=_dated)  # a damaged file is parsed again and replaced
        return kept
    except ValueError:
        return None


def _keep(digest: str, value: Any) -> str | None:
    """``value`` as JSON, written to the cache folder; None when JSON can't hold it exactly."""
    try:
        kept = json.dumps(value, ensure_ascii=False, allow_nan=False, default=_undated)
        if json.loads(kept, object_hook=_dated) != value:
            return None
    except (TypeError, ValueError):
        return None
    path = _path(digest)
    if path is not None:
        write_whole(path, kept.encode("utf-8"), KEEP)
    return kept


# YAML reads ``reviewed: 2026-05-01`` as a date; JSON has none, so dates are
# kept as {"$date": "2026-05-01"} (no entry field is called "$date").
def _undated(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return {"$date": value.isoformat()}
    raise TypeError(type(value).__name__)


def _dated(obj: dict) -> Any:
    if len(obj) == 1 and "$date" in obj:
        return dt.date.fromisoformat(obj["$date"])
    return obj

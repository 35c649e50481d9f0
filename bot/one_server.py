"""One ``peerbot serve`` per SQLite file.

The SQLite file serves one process's schedule, Slack event claims and
outbox: a second server on the same file would double the scheduled jobs'
attempts and split in-memory state (held survey answers, flow state)
between two processes that each think they are the bot. So the server
holds an exclusive lock on a file beside the database for as long as it
runs, and a second one refuses to start, with one line that says why. The
operating system drops the lock when the process ends, however it ends, so
a crash never leaves a stale lock behind. CLI commands (``peerbot
checkins close``, ``peerbot chat``) don't take it: they are built to share
the file with a running server.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class AlreadyServing(RuntimeError):
    """Another ``peerbot serve`` holds this database."""


def lock_path(db: Path) -> Path:
    """Beside the file itself: a symlink or a relative path to it finds the same lock."""
    real = db.expanduser().resolve()
    return real.with_name(real.name + ".serving")


def hold(db: Path) -> IO[str]:
    """Take the database's server lock, or raise ``AlreadyServing`` with the
    line to show. Keep the returned file open for as long as the server runs."""
    path = lock_path(db)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()[:20]
        handle.close()
        who = f" (process {holder})" if holder.isdigit() else ""
        raise AlreadyServing(
            f"another peerbot serve is already running on {db}{who}; one server per database file "
            "(stop it first, or give this one its own PEERBOT_DB)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle

"""What the Slack channel needs remembered: which events it has already taken.

Slack sends an event again when it thinks the first delivery failed (the
``X-Slack-Retry-Num`` header), and Socket Mode can redeliver too. Claiming
each event id here, before any work, makes a retry a no-op instead of a
second answer. Only the opaque event id and the time are kept, never who
sent it or what it said, and ids older than a day are let go.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.core import Store

KEEP_FOR = dt.timedelta(days=1)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


class SlackEvents:
    def __init__(self, store: "Store"):
        self._store = store

    async def claim(self, event_id: str, now: dt.datetime) -> bool:
        """True the first time an event id is seen; False for every repeat."""

        def write() -> bool:
            table = self._store.db["slack_events"]
            try:
                table.insert({"event_id": event_id, "seen_at": _iso(now)})
            except sqlite3.IntegrityError:
                return False
            table.delete_where("seen_at < ?", [_iso(now - KEEP_FOR)])
            return True

        return await self._store.run(write)

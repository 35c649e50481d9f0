"""What the Slack channel needs remembered: which events it has already taken.

Slack sends an event again when it thinks the first delivery failed (the
``X-Slack-Retry-Num`` header), and Socket Mode can redeliver too. Claiming
each event id here, before any of its work, makes a retry a no-op instead
of a second answer, in this process or in one started after a restart.
Only the opaque event id and the time are kept, never who sent it or what
it said, and ids older than a day are let go.

Claims arrive in bursts, so ``claim_many`` writes a whole batch in one
transaction: one commit (one disk sync) for every event that arrived while
the previous batch was being written (bot/channels/slack/repeats.py).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Iterable

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
        return event_id in await self.claim_many([event_id], now)

    async def claim_many(self, event_ids: Iterable[str], now: dt.datetime) -> set[str]:
        """Claim several event ids in one transaction; the ids seen here for
        the first time come back (a repeat within the batch counts once)."""
        ids = list(dict.fromkeys(event_ids))

        def write() -> set[str]:
            db = self._store.db
            fresh: set[str] = set()
            with db.atomic():
                for event_id in ids:
                    cursor = db.execute(
                        "insert into slack_events (event_id, seen_at) values (?, ?) on conflict do nothing",
                        [event_id, _iso(now)],
                    )
                    if cursor.rowcount == 1:
                        fresh.add(event_id)
                db.execute("delete from slack_events where seen_at < ?", [_iso(now - KEEP_FOR)])
            return fresh

        return await self._store.run(write)

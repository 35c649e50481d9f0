"""Attempt counters: how many tries someone made in the current minute.

Keyed by a keyed hash of the person (never their id) and the minute, and
counted with one statement (insert, or add one, and read the count back),
so concurrent tries, or tries on several replicas sharing the database,
can't slip past the limit between a read and a write. Only the current and
the previous minute are kept; older rows are deleted as new ones come
(``secure_delete`` overwrites them), so the table never becomes a record of
who looked something up when.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.core import Store


def _minute(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")


class AttemptLimits:
    def __init__(self, store: "Store"):
        self._store = store

    async def take(self, bucket: str, now: dt.datetime) -> int:
        """Count one try in ``bucket`` this minute; return the tries so far, this one included."""
        minute = _minute(now)
        previous = _minute(now - dt.timedelta(minutes=1))

        def write() -> int:
            db = self._store.db
            with db.atomic():
                db.execute("DELETE FROM attempt_limits WHERE minute < ?", [previous])
                (count,) = db.execute(
                    "INSERT INTO attempt_limits (bucket, minute, tries) VALUES (?, ?, 1) "
                    "ON CONFLICT (bucket, minute) DO UPDATE SET tries = attempt_limits.tries + 1 RETURNING tries",
                    [bucket, minute],
                ).fetchone()
            return int(count)

        return await self._store.run(write)

    async def give_back(self, bucket: str, now: dt.datetime) -> None:
        """Uncount one try this minute (one that turned out to be fine)."""
        await self._store.run(
            lambda: self._store.db.execute(
                "UPDATE attempt_limits SET tries = tries - 1 WHERE bucket = ? AND minute = ? AND tries > 0", [bucket, _minute(now)]
            )
        )

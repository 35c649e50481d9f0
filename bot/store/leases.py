"""Leases: which process does a job that must have one doer at a time.

Several ``peerbot serve`` replicas may share one database. Each of them
could deliver the outbox, and exactly-once holds either way (every
delivery is claimed by a guarded write, bot/store/outbox.py), but pacing
would not: each replica keeps its own count of what it sent to a Slack
channel or a Teams tenant, so three replicas would post three times as
fast as the platform allows. So one replica at a time holds the courier's
lease and delivers; the others queue and leave the sending to it. A lease
runs out on its own, so when its holder dies another replica takes over
within one lease.

A lease is taken or renewed by one guarded upsert: it succeeds when the
name is free, its lease has run out, or the taker already holds it. Plain
SQL that PostgreSQL accepts as well. Nothing here is about a person.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from bot.store.schedule import moment

if TYPE_CHECKING:
    from bot.store.core import Store


class Leases:
    def __init__(self, store: "Store"):
        self._store = store

    async def take(self, name: str, owner: str, now: dt.datetime, until: dt.datetime) -> bool:
        """Hold ``name`` until ``until``; True when ``owner`` holds it now."""

        def write() -> bool:
            return self._store.db.execute(
                "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
                "WHERE leases.owner = excluded.owner OR leases.until < ?",
                [name, owner, moment(until), moment(now)],
            ).rowcount == 1

        return await self._store.run(write)

    async def holder(self, name: str, now: dt.datetime) -> str | None:
        """Who holds ``name`` now; None when nobody does."""

        def read() -> str | None:
            row = self._store.db.execute(
                "SELECT owner FROM leases WHERE name = ? AND until >= ?", [name, moment(now)]
            ).fetchone()
            return row[0] if row else None

        return await self._store.run(read)

    async def release(self, name: str, owner: str) -> None:
        """Let ``name`` go at once (a clean stop), if ``owner`` still holds it."""
        await self._store.run(
            lambda: self._store.db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", [name, owner])
        )

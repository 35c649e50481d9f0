"""What people tell the bot about its answers, kept without any user."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import TYPE_CHECKING, Any

from bot import clock

if TYPE_CHECKING:
    from bot.store.core import Store


def _today() -> str:
    return clock.today().isoformat()


class KnowledgeFeedback:
    def __init__(self, store: "Store"):
        self._store = store

    async def record_helpful(self, entry_id: str, helpful: bool) -> None:
        await self._store.run(
            lambda: self._store.db["kb_feedback"].insert({"entry_id": entry_id, "helpful": int(helpful), "day": _today()})
        )

    async def helpful_counts(self) -> dict[str, dict[str, int]]:
        def read() -> dict[str, dict[str, int]]:
            rows = self._store.db.execute(
                "select entry_id, sum(helpful), sum(1 - helpful) from kb_feedback group by entry_id"
            ).fetchall()
            return {entry: {"yes": yes, "no": no} for entry, yes, no in rows}

        return await self._store.run(read)

    async def record_gap(self, question: str, likely_entry: str | None) -> None:
        """Count a question the bot could not answer. A new one gets the next
        gap number, which it keeps."""
        key = " ".join(question.split())[:500]

        def write() -> None:
            db = self._store.db
            for _ in range(5):
                try:
                    db.execute(
                        "insert into kb_gaps (question, count, likely_entry, first_seen, last_seen, number) "
                        "values (?, 1, ?, ?, ?, (select coalesce(max(number), 0) + 1 from kb_gaps)) "
                        "on conflict(question) do update set count = count + 1, likely_entry = excluded.likely_entry, "
                        "last_seen = excluded.last_seen",
                        [key, likely_entry or "", _today(), _today()],
                    )
                    return
                except sqlite3.IntegrityError:
                    continue  # another writer took that number at the same moment: take the next

        await self._store.run(write)

    async def gaps(self) -> list[dict[str, Any]]:
        """Gaps not accepted yet, most asked first, each with its number."""

        def read() -> list[dict[str, Any]]:
            return list(self._store.db["kb_gaps"].rows_where("accepted_as is null", order_by="count desc, last_seen desc, number"))

        return await self._store.run(read)

    async def gap(self, number: int) -> dict[str, Any] | None:
        """One gap by its number, accepted or not."""

        def read() -> dict[str, Any] | None:
            rows = list(self._store.db["kb_gaps"].rows_where("number = ?", [number], limit=1))
            return rows[0] if rows else None

        return await self._store.run(read)

    async def accept_gap(self, number: int, entry_id: str, now: dt.datetime) -> tuple[str, bool] | None:
        """Mark gap ``number`` accepted as a phrasing of ``entry_id``, once:
        one compare-and-set. Returns the entry it is accepted as and whether
        this call accepted it (False: an earlier or simultaneous run did, and
        its choice stands). None if there is no such gap."""

        def write() -> tuple[str, bool] | None:
            db = self._store.db
            won = db.execute(
                "update kb_gaps set accepted_as = ?, accepted_on = ? where number = ? and accepted_as is null",
                [entry_id, now.date().isoformat(), number],
            ).rowcount == 1
            row = db.execute("select accepted_as from kb_gaps where number = ?", [number]).fetchone()
            return (row[0], won) if row else None

        return await self._store.run(write)

    async def reopen_gap(self, number: int, entry_id: str) -> None:
        """Undo an acceptance whose phrasing could not be written."""
        await self._store.run(
            lambda: self._store.db.execute("update kb_gaps set accepted_as = null, accepted_on = null where number = ? and accepted_as = ?", [number, entry_id])
        )

"""What people tell the bot about its answers, kept without any user."""

from __future__ import annotations

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
        key = " ".join(question.split())[:500]

        def write() -> None:
            db = self._store.db
            with db.atomic():
                db.execute(
                    "insert into kb_gaps (question, count, likely_entry, first_seen, last_seen) values (?, 1, ?, ?, ?) "
                    "on conflict(question) do update set count = count + 1, likely_entry = excluded.likely_entry, "
                    "last_seen = excluded.last_seen",
                    [key, likely_entry or "", _today(), _today()],
                )

        await self._store.run(write)

    async def gaps(self) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            return list(self._store.db["kb_gaps"].rows_where(order_by="count desc, last_seen desc"))

        return await self._store.run(read)

    async def forget_gap(self, question: str) -> None:
        await self._store.run(lambda: self._store.db.execute("delete from kb_gaps where question = ?", [question]))

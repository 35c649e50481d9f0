"""The persisted outbox: nothing addressed elsewhere is lost to a crash.

A delivery queued with a coarse moment (``coarse_at``: an anonymous
reporter's concern, bot/store/concerns.py) is stored with that moment as
both its times, never the exact one; a retry puts it back to that moment
(so it is due again at once, paced by the courier's passes), and once it
is delivered its times are blanked. Only while a send is in flight (the
two-minute lease) does its row hold an exact time.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.core import Store


@dataclass
class OutboxItem:
    id: int
    key: str
    via: str
    address_kind: str
    address_id: str
    reply: dict[str, Any]
    state: str
    attempts: int


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


class Outbox:
    def __init__(self, store: "Store"):
        self._store = store

    async def enqueue(
        self, key: str, via: str, address_kind: str, address_id: str, reply: dict[str, Any], now: dt.datetime,
        post_key: str | None = None, coarse_at: dt.datetime | None = None,
    ) -> bool:
        """Store a delivery; False if one with this key already exists. A
        keyed post replaces an older version of itself still waiting."""

        def write() -> bool:
            db = self._store.db
            try:
                with db.atomic():
                    db["outbox"].insert(
                        {
                            "key": key, "via": via, "address_kind": address_kind, "address_id": address_id,
                            "reply": json.dumps(reply), "state": "pending", "attempts": 0,
                            "next_attempt_at": _iso(coarse_at or now), "ref": "", "last_error": "",
                            "created_at": _iso(coarse_at or now), "post_key": post_key, "coarse": int(coarse_at is not None),
                        }
                    )
                    if post_key is not None:
                        db.execute(
                            "update outbox set state = 'superseded', reply = '{}' where via = ? and address_kind = ? "
                            "and address_id = ? and post_key = ? and state = 'pending' and key != ?",
                            [via, address_kind, address_id, post_key, key],
                        )
            except sqlite3.IntegrityError:
                return False
            return True

        return await self._store.run(write)

    async def due(self, now: dt.datetime, limit: int = 50) -> list[OutboxItem]:
        def read() -> list[OutboxItem]:
            rows = self._store.db["outbox"].rows_where(
                "state in ('pending', 'sending') and next_attempt_at <= ?", [_iso(now)], order_by="id", limit=limit
            )
            return [
                OutboxItem(r["id"], r["key"], r["via"], r["address_kind"], r["address_id"], json.loads(r["reply"]), r["state"], r["attempts"])
                for r in rows
            ]

        return await self._store.run(read)

    async def claim(self, item_id: int, now: dt.datetime, lease_until: dt.datetime) -> bool:
        """Take one due delivery for this pass, or False if another pass (in
        this process or another) already has it.

        One guarded write: the row moves to 'sending' and out of ``due`` until
        ``lease_until`` only if it is still due now, so two passes can never
        both send it. A 'sending' row whose lease ran out is a send that died
        part-way (a crash, a hang); it can be claimed again, and the courier
        then asks the platform before sending it a second time. A keyed post
        also waits while an older version of itself is still on its way, so
        an old status can never land after a newer one.
        """

        def write() -> bool:
            cursor = self._store.db.execute(
                "update outbox set state = 'sending', next_attempt_at = ? "
                "where id = ? and state in ('pending', 'sending') and next_attempt_at <= ? "
                "and not (post_key is not null and exists (select 1 from outbox older where older.post_key = outbox.post_key "
                "and older.via = outbox.via and older.address_kind = outbox.address_kind and older.address_id = outbox.address_id "
                "and older.id < outbox.id and older.state in ('pending', 'sending')))",
                [_iso(lease_until), item_id, _iso(now)],
            )
            return cursor.rowcount == 1

        return await self._store.run(write)

    async def mark_delivered(self, item_id: int, ref: str) -> None:
        # The text is not kept once it has arrived: the platform has it now;
        # nor, for a coarse delivery, any time.
        await self._store.run(
            lambda: self._store.db.execute(
                "update outbox set state = 'delivered', ref = ?, reply = '{}', last_error = '', "
                "created_at = case when coarse = 1 then '' else created_at end, "
                "next_attempt_at = case when coarse = 1 then '' else next_attempt_at end where id = ?",
                [ref, item_id],
            )
        )

    async def retry_later(self, item_id: int, attempts: int, when: dt.datetime, error: str) -> None:
        await self._store.run(
            lambda: self._store.db.execute(
                "update outbox set state = 'pending', attempts = ?, last_error = ?, "
                "next_attempt_at = case when coarse = 1 then created_at else ? end where id = ?",
                [attempts, error[:300], _iso(when), item_id],
            )
        )

    async def mark_failed(self, item_id: int, error: str) -> None:
        await self._store.run(
            lambda: self._store.db.execute(
                "update outbox set state = 'failed', last_error = ?, "
                "next_attempt_at = case when coarse = 1 then created_at else next_attempt_at end where id = ?",
                [error[:300], item_id],
            )
        )

    async def counts(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            return dict(self._store.db.execute("select state, count(*) from outbox group by state").fetchall())

        return await self._store.run(read)

    async def posted_ref(self, via: str, kind: str, address_id: str, key: str) -> str | None:
        def read() -> str | None:
            row = self._store.db.execute(
                "select ref from posted where via = ? and address_kind = ? and address_id = ? and key = ?",
                [via, kind, address_id, key],
            ).fetchone()
            return row[0] if row else None

        return await self._store.run(read)

    async def remember_posted(self, via: str, kind: str, address_id: str, key: str, ref: str) -> None:
        await self._store.run(
            lambda: self._store.db["posted"].upsert(
                {"via": via, "address_kind": kind, "address_id": address_id, "key": key, "ref": ref},
                pk=("via", "address_kind", "address_id", "key"),
            )
        )

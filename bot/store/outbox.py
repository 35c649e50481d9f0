"""The persisted outbox: nothing addressed elsewhere is lost to a crash.

A delivery queued with a coarse moment (``coarse_at``: an anonymous
reporter's concern, bot/store/concerns.py) is kept apart, in
``anonymous_outbox`` (and where its post landed in ``anonymous_posted``),
never in a sequence or a page with named deliveries, and is stored with
that moment as both its times, never the exact one; a retry puts it back to that moment
(so it is due again at once, paced by the courier's passes), and once it
is delivered its times are blanked. Only while a send is in flight (the
two-minute lease) does its row hold an exact time.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.core import Store


EVERY_POSTED = "every_posted"
EVERY_OUTBOX = "every_outbox"
ANONYMOUS_OUTBOX = "anonymous_outbox"


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


@dataclass(frozen=True)
class Queued:
    """One delivery to store (``Outbox.enqueue``'s arguments)."""

    key: str
    via: str
    address_kind: str
    address_id: str
    reply: dict[str, Any]
    now: dt.datetime
    post_key: str | None = None
    coarse_at: dt.datetime | None = None


@dataclass(frozen=True)
class Delivered:
    """A delivery the platform took, not yet marked (``Outbox.claim``'s
    ``settle``): at ``ref``; a keyed post also remembers where it landed."""

    item_id: int
    ref: str
    posted: tuple[str, str, str, str] | None = None  # via, address kind, address id, post key
    apart: bool = False


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _table(item_id: int) -> str:
    """Which table holds a delivery: coarse ones have negative random ids."""
    return ANONYMOUS_OUTBOX if item_id < 0 else "outbox"


def _order(table: str) -> str:
    """The column that orders versions of one keyed post in ``table``."""
    return "seq" if table == ANONYMOUS_OUTBOX else "id"


class Outbox:
    def __init__(self, store: "Store"):
        self._store = store

    async def enqueue(
        self, key: str, via: str, address_kind: str, address_id: str, reply: dict[str, Any], now: dt.datetime,
        post_key: str | None = None, coarse_at: dt.datetime | None = None,
    ) -> bool:
        """Store a delivery; False if one with this key already exists. A
        keyed post replaces an older version of itself still waiting.

        With ``coarse_at`` (an anonymous concern's post) the delivery goes
        to ``anonymous_outbox``: WITHOUT ROWID, keyed by its key, under a
        negative random id, so it takes no place in the named deliveries'
        sequence or pages; versions of one post are ordered by ``seq``."""
        item = Queued(key, via, address_kind, address_id, reply, now, post_key, coarse_at)
        return await self._store.run(lambda: self._enqueue(item))

    async def enqueue_many(self, items: list["Queued"]) -> list[bool]:
        """Store several deliveries in one transaction (one commit, not one
        each), in order, each exactly as ``enqueue`` would: its own guard on
        its key, and a clash on one (a savepoint) drops only that one."""

        def write() -> list[bool]:
            with self._store.db.atomic():
                return [self._enqueue(item) for item in items]

        return await self._store.run(write) if items else []

    def _enqueue(self, item: "Queued") -> bool:
        db = self._store.db
        coarse_at, post_key, key = item.coarse_at, item.post_key, item.key
        table = ANONYMOUS_OUTBOX if coarse_at is not None else "outbox"
        row = {
            "key": key, "via": item.via, "address_kind": item.address_kind, "address_id": item.address_id,
            "reply": json.dumps(item.reply), "state": "pending", "attempts": 0,
            "next_attempt_at": _iso(coarse_at or item.now), "ref": "", "last_error": "",
            "created_at": _iso(coarse_at or item.now), "post_key": post_key, "coarse": int(coarse_at is not None),
        }
        try:
            with db.atomic():
                if db.execute(f"select 1 from {EVERY_OUTBOX} where key = ?", [key]).fetchone():
                    return False
                if coarse_at is not None:
                    row["id"] = -(secrets.randbelow(2**62) + 1)
                    row["seq"] = db.execute(
                        f"select coalesce(max(seq), 0) + 1 from {ANONYMOUS_OUTBOX} where post_key = ?", [post_key]
                    ).fetchone()[0]
                db[table].insert(row)
                if post_key is not None:
                    db.execute(
                        f"update {table} set state = 'superseded', reply = '{{}}' where via = ? and address_kind = ? "
                        "and address_id = ? and post_key = ? and state = 'pending' and key != ?",
                        [item.via, item.address_kind, item.address_id, post_key, key],
                    )
        except sqlite3.IntegrityError:
            return False
        return True

    async def due(self, now: dt.datetime, limit: int = 50) -> list[OutboxItem]:
        def read() -> list[OutboxItem]:
            db = self._store.db
            # The oldest due ids first, then only their rows: ordering the due
            # rows themselves sorts every waiting reply, images and all, at
            # every pass (a weekly close's charts made that quadratic).
            ids = [row[0] for row in db.execute(
                f"select id from {EVERY_OUTBOX} where state in ('pending', 'sending') and next_attempt_at <= ? "
                "order by id limit ?", [_iso(now), limit])]
            if not ids:
                return []
            marks = ", ".join("?" for _ in ids)
            cursor = db.execute(
                f"select id, key, via, address_kind, address_id, reply, state, attempts from {EVERY_OUTBOX} "
                f"where id in ({marks}) order by id", ids)
            return [OutboxItem(i, k, via, kind, address, json.loads(reply), state, attempts)
                    for i, k, via, kind, address, reply, state, attempts in cursor]

        return await self._store.run(read)

    async def claim(self, item_id: int, now: dt.datetime, lease_until: dt.datetime, settle: list[Delivered] | None = None) -> bool:
        """Take one due delivery for this pass, or False if another pass (in
        this process or another) already has it.

        One guarded write: the row moves to 'sending' and out of ``due`` until
        ``lease_until`` only if it is still due now, so two passes can never
        both send it. A 'sending' row whose lease ran out is a send that died
        part-way (a crash, a hang); it can be claimed again, and the courier
        then asks the platform before sending it a second time. A keyed post
        also waits while an older version of itself is still on its way, so
        an old status can never land after a newer one.

        ``settle``: deliveries sent since the last write, marked delivered in
        the same transaction, before the claim (one commit per delivery, not
        two: the mark still lands after its send and before the next send).
        """
        table = _table(item_id)
        order = _order(table)

        def write() -> bool:
            db = self._store.db
            with db.atomic():
                self._settle(settle or [])
                cursor = db.execute(
                    f"update {table} set state = 'sending', next_attempt_at = ? "
                    "where id = ? and state in ('pending', 'sending') and next_attempt_at <= ? "
                    f"and not (post_key is not null and exists (select 1 from {table} older where older.post_key = {table}.post_key "
                    f"and older.via = {table}.via and older.address_kind = {table}.address_kind and older.address_id = {table}.address_id "
                    f"and older.{order} < {table}.{order} and older.state in ('pending', 'sending')))",
                    [_iso(lease_until), item_id, _iso(now)],
                )
                return cursor.rowcount == 1

        return await self._store.run(write)

    async def mark_delivered(self, item_id: int, ref: str) -> None:
        await self.settle([Delivered(item_id, ref)])

    async def settle(self, delivered: list[Delivered]) -> None:
        """Mark deliveries delivered (and where keyed posts landed), in one transaction."""
        if delivered:
            await self._store.run(self._settle_atomically, delivered)

    def _settle_atomically(self, delivered: list[Delivered]) -> None:
        with self._store.db.atomic():
            self._settle(delivered)

    def _settle(self, delivered: list[Delivered]) -> None:
        # The text is not kept once it has arrived: the platform has it now;
        # nor, for a coarse delivery, any time, or the platform's reference
        # (a Slack message's is its exact time).
        db = self._store.db
        for done in delivered:
            if done.posted is not None:
                self._remember_posted(*done.posted, done.ref, done.apart)
            db.execute(
                f"update {_table(done.item_id)} set state = 'delivered', reply = '{{}}', last_error = '', "
                "ref = case when coarse = 1 then '' else ? end, "
                "created_at = case when coarse = 1 then '' else created_at end, "
                "next_attempt_at = case when coarse = 1 then '' else next_attempt_at end where id = ?",
                [done.ref, done.item_id],
            )

    async def retry_later(self, item_id: int, attempts: int, when: dt.datetime, error: str) -> None:
        await self._store.run(
            lambda: self._store.db.execute(
                f"update {_table(item_id)} set state = 'pending', attempts = ?, last_error = ?, "
                "next_attempt_at = case when coarse = 1 then created_at else ? end where id = ?",
                [attempts, error[:300], _iso(when), item_id],
            )
        )

    async def mark_failed(self, item_id: int, error: str) -> None:
        await self._store.run(
            lambda: self._store.db.execute(
                f"update {_table(item_id)} set state = 'failed', last_error = ?, "
                "next_attempt_at = case when coarse = 1 then created_at else next_attempt_at end where id = ?",
                [error[:300], item_id],
            )
        )

    async def counts(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            return dict(self._store.db.execute(f"select state, count(*) from {EVERY_OUTBOX} group by state").fetchall())

        return await self._store.run(read)

    async def posted_ref(self, via: str, kind: str, address_id: str, key: str) -> str | None:
        def read() -> str | None:
            row = self._store.db.execute(
                f"select ref from {EVERY_POSTED} where via = ? and address_kind = ? and address_id = ? and key = ?",
                [via, kind, address_id, key],
            ).fetchone()
            return row[0] if row else None

        return await self._store.run(read)

    async def remember_posted(self, via: str, kind: str, address_id: str, key: str, ref: str, apart: bool = False) -> None:
        """Where a keyed post landed. ``apart`` (a coarse delivery: an
        anonymous concern's) keeps it in ``anonymous_posted``, WITHOUT ROWID,
        never in order among named concerns' posts."""
        await self._store.run(self._remember_posted, via, kind, address_id, key, ref, apart)

    def _remember_posted(self, via: str, kind: str, address_id: str, key: str, ref: str, apart: bool) -> None:
        table = "anonymous_posted" if apart else "posted"
        self._store.db.execute(
            f"INSERT INTO {table} (via, address_kind, address_id, key, ref) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (via, address_kind, address_id, key) DO UPDATE SET ref = excluded.ref",
            [via, kind, address_id, key, ref],
        )

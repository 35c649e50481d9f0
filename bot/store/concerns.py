"""Concerns raised with the peer supervisors, and their audit trail.

A concern is written here, and committed, before any delivery of it is
tried: this row is what makes it impossible to lose. For an anonymous
concern nothing about the reporter is stored: no id, no name, and a relay
link only when they asked to hear back, and then only encrypted (the key is
in configuration, never here), deleted when the concern is resolved.
Resolved concerns lose their text after the retention period; the row
stays, so counts survive.

An anonymous concern's own times are coarse (``reporter_moment``): the hour
during business hours, the day outside them, when many people are active
and few are, so a time can't be matched with someone's activity on the
chat platform.

Coarse times are not enough on their own: whoever holds the file can read
the order rows were written in (rowids, the order of cells inside a page)
and date an anonymous row by the exact times of the named rows written
just before and after it. So anonymous concerns and their audit events
live apart, on their own shelf (``ANONYMOUS``): the tables
``anonymous_concerns`` and ``anonymous_concern_events``, WITHOUT ROWID and
keyed by the random reference (events by reference and number within
it), so they have no rowid, share no sequence and no page with named
concerns, and the only times stored near an anonymous concern's row are
those of other anonymous concerns, which are coarse too. Whatever order
can be read from those pages, it orders things whose times are already
only the hour or the day. Named concerns stay on the ``NAMED`` shelf.
Migration 0019 moved the anonymous ones that were stored before, and
rebuilt the named tables so no gap in their rowids marks where one was
(``secure_delete`` overwrites what was removed).

Every read goes through the views ``every_concern`` and
``every_concern_event`` (the two shelves as one), and every write that
names a concern by its reference is one function over both shelves: the
guarded UPDATE runs on the shelf that holds the reference (the other one
matches no row), so each query is written once. A reference is unique
across both shelves.

The delivery of an anonymous concern keeps no exact time either: its
posts are queued with the coarse moment (``Reply.recorded_at``) and the
outbox blanks their times once delivered (bot/store/outbox.py); they
and where their posts landed are kept apart in ``anonymous_outbox`` and
``anonymous_posted``. The escalation job's time is derived from
``released_at``, coarse for them, and the job is kept apart in
``anonymous_jobs`` (bot/store/schedule.py).

Steps others take on an anonymous concern (a supervisor acknowledging or
viewing it, an escalation, the purge) are written with the same coarse
moment (intents/concern.py ``_on_record``): a step's exact time on this
shelf would date every anonymous concern written after it in the page.
What this does not hide: the chat platform itself timestamps the post in
the supervisors' channel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from bot.store.core import Store

# No 0/O, 1/I/L, so a reference read aloud or copied by hand comes out right.
REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REF_LENGTH = 6
OPEN_STATES = ("open", "acknowledged", "taken")
# Everything that can name or reach the reporter, or say what happened:
# emptied by the retention purge.
PURGED_COLUMNS = ("body", "resolution", "reporter_id", "reporter_name", "reporter_via", "relay", "team")


@dataclass(frozen=True)
class Shelf:
    """Where one kind of concern is kept: its table and its events' table."""

    concerns: str
    events: str


NAMED = Shelf("concerns", "concern_events")
ANONYMOUS = Shelf("anonymous_concerns", "anonymous_concern_events")
SHELVES = (NAMED, ANONYMOUS)
# Both shelves as one, for every read.
EVERY_CONCERN = "every_concern"
EVERY_EVENT = "every_concern_event"



@dataclass(frozen=True)
class Step:
    """One step a peer supervisor can take on a concern."""

    from_states: tuple[str, ...]
    to_state: str
    what: str  # the word in the audit trail


# The supervisors' desk: which step may be taken from which state. Each step
# is one compare-and-set here (UPDATE ... WHERE state IN from_states), so a
# double press, a platform's retry or two replicas take it once; whoever
# loses the race is told what the winner did. Taking a concern over from
# another supervisor is allowed; taking it again yourself changes nothing.
DESK: dict[str, Step] = {
    "ack": Step(("open",), "acknowledged", "acknowledged"),
    "take": Step(("open", "acknowledged", "taken"), "taken", "taken"),
    "resolve": Step(OPEN_STATES, "resolved", "resolved"),
}
# Columns a step may set besides the state.
STEP_COLUMNS = ("taken_by", "resolution", "resolved_at")


def once_key(token: str) -> str:
    """What is stored of a one-time token (a draft's, a form's): its hash, so
    the token itself, which travels on the chat platform, is never here."""
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


BUSINESS_HOURS = range(8, 19)


def reporter_moment(moment: dt.datetime, timezone: str) -> dt.datetime:
    """How precisely an anonymous reporter's own actions are timed: the
    start of the hour on a weekday from 08:00 to 18:59 in ``timezone``,
    otherwise the start of the day (few people are active then, so an hour
    would point to them)."""
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo(timezone))
    if local.weekday() < 5 and local.hour in BUSINESS_HOURS:
        coarse = local.replace(minute=0, second=0, microsecond=0)
    else:
        coarse = dt.datetime.combine(local.date(), dt.time(), tzinfo=local.tzinfo)
    return coarse.astimezone(dt.timezone.utc)


def _add_event(db: Any, shelf: Shelf, ref: str, at: str, who: str, what: str, once: str | None = None) -> int:
    """One audit event under a random id (no sequence shared across
    concerns), numbered within its own concern for the trail's order.
    ``once`` (a hash, see ``once_key``) makes a second event with the same
    key an IntegrityError, so it is recorded once."""
    for _ in range(5):
        event_id = secrets.randbelow(2**62) + 1
        try:
            db.execute(
                f"INSERT INTO {shelf.events} (id, ref, seq, at, who, what, once_key) "
                f"VALUES (?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM {shelf.events} WHERE ref = ?), ?, ?, ?, ?)",
                [event_id, ref, ref, at, who, what, once],
            )
            return event_id
        except sqlite3.IntegrityError:
            if once is not None and db.execute(f"SELECT 1 FROM {shelf.events} WHERE once_key = ?", [once]).fetchone():
                raise  # recorded already: the caller's guard
            continue  # that random id was taken: draw another
    raise RuntimeError("could not draw a free event id")


def _update_concern(
    db: Any, ref: str, sets: dict[str, Any], guard: str = "", args: tuple[Any, ...] = (), touch: bool = False
) -> Shelf | None:
    """One guarded UPDATE of a concern, on whichever shelf holds ``ref``
    (the other matches no row): the shelf it changed, or None when the
    guard (or the reference) matched nothing. With ``touch`` and nothing to
    set, a write that changes nothing: it says where the concern is and
    whether the guard holds, and takes the write lock first. Must run in a
    transaction."""
    assignments = ", ".join(f"{column} = ?" for column in sets) or ("state = state" if touch else "")
    if not assignments:
        raise ValueError("nothing to update")
    for shelf in SHELVES:
        cursor = db.execute(
            f"update {shelf.concerns} set {assignments} where ref = ?{f' and {guard}' if guard else ''}", [*sets.values(), ref, *args]
        )
        if cursor.rowcount == 1:
            return shelf
    return None


class Brief(NamedTuple):
    """One line of the concerns list."""

    ref: str
    category: str
    state: str
    named: int
    created_at: str
    escalated_at: str | None
    purged_at: str | None


def new_ref() -> str:
    return "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))


def post_key(ref: str) -> str:
    """The outbox idempotency key of a concern's first post."""
    return f"concern:{ref}:post"


class Concerns:
    def __init__(self, store: "Store"):
        self._store = store

    # -- writing -------------------------------------------------------------

    async def create(self, fields: dict[str, Any], now: dt.datetime) -> str:
        """Store a new concern and its first audit event; return its reference."""
        ref, _ = await self.create_once(fields, now, None)
        return ref

    async def create_once(self, fields: dict[str, Any], now: dt.datetime, send_key: str | None) -> tuple[str, bool]:
        """Store a new concern and its first audit event, once per
        ``send_key`` (see ``once_key``); return its reference and whether it
        is new. A second Send of the same draft, at the same moment or later,
        gets the first one's reference and stores nothing: the unique index
        on send_key decides, not a look before the write. Committed before
        this returns, so nothing after it can lose it."""

        def write() -> tuple[str, bool]:
            db = self._store.db
            for _ in range(20):
                ref = new_ref()
                row = {**fields, "ref": ref, "created_at": _iso(now), "send_key": send_key}
                if row.get("state") != "held":
                    row["released_at"] = _iso(now)
                shelf = NAMED if row.get("named") else ANONYMOUS
                try:
                    with db.atomic():
                        # The write lock is held: a reference on the other
                        # shelf can't appear between this look and the insert.
                        if db.execute(f"select 1 from {EVERY_CONCERN} where ref = ?", [ref]).fetchone():
                            continue  # that reference is taken: draw another
                        db[shelf.concerns].insert(row)
                        _add_event(db, shelf, ref, _iso(now), "the reporter", "raised")
                        if row.get("state") == "held":
                            _add_event(db, shelf, ref, _iso(now), "peerbot", "held")
                    return ref, True
                except sqlite3.IntegrityError:
                    earlier = self._sent_with(db, send_key)
                    if earlier is not None:
                        return earlier, False  # this draft was sent already
                    continue  # that reference is taken: draw another
            raise RuntimeError("could not find a free concern reference")

        return await self._store.run(write)

    @staticmethod
    def _sent_with(db: Any, send_key: str | None) -> str | None:
        if send_key is None:
            return None
        row = db.execute(f"select ref from {EVERY_CONCERN} where send_key = ?", [send_key]).fetchone()
        return row[0] if row else None

    async def sent_with(self, send_key: str) -> str | None:
        """The reference of the concern a draft became, if it was sent."""
        return await self._store.run(lambda: self._sent_with(self._store.db, send_key))

    async def step(self, ref: str, verb: str, who: str, now: dt.datetime, **changes: Any) -> int | None:
        """Take one step of ``DESK`` on a concern: one compare-and-set on its
        state, and its audit event, together. Returns the event's id, or
        None when the concern is not in a state that allows the step (the
        same step was just taken by this press's twin, or someone else got
        there first): then nothing was written, and nothing should be sent.
        Resolving also deletes the reporter's relay link, in the same step."""
        step = DESK[verb]
        unknown = set(changes) - set(STEP_COLUMNS)
        if unknown:
            raise ValueError(f"a step can't set {sorted(unknown)}")

        def write() -> int | None:
            db = self._store.db
            sets = {"state": step.to_state, **changes}
            guard = f"state in ({', '.join('?' for _ in step.from_states)})"
            args: list[Any] = [*step.from_states]
            if verb == "take":
                guard += " and not (state = 'taken' and coalesce(taken_by, '') = ?)"
                args.append(changes.get("taken_by", who))
            # Writes only, the guarded one first (see core._Database.atomic).
            with db.atomic():
                shelf = _update_concern(db, ref, sets, guard, tuple(args))
                if shelf is None:
                    return None
                event = _add_event(db, shelf, ref, _iso(now), who, step.what)
                if step.to_state == "resolved":
                    if db.execute(f"update {shelf.concerns} set relay = null where ref = ? and relay is not null", [ref]).rowcount == 1:
                        _add_event(db, shelf, ref, _iso(now), "peerbot", "relay-deleted")
                return event

        return await self._store.run(write)

    async def note(self, ref: str, who: str, what: str, now: dt.datetime, once: str | None) -> int | None:
        """Record a message passed on (a supervisor's reply, the reporter's
        answer) while the concern is open, once per ``once`` key (the hash of
        a token its form carried). None when it was recorded already or the
        concern is no longer open: then nothing should be sent."""

        def write() -> int | None:
            db = self._store.db
            try:
                with db.atomic():
                    # A write that changes nothing, guarded on the state: it
                    # says whether the concern is open and takes the write
                    # lock first (a read first could not wait for it).
                    shelf = _update_concern(db, ref, {}, f"state in ({', '.join('?' for _ in OPEN_STATES)})", OPEN_STATES, touch=True)
                    return _add_event(db, shelf, ref, _iso(now), who, what, once) if shelf else None
            except sqlite3.IntegrityError:
                return None  # this form's message was passed on already

        return await self._store.run(write)

    async def escalate(self, ref: str, now: dt.datetime) -> int | None:
        """Mark an unacknowledged concern escalated, once (the scheduled job
        and the sweep may both get there)."""

        def write() -> int | None:
            db = self._store.db
            with db.atomic():
                shelf = _update_concern(db, ref, {"escalated_at": _iso(now)}, "state = 'open' and escalated_at is null")
                if shelf is None:
                    return None
                return _add_event(db, shelf, ref, _iso(now), "peerbot", "escalated")

        return await self._store.run(write)

    async def record(self, ref: str, who: str, what: str, now: dt.datetime, **changes: Any) -> int:
        """Add one audit event and apply ``changes`` to the concern together."""

        def write() -> int:
            db = self._store.db
            with db.atomic():
                shelf = _update_concern(db, ref, dict(changes), touch=not changes)
                if shelf is None:
                    raise KeyError(ref)
                return _add_event(db, shelf, ref, _iso(now), who, what)

        return await self._store.run(write)

    async def release(self, refs: list[str], now: dt.datetime, together: str) -> list[str]:
        """Held concerns go out: open them, noting which ones went together.
        Returns the ones this call released (each goes out once, however many
        sends arrive at the same moment)."""

        def write() -> list[str]:
            db = self._store.db
            released = []
            with db.atomic():
                for ref in refs:
                    shelf = _update_concern(db, ref, {"state": "open", "released_at": _iso(now), "released_with": together}, "state = 'held'")
                    if shelf is not None:
                        _add_event(db, shelf, ref, _iso(now), "peerbot", "released")
                        released.append(ref)
            return released

        return await self._store.run(write)

    async def purge_resolved(self, before: dt.datetime, now: dt.datetime, coarse_now: dt.datetime | None = None) -> list[str]:
        """Empty the text and any link to the reporter of concerns resolved
        before ``before``; the rows (category, dates) stay for the counts.
        Anonymous ones are marked with ``coarse_now`` (their coarse moment)."""

        def write() -> list[str]:
            db = self._store.db
            refs = [
                r[0]
                for r in db.execute(
                    f"select ref from {EVERY_CONCERN} where state = 'resolved' and purged_at is null and resolved_at < ?", [_iso(before)]
                ).fetchall()
            ]
            with db.atomic():
                for ref in refs:
                    named = db.execute(f"select 1 from {NAMED.concerns} where ref = ?", [ref]).fetchone() is not None
                    at = _iso(now if named or coarse_now is None else coarse_now)
                    shelf = _update_concern(db, ref, {**{c: None for c in PURGED_COLUMNS}, "purged_at": at})
                    if shelf is not None:
                        _add_event(db, shelf, ref, at, "peerbot", "purged")
            return refs

        return await self._store.run(write)

    # -- reading -------------------------------------------------------------

    async def get(self, ref: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            rows = list(self._store.db[EVERY_CONCERN].rows_where("ref = ?", [ref.strip().upper()], limit=1))
            return rows[0] if rows else None

        return await self._store.run(read)

    async def events(self, ref: str) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            return list(self._store.db[EVERY_EVENT].rows_where("ref = ?", [ref], order_by="seq"))

        return await self._store.run(read)

    async def listing(self, open_only: bool = False) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            where = f"state in ('held', {', '.join(repr(s) for s in OPEN_STATES)})" if open_only else None
            return list(self._store.db[EVERY_CONCERN].rows_where(where, order_by="created_at, ref"))

        return await self._store.run(read)

    async def briefs(self, open_only: bool = False, limit: int | None = None) -> list["Brief"]:
        """What ``peerbot concerns list`` shows of each concern (no text, no
        reporter), oldest first: only those columns, as tuples, so a list
        of thousands is one quick query. ``limit``: only the most recent."""

        def read() -> list[Brief]:
            where = f" where state in ('held', {', '.join(repr(s) for s in OPEN_STATES)})" if open_only else ""
            sql = f"select {', '.join(Brief._fields)} from {EVERY_CONCERN}{where}"
            if limit is None:
                return [Brief._make(row) for row in self._store.db.execute(f"{sql} order by created_at, ref")]
            newest = self._store.db.execute(f"{sql} order by created_at desc, ref desc limit ?", [limit]).fetchall()
            return [Brief._make(row) for row in reversed(newest)]

        return await self._store.run(read)

    async def of_reporter(self, reporter_id: str, via: str) -> list[dict[str, Any]]:
        """A named reporter's own concerns (anonymous ones are linked to nobody)."""

        def read() -> list[dict[str, Any]]:
            return list(
                self._store.db[EVERY_CONCERN].rows_where(
                    "named = 1 and reporter_id = ? and reporter_via = ?", [reporter_id, via], order_by="created_at"
                )
            )

        return await self._store.run(read)

    async def named_since(self, reporter_id: str, via: str, since: dt.datetime) -> int:
        def read() -> int:
            return self._store.db.execute(
                f"select count(*) from {EVERY_CONCERN} where named = 1 and reporter_id = ? and reporter_via = ? and created_at >= ?",
                [reporter_id, via, _iso(since)],
            ).fetchone()[0]

        return await self._store.run(read)

    async def scope_group(self, team: str, since: dt.datetime) -> list[dict[str, Any]]:
        """Scope-drift concerns from one team since ``since``, held or sent."""

        def read() -> list[dict[str, Any]]:
            return list(
                self._store.db[EVERY_CONCERN].rows_where(
                    "category = 'scope' and coalesce(team, '') = ? and created_at >= ? and purged_at is null",
                    [team, _iso(since)],
                    order_by="created_at",
                )
            )

        return await self._store.run(read)

    async def unqueued(self) -> list[dict[str, Any]]:
        """Concerns that went out (not held) but whose post never reached the
        outbox: the process stopped between storing and queueing."""

        def read() -> list[dict[str, Any]]:
            return list(
                self._store.db.query(
                    f"select * from {EVERY_CONCERN} c where c.released_at is not null and not exists "
                    "(select 1 from every_outbox o where o.key = 'concern:' || c.ref || ':post') order by c.created_at"
                )
            )

        return await self._store.run(read)

    async def waiting_unacknowledged(self) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            return list(self._store.db[EVERY_CONCERN].rows_where("state = 'open' and escalated_at is null", order_by="released_at"))

        return await self._store.run(read)

    async def counts(self) -> dict[str, dict[str, int]]:
        """Concerns per category and state, purged ones included."""

        def read() -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = {}
            for category, state, n in self._store.db.execute(
                f"select category, state, count(*) from {EVERY_CONCERN} group by category, state"
            ).fetchall():
                out.setdefault(category, {})[state] = n
            return out

        return await self._store.run(read)

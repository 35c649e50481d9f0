"""Anonymous surveys (check-ins and pulses): anonymous on disk, not only in the schema.

The threat: someone holds the database file (and its write-ahead log) and
the configuration, at any moment, also before a round closes, and knows
who was asked and in what order people answered (from the chat platform).
They must not be able to tie an answer to a person better than chance.

Why rows per answer can't do it: SQLite places each new row in the file in
the order it is written, whatever the key (random keys and WITHOUT ROWID
change the logical order, not the byte offsets within a page), and so does
PostgreSQL's heap. Two tables written in the same order, "who was sent a
form" and "the answers", are matched by reading offsets. So nothing here is
written per answer in a new place. All of a round's storage is allocated
when the round opens, in random order, and afterwards only updated in place
with values of the same size:

- ``survey_eligible``: the members of the team when the round opened (the
  roster snapshot: nobody added later can be sent this round's form or
  count toward the minimum group), with a flag set once each is sent it.
  Who was sent a form is the most the store knows about anyone.
- ``survey_tokens``: one slot per eligible person, created at open in
  random order holding a random placeholder hash. Sending a form writes the
  new token's hash into a slot chosen uniformly at random among free ones;
  redeeming it flips the slot's state. The slot a person got says nothing
  about when they were sent it, and there is no index on the hash (an
  index entry written at sending time would sit in sending order); lookups
  scan the few slots of open rounds.
- ``survey_tallies``: one count cell per question and answer point, plus
  one for the number of answers, created at open in random order. An
  answer is ``UPDATE ... SET n = n + 1`` on the cells it chose and
  ``n + 0`` on every other cell of the round (see "the same pages" below). Counts start at ``COUNT_BASE`` (2**40) so the stored integer keeps
  the same width as it grows (SQLite stores 0, 1, 2 and 128 in 0, 0, 1 and
  2 bytes; a cell that grows is moved to a new offset, which would date its
  last change). Everything a summary needs comes from these cells: how many
  chose each point, averages, the number of answers; the pulse index is
  arithmetic on item averages (intents/pulse_index.py), so no per-person
  combination is ever needed or kept.
- ``survey_notes``: free-text notes in slots created at open (one per
  eligible person per text question) in random order, each filled with
  random bytes of the full size of a note. A note is written, padded with
  random bytes to that same size, into a slot chosen uniformly at random
  among the empty ones. Byte offsets, pages, rowids and index order of the
  notes are the random order of allocation.

No table holds a time or a sequence tied to an answer: the only times are a
round's opening and closing, the only sequences (rowids) are assigned at
open. ``secure_delete`` overwrites what a close deletes.

The same pages whatever was chosen. A copy of the file comes with its
write-ahead log (``-wal``: the pages of recent writes, in order) and its
wal-index (``-shm``: the page numbers of the writes since the log was last
reset, which stays listed after the log is emptied, until the next write).
Writing only the cells and the slot an answer chose would name them in
both. So an answer rewrites every count cell of its round (``n + 1`` where
chosen, ``n + 0`` elsewhere), every note slot (the chosen free slot gets
the note; every other slot, used or free, gets fresh random padding of the
same size) and every token slot. SQLite does not write a page whose bytes
an update leaves unchanged, so each count cell and token slot also carries
``stir``, random bytes every answer replaces: every row the round owns
changes on disk at every answer, the set of pages written, their number and
their order in the log (SQLite writes a commit's pages sorted by number)
are the same for every answer of the round, and the -shm lists the same
pages after each one. It carries nothing about the choice, so there is no
need to reset it (which SQLite can't do safely while other connections may
have it mapped; ``locking_mode = EXCLUSIVE`` would drop it but lock out every
other process). The cost is a write of the whole round per group of answers: for 50
people about 10 to 20 ms (benchmarks/survey_answer_cost.py), against 2 ms.

An empty log before every answer. After each write the log is checkpointed
and truncated, so it never holds an ordered history: for the moment of one
write it holds that write, as two copies taken around one answer would
show. A reader on another connection (an open sqlite3 shell, a backup tool)
stops the log being emptied, and answers written then would pile up in it
in answering order, whatever their pages. So answers are written only when
the log could be emptied just before (``PRAGMA wal_checkpoint(TRUNCATE)``
reports busy while any reader holds it, and the file must be 0 bytes);
otherwise a group keeps waiting in memory for the next answer or the
close (a single answer written at once, ``together=1``, is refused with
RecordsHeld, the token untouched), and one line without any answer is
logged. The check waits ``CHECKPOINT_WAIT_MS`` for readers, not
the store's busy timeout. A reader that starts in the instant after the
check can keep that one answer in the log, and then refuses the next: the
log holds one answer at most.

Answers go to disk together, never one by one. A copy of the file
mid-round shows the running totals, so two copies taken either side of one
answer (two backups an hour apart, say, with the platform showing who
answered in between) would show that answer, and a round that only one or
two people answered would show theirs. So ``redeem(..., together=k)``
(the intents pass ``PEERBOT_MIN_GROUP``) keeps each answer in this
process's memory, checked and counted as answered, until ``k`` are
waiting, and then writes them in one transaction: any two copies differ by
at least ``k`` answers, the same group size the minimum group promises
supervisors. At close the waiting answers are added to the totals in
memory and never written. What that costs: answers still waiting when the
process stops are not stored (their tokens were never used, so the
person's Start button still works), and a round closed by another process
(``peerbot checkins close`` beside a running ``peerbot chat``) can't count
the answers this one holds.

PostgreSQL (a later move): the SQL here is plain (``INSERT ... ON CONFLICT
DO NOTHING``, ``UPDATE ... WHERE state = ?`` with rowcount). There an update
writes a new row version, and dead versions of a count cell hold only
counts, not who; but versions are placed in time order, so that move must
keep the tables small and vacuumed (or batch increments) to keep the same
promise.

A token redeems once, guarded by its state (``sent`` to ``used``), so a
second answer in a round is impossible. Rounds open and close exactly once
(guarded writes); only the caller that closes a round summarises it.

There is deliberately no query here that lists who has or has not
answered: the data to answer it does not exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import random
import secrets
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable


if TYPE_CHECKING:
    from bot.store.core import Store

log = logging.getLogger(__name__)

# Counts are stored offset by this, so each cell's integer has one width
# (six bytes in SQLite's record format) from 0 answers to 2**47.
COUNT_BASE = 1 << 40
# The cell that counts answers to the round as a whole.
ANSWERS = "*"
# A note's slot holds a 4-byte length, the note in UTF-8 (up to 4 bytes a
# character) and random padding, always this many bytes per allowed character.
BYTES_PER_CHAR = 4
# Random bytes on every count cell and token slot, replaced by every answer
# so that each of them changes on disk whether it was chosen or not.
STIR_BYTES = 8
# How long emptying the write-ahead log waits for a reader on another
# connection before giving up (not the store's 10 s busy timeout: a person
# is waiting for Send, and a reader that holds the log for a moment longer
# than this is one that will hold it for minutes).
CHECKPOINT_WAIT_MS = 250


def note_slot_size(max_chars: int) -> int:
    return 4 + BYTES_PER_CHAR * max_chars


def pack_note(text: str, max_chars: int) -> bytes:
    data = text.encode("utf-8")
    size = note_slot_size(max_chars)
    if len(data) > size - 4:
        raise ValueError("note too long for its slot")
    return struct.pack(">I", len(data)) + data + secrets.token_bytes(size - 4 - len(data))


def unpack_note(blob: bytes) -> str:
    (length,) = struct.unpack(">I", blob[:4])
    return blob[4:4 + length].decode("utf-8")


def repad(blob: bytes, used: bool) -> bytes:
    """A note slot rewritten to the same size with fresh random bytes: a
    used slot keeps its note and gets new padding, a free one is all new."""
    if not used:
        return secrets.token_bytes(len(blob))
    (length,) = struct.unpack(">I", blob[:4])
    return blob[:4 + length] + secrets.token_bytes(len(blob) - 4 - length)


@dataclass(frozen=True)
class Ballot:
    """What a round's storage must hold, allocated at open: the answer
    points of each scale question, and the longest note of each text one."""

    scales: dict[str, list[int]] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)  # item id -> max characters


@dataclass
class Tallies:
    """A round's answers as counts: what summaries are made from."""

    answers: int
    counts: dict[str, dict[int, int]]   # item -> point -> how many chose it
    notes: dict[str, list[str]]         # item -> notes, in random order


class RecordsHeld(Exception):
    """Another connection holds the write-ahead log open, so an answer
    written now would stay in the log next to the ones after it; nothing
    was stored and the token still works."""


class TokenError(Exception):
    """A token that is unknown, already used, or for a closed round."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "unknown", "used" or "closed"


_RANDOM = random.SystemRandom()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Member:
    team: str
    via: str
    user_id: str
    tz: str | None
    prompts: str
    snoozed_until: str | None


@dataclass
class Round:
    id: str
    instrument: str
    team: str
    label: str
    opens_at: str
    closes_at: str
    status: str


@dataclass
class Closing:
    """A closed round's stored summary, and whether this caller closed it."""

    row: dict[str, Any]
    first: bool


@dataclass(frozen=True)
class HeldAnswer:
    """One answer waiting in memory to be written with others: the count
    cells it chose and its notes (item, text, slot size in characters)."""

    chosen: frozenset[tuple[str, int]]
    notes: tuple[tuple[str, str, int], ...]


class Surveys:
    def __init__(self, store: "Store"):
        self._store = store
        # round id -> token hash -> answer; touched only on the store's thread
        self._held: dict[str, dict[str, HeldAnswer]] = {}

    @property
    def _db(self):
        return self._store.db

    def _empty_log(self) -> bool:
        """Fold the write-ahead log into the database and empty it; True only
        if it is empty now. ``wal_checkpoint(TRUNCATE)`` returns (busy, log,
        checkpointed): a reader on another connection makes busy 1 even when
        every frame was copied back (the log can't be reset under it), so
        busy is what counts, and the file's size is checked as well. The wait
        for readers is short (``CHECKPOINT_WAIT_MS``), not the store's busy
        timeout, which is for writers."""
        db = self._db
        (wait_ms,) = db.execute("PRAGMA busy_timeout").fetchone()
        db.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        try:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            db.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        wal = f"{self._store.path}-wal"
        return not busy and (not os.path.exists(wal) or os.path.getsize(wal) == 0)

    def _forget_history(self) -> None:
        """Empty the log after a round's opening, sending or closing, so its
        pages can't date them; say so (with no detail) if a reader held it."""
        if not self._empty_log():
            log.warning("the write-ahead log could not be emptied after a survey write (another connection is reading); "
                        "it will be at the next one")

    # -- teams and members ---------------------------------------------------

    async def set_team(self, name: str, weekday: str, hour: int, tz: str) -> None:
        await self._store.run(
            lambda: self._db["survey_teams"].upsert({"name": name, "weekday": weekday, "hour": hour, "tz": tz}, pk="name")
        )

    async def team(self, name: str) -> dict[str, Any] | None:
        def read():
            rows = list(self._db["survey_teams"].rows_where("name = ?", [name]))
            return rows[0] if rows else None

        return await self._store.run(read)

    async def teams(self) -> list[dict[str, Any]]:
        return await self._store.run(lambda: list(self._db["survey_teams"].rows_where(order_by="name")))

    # Who is on a team is the organisation's word: an admin's roster (or,
    # later, a sync from a Slack user group or a Teams team, through
    # ``set_roster``). A round only ever asks the members it opened with.

    async def join(self, team: str, via: str, user_id: str, tz: str | None = None) -> bool:
        """Put a person on a team's roster; True if they weren't on it."""

        def write() -> bool:
            added = self._db.execute(
                "INSERT INTO survey_members (team, via, user_id, tz, prompts, snoozed_until) VALUES (?, ?, ?, ?, 'on', NULL) "
                "ON CONFLICT (team, via, user_id) DO NOTHING",
                [team, via, user_id, tz],
            ).rowcount == 1
            if not added and tz:
                self._db.execute("update survey_members set tz = ? where team = ? and via = ? and user_id = ?", [tz, team, via, user_id])
            return added

        return await self._store.run(write)

    async def remove(self, team: str, via: str, user_id: str) -> bool:
        """Take a person off one team's roster; True if they were on it."""
        return await self._store.run(lambda: self._db.execute(
            "delete from survey_members where team = ? and via = ? and user_id = ?", [team, via, user_id]).rowcount == 1)

    async def set_roster(self, team: str, via: str, user_ids: set[str]) -> tuple[set[str], set[str]]:
        """Make a team's roster on one platform exactly ``user_ids``, as a
        sync from the platform's own groups would; returns (added, removed)."""

        def write() -> tuple[set[str], set[str]]:
            with self._db.atomic():
                now = {r[0] for r in self._db.execute("select user_id from survey_members where team = ? and via = ?", [team, via])}
                for user_id in user_ids - now:
                    self._db.execute(
                        "INSERT INTO survey_members (team, via, user_id, tz, prompts, snoozed_until) VALUES (?, ?, ?, NULL, 'on', NULL) "
                        "ON CONFLICT (team, via, user_id) DO NOTHING", [team, via, user_id])
                for user_id in now - user_ids:
                    self._db.execute("delete from survey_members where team = ? and via = ? and user_id = ?", [team, via, user_id])
            return user_ids - now, now - user_ids

        return await self._store.run(write)

    async def ask_to_join(self, team: str, via: str, user_id: str, name: str, today: str) -> bool:
        """Record a person's request to join; True if it is new (or asked
        again after an earlier answer), False if one is already waiting."""
        return await self._store.run(lambda: self._db.execute(
            "INSERT INTO survey_join_requests (team, via, user_id, name, state, asked_on) VALUES (?, ?, ?, ?, 'pending', ?) "
            "ON CONFLICT (team, via, user_id) DO UPDATE SET state = 'pending', name = excluded.name, asked_on = excluded.asked_on "
            "WHERE survey_join_requests.state <> 'pending'",
            [team, via, user_id, name, today],
        ).rowcount == 1)

    async def decide_join(self, team: str, via: str, user_id: str, approve: bool) -> tuple[bool, str | None]:
        """An admin's answer to a request, once: the guarded move from
        pending decides, and an approval puts the person on the roster in
        the same transaction. Returns (decided now, the request's state)."""

        def write() -> tuple[bool, str | None]:
            state = "approved" if approve else "declined"
            with self._db.atomic():
                won = self._db.execute(
                    "update survey_join_requests set state = ? where team = ? and via = ? and user_id = ? and state = 'pending'",
                    [state, team, via, user_id],
                ).rowcount == 1
                if won and approve:
                    self._db.execute(
                        "INSERT INTO survey_members (team, via, user_id, tz, prompts, snoozed_until) VALUES (?, ?, ?, NULL, 'on', NULL) "
                        "ON CONFLICT (team, via, user_id) DO NOTHING", [team, via, user_id])
            row = self._db.execute(
                "select state from survey_join_requests where team = ? and via = ? and user_id = ?", [team, via, user_id]).fetchone()
            return won, row[0] if row else None

        return await self._store.run(write)

    async def leave(self, via: str, user_id: str) -> None:
        await self._store.run(lambda: self._db.execute("delete from survey_members where via = ? and user_id = ?", [via, user_id]))

    async def memberships(self, via: str, user_id: str) -> list[Member]:
        def read():
            rows = self._db["survey_members"].rows_where("via = ? and user_id = ?", [via, user_id], order_by="team")
            return [Member(**row) for row in rows]

        return await self._store.run(read)

    async def members(self, team: str) -> list[Member]:
        def read():
            return [Member(**row) for row in self._db["survey_members"].rows_where("team = ?", [team], order_by="user_id")]

        return await self._store.run(read)

    async def set_preference(self, via: str, user_id: str, **values: Any) -> int:
        """Update prompts / snoozed_until / tz for every team the person is in."""
        allowed = {k: v for k, v in values.items() if k in ("prompts", "snoozed_until", "tz")}

        def write() -> int:
            cursor = self._db.execute(
                "update survey_members set " + ", ".join(f"{k} = ?" for k in allowed) + " where via = ? and user_id = ?",
                [*allowed.values(), via, user_id],
            )
            return cursor.rowcount

        return await self._store.run(write)

    # -- rounds --------------------------------------------------------------

    async def open_round(self, round_id: str, instrument: str, team: str, label: str, opens_at: str, closes_at: str,
                         ballot: Ballot) -> Round:
        """Open a round once, and allocate all its storage there and then.

        The first caller's insert wins (a unique key on the round id) and, in
        the same transaction, snapshots the team's members and creates every
        token slot, count cell and note slot the round will ever use, in
        random order. Every other caller gets the round as it stands."""

        def write() -> Round:
            with self._db.atomic():
                won = self._db.execute(
                    "INSERT INTO survey_rounds (id, instrument, team, label, opens_at, closes_at, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'open') ON CONFLICT (id) DO NOTHING",
                    [round_id, instrument, team, label, opens_at, closes_at],
                ).rowcount == 1
                if won:
                    self._allocate(round_id, team, ballot)
            if won:
                self._forget_history()
            rows = list(self._db["survey_rounds"].rows_where("id = ?", [round_id]))
            return Round(**rows[0])

        return await self._store.run(write)

    def _allocate(self, round_id: str, team: str, ballot: Ballot) -> None:
        """Every row the round will use, created now, each table in random order."""
        shuffle = _RANDOM.shuffle
        eligible = [tuple(r) for r in self._db.execute("select via, user_id from survey_members where team = ?", [team])]
        shuffle(eligible)
        for via, user_id in eligible:
            self._db.execute("insert into survey_eligible (round_id, via, user_id, sent) values (?, ?, ?, 0)", [round_id, via, user_id])
        for _ in eligible:
            self._db.execute(
                "insert into survey_tokens (round_id, token_hash, state, stir) values (?, ?, 'free', ?)",
                [round_id, secrets.token_hex(32), secrets.token_bytes(STIR_BYTES)],
            )
        cells = [(item, point) for item, points in ballot.scales.items() for point in points] + [(ANSWERS, 0)]
        shuffle(cells)
        for item, point in cells:
            self._db.execute(
                "insert into survey_tallies (round_id, item, point, n, stir) values (?, ?, ?, ?, ?)",
                [round_id, item, point, COUNT_BASE, secrets.token_bytes(STIR_BYTES)],
            )
        slots = [(item, chars) for item, chars in ballot.notes.items() for _ in eligible]
        shuffle(slots)
        for item, chars in slots:
            self._db.execute(
                "insert into survey_notes (round_id, item, state, body) values (?, ?, 'free', ?)",
                [round_id, item, secrets.token_bytes(note_slot_size(chars))],
            )

    async def round(self, round_id: str) -> Round | None:
        def read():
            rows = list(self._db["survey_rounds"].rows_where("id = ?", [round_id]))
            return Round(**rows[0]) if rows else None

        return await self._store.run(read)

    async def open_rounds(self, team: str | None = None, instrument: str | None = None) -> list[Round]:
        def read():
            where, args = ["status = 'open'"], []
            if team:
                where.append("team = ?")
                args.append(team)
            if instrument:
                where.append("instrument = ?")
                args.append(instrument)
            return [Round(**r) for r in self._db["survey_rounds"].rows_where(" and ".join(where), args, order_by="closes_at")]

        return await self._store.run(read)

    # -- issuing and answering -----------------------------------------------

    async def issue(self, round_id: str, people: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Give each person who was on the team when the round opened, and
        hasn't been sent its form yet, a one-time token.

        Returns {(via, user_id): token} for the people newly issued. Sending
        is a guarded write per person (not sent -> sent), so two prompts at
        once issue one token each. The token's hash goes into a free slot
        chosen at random, so the slot says nothing about who or when."""

        def write() -> dict[tuple[str, str], str]:
            issued: dict[tuple[str, str], str] = {}
            with self._db.atomic():
                open_now = self._db.execute("select 1 from survey_rounds where id = ? and status = 'open'", [round_id]).fetchone()
                if not open_now:
                    return issued
                # The round's free slots, read once (the write lock is held:
                # nobody else takes one meanwhile); each one filled leaves it.
                free = [r[0] for r in self._db.execute("select id from survey_tokens where round_id = ? and state = 'free'", [round_id])]
                for via, user_id in people:
                    sent = self._db.execute(
                        "update survey_eligible set sent = 1 where round_id = ? and via = ? and user_id = ? and sent = 0",
                        [round_id, via, user_id],
                    ).rowcount
                    if sent != 1:
                        continue  # already sent, or not on the team when the round opened
                    token = secrets.token_urlsafe(18)
                    self._fill_slot(
                        free, "update survey_tokens set token_hash = ?, state = 'sent' where id = ? and state = 'free'", [token_hash(token)],
                    )
                    issued[(via, user_id)] = token
            if issued:
                self._forget_history()
            return issued

        return await self._store.run(write)

    async def asked(self, round_id: str) -> int:
        """How many people a round can go to: the team when it opened. Told
        to each of them, so a roster padded with extra accounts shows."""
        return await self._store.run(lambda: self._db.execute(
            "select count(*) from survey_eligible where round_id = ?", [round_id]).fetchone()[0])

    async def was_on_round(self, round_id: str, via: str, user_id: str) -> bool:
        """Whether the person was on the team when the round opened (and so
        may be sent its form); says nothing about answering."""
        return await self._store.run(lambda: self._db.execute(
            "select 1 from survey_eligible where round_id = ? and via = ? and user_id = ?", [round_id, via, user_id]
        ).fetchone() is not None)

    def _fill_slot(self, free: list[int], fill_sql: str, fill_args: list[Any]) -> None:
        """Write into a slot chosen uniformly at random among the free ones,
        ``free``, and take it out of that list (guarded: a slot found taken
        is dropped and another drawn). A batch reads the free slots once, not
        once a person, so sending to a team of n is not n * n reads."""
        while free:
            slot = free.pop(_RANDOM.randrange(len(free)))
            if self._db.execute(fill_sql, [*fill_args, slot]).rowcount == 1:
                return
        raise RuntimeError("no free slot left in this round")  # allocation at open makes this unreachable

    def _usable_round(self, digest: str) -> tuple[int, Round]:
        """The slot and open round of an unused token (on the store's thread), or TokenError."""
        row = self._db.execute("select id, round_id, state from survey_tokens where token_hash = ?", [digest]).fetchone()
        if row is None or row[2] == "free":
            raise TokenError("unknown")
        if row[2] == "used":
            raise TokenError("used")
        rounds = list(self._db["survey_rounds"].rows_where("id = ?", [row[1]]))
        if not rounds or rounds[0]["status"] != "open":
            raise TokenError("closed")
        if digest in self._held.get(row[1], {}):
            raise TokenError("used")  # answered, waiting in memory to be written with others
        return row[0], Round(**rounds[0])

    async def check_token(self, token: str) -> Round:
        """The open round a token belongs to, or TokenError."""
        return (await self._store.run(self._usable_round, token_hash(token)))[1]

    async def redeem(self, token: str, answers: dict[str, Any], note_sizes: dict[str, int] | None = None,
                     together: int = 1) -> Round:
        """Count one anonymous answer, once per token.

        The answer is checked against the round's ballot and held in memory
        until ``together`` answers of its round are waiting; then they are
        written in one transaction (``_write_held``). With ``together=1`` it
        is written at once, or RecordsHeld is raised (nothing stored, the
        token untouched) while a reader holds the write-ahead log open; a
        batch that meets a held log simply waits for the next answer or the
        close. ``note_sizes`` names the text items."""

        def write() -> Round:
            digest = token_hash(token)
            _, rnd = self._usable_round(digest)  # unknown, used (also waiting) or closed
            held = HeldAnswer(*self._marks(rnd.id, answers, note_sizes or {}))
            waiting = self._held.setdefault(rnd.id, {})
            waiting[digest] = held
            if len(waiting) < together:
                return rnd
            if not self._empty_log():
                if together > 1:
                    log.warning("survey answers wait in memory: another connection holds the write-ahead log open")
                    return rnd
                del waiting[digest]
                log.warning("a survey answer was not stored: another connection holds the write-ahead log open; "
                            "the person was asked to try again")
                raise RecordsHeld()
            if not self._write_held(rnd.id):
                raise TokenError("used")  # another process wrote an answer for this token first
            if not self._empty_log():
                log.warning("the write-ahead log could not be emptied after survey answers (another connection is reading); "
                            "answers wait until it can be")
            return rnd

        return await self._store.run(write)

    def _marks(self, round_id: str, answers: dict[str, Any], sizes: dict[str, int]
               ) -> tuple[frozenset[tuple[str, int]], tuple[tuple[str, str, int], ...]]:
        """The cells an answer chooses and its notes, or ValueError for a
        point that isn't on the round's ballot (nothing is held then)."""
        chosen: set[tuple[str, int]] = {(ANSWERS, 0)}
        notes: list[tuple[str, str, int]] = []
        for item, value in answers.items():
            if item in sizes:
                notes.append((item, str(value), sizes[item]))
            elif not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{item} takes a point on its scale")
            else:
                chosen.add((item, value))
        cells = {(item, point) for item, point in self._db.execute(
            "select item, point from survey_tallies where round_id = ?", [round_id])}
        missing = chosen - cells
        if missing:
            item, point = sorted(missing)[0]
            raise ValueError(f"{item}={point} is not on this round's ballot")
        return frozenset(chosen), tuple(notes)

    def _write_held(self, round_id: str) -> int:
        """Write the round's waiting answers in one transaction, each token
        guarded (sent to used: an answer another process already wrote for
        the same token is dropped), touching every row the round owns."""
        waiting = self._held.pop(round_id, {})
        with self._db.atomic():
            added: dict[tuple[str, int], int] = {}
            notes: list[tuple[str, str, int]] = []
            written = 0
            for digest, held in waiting.items():
                used = self._db.execute(
                    "update survey_tokens set state = 'used' where round_id = ? and token_hash = ? and state = 'sent'",
                    [round_id, digest],
                ).rowcount
                if used != 1:
                    continue
                written += 1
                for cell in held.chosen:
                    added[cell] = added.get(cell, 0) + 1
                notes += held.notes
            self._rewrite_counts(round_id, added)
            self._rewrite_notes(round_id, notes)
            self._db.execute("update survey_tokens set stir = ? where round_id = ?", [secrets.token_bytes(STIR_BYTES), round_id])
        return written

    def _rewrite_counts(self, round_id: str, added: dict[tuple[str, int], int]) -> None:
        """Rewrite every count cell of the round, in one fixed order: plus
        how many chose it (often 0), new random stir on all."""
        cells = self._db.execute("select id, item, point from survey_tallies where round_id = ? order by id", [round_id]).fetchall()
        for cell_id, item, point in cells:
            self._db.execute("update survey_tallies set n = n + ?, stir = ? where id = ?",
                             [added.get((item, point), 0), secrets.token_bytes(STIR_BYTES), cell_id])

    def _rewrite_notes(self, round_id: str, notes: list[tuple[str, str, int]]) -> None:
        """Rewrite every note slot of the round: each note into a free slot of
        its item chosen uniformly at random, every other slot re-padded."""
        slots = self._db.execute("select id, item, state, body from survey_notes where round_id = ? order by id", [round_id]).fetchall()
        free: dict[str, list[int]] = {}
        for slot_id, item, state, _ in slots:
            if state == "free":
                free.setdefault(item, []).append(slot_id)
        target: dict[int, tuple[str, int]] = {}
        for item, text, chars in notes:
            if not free.get(item):
                raise RuntimeError("no free slot left in this round")  # allocation at open makes this unreachable
            target[free[item].pop(_RANDOM.randrange(len(free[item])))] = (text, chars)
        for slot_id, item, state, body in slots:
            if slot_id in target:
                text, chars = target[slot_id]
                self._db.execute("update survey_notes set state = 'used', body = ? where id = ? and state = 'free'",
                                 [pack_note(text, chars), slot_id])
            else:
                self._db.execute("update survey_notes set body = ? where id = ?", [repad(body, state == "used"), slot_id])

    def waiting(self) -> int:
        """How many answers this process holds in memory, over all rounds."""
        return sum(len(w) for w in self._held.values())

    async def response_count(self, round_id: str) -> int:
        def read() -> int:
            row = self._db.execute(
                "select n from survey_tallies where round_id = ? and item = ? and point = 0", [round_id, ANSWERS]
            ).fetchone()
            return row[0] - COUNT_BASE + len(self._held.get(round_id, {})) if row else 0

        return await self._store.run(read)

    def _tallies(self, round_id: str, waiting: dict[str, HeldAnswer] | None = None) -> Tallies:
        counts: dict[str, dict[int, int]] = {}
        answers = 0
        for item, point, n in self._db.execute("select item, point, n from survey_tallies where round_id = ?", [round_id]):
            if item == ANSWERS:
                answers = n - COUNT_BASE
            else:
                counts.setdefault(item, {})[point] = n - COUNT_BASE
        notes: dict[str, list[str]] = {}
        for item, body in self._db.execute("select item, body from survey_notes where round_id = ? and state = 'used'", [round_id]):
            notes.setdefault(item, []).append(unpack_note(body))
        for digest, held in (waiting or {}).items():  # answers that waited in memory, added here and never written
            sent = self._db.execute("select 1 from survey_tokens where round_id = ? and token_hash = ? and state = 'sent'",
                                    [round_id, digest]).fetchone()
            if not sent:
                continue
            answers += 1
            for item, point in held.chosen - {(ANSWERS, 0)}:
                counts.setdefault(item, {})
                counts[item][point] = counts[item].get(point, 0) + 1
            for item, text, _ in held.notes:
                notes.setdefault(item, []).append(text)
        for texts in notes.values():
            _RANDOM.shuffle(texts)
        return Tallies(answers=answers, counts={k: dict(sorted(v.items())) for k, v in counts.items()}, notes=notes)

    # -- closing -------------------------------------------------------------

    async def close(self, round_id: str, min_group: int, summarise: Callable[[Tallies], dict[str, Any]], now: dt.datetime) -> Closing | None:
        """Close a round exactly once: one guarded transition (open to closed)
        decides who closes it, and only that caller summarises. The tallies
        go to ``summarise`` if at least ``min_group`` people answered; only
        the summary is kept, and everything the round allocated (who was on
        it, tokens, counts, notes) is deleted.

        Returns the summary row with ``first=True`` to the caller that closed
        it, ``first=False`` (same row) to anyone who asked at the same moment
        or later, and None for a round that doesn't exist."""

        def work() -> Closing | None:
            with self._db.atomic():
                won = self._db.execute(
                    "UPDATE survey_rounds SET status = 'closed' WHERE id = ? AND status = 'open'", [round_id]
                ).rowcount == 1
                if won:
                    rnd = list(self._db["survey_rounds"].rows_where("id = ?", [round_id]))[0]
                    tallies = self._tallies(round_id, self._held.pop(round_id, {}))
                    released = tallies.answers >= min_group
                    self._db["survey_summaries"].insert({
                        "round_id": round_id, "team": rnd["team"], "instrument": rnd["instrument"], "label": rnd["label"],
                        "count": tallies.answers if released else None, "released": int(released),
                        "summary": json.dumps(summarise(tallies) if released else {}),
                        "closed_at": now.astimezone(dt.timezone.utc).date().isoformat(),
                    })
                    for table in ("survey_tallies", "survey_notes", "survey_tokens", "survey_eligible"):
                        self._db.execute(f"delete from {table} where round_id = ?", [round_id])
            if won:
                self._forget_history()
            rows = list(self._db["survey_summaries"].rows_where("round_id = ?", [round_id]))
            return Closing(row=rows[0], first=won) if rows else None

        return await self._store.run(work)

    async def summaries(self, team: str, instrument: str, limit: int = 12) -> list[dict[str, Any]]:
        """Closed rounds of a team, oldest first (the last ``limit``)."""

        def read():
            rows = list(
                self._db["survey_summaries"].rows_where(
                    "team = ? and instrument = ?", [team, instrument], order_by="label desc", limit=limit
                )
            )
            for row in rows:
                row["summary"] = json.loads(row["summary"])
            return list(reversed(rows))

        return await self._store.run(read)


class PulseActions:
    """What teams agreed to change after a pulse (no answers, no people)."""

    def __init__(self, store: "Store"):
        self._store = store

    async def record(self, team: str, instrument: str, sign: str, text: str, agreed_on: str, after_round: str) -> bool:
        """Record an agreed change once; False if it was recorded already."""
        return await self._store.run(
            lambda: self._store.db.execute(
                "insert into pulse_actions (team, instrument, sign, text, agreed_on, after_round) values (?, ?, ?, ?, ?, ?) "
                "on conflict do nothing",
                [team, instrument, sign, text, agreed_on, after_round],
            ).rowcount == 1
        )

    async def after(self, team: str, instrument: str, round_id: str) -> list[dict[str, Any]]:
        return await self._store.run(
            lambda: list(self._store.db["pulse_actions"].rows_where(
                "team = ? and instrument = ? and after_round = ?", [team, instrument, round_id], order_by="id"))
        )

"""Anonymous surveys (check-ins and pulses), anonymous by construction.

How a person answers without the store ever knowing who answered:
- when a form is sent, the store records that the person was sent one
  (``survey_issued``) and keeps only the hash of a random one-time token
  (``survey_tokens``), with no link to the person; the token itself travels
  to the person inside the message and the form, on the chat platform;
- an answer comes back with its token; the hash is marked redeemed and the
  answers are stored in ``survey_responses`` under a random id, with the
  round only: no user, no time, no channel. A token redeems once, so a
  second answer in a round is impossible;
- those tables are WITHOUT ROWID and keyed by random or hashed values, and
  the write-ahead log is checkpointed after each issue and redemption, so
  neither row order nor the log's history joins an answer to a prompt.

There is deliberately no query here that lists who has or has not
answered: the data to answer it does not exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.core import Store


class TokenError(Exception):
    """A token that is unknown, already used, or for a closed round."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "unknown", "used" or "closed"


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


class Surveys:
    def __init__(self, store: "Store"):
        self._store = store

    @property
    def _db(self):
        return self._store.db

    def _forget_history(self) -> None:
        # Fold the write-ahead log into the database and empty it, so the
        # log's sequence of pages can't tie an answer to a moment.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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

    async def join(self, team: str, via: str, user_id: str, tz: str | None = None) -> None:
        def write():
            existing = list(self._db["survey_members"].rows_where("team = ? and via = ? and user_id = ?", [team, via, user_id]))
            if existing:
                if tz:
                    self._db["survey_members"].update((team, via, user_id), {"tz": tz})
                return
            self._db["survey_members"].insert(
                {"team": team, "via": via, "user_id": user_id, "tz": tz, "prompts": "on", "snoozed_until": None}
            )

        await self._store.run(write)

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

    async def open_round(self, round_id: str, instrument: str, team: str, label: str, opens_at: str, closes_at: str) -> Round:
        def write() -> Round:
            rows = list(self._db["survey_rounds"].rows_where("id = ?", [round_id]))
            if not rows:
                self._db["survey_rounds"].insert(
                    {"id": round_id, "instrument": instrument, "team": team, "label": label,
                     "opens_at": opens_at, "closes_at": closes_at, "status": "open"}
                )
                rows = list(self._db["survey_rounds"].rows_where("id = ?", [round_id]))
            return Round(**rows[0])

        return await self._store.run(write)

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
        """Give each person not yet sent this round's form a one-time token.

        Returns {(via, user_id): token} for the people newly issued. Only the
        fact of sending and the token's hash (unlinked) are stored."""

        def write() -> dict[tuple[str, str], str]:
            issued: dict[tuple[str, str], str] = {}
            with self._db.atomic():
                for via, user_id in people:
                    done = self._db.execute(
                        "select 1 from survey_issued where round_id = ? and via = ? and user_id = ?", [round_id, via, user_id]
                    ).fetchone()
                    if done:
                        continue
                    self._db.execute("insert into survey_issued (round_id, via, user_id) values (?, ?, ?)", [round_id, via, user_id])
                    issued[(via, user_id)] = secrets.token_urlsafe(18)
                hashes = [token_hash(t) for t in issued.values()]
                random.shuffle(hashes)
                for digest in hashes:
                    self._db.execute("insert into survey_tokens (token_hash, round_id, redeemed) values (?, ?, 0)", [digest, round_id])
            self._forget_history()
            return issued

        return await self._store.run(write)

    def _usable_round(self, digest: str) -> Round:
        """The open round of an unused token (on the store's thread), or TokenError."""
        row = self._db.execute("select round_id, redeemed from survey_tokens where token_hash = ?", [digest]).fetchone()
        if row is None:
            raise TokenError("unknown")
        if row[1]:
            raise TokenError("used")
        rounds = list(self._db["survey_rounds"].rows_where("id = ?", [row[0]]))
        if not rounds or rounds[0]["status"] != "open":
            raise TokenError("closed")
        return Round(**rounds[0])

    async def check_token(self, token: str) -> Round:
        """The open round a token belongs to, or TokenError."""
        return await self._store.run(self._usable_round, token_hash(token))

    async def redeem(self, token: str, answers: dict[str, Any]) -> Round:
        """Store one anonymous answer, once per token."""

        def write() -> Round:
            digest = token_hash(token)
            with self._db.atomic():
                rnd = self._usable_round(digest)
                # Compare-and-set: of two presses at once, one redeems.
                if self._db.execute("update survey_tokens set redeemed = 1 where token_hash = ? and redeemed = 0", [digest]).rowcount != 1:
                    raise TokenError("used")
                self._db.execute(
                    "insert into survey_responses (id, round_id, answers) values (?, ?, ?)",
                    [secrets.token_hex(16), rnd.id, json.dumps(answers, sort_keys=True)],
                )
            self._forget_history()
            return rnd

        return await self._store.run(write)

    async def response_count(self, round_id: str) -> int:
        return await self._store.run(
            lambda: self._db.execute("select count(*) from survey_responses where round_id = ?", [round_id]).fetchone()[0]
        )

    # -- closing -------------------------------------------------------------

    async def close(self, round_id: str, min_group: int, summarise) -> dict[str, Any]:
        """Close a round once: hand its answers to ``summarise`` if at least
        ``min_group`` people answered, keep only the summary, and delete the
        raw answers and tokens. Returns the stored summary row."""

        def work() -> dict[str, Any]:
            existing = list(self._db["survey_summaries"].rows_where("round_id = ?", [round_id]))
            if existing:
                return existing[0]
            rnd = list(self._db["survey_rounds"].rows_where("id = ?", [round_id]))[0]
            answers = [json.loads(r[0]) for r in self._db.execute("select answers from survey_responses where round_id = ?", [round_id])]
            released = len(answers) >= min_group
            row = {
                "round_id": round_id, "team": rnd["team"], "instrument": rnd["instrument"], "label": rnd["label"],
                "count": len(answers) if released else None, "released": int(released),
                "summary": json.dumps(summarise(answers) if released else {}),
                "closed_at": dt.datetime.now(dt.timezone.utc).date().isoformat(),
            }
            with self._db.atomic():
                self._db["survey_summaries"].insert(row)
                self._db["survey_rounds"].update(round_id, {"status": "closed"})
                self._db.execute("delete from survey_responses where round_id = ?", [round_id])
                self._db.execute("delete from survey_tokens where round_id = ?", [round_id])
            self._forget_history()
            return row

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

"""What the Teams channel needs remembered: how to reach people and channels.

Teams only lets a bot message someone first if it kept the conversation
reference from an earlier turn (install or first contact), so one reference
per person is kept here, with the tenant it belongs to. Nothing a person
said is stored. Team channels the bot has seen are kept too, so an admin can
bind one as the supervisors' channel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.core import Store


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _hour(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H")


# How long a claimed activity id is remembered: Bot Framework redelivers
# within seconds to minutes, never a day later.
KEEP_ACTIVITIES = dt.timedelta(days=1)


@dataclass(frozen=True)
class TeamsPerson:
    user: str
    tenant: str
    reference: dict[str, Any]
    unreachable_since: str


@dataclass(frozen=True)
class TeamsChannel:
    channel_id: str
    team: str
    name: str
    tenant: str
    reference: dict[str, Any]
    bound_as: str


class TeamsDirectory:
    def __init__(self, store: "Store"):
        self._store = store

    async def remember_person(self, user: str, tenant: str, reference: dict[str, Any], now: dt.datetime) -> bool:
        """Keep the latest reference; hearing from someone makes them reachable again.

        Written only when something changed (most messages change nothing):
        True if the row was written. ``updated_at`` is when it last changed."""
        text = json.dumps(reference, sort_keys=True)

        def write() -> bool:
            db = self._store.db
            kept = db.execute("select tenant, reference, unreachable_since from teams_people where user = ?", [user]).fetchone()
            if kept is not None and tuple(kept) == (tenant, text, ""):
                return False
            row = {"user": user, "tenant": tenant, "reference": text, "updated_at": _iso(now), "unreachable_since": ""}
            db["teams_people"].upsert(row, pk="user")
            return True

        return await self._store.run(write)

    async def person(self, user: str) -> TeamsPerson | None:
        def read() -> TeamsPerson | None:
            rows = list(self._store.db["teams_people"].rows_where("user = ?", [user]))
            if not rows:
                return None
            r = rows[0]
            return TeamsPerson(r["user"], r["tenant"], json.loads(r["reference"]), r["unreachable_since"] or "")

        return await self._store.run(read)

    async def mark_unreachable(self, user: str, now: dt.datetime) -> None:
        await self._store.run(
            lambda: self._store.db.execute(
                "update teams_people set unreachable_since = ? where user = ? and unreachable_since = ''", [_iso(now), user]
            )
        )

    async def remember_channel(self, channel_id: str, team: str, name: str, tenant: str, reference: dict[str, Any], now: dt.datetime) -> bool:
        """Record a team channel; a known name or team name is never replaced by an empty one.
        Written only when something changed; True if it was."""

        def write() -> bool:
            db = self._store.db
            with db.atomic():
                old = list(db["teams_channels"].rows_where("channel_id = ?", [channel_id]))
                prior = old[0] if old else {}
                row = {
                    "channel_id": channel_id,
                    "team": team or prior.get("team", ""),
                    "name": name or prior.get("name", ""),
                    "tenant": tenant or prior.get("tenant", ""),
                    "reference": json.dumps(reference, sort_keys=True),
                    "bound_as": prior.get("bound_as", ""),
                    "seen_at": _iso(now),
                }
                if prior and all(prior.get(k) == v for k, v in row.items() if k != "seen_at"):
                    return False
                db["teams_channels"].upsert(row, pk="channel_id")
                return True

        return await self._store.run(write)

    async def channels(self) -> list[TeamsChannel]:
        def read() -> list[TeamsChannel]:
            rows = self._store.db["teams_channels"].rows_where(order_by="team, name, channel_id")
            return [
                TeamsChannel(r["channel_id"], r["team"], r["name"], r["tenant"], json.loads(r["reference"]), r["bound_as"])
                for r in rows
            ]

        return await self._store.run(read)

    async def bound(self, name: str) -> TeamsChannel | None:
        return next((c for c in await self.channels() if c.bound_as == name), None)

    async def bind(self, channel_id: str, name: str) -> bool:
        """Make this channel the one called ``name`` (and no other); False if unknown."""

        def write() -> bool:
            db = self._store.db
            with db.atomic():
                if not list(db["teams_channels"].rows_where("channel_id = ?", [channel_id])):
                    return False
                db.execute("update teams_channels set bound_as = '' where bound_as = ?", [name])
                db.execute("update teams_channels set bound_as = ? where channel_id = ?", [name, channel_id])
            return True

        return await self._store.run(write)


class TeamsActivities:
    """Activities already taken, as Slack's event ids are (bot/store/slack.py).

    Bot Framework delivers an activity again when it thinks the first try
    failed; claiming its id here, before any work, makes the repeat a no-op
    instead of a second answer. The claim is one small insert (the ack has to
    be fast). Activity ids are unique only within a conversation, so the key
    is a hash of both; nothing else is kept but the hour, for letting go.
    """

    def __init__(self, store: "Store"):
        self._store = store

    @staticmethod
    def key(conversation_id: str, activity_id: str) -> str:
        return hashlib.sha256(f"{conversation_id}\x00{activity_id}".encode()).hexdigest()[:32]

    async def claim(self, conversation_id: str, activity_id: str, now: dt.datetime) -> bool:
        """True the first time this activity is seen; False for every repeat."""
        key = self.key(conversation_id, activity_id)
        return await self._store.run(
            lambda: self._store.db.execute(
                "insert into teams_activities (activity_key, seen_hour) values (?, ?) on conflict do nothing", [key, _hour(now)]
            ).rowcount == 1
        )

    async def forget_before(self, now: dt.datetime) -> int:
        """Let go of claims older than ``KEEP_ACTIVITIES``."""
        return await self._store.run(
            lambda: self._store.db.execute("delete from teams_activities where seen_hour < ?", [_hour(now - KEEP_ACTIVITIES)]).rowcount
        )

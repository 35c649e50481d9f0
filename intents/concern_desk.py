"""The peer supervisors' desk: concerns as they reach the supervisors, and
what they do with them.

Posting a concern to its channel (or, for one about a peer supervisor, to
each admin), holding scope-drift concerns until others on the team raise
the same, acting on a post (acknowledge, take on, resolve with a note,
write to the reporter), telling the reporter, escalating what waits too
long, the sweep that re-queues and purges, and looking at one concern
(what its reporter or a supervisor may see).

Each step is one compare-and-set on the concern's state in the store
(bot/store/concerns.py ``DESK``, the table of which step may be taken from
which state), so a press that arrives twice is told what the first did.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from bot.business_days import business_deadline
from bot.model import Choice, Destination, Inbound, Reply
from bot.store.concerns import DESK, once_key, post_key, reporter_moment
from intents.base import Context
from intents.concern_links import Keys, Links
from intents.concern_text import (
    CATEGORIES,
    MAX_TEXT,
    TOGETHER_NEEDED,
    note_form,
    post_choices,
    post_text,
    reachable,
    status_text,
    to_admins_via,
    when,
)

REF = re.compile(r"^[A-Za-z0-9]{6}$")
GROUP_WINDOW = dt.timedelta(days=90)
NOT_SUPERVISOR = "Acting on concerns is for peer supervisors, so I can't do that one for you."
# The one answer for a reference that doesn't exist, isn't theirs, or came
# with the wrong receipt: word for word the same, so trying references
# tells nobody which ones exist.
NOT_FOUND = (
    "I can't find a concern I can show you with that. Check that it's the whole receipt you got when you sent it, "
    "like K7Q2MX-4HPR9T. Concerns you raised with your name are listed with /concern mine."
)
TRY_LATER = (
    "That's a few lookups in a short time, so I'm pausing them for a moment. Please try again in a minute. "
    "If something can't wait, a peer supervisor is there to talk to directly."
)
# Lookups by reference a person may make in a minute (every one counts,
# found or not), counted in the store so it holds across processes.
STATUS_TRIES_PER_MINUTE = 5


async def reader_zone(msg: Inbound, ctx: Context) -> str:
    """The time zone to show times in for the person reading: their own
    check-in time zone if they set one, else the organisation's. (Reading
    the roster stores nothing, and says nothing about any concern.)"""
    for member in await ctx.store.surveys.memberships(msg.channel, msg.user):
        if member.tz:
            return member.tz
    return ctx.settings.timezone


def on_record(row: dict[str, Any], ctx: Context) -> dt.datetime:
    """The time written on a concern's record for a step taken now: exact
    for a named concern; for an anonymous one the coarse moment, whoever
    takes the step, so nothing on the anonymous shelf (bot/store/concerns.py)
    carries an exact time that the rows written after it could be dated by."""
    return ctx.now() if row["named"] else reporter_moment(ctx.now(), ctx.settings.timezone)


class SupervisorsDesk:
    """What happens to a concern once it is raised."""

    def __init__(self, keys: Keys):
        self.keys = keys

    def links(self, ctx: Context) -> Links:
        return self.keys.links(ctx)

    async def command(self, parts: list[str], msg: Inbound, ctx: Context, note: str = "") -> list[Reply]:
        if not parts:
            rows = await ctx.store.concerns.listing(open_only=True)
            out = [r for r in rows if r["state"] != "held"]
            zone = await reader_zone(msg, ctx)
            held = len(rows) - len(out)
            if not out and not held:
                return [Reply(text="No open concerns right now.")]
            lines = [f"Open concerns ({len(out)}):"] + [
                f"• {r['ref']} · {CATEGORIES.get(r['category'], r['category'])} · {r['state']} · raised {when(r['created_at'], zone)}" for r in out
            ]
            if held:
                lines.append(f"And {held} held until others on the same team raise the same (not shown until then).")
            lines.append("See one with /concerns REF.")
            return [Reply(text="\n".join(lines))]
        verb = parts[0].lower()
        if verb in ("resolve", "reply") and len(parts) > 2:
            # The note or message typed with the command is the one to use.
            return await self.act(verb, parts[1].upper(), msg, ctx, text=note)
        if verb in ("ack", "take", "resolve", "reply") and len(parts) > 1:
            return await self.act(verb, parts[1].upper(), msg, ctx)
        if len(parts) == 1 and REF.match(parts[0]):
            return await self.status(parts[0], "", msg, ctx)
        return [Reply(text="I know /concerns, /concerns REF, and /concerns ack|take|resolve|reply REF.")]

    async def act(self, verb: str, ref: str, msg: Inbound, ctx: Context, *, text: str = "") -> list[Reply]:
        if not ctx.has_role("supervisor"):
            return [Reply(text=NOT_SUPERVISOR)]
        row = await ctx.store.concerns.get(ref)
        who = msg.user_name or msg.user
        refusal = self._refusal(verb, row, ref, who)
        if refusal is not None:
            return [refusal]
        assert row is not None
        if verb in ("resolve", "reply"):
            if verb == "reply" and not reachable(row):
                return [Reply(text=f"The person who raised {row['ref']} chose no follow-up, so there's no way to reach them. That was their choice.")]
            once = secrets.token_urlsafe(12)
            if not text:
                return [Reply(form=note_form(verb, row["ref"], once=once))]
            if len(text) > MAX_TEXT:
                return [Reply(text=f"That's {len(text):,} characters; a note can be up to {MAX_TEXT:,}. Could you shorten it?")]
            return await self.note(verb, {"ref": row["ref"], "text": text, "once": once}, msg, ctx)
        changes: dict[str, Any] = {"taken_by": who} if verb == "take" else {}
        event = await ctx.store.concerns.step(row["ref"], verb, who, on_record(row, ctx), **changes)
        if event is None:
            # This press's twin (or another supervisor) took the step a moment
            # ago: say what it is now, as the first press would see it.
            return [self._refusal(verb, await ctx.store.concerns.get(row["ref"]), ref, who) or Reply(text=f"{row['ref']} has just changed; have a look with /concerns {row['ref']}.")]
        if ctx.schedule is not None:
            ctx.schedule.cancel(f"concern:{row['ref']}:escalate")
        words = {"ack": "acknowledged it", "take": "has taken it on"}[verb]
        what = DESK[verb].what
        return await self._changed(row["ref"], event, f"Your concern {row['ref']}: {who} {words}.", what, ctx)

    @staticmethod
    def _refusal(verb: str, row: dict[str, Any] | None, ref: str, who: str) -> Reply | None:
        """Why ``verb`` can't be done to this concern as it stands, or None.
        Asked before a step and again after losing the race for it, so a
        double press hears the same as a press after the first one."""
        if row is None or row["state"] == "held":
            return Reply(text=f"I can't find a concern with the reference {ref[:12]} that has been sent on.")
        if row["state"] == "resolved":
            return Reply(text=f"{row['ref']} is already resolved.")
        if verb == "ack" and row["state"] != "open":
            return Reply(text=f"{row['ref']} has already been acknowledged.")
        if verb == "take" and row["state"] == "taken" and row.get("taken_by") == who:
            return Reply(text=f"You've already taken {row['ref']} on.")
        return None

    async def _changed(self, ref: str, event: int, tell_text: str, tag: str, ctx: Context, *, relay: str | None = None) -> list[Reply]:
        row = await ctx.store.concerns.get(ref)
        assert row is not None
        replies = await self._updates(row, event, ctx)
        tell = self.tell({**row, "relay": relay or row.get("relay")}, tell_text, ctx, f"{tag}:{event}")
        if tell is not None:
            replies.append(tell)
        told = " I've let the person who raised it know." if tell is not None else ""
        replies.append(Reply(text=f"Done: {ref} is {row['state']}.{told}"))
        return replies

    async def note(self, name: str, values: dict[str, Any], msg: Inbound, ctx: Context) -> list[Reply]:
        if not ctx.has_role("supervisor"):
            return [Reply(text=NOT_SUPERVISOR)]
        row = await ctx.store.concerns.get(str(values.get("ref", "")))
        if row is None or row["state"] in ("held", "resolved"):
            return [Reply(text="That concern isn't open any more, so nothing was sent.")]
        who = msg.user_name or msg.user
        text = values["text"]
        once = once_key(str(values["once"])) if values.get("once") else None
        if name == "reply":
            event = await ctx.store.concerns.note(row["ref"], who, "replied", on_record(row, ctx), once)
            if event is None:
                return [Reply(text=f"Already sent to the person who raised {row['ref']}; it went once.")]
            tell = self.tell(row, f"A peer supervisor ({who}) wrote about your concern {row['ref']}:\n\n{text}", ctx, f"reply:{event}")
            if tell is None:
                return [Reply(text=f"There's no way to reach the person who raised {row['ref']}, so nothing was sent.")]
            return [tell, Reply(text=f"Sent to the person who raised {row['ref']}. I don't keep a copy.")]
        relay = row.get("relay")
        now = on_record(row, ctx)
        event = await ctx.store.concerns.step(row["ref"], "resolve", who, now, resolution=text, resolved_at=now.isoformat(timespec="seconds"))
        if event is None:
            return [Reply(text=f"{row['ref']} is already resolved; nothing was sent twice.")]
        if ctx.schedule is not None:
            ctx.schedule.cancel(f"concern:{row['ref']}:escalate")
        return await self._changed(row["ref"], event, f"Your concern {row['ref']} was resolved by {who}, with this note:\n\n{text}", "resolved", ctx, relay=relay)

    async def gather(self, team: str, ctx: Context) -> list[Reply]:
        """Release a team's held scope-drift concerns once at least
        TOGETHER_NEEDED more people have raised one."""
        now = ctx.now()
        rows = await ctx.store.concerns.scope_group(team, now - GROUP_WINDOW)
        held = [r for r in rows if r["state"] == "held"]
        # Named reporters count once each; anonymous ones can't be told
        # apart, so each counts as one (the flood limit bounds that).
        people = {f"n:{r['reporter_via']}:{r['reporter_id']}" if r["named"] else f"a:{r['ref']}" for r in rows}
        if not held or len(people) < 1 + TOGETHER_NEEDED:
            return []
        together = ", ".join(r["ref"] for r in rows)
        # Only the ones this call released go out: two sends at once can't
        # both release (and post) the same held concerns. Coarse: the moment
        # is the latest sender's, who may be anonymous.
        released = await ctx.store.concerns.release([r["ref"] for r in held], reporter_moment(now, ctx.settings.timezone), together)
        lead = f"{len(people)} people on the same team have raised scope-drift concerns. These were held so that nobody stands alone, and go out together."
        replies: list[Reply] = []
        for ref in released:
            row = await ctx.store.concerns.get(ref)
            assert row is not None
            replies += await self.route_to_supervisors(row, ctx, lead=lead)
            self.plan_escalation(row, ctx)
            tell = self.tell(row, f"Your held concern {row['ref']} has gone to the peer supervisors, together with others raised on your team.", ctx, "released")
            replies += [tell] if tell else []
        return replies

    async def route_to_supervisors(self, row: dict[str, Any], ctx: Context, *, lead: str = "") -> list[Reply]:
        """A concern's post, on its way to where its supervisors read it."""
        return self.spread(await self.post(row, ctx, lead=lead), row, ctx)

    async def post(self, row: dict[str, Any], ctx: Context, *, lead: str = "", dedupe: str | None = None) -> Reply:
        events = await ctx.store.concerns.events(row["ref"])
        if not lead and row.get("released_with"):
            lead = "Held until others on the same team raised the same; these go out together."
        return Reply(
            text=post_text(row, events, tz=ctx.settings.timezone, lead=lead),
            to=Destination.channel(row["destination"]),
            key=f"concern:{row['ref']}",
            dedupe=dedupe or post_key(row["ref"]),
            choices=post_choices(row),
            private=False,
            # An anonymous concern's deliveries are timed like its reporter's own steps.
            recorded_at=None if row["named"] else reporter_moment(ctx.now(), ctx.settings.timezone),
        )

    @staticmethod
    def spread(reply: Reply, row: dict[str, Any], ctx: Context) -> list[Reply]:
        """A post as it goes out: to its channel, or, for a concern about a
        peer supervisor routed to the admins, to each admin directly (each
        its own post, updated in place on its own key)."""
        admins_via = to_admins_via(row["destination"])
        if admins_via is None:
            return [reply]
        return [
            reply.model_copy(update={
                "to": Destination.user(admin, via=admins_via),
                "key": f"{reply.key}:{admin}" if reply.key else None,
                "dedupe": f"{reply.dedupe}:{admin}" if reply.dedupe else None,
            })
            for admin in sorted(ctx.settings.admins)
        ]

    def _escalation_channel(self, row: dict[str, Any], ctx: Context) -> str:
        if row["about_supervisor"]:
            return row["destination"]  # never widen it to the supervisors' channel
        return ctx.settings.concern_escalation_channel or row["destination"]

    async def _updates(self, row: dict[str, Any], event_id: int, ctx: Context) -> list[Reply]:
        """The post (and its escalation, if any) as it stands now, updated in place."""
        update = await self.post(row, ctx, dedupe=f"concern:{row['ref']}:update:{event_id}")
        replies = self.spread(update, row, ctx)
        if row.get("escalated_at"):
            replies += self.spread(
                update.model_copy(
                    update={
                        "to": Destination.channel(self._escalation_channel(row, ctx)),
                        "key": f"concern:{row['ref']}:escalation",
                        "dedupe": f"concern:{row['ref']}:escalation:update:{event_id}",
                    }
                ), row, ctx,
            )
        return replies

    def tell(self, row: dict[str, Any], text: str, ctx: Context, tag: str) -> Reply | None:
        """A message for the reporter, if they asked to hear back: by name
        through the outbox, or anonymously through the relay link, sent
        directly and never written to the outbox next to them."""
        ref = row["ref"]
        cap = self.links(ctx).cap(ref)
        choices = [Choice(label="Check status", action="concern:status", value=f"{ref}|{cap}")]
        if row["state"] != "resolved":
            choices.append(Choice(label="Answer back", action="concern:answer", value=f"{ref}|{cap}"))
        if row["named"]:
            if not (row["follow_up"] and row.get("reporter_id")):
                return None
            to = Destination.user(row["reporter_id"], via=row["reporter_via"])
            return Reply(text=text, to=to, choices=choices, dedupe=f"concern:{ref}:tell:{tag}")
        reached = self.links(ctx).open(row.get("relay"))
        if reached is None:
            return None
        return Reply(text=text, to=Destination.user(reached[0], via=reached[1]), choices=choices, secret=True)

    def plan_escalation(self, row: dict[str, Any], ctx: Context) -> None:
        """A job at the escalation deadline. For an anonymous concern it is
        derived from its coarse ``released_at``, and the store keeps it apart
        from named concerns' jobs (bot/store/schedule.py)."""
        if ctx.schedule is None or not row.get("released_at"):
            return
        due = business_deadline(
            dt.datetime.fromisoformat(row["released_at"]), ctx.settings.concern_escalate_hours, ctx.settings.timezone, ctx.settings.holidays
        )
        ctx.schedule.at(f"concern:{row['ref']}:escalate", "concern:escalate", {"ref": row["ref"]}, due)

    async def _escalate(self, row: dict[str, Any], ctx: Context) -> list[Reply]:
        if row["state"] != "open" or row.get("escalated_at"):
            return []
        if await ctx.store.concerns.escalate(row["ref"], on_record(row, ctx)) is None:
            return []  # the sweep and the scheduled job both got here; one escalates
        row = await ctx.store.concerns.get(row["ref"])
        assert row is not None
        mention = ctx.settings.concern_escalation_mention or "Backup peer supervisors and admins"
        hours = ctx.settings.concern_escalate_hours
        span = "one business day" if hours == 24 else f"{hours} working hours"
        lead = f"{mention}: concern {row['ref']} has waited {span} with nobody acknowledging it. Could someone pick it up?"
        post = await self.post(row, ctx, lead=lead)
        post = post.model_copy(
            update={
                "to": Destination.channel(self._escalation_channel(row, ctx)),
                "key": f"concern:{row['ref']}:escalation",
                "dedupe": f"concern:{row['ref']}:escalation:post",
            }
        )
        posts = self.spread(post, row, ctx)
        tell = self.tell(row, f"Nobody had acknowledged your concern {row['ref']} yet, so I've raised it again with a wider group.", ctx, "escalated")
        return [*posts, *([tell] if tell else [])]

    async def on_schedule(self, kind: str, payload: dict[str, Any], ctx: Context) -> list[Reply]:
        if kind == "concern:escalate":
            row = await ctx.store.concerns.get(str(payload.get("ref", "")))
            return await self._escalate(row, ctx) if row is not None else []
        if kind == "concern:sweep":
            return await self.sweep(ctx)
        return []

    async def sweep(self, ctx: Context) -> list[Reply]:
        """Re-queue posts a crash kept from the outbox, escalate what has
        waited too long (if its job was lost), and purge expired text."""
        now = ctx.now()
        replies = [post for row in await ctx.store.concerns.unqueued() for post in await self.route_to_supervisors(row, ctx)]
        hours, zone = ctx.settings.concern_escalate_hours, ctx.settings.timezone
        for row in await ctx.store.concerns.waiting_unacknowledged():
            if business_deadline(dt.datetime.fromisoformat(row["released_at"]), hours, zone, ctx.settings.holidays) <= now:
                replies += await self._escalate(row, ctx)
        await ctx.store.concerns.purge_resolved(
            now - dt.timedelta(days=ctx.settings.concern_retention_days), now, reporter_moment(now, ctx.settings.timezone)
        )
        return replies

    async def status(self, ref: str, cap: str, msg: Inbound, ctx: Context) -> list[Reply]:
        # Every try is counted before the lookup, in one guarded write, so
        # concurrent tries can't slip past the limit; one that finds a
        # concern this person may see is given back, so looking at your own
        # (or, for supervisors, at theirs) is never limited.
        bucket, now = f"concern-status:{self.links(ctx).person(msg.channel, msg.user)}", ctx.now()
        if await ctx.store.limits.take(bucket, now) > STATUS_TRIES_PER_MINUTE:
            return [Reply(text=TRY_LATER)]
        row = await ctx.store.concerns.get(ref) if REF.match(ref.strip()) else None
        reporter = row is not None and self.is_reporter(row, cap, msg, ctx)
        supervisor = row is not None and ctx.has_role("supervisor") and row["state"] != "held"
        if row is None or not (reporter or supervisor):
            return [Reply(text=NOT_FOUND)]
        await ctx.store.limits.give_back(bucket, now)
        if supervisor and not reporter:
            await ctx.store.concerns.record(row["ref"], msg.user_name or msg.user, "viewed", on_record(row, ctx))
        events = await ctx.store.concerns.events(row["ref"])
        text = status_text(row, events, with_text=reporter or supervisor, tz=await reader_zone(msg, ctx))
        choices = post_choices(row) if supervisor and not reporter else []
        return [Reply(text=text, choices=choices)]

    def is_reporter(self, row: dict[str, Any], cap: str, msg: Inbound, ctx: Context) -> bool:
        """Whether this is the person who raised it: they hold its receipt (or
        a button carrying it), or, for a named concern, they are the named
        reporter, or, for an anonymous one that asked to hear back, the
        locked relay link leads to them (opened here, in memory only)."""
        links = self.links(ctx)
        if links.holds(row["ref"], cap):
            return True
        if row["named"]:
            return bool(row.get("reporter_id") == msg.user and row.get("reporter_via") == msg.channel)
        return msg.user != "anonymous" and links.open(row.get("relay")) == (msg.user, msg.channel)



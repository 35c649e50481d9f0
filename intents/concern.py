"""Concerns: a peer worker raises something with the peer supervisors, with
their name or anonymously, and hears back.

The flow: who sees what, and a choice of named or anonymous; the form
(opened already anonymous when they chose so, so channels drop who sent
it); a preview of exactly what will be sent and where, with Send / Edit /
Cancel; a receipt with a short reference. Drafts live in this process only,
never in the database next to a person.

Never lost: the concern is committed to the store before anything is sent;
its post goes through the courier's persisted outbox under an idempotency
key, and a sweep (at start and every ten minutes) re-queues any stored
concern whose post never reached the outbox. Supervisors act on the post
(acknowledge, take, resolve with a note, write to the reporter); each step
updates the post in place, joins the audit trail and tells the reporter.

Exactly once: every press is one guarded write in the store (a unique key on
the draft's or the form's one-time token, or a compare-and-set on the
concern's state, bot/store/concerns.py DESK). A press that arrives twice (a
double click, a platform's retry, another replica) hears what the first one
did, and nothing is stored, posted or told twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import secrets
import signal
from typing import Any

from bot.model import Action, Choice, Destination, Form, Inbound, Reply
from bot.store.concerns import DESK, once_key, post_key, reporter_moment
from intents.base import Command, Context, Intent
from intents.concern_links import FloodGate, Links, business_deadline
from intents.concern_text import (
    CATEGORIES,
    MAX_TEXT,
    TOGETHER_NEEDED,
    Draft,
    concern_form,
    note_form,
    post_choices,
    post_text,
    preview_text,
    reachable,
    status_text,
    when,
    where_words,
    supervisor_route,
    to_admins_via,
)

REF = re.compile(r"^[A-Za-z0-9]{6}$")


async def reader_zone(msg: Inbound, ctx: Context) -> str:
    """The time zone to show times in for the person reading: their own
    check-in time zone if they set one, else the organisation's. (Reading
    the roster stores nothing, and says nothing about any concern.)"""
    for member in await ctx.store.surveys.memberships(msg.channel, msg.user):
        if member.tz:
            return member.tz
    return ctx.settings.timezone


# Kinds of flow state (bot/flow_state.py) this intent keeps, and for how long.
DRAFT = "concern-draft"          # a written, unsent concern, by the token its buttons carry
UNSENT = "concern-unsent"        # each person's (keyed hash) latest unsent draft token
PREFILL = "concern-prefill"      # text a "flag this message" or "/concern TEXT" pre-fills the form with
QUESTION = "concern-question"    # the question behind an out-of-scope answer's "Raise this" button
KEEP_DRAFTS = 500
DRAFT_LIFE = dt.timedelta(days=7)
KEEP_PREFILLS = 1000
PREFILL_LIFE = dt.timedelta(days=1)
GROUP_WINDOW = dt.timedelta(days=90)
SWEEP_EVERY_MINUTES = 10
WHO_SEES = (
    "Before you start, here's who sees what:\n"
    "• A concern goes to the peer supervisors' channel, where the peer supervisors read it. "
    "One about a peer supervisor never goes to them: it goes to backup peer supervisors or the bot's admins instead.\n"
    "• With your name: they see your name with it and can write back to you through me.\n"
    "• Anonymously: they see what you write, not who wrote it. I don't keep your name or user id with it.\n"
    "Nothing is sent until you've seen exactly what will go and pressed Send.\n\n"
    "How would you like to raise it?"
)
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
RECEIPT = re.compile(r"^([A-Za-z0-9]{6})(?:[\s\-]*([A-Za-z0-9]{6}))?$")


def start_reply(origin: str = "", lead: str = "") -> Reply:
    """The first step of the flow, for any way in (``/concern``, the scope
    answer's button, the "Flag to peer supervisor" message action)."""
    return Reply(
        text="\n\n".join(part for part in (lead, WHO_SEES) if part),
        choices=[
            Choice(label="With my name", action="concern:begin", value=f"named|{origin}"),
            Choice(label="Anonymously", action="concern:begin", value=f"anonymous|{origin}"),
            Choice(label="Not now", action="concern:drop"),
        ],
    )


def _test_crash(point: str) -> None:
    """Die here, hard, when a test asks (never outside a test run): proves a
    concern stored but not yet queued is still delivered after a restart."""
    if os.environ.get("PEERBOT_TEST_CRASH") == point and "PYTEST_CURRENT_TEST" in os.environ:
        os.kill(os.getpid(), signal.SIGKILL)


class Concern(Intent):
    name = "concern"
    commands = (
        Command("concern", "raise a concern with the peer supervisors, with your name or anonymously", usage="[status [REF] | mine]"),
        Command(
            "concerns",
            "open concerns; one concern with its audit trail; acting on one",
            usage="[REF | ack REF | take REF | resolve REF [NOTE] | reply REF [TEXT]]",
            role="supervisor",
        ),
    )

    def __init__(self) -> None:
        self._links: Links | None = None
        self._gate: FloodGate | None = None
        # Drafts by token, the unsent draft of each person (by keyed hash),
        # text to pre-fill a form with, and the question behind each recent
        # out-of-scope answer are all kept in ctx.flows (bot/flow_state.py).

    def links(self, ctx: Context) -> Links:
        if self._links is None:
            self._links = Links(ctx.settings)
            self._gate = FloodGate(ctx.settings.concern_daily_limit)
        return self._links

    def gate(self, ctx: Context) -> FloodGate:
        self.links(ctx)
        assert self._gate is not None
        return self._gate

    # -- hooks -------------------------------------------------------------

    async def warm_up(self, ctx: Context) -> None:
        if ctx.schedule is None:
            return
        # Right away at start (a crash may have left a concern unqueued),
        # then every few minutes for escalations and the retention purge.
        ctx.schedule.at("concern:sweep:start", "concern:sweep", {}, ctx.now())
        ctx.schedule.cron("concern:sweep", "concern:sweep", {}, timezone="UTC", minute=f"*/{SWEEP_EVERY_MINUTES}")

    async def decorate(self, msg: Inbound, replies: list[Reply], ctx: Context) -> list[Reply]:
        """Remember (in memory) the question behind an out-of-scope answer, so
        "Raise this with my peer supervisor" can fill it in."""
        if msg.text:
            question = re.sub(r"^/scope\s+", "", msg.text, flags=re.IGNORECASE)
            for reply in replies:
                for choice in reply.choices:
                    if choice.action == "scope:raise":
                        token = self._question_token(msg, choice.value, ctx)
                        await ctx.flows.put(QUESTION, {"text": question[:2000]}, lifetime=PREFILL_LIFE, token=token,
                                            keep=KEEP_PREFILLS)
        return replies

    async def home(self, msg: Inbound, ctx: Context) -> list[Reply]:
        sections = [
            Reply(
                text="Something at work worrying you, or being asked to step outside the peer role? "
                "You can raise it with the peer supervisors, with your name or anonymously.",
                choices=[Choice(label="Raise a concern", action="concern:start")],
            )
        ]
        if ctx.has_role("supervisor"):
            waiting = [r for r in await ctx.store.concerns.listing(open_only=True) if r["state"] != "held"]
            if waiting:
                refs = ", ".join(f"{r['ref']} ({r['state']})" for r in waiting[:10])
                sections.append(Reply(text=f"Open concerns: {len(waiting)}. {refs}"))
        return sections

    def form(self, name: str, ctx: Context) -> Form | None:
        if name in ("named", "anonymous"):
            return concern_form(anonymous=name == "anonymous", can_relay=self.links(ctx).can_relay)
        if name in ("resolve", "reply", "answer"):
            return note_form(name, "")
        return None

    # -- commands ----------------------------------------------------------

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        parts = args.split()
        if word == "concerns":
            return await self._supervisor_command(parts, msg, ctx, note=_words_after(args, 2))
        if parts and parts[0].lower() == "status":
            if len(parts) < 2:
                return [Reply(text="Which one? For example: /concern status K7Q2MX-4HPR9T (the whole receipt you got when you sent it).")]
            ref, secret = _read_receipt(" ".join(parts[1:]))
            return await self._status(ref, secret, msg, ctx)
        if parts and parts[0].lower() == "mine" and len(parts) == 1:
            return await self._mine(msg, ctx)
        unsent = await self._unsent(msg, ctx)
        if unsent is not None and not args.strip():
            token, draft = unsent
            return [
                Reply(
                    text=f"You have a concern you haven't sent yet ({CATEGORIES[draft.category].lower()}, "
                    f"{len(draft.text):,} characters). Would you like to look at it again?",
                    choices=[
                        Choice(label="Look at it again", action="concern:preview", value=token),
                        Choice(label="Start a new one", action="concern:start"),
                    ],
                )
            ]
        origin = await self._prefill("", args.strip(), ctx) if args.strip() else ""
        return [start_reply(origin)]

    async def _supervisor_command(self, parts: list[str], msg: Inbound, ctx: Context, note: str = "") -> list[Reply]:
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
            return await self._act(verb, parts[1].upper(), msg, ctx, text=note)
        if verb in ("ack", "take", "resolve", "reply") and len(parts) > 1:
            return await self._act(verb, parts[1].upper(), msg, ctx)
        if len(parts) == 1 and REF.match(parts[0]):
            return await self._status(parts[0], "", msg, ctx)
        return [Reply(text="I know /concerns, /concerns REF, and /concerns ack|take|resolve|reply REF.")]

    # -- buttons -----------------------------------------------------------

    async def on_action(self, action: Action, msg: Inbound, ctx: Context) -> list[Reply]:
        verb = action.id.partition(":")[2]
        value = action.value
        if verb == "start":
            return [start_reply()]
        if verb == "flag":
            quoted = value.strip()
            text = f"About this message:\n\"{quoted}\"\n\n" if quoted else ""
            lead = "You'd like to flag a message to the peer supervisors. I'll quote it in the form, and you can add what happened."
            return [start_reply(await self._prefill("", text, ctx) if text else "", lead=lead)]
        if verb == "begin":
            mode, _, origin = value.partition("|")
            return [self._open_form(mode == "anonymous", await self._prefilled(origin, msg, ctx), msg, ctx, team=await self._peer_team(msg, ctx))]
        if verb == "drop":
            return [Reply(text="Okay, nothing was sent. You can raise it any time with /concern.")]
        if verb in ("preview", "send", "edit", "cancel"):
            kept = await ctx.flows.get(DRAFT, value) if value else None
            if kept is None:
                # Sent already (a second press, after a restart too)? The
                # store knows by the draft token's hash.
                ref = await ctx.store.concerns.sent_with(once_key(value)) if value else None
                if ref is not None:
                    return [self._already_sent(ref, ctx)]
                return [
                    Reply(
                        text="I don't have that draft any more: drafts are kept in memory only, so a restart clears them. "
                        "Nothing was sent. You can write it again with /concern."
                    )
                ]
            draft = Draft(**kept)
            if verb == "preview":
                return [self._preview(value, draft, ctx)]
            if verb == "edit":
                return [self._open_form(not draft.named, self._initial(draft), msg, ctx, draft=draft, token=value)]
            if verb == "cancel":
                await self._forget(value, ctx)
                return [Reply(text="Okay, I've set it aside. Nothing was sent, and I haven't kept it.")]
            return await self._send(value, draft, ctx, via=msg.channel)
        ref, _, cap = value.partition("|")
        if verb == "status":
            return await self._status(ref, cap, msg, ctx)
        if verb == "release":
            return await self._release_now(ref, cap, msg, ctx)
        if verb == "answer":
            return await self._answer_form(ref, cap, msg, ctx)
        if verb in ("ack", "take", "resolve", "reply"):
            return await self._act(verb, ref, msg, ctx)
        return [Reply(text="That button doesn't do anything any more. Type /concern to raise a concern.")]

    # -- raising a concern -------------------------------------------------

    async def _prefill(self, category: str, text: str, ctx: Context) -> str:
        token = await ctx.flows.put(PREFILL, {"category": category, "text": text}, lifetime=PREFILL_LIFE,
                                    keep=KEEP_PREFILLS)
        return f"p:{token}"

    def _question_token(self, msg: Inbound, entry_id: str, ctx: Context) -> str:
        """Where the question behind a "Raise this" button is kept: by the
        person's keyed hash and the entry, so only they pick it up."""
        return f"{self.links(ctx).person(msg.channel, msg.user)}:{entry_id}"

    async def _prefilled(self, origin: str, msg: Inbound, ctx: Context) -> dict[str, str]:
        kind, _, key = origin.partition(":")
        kept = await ctx.flows.get(PREFILL, key) if kind == "p" and key else None
        if kept is not None:
            return {k: v for k, v in (("category", kept["category"]), ("what", kept["text"])) if v}
        if kind == "scope":
            kb = ctx.resources.get("knowledge")
            entry = kb.entries.get(key) if kb is not None else None
            asked = await ctx.flows.get(QUESTION, self._question_token(msg, key, ctx))
            lines = [asked["text"]] if asked else []
            if entry is not None:
                lines.append(f"(peerbot's answer: this isn't part of the peer role: {entry.title}.)")
            return {"category": "scope", "what": "\n\n".join(lines)} if lines else {"category": "scope"}
        return {}

    @staticmethod
    async def _peer_team(msg: Inbound, ctx: Context) -> str | None:
        """The person's peer team (their check-in team), for holding scope-drift
        concerns together; asked while the bot still knows who is asking."""
        memberships = await ctx.store.surveys.memberships(msg.channel, msg.user)
        return memberships[0].team if memberships else msg.team

    def _open_form(
        self, anonymous: bool, initial: dict[str, str], msg: Inbound, ctx: Context, *,
        draft: Draft | None = None, token: str = "", team: str | None = None,
    ) -> Reply:
        links = self.links(ctx)
        hidden = {"team": (draft.team if draft else team) or ""}
        if token:
            hidden["draft"] = token
        if anonymous:
            # Made now, while the bot still knows who asked; only ever stored
            # encrypted, and only if they ask to hear back.
            relay = draft.relay if draft is not None else links.lock(msg.user, msg.channel)
            if relay:
                hidden["relay"] = relay
        return Reply(form=concern_form(anonymous=anonymous, can_relay=links.can_relay, initial=initial, hidden=hidden))

    @staticmethod
    def _initial(draft: Draft) -> dict[str, str]:
        return {
            "category": draft.category,
            "what": draft.text,
            "about": "yes" if draft.about_supervisor else "no",
            "follow_up": "yes" if draft.follow_up else "no",
            "timing": "together" if draft.together else "now",
        }

    async def on_submission(self, name: str, values: dict[str, Any], msg: Inbound, ctx: Context) -> list[Reply]:
        if name in ("named", "anonymous"):
            return [await self._draft_from(name == "anonymous", values, msg, ctx)]
        if name == "answer":
            return await self._answer(values, msg, ctx)
        if name in ("resolve", "reply"):
            return await self._note(name, values, msg, ctx)
        return [Reply(text="That form isn't available any more. Type /concern to start again.")]

    async def _draft_from(self, anonymous: bool, values: dict[str, Any], msg: Inbound, ctx: Context) -> Reply:
        links = self.links(ctx)
        follow_up = values.get("follow_up") == "yes"
        draft = Draft(
            category=values["category"],
            text=values["what"],
            named=not anonymous,
            about_supervisor=values.get("about") == "yes",
            follow_up=follow_up,
            together=values.get("timing") == "together",
            team=str(values.get("team") or "") or None,
        )
        if anonymous:
            # Whoever submitted is not looked at: only the relay link made
            # when the form opened, opened here in memory to count sends.
            reached = links.open(values.get("relay"))
            draft.relay = values.get("relay") if reached else None
            draft.follow_up = follow_up and reached is not None
            if reached is not None:
                draft.person = links.person(reached[1], reached[0])
        else:
            draft.reporter_id, draft.reporter_name, draft.reporter_via = msg.user, msg.user_name, msg.channel
            draft.person = links.person(msg.channel, msg.user)
        token = str(values.get("draft") or "")
        if not token or await ctx.flows.get(DRAFT, token) is None:
            token = None  # an edit of a draft that is gone is a new draft
        token = await ctx.flows.put(DRAFT, dataclasses.asdict(draft), lifetime=DRAFT_LIFE, token=token, keep=KEEP_DRAFTS)
        if draft.person:
            await ctx.flows.put(UNSENT, {"draft": token}, lifetime=DRAFT_LIFE, token=draft.person, keep=KEEP_DRAFTS)
        return self._preview(token, draft, ctx)

    def _preview(self, token: str, draft: Draft, ctx: Context) -> Reply:
        text = preview_text(draft, ctx.settings, self.links(ctx).can_relay)
        choices = [
            Choice(label="Send", action="concern:send", value=token),
            Choice(label="Edit", action="concern:edit", value=token),
            Choice(label="Cancel", action="concern:cancel", value=token),
        ]
        if draft.about_supervisor and supervisor_route(ctx.settings, msg_via="") is None:
            text = (
                "I don't have a place set up yet that keeps a concern about a peer supervisor away from them, so I "
                "won't send it to the supervisors' channel. Your draft is kept here while this conversation lasts, and "
                "you can edit it. If it can't wait, talking to someone you trust outside this chat is always an option."
            )
            choices = choices[1:]
        return Reply(text=text, choices=choices)

    async def _unsent(self, msg: Inbound, ctx: Context) -> tuple[str, Draft] | None:
        pointer = await ctx.flows.get(UNSENT, self.links(ctx).person(msg.channel, msg.user))
        kept = await ctx.flows.get(DRAFT, pointer["draft"]) if pointer else None
        if kept is None:
            return None
        return pointer["draft"], Draft(**kept)  # type: ignore[index]

    async def _forget(self, token: str, ctx: Context) -> None:
        kept = await ctx.flows.drop(DRAFT, token)
        person = kept.get("person") if kept else None
        if person:
            pointer = await ctx.flows.get(UNSENT, person)
            if pointer is not None and pointer["draft"] == token:
                await ctx.flows.drop(UNSENT, person)

    async def _send(self, token: str, draft: Draft, ctx: Context, via: str = "") -> list[Reply]:
        settings, now = ctx.settings, ctx.now()
        route = supervisor_route(settings, msg_via=via) if draft.about_supervisor else settings.supervisor_channel
        if route is None:
            return [self._preview(token, draft, ctx)]
        if draft.person:
            gate = self.gate(ctx)
            recent = gate.recent(draft.person, now)
            if draft.named:
                recent = max(recent, await ctx.store.concerns.named_since(draft.reporter_id or "", draft.reporter_via or "", now - gate.WINDOW))
            if recent >= gate.limit:
                free = gate.next_free(draft.person)
                after = f" after {when(free.isoformat(), settings.timezone)}" if free else " tomorrow"
                return [
                    Reply(
                        text=f"You've sent {recent} concerns in the last 24 hours, which is as many as I can pass on from one "
                        f"person in a day. Your draft is kept here: press Send again{after}. If it can't wait, a peer "
                        "supervisor is still there to talk to directly.",
                        choices=[Choice(label="Send", action="concern:send", value=token), Choice(label="Cancel", action="concern:cancel", value=token)],
                    )
                ]
        held = draft.together and draft.category == "scope"
        fields = {
            "category": draft.category,
            "body": draft.text,
            "named": int(draft.named),
            "reporter_id": draft.reporter_id if draft.named else None,
            "reporter_name": draft.reporter_name if draft.named else None,
            "reporter_via": draft.reporter_via if draft.named else None,
            "follow_up": int(draft.follow_up),
            "relay": draft.relay if (not draft.named and draft.follow_up) else None,
            "about_supervisor": int(draft.about_supervisor),
            "destination": route,
            "team": (draft.team or "") if draft.category == "scope" else None,
            "hold": int(held),
            "state": "held" if held else "open",
        }
        # One guarded write per draft: a second Send (a double click, a
        # platform's retry, another replica) gets the first one's reference.
        # An anonymous reporter's own moment is stored coarse (the hour, or the day).
        moment = now if draft.named else reporter_moment(now, settings.timezone)
        ref, fresh = await ctx.store.concerns.create_once(fields, moment, once_key(token))
        if not fresh:
            return [self._already_sent(ref, ctx)]
        _test_crash("concern-stored")
        if draft.person:
            self.gate(ctx).record(draft.person, now)
        await self._forget(token, ctx)

        replies: list[Reply] = []
        if not held:
            row = await ctx.store.concerns.get(ref)
            assert row is not None
            replies += self._spread(await self._post(row, ctx), row, ctx)
            self._plan_escalation(row, ctx)
        if draft.category == "scope":
            replies += await self._gather(fields["team"] or "", ctx)
        row = await ctx.store.concerns.get(ref)
        assert row is not None
        replies.append(self._receipt(row, draft, ctx))
        return replies

    def _already_sent(self, ref: str, ctx: Context) -> Reply:
        return Reply(
            text=f"Already sent: your reference is {ref}. It went once; nothing was sent twice.",
            choices=[Choice(label="Check status", action="concern:status", value=f"{ref}|{self.links(ctx).cap(ref)}")],
        )

    def _receipt(self, row: dict[str, Any], draft: Draft, ctx: Context) -> Reply:
        ref = row["ref"]
        cap = self.links(ctx).cap(ref)
        receipt = self.links(ctx).receipt(ref)
        choices = [Choice(label="Check status", action="concern:status", value=f"{ref}|{cap}")]
        if row["state"] == "held":
            text = (
                f"Kept, and held. Your reference is {ref}. Nobody sees it until two more people on your team raise a "
                "scope-drift concern; then they all go to the peer supervisors together."
            )
            choices.append(Choice(label="Send it on now", action="concern:release", value=f"{ref}|{cap}"))
        elif row["released_with"]:
            text = f"Sent. Your reference is {ref}. Others on your team had raised the same, so it went out together with theirs."
        else:
            text = (
                f"Sent. Your reference is {ref}. It's on its way to {where_words(draft, ctx.settings)}; "
                "if that channel can't be reached for a moment, I keep trying until it arrives."
            )
        if draft.named and draft.follow_up:
            text += " You'll hear from me when someone acknowledges it, takes it on or resolves it."
        elif draft.follow_up:
            text += " You'll hear from me as it moves along, through the locked link."
        text += f"\n\nYour receipt: {receipt}\n"
        if draft.named:
            text += "Keep it: I show it only this once. It finds this concern again even after its text is deleted."
        else:
            text += (
                "Keep the whole receipt somewhere safe: I show it only this once, and it's the only way to find this "
                "concern again, because I don't know it was you."
            )
        text += f"\nTo see who has looked at it and what they did: /concern status {receipt}"
        return Reply(text=text, choices=choices)

    # -- holding scope-drift concerns until others raise the same ---------

    async def _gather(self, team: str, ctx: Context) -> list[Reply]:
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
            replies += self._spread(await self._post(row, ctx, lead=lead), row, ctx)
            self._plan_escalation(row, ctx)
            tell = self._tell(row, f"Your held concern {row['ref']} has gone to the peer supervisors, together with others raised on your team.", ctx, "released")
            replies += [tell] if tell else []
        return replies

    async def _release_now(self, ref: str, cap: str, msg: Inbound, ctx: Context) -> list[Reply]:
        row = await ctx.store.concerns.get(ref)
        if row is None or not self._is_reporter(row, cap, msg, ctx):
            return [Reply(text="I can't find a held concern with that reference that's yours.")]
        moment = ctx.now() if row["named"] else reporter_moment(ctx.now(), ctx.settings.timezone)
        if row["state"] != "held" or not await ctx.store.concerns.release([row["ref"]], moment, ""):
            return [Reply(text=f"{row['ref']} has already gone to the peer supervisors.")]
        row = await ctx.store.concerns.get(row["ref"])
        assert row is not None
        self._plan_escalation(row, ctx)
        return [*self._spread(await self._post(row, ctx), row, ctx), Reply(text=f"Sent on. {row['ref']} is with the peer supervisors now.")]

    # -- posts, reporters and the audit trail ------------------------------

    async def _post(self, row: dict[str, Any], ctx: Context, *, lead: str = "", dedupe: str | None = None) -> Reply:
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
    def _spread(reply: Reply, row: dict[str, Any], ctx: Context) -> list[Reply]:
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
        update = await self._post(row, ctx, dedupe=f"concern:{row['ref']}:update:{event_id}")
        replies = self._spread(update, row, ctx)
        if row.get("escalated_at"):
            replies += self._spread(
                update.model_copy(
                    update={
                        "to": Destination.channel(self._escalation_channel(row, ctx)),
                        "key": f"concern:{row['ref']}:escalation",
                        "dedupe": f"concern:{row['ref']}:escalation:update:{event_id}",
                    }
                ), row, ctx,
            )
        return replies

    def _tell(self, row: dict[str, Any], text: str, ctx: Context, tag: str) -> Reply | None:
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

    def _plan_escalation(self, row: dict[str, Any], ctx: Context) -> None:
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
        if await ctx.store.concerns.escalate(row["ref"], _on_record(row, ctx)) is None:
            return []  # the sweep and the scheduled job both got here; one escalates
        row = await ctx.store.concerns.get(row["ref"])
        assert row is not None
        mention = ctx.settings.concern_escalation_mention or "Backup peer supervisors and admins"
        hours = ctx.settings.concern_escalate_hours
        span = "one business day" if hours == 24 else f"{hours} working hours"
        lead = f"{mention}: concern {row['ref']} has waited {span} with nobody acknowledging it. Could someone pick it up?"
        post = await self._post(row, ctx, lead=lead)
        post = post.model_copy(
            update={
                "to": Destination.channel(self._escalation_channel(row, ctx)),
                "key": f"concern:{row['ref']}:escalation",
                "dedupe": f"concern:{row['ref']}:escalation:post",
            }
        )
        posts = self._spread(post, row, ctx)
        tell = self._tell(row, f"Nobody had acknowledged your concern {row['ref']} yet, so I've raised it again with a wider group.", ctx, "escalated")
        return [*posts, *([tell] if tell else [])]

    # -- supervisors -------------------------------------------------------

    async def _act(self, verb: str, ref: str, msg: Inbound, ctx: Context, *, text: str = "") -> list[Reply]:
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
            return await self._note(verb, {"ref": row["ref"], "text": text, "once": once}, msg, ctx)
        changes: dict[str, Any] = {"taken_by": who} if verb == "take" else {}
        event = await ctx.store.concerns.step(row["ref"], verb, who, _on_record(row, ctx), **changes)
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
        tell = self._tell({**row, "relay": relay or row.get("relay")}, tell_text, ctx, f"{tag}:{event}")
        if tell is not None:
            replies.append(tell)
        told = " I've let the person who raised it know." if tell is not None else ""
        replies.append(Reply(text=f"Done: {ref} is {row['state']}.{told}"))
        return replies

    async def _note(self, name: str, values: dict[str, Any], msg: Inbound, ctx: Context) -> list[Reply]:
        if not ctx.has_role("supervisor"):
            return [Reply(text=NOT_SUPERVISOR)]
        row = await ctx.store.concerns.get(str(values.get("ref", "")))
        if row is None or row["state"] in ("held", "resolved"):
            return [Reply(text="That concern isn't open any more, so nothing was sent.")]
        who = msg.user_name or msg.user
        text = values["text"]
        once = once_key(str(values["once"])) if values.get("once") else None
        if name == "reply":
            event = await ctx.store.concerns.note(row["ref"], who, "replied", _on_record(row, ctx), once)
            if event is None:
                return [Reply(text=f"Already sent to the person who raised {row['ref']}; it went once.")]
            tell = self._tell(row, f"A peer supervisor ({who}) wrote about your concern {row['ref']}:\n\n{text}", ctx, f"reply:{event}")
            if tell is None:
                return [Reply(text=f"There's no way to reach the person who raised {row['ref']}, so nothing was sent.")]
            return [tell, Reply(text=f"Sent to the person who raised {row['ref']}. I don't keep a copy.")]
        relay = row.get("relay")
        now = _on_record(row, ctx)
        event = await ctx.store.concerns.step(row["ref"], "resolve", who, now, resolution=text, resolved_at=now.isoformat(timespec="seconds"))
        if event is None:
            return [Reply(text=f"{row['ref']} is already resolved; nothing was sent twice.")]
        if ctx.schedule is not None:
            ctx.schedule.cancel(f"concern:{row['ref']}:escalate")
        return await self._changed(row["ref"], event, f"Your concern {row['ref']} was resolved by {who}, with this note:\n\n{text}", "resolved", ctx, relay=relay)

    # -- the reporter ------------------------------------------------------

    def _is_reporter(self, row: dict[str, Any], cap: str, msg: Inbound, ctx: Context) -> bool:
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

    async def _status(self, ref: str, cap: str, msg: Inbound, ctx: Context) -> list[Reply]:
        # Every try is counted before the lookup, in one guarded write, so
        # concurrent tries can't slip past the limit; one that finds a
        # concern this person may see is given back, so looking at your own
        # (or, for supervisors, at theirs) is never limited.
        bucket, now = f"concern-status:{self.links(ctx).person(msg.channel, msg.user)}", ctx.now()
        if await ctx.store.limits.take(bucket, now) > STATUS_TRIES_PER_MINUTE:
            return [Reply(text=TRY_LATER)]
        row = await ctx.store.concerns.get(ref) if REF.match(ref.strip()) else None
        reporter = row is not None and self._is_reporter(row, cap, msg, ctx)
        supervisor = row is not None and ctx.has_role("supervisor") and row["state"] != "held"
        if row is None or not (reporter or supervisor):
            return [Reply(text=NOT_FOUND)]
        await ctx.store.limits.give_back(bucket, now)
        if supervisor and not reporter:
            await ctx.store.concerns.record(row["ref"], msg.user_name or msg.user, "viewed", _on_record(row, ctx))
        events = await ctx.store.concerns.events(row["ref"])
        text = status_text(row, events, with_text=reporter or supervisor, tz=await reader_zone(msg, ctx))
        choices = post_choices(row) if supervisor and not reporter else []
        return [Reply(text=text, choices=choices)]

    async def _mine(self, msg: Inbound, ctx: Context) -> list[Reply]:
        rows = await ctx.store.concerns.of_reporter(msg.user, msg.channel)
        zone = await reader_zone(msg, ctx)
        lines = [f"• {r['ref']} · {CATEGORIES.get(r['category'], r['category'])} · {r['state']} · raised {when(r['created_at'], zone)}" for r in rows]
        if not lines:
            text = "You haven't raised a concern with your name here."
        else:
            text = "Your concerns raised with your name:\n" + "\n".join(lines) + "\nSee one with /concern status REF."
        return [Reply(text=text + " Anonymous ones aren't linked to you, so they're found only by their whole receipt (like K7Q2MX-4HPR9T).")]

    async def _answer_form(self, ref: str, cap: str, msg: Inbound, ctx: Context) -> list[Reply]:
        row = await ctx.store.concerns.get(ref)
        if row is None or not self._is_reporter(row, cap, msg, ctx):
            return [Reply(text="I can't find a concern with that reference that's yours.")]
        if row["state"] == "resolved":
            return [Reply(text=f"{row['ref']} is resolved, so answers aren't passed on any more. You can raise something new with /concern.")]
        return [Reply(form=note_form("answer", row["ref"], cap=self.links(ctx).cap(row["ref"]), anonymous=not row["named"], once=secrets.token_urlsafe(12)))]

    async def _answer(self, values: dict[str, Any], msg: Inbound, ctx: Context) -> list[Reply]:
        ref, cap = str(values.get("ref", "")), str(values.get("cap", ""))
        row = await ctx.store.concerns.get(ref) if ref else None
        if row is None or not self.links(ctx).holds(row["ref"], cap):
            return [Reply(text="I couldn't match that answer to your concern, so nothing was sent.")]
        if row["state"] == "resolved":
            return [Reply(text=f"{row['ref']} is resolved, so answers aren't passed on any more. Nothing was sent.")]
        once = once_key(str(values["once"])) if values.get("once") else None
        moment = ctx.now() if row["named"] else reporter_moment(ctx.now(), ctx.settings.timezone)
        event = await ctx.store.concerns.note(row["ref"], "the reporter", "answered", moment, once)
        if event is None:
            return [Reply(text="Already sent: the peer supervisors have your answer. It went once.")]
        choices = [Choice(label="Write to the reporter", action="concern:reply", value=row["ref"])] if reachable(row) else []
        post = Reply(
            text=f"The person who raised {row['ref']} answered:\n\n{values['text']}",
            to=Destination.channel(row["destination"]),
            dedupe=f"concern:{row['ref']}:answer:{event}",
            choices=choices,
            private=False,
        )
        return [*self._spread(post, row, ctx), Reply(text="Sent. The peer supervisors will see it with your concern. I don't keep a copy.")]

    # -- scheduled work ----------------------------------------------------

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
        replies = [post for row in await ctx.store.concerns.unqueued() for post in self._spread(await self._post(row, ctx), row, ctx)]
        hours, zone = ctx.settings.concern_escalate_hours, ctx.settings.timezone
        for row in await ctx.store.concerns.waiting_unacknowledged():
            if business_deadline(dt.datetime.fromisoformat(row["released_at"]), hours, zone, ctx.settings.holidays) <= now:
                replies += await self._escalate(row, ctx)
        await ctx.store.concerns.purge_resolved(
            now - dt.timedelta(days=ctx.settings.concern_retention_days), now, reporter_moment(now, ctx.settings.timezone)
        )
        return replies


def _on_record(row: dict[str, Any], ctx: Context) -> dt.datetime:
    """The time written on a concern's record for a step taken now: exact
    for a named concern; for an anonymous one the coarse moment, whoever
    takes the step, so nothing on the anonymous shelf (bot/store/concerns.py)
    carries an exact time that the rows written after it could be dated by."""
    return ctx.now() if row["named"] else reporter_moment(ctx.now(), ctx.settings.timezone)


def _read_receipt(text: str) -> tuple[str, str]:
    """(reference, secret part) from what someone typed: ``K9XYSP-7QH2M4``,
    ``k9xysp 7qh2m4``, or a bare reference (secret part empty)."""
    match = RECEIPT.match(text.strip())
    if match is None:
        return "", ""
    return match.group(1).upper(), (match.group(2) or "").upper()


def _words_after(text: str, count: int) -> str:
    """``text`` after its first ``count`` words, as typed (line breaks kept)."""
    rest = text.strip()
    for _ in range(count):
        parts = rest.split(maxsplit=1)
        rest = parts[1] if len(parts) > 1 else ""
    return rest.strip()


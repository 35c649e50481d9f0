"""Raising a concern: from the first "who sees what" to the receipt.

The form (opened already anonymous when they chose so, so channels drop who
sent it); a preview of exactly what will be sent and where, with Send /
Edit / Cancel; the send, one guarded write keyed on the draft's token; a
receipt with a short reference. Drafts are flow state (bot/flow_state.py),
never in the database next to a person. Also what only the reporter does
afterwards: list their named concerns, answer a supervisor back, send a
held concern on now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
import signal
from typing import Any

from bot.model import Choice, Destination, Inbound, Reply
from bot.store.concerns import once_key, reporter_moment
from intents.base import Context
from intents.concern_desk import SupervisorsDesk, reader_zone
from intents.concern_links import FloodGate, Keys, Links
from intents.concern_text import (
    CATEGORIES,
    Draft,
    concern_form,
    note_form,
    preview_text,
    reachable,
    supervisor_route,
    when,
    where_words,
)

# Kinds of flow state (bot/flow_state.py) kept here, and for how long.
DRAFT = "concern-draft"          # a written, unsent concern, by the token its buttons carry
UNSENT = "concern-unsent"        # each person's (keyed hash) latest unsent draft token
PREFILL = "concern-prefill"      # text a "flag this message" or "/concern TEXT" pre-fills the form with
QUESTION = "concern-question"    # the question behind an out-of-scope answer's "Raise this" button
KEEP_DRAFTS = 500
DRAFT_LIFE = dt.timedelta(days=7)
KEEP_PREFILLS = 1000
PREFILL_LIFE = dt.timedelta(days=1)


def _test_crash(point: str) -> None:
    """Die here, hard, when a test asks (never outside a test run): proves a
    concern stored but not yet queued is still delivered after a restart."""
    if os.environ.get("PEERBOT_TEST_CRASH") == point and "PYTEST_CURRENT_TEST" in os.environ:
        os.kill(os.getpid(), signal.SIGKILL)


class ConcernRaising:
    """A person's side of a concern."""

    def __init__(self, keys: Keys, desk: SupervisorsDesk):
        self.keys = keys
        self.desk = desk

    def links(self, ctx: Context) -> Links:
        return self.keys.links(ctx)

    def gate(self, ctx: Context) -> FloodGate:
        return self.keys.gate(ctx)

    async def draft_action(self, verb: str, token: str, msg: Inbound, ctx: Context) -> list[Reply]:
        """A press of a draft's Preview, Send, Edit or Cancel button (``token``: the draft's)."""
        kept = await ctx.flows.get(DRAFT, token) if token else None
        if kept is None:
            # Sent already (a second press, after a restart too)? The
            # store knows by the draft token's hash.
            ref = await ctx.store.concerns.sent_with(once_key(token)) if token else None
            if ref is not None:
                return [self.already_sent(ref, ctx)]
            kept_for = ("drafts are kept for a week at most" if ctx.flows.lasts_through_restart
                        else "drafts are kept in memory only, so a restart clears them")
            return [Reply(text=f"I don't have that draft any more: {kept_for}. Nothing was sent. You can write it again with /concern.")]
        draft = Draft(**kept)
        if verb == "preview":
            return [self.preview(token, draft, ctx)]
        if verb == "edit":
            return [self.open_form(not draft.named, self._initial(draft), msg, ctx, draft=draft, token=token)]
        if verb == "cancel":
            await self._forget(token, ctx)
            return [Reply(text="Okay, I've set it aside. Nothing was sent, and I haven't kept it.")]
        return await self.send(token, draft, ctx, via=msg.channel)

    async def prefill(self, category: str, text: str, ctx: Context) -> str:
        token = await ctx.flows.put(PREFILL, {"category": category, "text": text}, lifetime=PREFILL_LIFE,
                                    keep=KEEP_PREFILLS)
        return f"p:{token}"

    async def remember_question(self, msg: Inbound, entry_id: str, question: str, ctx: Context) -> None:
        """Keep the question behind an out-of-scope answer's "Raise this" button, for the form it opens."""
        await ctx.flows.put(QUESTION, {"text": question[:2000]}, lifetime=PREFILL_LIFE,
                            token=self._question_token(msg, entry_id, ctx), keep=KEEP_PREFILLS)

    def _question_token(self, msg: Inbound, entry_id: str, ctx: Context) -> str:
        """Where the question behind a "Raise this" button is kept: by the
        person's keyed hash and the entry, so only they pick it up."""
        return f"{self.links(ctx).person(msg.channel, msg.user)}:{entry_id}"

    async def prefilled(self, origin: str, msg: Inbound, ctx: Context) -> dict[str, str]:
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

    def open_form(
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

    async def draft_from(self, anonymous: bool, values: dict[str, Any], msg: Inbound, ctx: Context) -> Reply:
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
        return self.preview(token, draft, ctx)

    def preview(self, token: str, draft: Draft, ctx: Context) -> Reply:
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

    async def unsent(self, msg: Inbound, ctx: Context) -> tuple[str, Draft] | None:
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

    async def send(self, token: str, draft: Draft, ctx: Context, via: str = "") -> list[Reply]:
        settings, now = ctx.settings, ctx.now()
        route = supervisor_route(settings, msg_via=via) if draft.about_supervisor else settings.supervisor_channel
        if route is None:
            return [self.preview(token, draft, ctx)]
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
            return [self.already_sent(ref, ctx)]
        _test_crash("concern-stored")
        if draft.person:
            self.gate(ctx).record(draft.person, now)
        await self._forget(token, ctx)

        replies: list[Reply] = []
        if not held:
            row = await ctx.store.concerns.get(ref)
            assert row is not None
            replies += await self.desk.route_to_supervisors(row, ctx)
            self.desk.plan_escalation(row, ctx)
        if draft.category == "scope":
            replies += await self.desk.gather(fields["team"] or "", ctx)
        row = await ctx.store.concerns.get(ref)
        assert row is not None
        replies.append(self._receipt(row, draft, ctx))
        return replies

    def already_sent(self, ref: str, ctx: Context) -> Reply:
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

    async def release_now(self, ref: str, cap: str, msg: Inbound, ctx: Context) -> list[Reply]:
        row = await ctx.store.concerns.get(ref)
        if row is None or not self.desk.is_reporter(row, cap, msg, ctx):
            return [Reply(text="I can't find a held concern with that reference that's yours.")]
        moment = ctx.now() if row["named"] else reporter_moment(ctx.now(), ctx.settings.timezone)
        if row["state"] != "held" or not await ctx.store.concerns.release([row["ref"]], moment, ""):
            return [Reply(text=f"{row['ref']} has already gone to the peer supervisors.")]
        row = await ctx.store.concerns.get(row["ref"])
        assert row is not None
        self.desk.plan_escalation(row, ctx)
        return [*await self.desk.route_to_supervisors(row, ctx), Reply(text=f"Sent on. {row['ref']} is with the peer supervisors now.")]

    async def mine(self, msg: Inbound, ctx: Context) -> list[Reply]:
        rows = await ctx.store.concerns.of_reporter(msg.user, msg.channel)
        zone = await reader_zone(msg, ctx)
        lines = [f"• {r['ref']} · {CATEGORIES.get(r['category'], r['category'])} · {r['state']} · raised {when(r['created_at'], zone)}" for r in rows]
        if not lines:
            text = "You haven't raised a concern with your name here."
        else:
            text = "Your concerns raised with your name:\n" + "\n".join(lines) + "\nSee one with /concern status REF."
        return [Reply(text=text + " Anonymous ones aren't linked to you, so they're found only by their whole receipt (like K7Q2MX-4HPR9T).")]

    async def answer_form(self, ref: str, cap: str, msg: Inbound, ctx: Context) -> list[Reply]:
        row = await ctx.store.concerns.get(ref)
        if row is None or not self.desk.is_reporter(row, cap, msg, ctx):
            return [Reply(text="I can't find a concern with that reference that's yours.")]
        if row["state"] == "resolved":
            return [Reply(text=f"{row['ref']} is resolved, so answers aren't passed on any more. You can raise something new with /concern.")]
        return [Reply(form=note_form("answer", row["ref"], cap=self.links(ctx).cap(row["ref"]), anonymous=not row["named"], once=secrets.token_urlsafe(12)))]

    async def answer(self, values: dict[str, Any], msg: Inbound, ctx: Context) -> list[Reply]:
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
        return [*self.desk.spread(post, row, ctx), Reply(text="Sent. The peer supervisors will see it with your concern. I don't keep a copy.")]

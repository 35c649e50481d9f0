"""Concerns: a peer worker raises something with the peer supervisors, with
their name or anonymously, and hears back.

This intent only routes: the person's side lives in
``intents/concern_raising.py`` (who sees what, the form, the preview, the
send, the receipt, and what only the reporter does afterwards), the
supervisors' side in ``intents/concern_desk.py`` (posting, holding
scope-drift concerns together, acting on a post, telling the reporter,
escalation and the sweep). Button ids keep the one ``concern:`` prefix, so
buttons already posted keep working.

Never lost: the concern is committed to the store before anything is sent;
its post goes through the courier's persisted outbox under an idempotency
key, and a sweep (at start and every ten minutes) re-queues any stored
concern whose post never reached the outbox.

Exactly once: every press is one guarded write in the store (a unique key on
the draft's or the form's one-time token, or a compare-and-set on the
concern's state, bot/store/concerns.py DESK). A press that arrives twice (a
double click, a platform's retry, another replica) hears what the first one
did, and nothing is stored, posted or told twice.
"""

from __future__ import annotations

import re
from typing import Any

from bot.model import Action, Choice, Form, Inbound, Reply
from intents.base import Command, Context, Intent
from intents.concern_desk import SupervisorsDesk
from intents.concern_links import Keys
from intents.concern_raising import ConcernRaising
from intents.concern_text import CATEGORIES, concern_form, note_form

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
        self.keys = Keys()
        self.desk = SupervisorsDesk(self.keys)
        self.raising = ConcernRaising(self.keys, self.desk)

    # -- hooks -------------------------------------------------------------

    async def warm_up(self, ctx: Context) -> None:
        if ctx.schedule is None:
            return
        # Right away at start (a crash may have left a concern unqueued),
        # then every few minutes for escalations and the retention purge.
        ctx.schedule.at("concern:sweep:start", "concern:sweep", {}, ctx.now())
        ctx.schedule.cron("concern:sweep", "concern:sweep", {}, timezone="UTC", minute=f"*/{SWEEP_EVERY_MINUTES}")

    async def decorate(self, msg: Inbound, replies: list[Reply], ctx: Context) -> list[Reply]:
        """Remember (in the flow state, for a day) the question behind an out-of-scope answer, so
        "Raise this with my peer supervisor" can fill it in."""
        if msg.text:
            question = re.sub(r"^/scope\s+", "", msg.text, flags=re.IGNORECASE)
            for reply in replies:
                for choice in reply.choices:
                    if choice.action == "scope:raise":
                        await self.raising.remember_question(msg, choice.value, question, ctx)
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
            return concern_form(anonymous=name == "anonymous", can_relay=self.keys.links(ctx).can_relay)
        if name in ("resolve", "reply", "answer"):
            return note_form(name, "")
        return None

    # -- commands ----------------------------------------------------------

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        parts = args.split()
        if word == "concerns":
            return await self.desk.command(parts, msg, ctx, note=_words_after(args, 2))
        if parts and parts[0].lower() == "status":
            if len(parts) < 2:
                return [Reply(text="Which one? For example: /concern status K7Q2MX-4HPR9T (the whole receipt you got when you sent it).")]
            ref, secret = _read_receipt(" ".join(parts[1:]))
            return await self.desk.status(ref, secret, msg, ctx)
        if parts and parts[0].lower() == "mine" and len(parts) == 1:
            return await self.raising.mine(msg, ctx)
        unsent = await self.raising.unsent(msg, ctx)
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
        origin = await self.raising.prefill("", args.strip(), ctx) if args.strip() else ""
        return [start_reply(origin)]

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
            return [start_reply(await self.raising.prefill("", text, ctx) if text else "", lead=lead)]
        if verb == "begin":
            mode, _, origin = value.partition("|")
            return [self.raising.open_form(mode == "anonymous", await self.raising.prefilled(origin, msg, ctx), msg, ctx, team=await self.raising._peer_team(msg, ctx))]
        if verb == "drop":
            return [Reply(text="Okay, nothing was sent. You can raise it any time with /concern.")]
        if verb in ("preview", "send", "edit", "cancel"):
            return await self.raising.draft_action(verb, value, msg, ctx)
        ref, _, cap = value.partition("|")
        if verb == "status":
            return await self.desk.status(ref, cap, msg, ctx)
        if verb == "release":
            return await self.raising.release_now(ref, cap, msg, ctx)
        if verb == "answer":
            return await self.raising.answer_form(ref, cap, msg, ctx)
        if verb in ("ack", "take", "resolve", "reply"):
            return await self.desk.act(verb, ref, msg, ctx)
        return [Reply(text="That button doesn't do anything any more. Type /concern to raise a concern.")]

    # -- forms -------------------------------------------------------------

    async def on_submission(self, name: str, values: dict[str, Any], msg: Inbound, ctx: Context) -> list[Reply]:
        if name in ("named", "anonymous"):
            return [await self.raising.draft_from(name == "anonymous", values, msg, ctx)]
        if name == "answer":
            return await self.raising.answer(values, msg, ctx)
        if name in ("resolve", "reply"):
            return await self.desk.note(name, values, msg, ctx)
        return [Reply(text="That form isn't available any more. Type /concern to start again.")]

    # -- scheduled work ----------------------------------------------------

    async def on_schedule(self, kind: str, payload: dict[str, Any], ctx: Context) -> list[Reply]:
        return await self.desk.on_schedule(kind, payload, ctx)



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


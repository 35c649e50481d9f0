"""Support first: when the person writing is in distress, care comes before
anything else.

The reply carries crisis and support resources in the same message, says
plainly that the bot contacts no one and locates no one, and offers (only
offers) to let a peer supervisor know the person would like to talk.

Afterwards the resources are offered once more, in a short line, when the
person next moves on to something else: one "I'm fine" does not make them
disappear, and a line of crisis numbers under every answer for hours would
tell someone who was misread that the bot still thinks they are in danger.

Nothing about the distress is stored: the memory of it is in this process
only, keyed by conversation, and fades after a few hours.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from bot.model import Choice, Destination, Inbound, Reply
from intents.base import Context, Intent
from knowledge.distress import shared_check, support_resources

REMEMBER_FOR = dt.timedelta(hours=4)
SETTLING = re.compile(
    r"^\s*(i'?m|im|i am)?\s*(fine|ok|okay|good|alright|all right)\b|misunderst|not what i meant|i was joking|"
    r"just kidding|i'?m not (suicidal|in crisis)|wrong|that'?s not it",
    re.IGNORECASE,
)


def resource_lines(ctx_resources: dict) -> list[str]:
    lines = [f"• {item['name']}: {item['how']}" for item in ctx_resources.get("crisis", [])]
    lines += [f"• {item['name']}: {item['how']}" for item in ctx_resources.get("support", [])]
    return lines


def footer(resources: dict) -> str:
    first = resources.get("crisis", [{}])[0]
    support = resources.get("support", [{}])[0]
    parts = [f"{first.get('name')}: {first.get('how')}"] if first else []
    if support:
        parts.append(support.get("name", ""))
    return "Still here if you need it: " + "; ".join(parts) + "."


class Support(Intent):
    name = "support"

    def __init__(self) -> None:
        # When the care reply was given, per conversation; cleared once the
        # resources have been offered again.
        self._recent: dict[tuple[str, str], dt.datetime] = {}

    def _key(self, msg: Inbound) -> tuple[str, str]:
        return (msg.channel, msg.conversation)

    def _is_recent(self, msg: Inbound, ctx: Context) -> bool:
        since = self._recent.get(self._key(msg))
        if since is None:
            return False
        if ctx.now() - since > REMEMBER_FOR:
            del self._recent[self._key(msg)]
            return False
        return True

    async def warm_up(self, ctx: Context) -> None:
        await asyncio.to_thread(shared_check)  # trains the second opinion once

    async def screen(self, msg: Inbound, ctx: Context, *, in_form: bool = False) -> list[Reply] | None:
        resources = support_resources(ctx.settings.kb_dir)
        word = msg.text.strip().rstrip("?!. ").lower()
        is_command = msg.text.startswith("/") or word in {command.word for command in ctx.commands}
        # The second opinion reads plain messages; a command ("help") or a
        # form's account of a work problem is checked against the patterns.
        sign = shared_check().find(msg.text, second_opinion=not (is_command or in_form))
        if sign is not None:
            if msg.user != "anonymous":  # an anonymous form has no conversation to remember
                self._recent[self._key(msg)] = ctx.now()
            return [care_reply(resources)]
        if self._is_recent(msg, ctx) and SETTLING.search(msg.text):
            return [
                Reply(
                    text="Thank you for telling me, and I'm sorry if I read you wrong. "
                    "I'll leave these here anyway, in case they're ever useful to you or someone you support:\n"
                    + "\n".join(resource_lines(resources))
                )
            ]
        return None

    async def decorate(self, msg: Inbound, replies: list[Reply], ctx: Context) -> list[Reply]:
        if not replies or not self._is_recent(msg, ctx):
            return replies
        if msg.action is not None and msg.action.id.startswith("support:"):
            return replies  # the handoff buttons: still the same conversation about care
        if any("988" in r.text or "Still here if you need it" in r.text for r in replies):
            return replies  # still on the topic: the resources are in the reply itself
        # The person has moved on: offer the resources once more, then let them be.
        self._recent.pop(self._key(msg), None)
        return [*replies, Reply(text=footer(support_resources(ctx.settings.kb_dir)))]

    async def on_action(self, action, msg: Inbound, ctx: Context) -> list[Reply]:
        verb = action.id.partition(":")[2]
        if verb == "handoff":
            return [
                Reply(
                    text="If you say yes, I'll post this in the peer supervisors' channel: "
                    f"\"{display_name(msg)} would like to talk with a peer supervisor soon.\" "
                    "Nothing you wrote to me is included. Send it?",
                    choices=[
                        Choice(label="Yes, send it", action="support:handoff-confirm"),
                        Choice(label="Not now", action="support:handoff-cancel"),
                    ],
                )
            ]
        if verb == "handoff-confirm":
            note = (
                f"{display_name(msg)} would like to talk with a peer supervisor soon. They asked me to pass this on "
                "and chose to share their name; nothing else they wrote is included. Please reach out to them directly."
            )
            return [
                Reply(text=note, to=_supervisors(ctx), private=False),
                Reply(text="Done. I've let the peer supervisors know you'd like to talk, and they'll reach out to you directly. "
                      "The numbers above are there any time, day or night."),
            ]
        if verb == "handoff-cancel":
            return [Reply(text="Okay, nothing has been sent. The offer stays open whenever you want it.")]
        return [Reply(text="That button doesn't do anything any more.")]


def _supervisors(ctx: Context) -> Destination:
    return Destination.channel(ctx.settings.supervisor_channel)


def display_name(msg: Inbound) -> str:
    return msg.user_name or f"The person with user id {msg.user}"


def care_reply(resources: dict) -> Reply:
    text = "\n".join(
        [
            "I'm really glad you said something. It sounds like things are very hard right now, "
            "and you don't have to carry this on your own.",
            "",
            "If you're thinking about ending your life or you might be in danger, people are there right now:",
            *resource_lines(resources),
            "",
            "I'm a bot: I can't contact anyone for you, and I don't know where you are. "
            "If you'd like, I can let a peer supervisor know you'd like to talk. That's your choice, and nothing you wrote here is shared.",
        ]
    )
    return Reply(
        text=text,
        choices=[
            Choice(label="Let a peer supervisor know", action="support:handoff"),
            Choice(label="Not now", action="support:handoff-cancel"),
        ],
    )

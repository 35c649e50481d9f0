"""What an intent is, and what it gets to work with.

An intent is one capability (help, scope answers, check-ins, ...). It sees
only the neutral message model and returns replies; it never knows which
platform a person is on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from bot import clock
from bot.flow_state import FlowState, MemoryFlowState
from bot.model import Action, Form, Inbound, Reply

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.scheduler import Schedule
    from bot.store import Store


def utc_now() -> dt.datetime:
    """The current time from peerbot's one clock (bot/clock.py)."""
    return clock.now()


@dataclass
class Context:
    """Everything an intent may use besides the message itself."""

    settings: "Settings"
    store: "Store"
    roles: frozenset[str]
    now: Callable[[], dt.datetime] = utc_now
    # Shared, loaded-once resources (the knowledge base, say), keyed by name.
    resources: dict[str, Any] = field(default_factory=dict)
    # The commands this person may use, and what intents do with plain text,
    # so help can describe exactly what is there for them.
    commands: tuple["Command", ...] = ()
    abouts: tuple[str, ...] = ()
    # The persistent schedule, for intents that plan work for later (a period
    # close, a reminder, an escalation). Jobs named "<intent>:<kind>" come
    # back to that intent's on_schedule.
    schedule: "Schedule | None" = None
    # What a person builds up over several steps (drafts, pre-filled text):
    # bot/flow_state.py. One per engine, so every intent sees the same.
    flows: "FlowState" = field(default_factory=MemoryFlowState)

    def has_role(self, role: str) -> bool:
        return role in self.roles


# Placeholders in a usage line that take the rest of the message, words and all.
_FREE_TEXT = {"QUESTION", "TEXT", "NOTE", "..."}
_REFERENCE = re.compile(r"^[A-Za-z0-9]{6}(-[A-Za-z0-9]+)?$")


def _closing_bracket(text: str) -> int:
    """Where the bracket that opens ``text`` closes (-1 if it doesn't)."""
    depth = 0
    for position, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0:
            return position
    return -1


@dataclass(frozen=True)
class Command:
    """A command people can type as ``/word``, as the bare word, or as the
    word followed by what its usage line says comes next.

    ``usage`` is read as alternatives separated by ``|``: lower-case words
    are typed as they are (``ack``), upper-case ones stand for a value
    (``REF``, ``TEAM``), ``[X]`` is optional, and QUESTION, TEXT, NOTE or
    ``...`` take the rest of the message. Without a slash, "concerns ack
    K9XYSP" is this command because ``ack REF`` fits; "help me with a
    client" is a question, because help takes nothing after it. Every
    platform applies the same rule, in the engine."""

    word: str
    summary: str
    usage: str = ""
    role: str = "peer"  # peer (everyone), supervisor or admin

    def alternatives(self) -> list[list[str]]:
        usage = self.usage.strip()
        if usage.startswith("[") and _closing_bracket(usage) == len(usage) - 1:
            usage = usage[1:-1]  # "[a | b]": the arguments as a whole are optional
        text = usage.replace("[", " [ ").replace("]", " ] ")
        shapes: list[list[str]] = []
        for part in text.split("|"):
            tokens, optional = [], False
            for token in part.split():
                if token == "[":
                    optional = True
                elif token == "]":
                    optional = False
                else:
                    tokens.append(f"?{token}" if optional else token)
            if tokens:
                shapes.append(tokens)
        return shapes

    def fits(self, args: str) -> bool:
        """Whether ``args`` after the bare word reads as this command's
        arguments (and not as the start of a sentence)."""
        words = args.split()
        if not words:
            return True
        return any(self._fits_shape(shape, words) for shape in self.alternatives())

    @staticmethod
    def _fits_shape(shape: list[str], words: list[str]) -> bool:
        for position, slot in enumerate(shape):
            name, optional = slot.lstrip("?"), slot.startswith("?")
            if name in _FREE_TEXT or name.startswith("--"):
                return True  # the rest is free text, or options follow
            if position >= len(words):
                return optional
            word = words[position]
            if name.islower() and word.lower() != name:
                return False
            if name == "REF" and not _REFERENCE.match(word):
                return False
            if name in ("WEEKS", "HOUR") and not word.isdigit():
                return False
        return len(words) <= len(shape)


class Intent:
    """Base class: override the hooks a capability needs; the rest pass."""

    name: str = ""
    commands: tuple[Command, ...] = ()
    # One line for help about what this intent does with plain messages.
    about: str = ""

    async def warm_up(self, ctx: Context) -> None:
        """Load what the first message would otherwise wait for."""

    async def screen(self, msg: Inbound, ctx: Context, *, in_form: bool = False) -> list[Reply] | None:
        """Runs on every typed message before anything else, and on words
        written inside a form (``in_form``); return replies to claim it."""
        return None

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        raise NotImplementedError

    async def decorate(self, msg: Inbound, replies: list[Reply], ctx: Context) -> list[Reply]:
        """Runs after every turn with the replies about to go out; may add to them."""
        return replies

    async def on_text(self, msg: Inbound, ctx: Context) -> list[Reply] | None:
        """A free-text message nobody else claimed; return None to pass it on."""
        return None

    async def on_action(self, action: Action, msg: Inbound, ctx: Context) -> list[Reply]:
        raise NotImplementedError

    async def on_schedule(self, kind: str, payload: dict[str, Any], ctx: Context) -> list[Reply]:
        """A scheduled job of this intent is due; return what to send (each
        reply addressed to a person or a named channel)."""
        return []

    async def home(self, msg: Inbound, ctx: Context) -> list[Reply]:
        """Sections for the person's home view (Slack's App Home): quick
        actions and settings for everyone, summaries for supervisors."""
        return []

    def form(self, name: str, ctx: Context) -> Form | None:
        """The definition of one of this intent's forms, to check a submission against."""
        return None

    async def on_submission(self, name: str, values: dict[str, Any], msg: Inbound, ctx: Context) -> list[Reply]:
        raise NotImplementedError

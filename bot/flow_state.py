"""State a person builds up over several steps, in one place.

A concern goes form -> preview -> send; a check-in is answered one question
at a time in the terminal; a question answered "out of scope" is carried
into the concern form that "Raise this" opens. What is held between those
steps (a draft, a half-filled form, the text to pre-fill) lives behind this
one interface, under a token the buttons carry, instead of in dictionaries
spread over the engine and the intents.

Values are JSON-shaped (dicts of text, numbers, booleans, lists) and are
copied in and out, so what works here works on a shared backend: several
replicas (issue 15) need the state where any of them can read it, encrypted
and expiring, or carried in the platform payload itself. ``MemoryFlowState``
is the backend for one process; nothing it holds reaches the database,
which is the promise the README makes about drafts and half-filled
check-ins (a restart clears them).

Every value has a lifetime, after which it is erased (at the next write
of its kind, or when it is asked for), and each kind keeps at most
``keep`` values (the oldest go first), so a flood of abandoned drafts
can't grow memory without end.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections import OrderedDict
from typing import Any, Callable, Protocol

from bot import clock

Value = dict[str, Any]


class FlowState(Protocol):
    async def put(self, kind: str, value: Value, *, lifetime: dt.timedelta, token: str | None = None,
                  keep: int = 5000) -> str:
        """Keep ``value`` under ``token`` (a new random one when None), replacing what was there; the token."""

    async def get(self, kind: str, token: str) -> Value | None:
        """A copy of what is kept under ``token``; None when there is none or it has expired."""

    async def drop(self, kind: str, token: str) -> Value | None:
        """Forget what is kept under ``token``, and return it (None when there was none)."""


def new_token() -> str:
    return secrets.token_urlsafe(12)


class MemoryFlowState:
    """The one-process backend: values in memory, gone at a restart."""

    def __init__(self, now: Callable[[], dt.datetime] = clock.now):
        self.now = now
        self._kinds: dict[str, OrderedDict[str, tuple[dt.datetime, str]]] = {}

    async def put(self, kind: str, value: Value, *, lifetime: dt.timedelta, token: str | None = None,
                  keep: int = 5000) -> str:
        held = self._kinds.setdefault(kind, OrderedDict())
        now = self.now()
        # Oldest writes first: what has outlived its lifetime is erased, not
        # only hidden (a kind's values share one lifetime, so this finds them).
        while held and next(iter(held.values()))[0] <= now:
            held.popitem(last=False)
        token = token or new_token()
        held.pop(token, None)
        # Kept as JSON: what a shared backend could hold, and never the caller's own object.
        held[token] = (now + lifetime, json.dumps(value, allow_nan=False))
        while len(held) > keep:
            held.popitem(last=False)
        return token

    async def get(self, kind: str, token: str) -> Value | None:
        held = self._kinds.get(kind)
        found = held.get(token) if held is not None and token else None
        if found is None:
            return None
        if found[0] <= self.now():
            del held[token]  # type: ignore[union-attr]
            return None
        return json.loads(found[1])

    async def drop(self, kind: str, token: str) -> Value | None:
        value = await self.get(kind, token)
        held = self._kinds.get(kind)
        if held is not None:
            held.pop(token, None)
        return value

    def count(self, kind: str) -> int:
        """How many values of ``kind`` are held (expired ones included until read)."""
        return len(self._kinds.get(kind, ()))

"""State a person builds up over several steps, in one place.

A concern goes form -> preview -> send; a check-in is answered one question
at a time in the terminal; a question answered "out of scope" is carried
into the concern form that "Raise this" opens. What is held between those
steps (a draft, a half-filled form, the text to pre-fill) lives behind this
one interface, under a token the buttons carry, instead of in dictionaries
spread over the engine and the intents.

Values are JSON-shaped (dicts of text, numbers, booleans, lists) and are
copied in and out, so what works in one backend works in the other.
``MemoryFlowState`` is the backend for one process; nothing it holds
reaches the database, which is the promise the README makes about drafts
and half-filled check-ins (a restart clears them). ``SealedFlowState`` is
the backend for several replicas (issue 15): in the database, encrypted,
expiring, and the README says what that changes.

Why sealed in the database rather than carried in the platform payload
(Slack ``private_metadata``, Teams card data): the payload already carries
what belongs to one form (``Form.hidden``: the draft's token, the relay
link), but much of what is held is reached without one (a person's pointer
to their unsent draft, found from a fresh "/concern"; a terminal check-in;
values too long for a Slack button, the reason they are held at all); a
draft carried in a button would sit in the person's chat history and the
platform's exports for as long as those are kept, where a row here is
deleted when it is sent or ends; and a payload can't be taken once (every
press of an old Send button carries the draft again).

Every value has a lifetime, after which it is erased (at the next write
of its kind, or when it is asked for), and each kind keeps at most
``keep`` values (the oldest go first), so a flood of abandoned drafts
can't grow memory without end.

Which backend serves is chosen once, at start (``flow_state_for``): in
memory unless ``PEERBOT_FLOW_STATE_KEY`` is set, then ``SealedFlowState``,
which keeps each value encrypted in the database under a keyed hash of
its token, so any replica on the database resolves a token another made.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Protocol

from bot import clock

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.store import Store

log = logging.getLogger(__name__)

Value = dict[str, Any]


class FlowState(Protocol):
    # Whether what is held outlives the process (people are told which).
    lasts_through_restart: bool

    async def put(self, kind: str, value: Value, *, lifetime: dt.timedelta, token: str | None = None,
                  keep: int = 5000) -> str:
        """Keep ``value`` under ``token`` (a new random one when None), replacing what was there; the token."""

    async def get(self, kind: str, token: str) -> Value | None:
        """A copy of what is kept under ``token``; None when there is none or it has expired."""

    async def drop(self, kind: str, token: str) -> Value | None:
        """Forget what is kept under ``token``, and return it (None when there was none).

        Of two callers dropping the same token at once, one gets the value."""

    async def count(self, kind: str) -> int:
        """How many values of ``kind`` are held (expired ones included until erased)."""


def new_token() -> str:
    return secrets.token_urlsafe(12)


class MemoryFlowState:
    """The one-process backend: values in memory, gone at a restart."""

    lasts_through_restart = False

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

    async def count(self, kind: str) -> int:
        """How many values of ``kind`` are held (expired ones included until read)."""
        return len(self._kinds.get(kind, ()))


# The smallest sealed value, in bytes; larger ones are padded to the next
# power of two, so a row's size says little about what it holds (a short
# draft and a long one look alike up to 512 bytes, then differ only by
# doubling).
SEALED_AT_LEAST = 512
NONCE = 12


def _padded(plain: bytes) -> bytes:
    size = SEALED_AT_LEAST
    while size < len(plain):
        size *= 2
    return plain.ljust(size)  # trailing spaces: still the same JSON


def _hour_after(moment: dt.datetime) -> dt.datetime:
    """The hour a value ends, rounded up: what the stored row shows of its
    time, no finer than an anonymous concern's own times are kept."""
    hour = moment.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + dt.timedelta(hours=1)


class SealedFlowState:
    """The backend for several replicas: values in the database, sealed.

    Each value is encrypted (AES-GCM, with a key derived from
    ``PEERBOT_FLOW_STATE_KEY``) together with its exact end, and stored
    under a keyed hash of its kind and token, with the kind as another
    keyed hash and the end only to the hour. Someone with a copy of the
    database (and its write-ahead log) sees opaque rows of a few sizes and
    the hours they end: no token, no person, no text. A row that fails to
    open (altered, or sealed with another key) is treated as missing.
    Values last through a restart until their lifetime ends.
    """

    lasts_through_restart = True

    def __init__(self, store: "Store", key: str, now: Callable[[], dt.datetime] = clock.now):
        # Loaded here, not at import: only a bot that seals pays for it.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        master = base64.urlsafe_b64decode(key)
        self.store = store
        self.now = now
        self._cipher = AESGCM(hmac.digest(master, b"peerbot flow state: sealing", "sha256"))
        self._naming = hmac.digest(master, b"peerbot flow state: row names", "sha256")

    def _name(self, *parts: str) -> str:
        return hmac.new(self._naming, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()[:32]

    async def put(self, kind: str, value: Value, *, lifetime: dt.timedelta, token: str | None = None,
                  keep: int = 5000) -> str:
        token = token or new_token()
        now = self.now()
        row, until = self._name("row", kind, token), now + lifetime
        plain = json.dumps({"until": until.isoformat(), "value": value}, allow_nan=False).encode()
        nonce = secrets.token_bytes(NONCE)
        # The row's name is bound in, so a sealed value moved to another row doesn't open.
        sealed = nonce + self._cipher.encrypt(nonce, _padded(plain), row.encode())
        await self.store.flow_states.keep(row, self._name("kind", kind), _hour_after(until), sealed, now=now, limit=keep)
        return token

    def _open(self, row: str, sealed: bytes | None) -> Value | None:
        if sealed is None:
            return None
        from cryptography.exceptions import InvalidTag

        try:
            held = json.loads(self._cipher.decrypt(sealed[:NONCE], sealed[NONCE:], row.encode()))
            until = dt.datetime.fromisoformat(held["until"])
        except (InvalidTag, ValueError, KeyError, TypeError):
            log.warning("a sealed flow-state value did not open (altered, or sealed with another key); treated as gone")
            return None
        return held["value"] if until > self.now() else None

    async def get(self, kind: str, token: str) -> Value | None:
        if not token:
            return None
        row = self._name("row", kind, token)
        sealed = await self.store.flow_states.read(row)
        value = self._open(row, sealed)
        if value is None and sealed is not None:
            await self.store.flow_states.take(row, sealed)  # ended (or spoiled): erased now, unless replaced meanwhile
        return value

    async def drop(self, kind: str, token: str) -> Value | None:
        if not token:
            return None
        row = self._name("row", kind, token)
        return self._open(row, await self.store.flow_states.take(row))

    async def count(self, kind: str) -> int:
        return await self.store.flow_states.count(self._name("kind", kind))


def flow_state_for(settings: "Settings", store: "Store", now: Callable[[], dt.datetime] = clock.now) -> FlowState:
    """The one place the backend is chosen: sealed in the database when a
    key is configured (several replicas, or drafts that outlast a restart),
    otherwise in this process's memory."""
    if settings.flow_state_key is not None:
        return SealedFlowState(store, settings.flow_state_key.get_secret_value(), now)
    return MemoryFlowState(now)

"""How the concern flow reaches a reporter without knowing who they are.

- A relay link says how to reach an anonymous reporter (their platform and
  user id). It is made when they open the form (the one moment the bot
  knows who asked), travels with the form, and is stored only encrypted
  with PEERBOT_CONCERN_KEY (Fernet: AES with an authentication tag, so a
  forged or altered link is refused). It is opened only to pass a message
  on, and deleted when the concern is resolved.
- A capability is a keyed hash of a concern's reference, carried by the
  buttons the reporter receives ("Check status", "Answer back"): whoever
  holds the button may act as the reporter, so nothing about the person is
  needed to check it.
- A receipt is the reference plus a short secret (``K9XYSP-7QH2M4``), a
  keyed hash of the reference too, shown once when the concern is sent: the
  way to type ``/concern status`` for a concern the bot can't tie to anyone.
  Nothing of it is stored; with PEERBOT_CONCERN_KEY set it works across
  restarts and replicas.
- The flood gate counts sends per person in memory only, under a keyed
  hash, so a per-person limit never writes a person next to a concern.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections import deque
from typing import Any


from bot.config import Settings

# The secret part of a receipt: six letters and digits from the reference
# alphabet (no 0/O, 1/I/L), about 30 bits; with a handful of tries a
# minute allowed, guessing one takes years.
RECEIPT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
RECEIPT_SECRET_LENGTH = 6


class Links:
    def __init__(self, settings: Settings):
        key = settings.concern_key.get_secret_value() if settings.concern_key else None
        self._fernet = None
        if key:
            # Imported only with a key configured: it costs a twentieth of a second at start.
            from cryptography.fernet import Fernet

            self._fernet = Fernet(key.encode())
        # Without a configured key, capabilities still work until a restart.
        self._secret = hashlib.sha256(b"peerbot-concern-cap:" + key.encode()).digest() if key else secrets.token_bytes(32)

    @property
    def can_relay(self) -> bool:
        return self._fernet is not None

    def lock(self, user: str, via: str) -> str | None:
        if self._fernet is None:
            return None
        return self._fernet.encrypt(json.dumps({"u": user, "v": via}).encode()).decode()

    def open(self, link: str | None) -> tuple[str, str] | None:
        """(user, platform) from a relay link, or None if it can't be opened."""
        if not link or self._fernet is None:
            return None
        from cryptography.fernet import InvalidToken

        try:
            data = json.loads(self._fernet.decrypt(link.encode()))
            return str(data["u"]), str(data["v"])
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None

    def cap(self, ref: str) -> str:
        return hmac.new(self._secret, f"concern:{ref}".encode(), hashlib.sha256).hexdigest()[:24]

    def receipt_secret(self, ref: str) -> str:
        number = int.from_bytes(hmac.new(self._secret, f"receipt:{ref}".encode(), hashlib.sha256).digest(), "big")
        letters = []
        for _ in range(RECEIPT_SECRET_LENGTH):
            number, index = divmod(number, len(RECEIPT_ALPHABET))
            letters.append(RECEIPT_ALPHABET[index])
        return "".join(letters)

    def receipt(self, ref: str) -> str:
        """What the reporter keeps: the reference and its secret part."""
        return f"{ref}-{self.receipt_secret(ref)}"

    def holds(self, ref: str, cap: str) -> bool:
        """Whether ``cap`` (a button's capability, or a receipt's secret part) is this concern's."""
        if not cap:
            return False
        if len(cap) == RECEIPT_SECRET_LENGTH:
            return hmac.compare_digest(self.receipt_secret(ref).encode(), cap.upper().encode())
        return hmac.compare_digest(self.cap(ref).encode(), cap.encode())

    def person(self, via: str, user: str) -> str:
        """A keyed hash standing for one person, for in-memory counting only."""
        return hmac.new(self._secret, f"person:{via}:{user}".encode(), hashlib.sha256).hexdigest()


class FloodGate:
    """At most ``limit`` sends per person in any 24 hours, counted in memory."""

    WINDOW = dt.timedelta(hours=24)

    def __init__(self, limit: int):
        self.limit = limit
        self._sent: dict[str, deque[dt.datetime]] = {}

    def recent(self, person: str, now: dt.datetime) -> int:
        times = self._sent.get(person)
        if not times:
            return 0
        while times and now - times[0] > self.WINDOW:
            times.popleft()
        return len(times)

    def next_free(self, person: str) -> dt.datetime | None:
        times = self._sent.get(person)
        return times[0] + self.WINDOW if times else None

    def record(self, person: str, now: dt.datetime) -> None:
        self._sent.setdefault(person, deque()).append(now)


class Keys:
    """The concern key's ``Links`` and the flood gate, made once from the
    settings the first time a concern needs them; shared by the person's
    side and the supervisors' desk."""

    def __init__(self) -> None:
        self._links: Links | None = None
        self._gate: FloodGate | None = None

    def links(self, ctx: Any) -> Links:
        if self._links is None:
            self._links = Links(ctx.settings)
            self._gate = FloodGate(ctx.settings.concern_daily_limit)
        return self._links

    def gate(self, ctx: Any) -> FloodGate:
        self.links(ctx)
        assert self._gate is not None
        return self._gate

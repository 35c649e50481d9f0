"""What every platform channel offers the rest of the bot.

A channel translates: it turns its platform's events into ``Inbound``
messages for the engine, and delivers ``Reply`` objects back. For replies
that go somewhere other than the conversation they answer (a direct message
to a person, a post in the supervisors' channel), the courier calls the
channel through this small interface.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from bot.model import Reply


class Address(BaseModel):
    """A person (by their platform user id) or a named channel ("supervisors")."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["user", "channel"]
    id: str


class DeliveryError(Exception):
    """A send failed. ``retry`` says whether trying again later may help."""

    def __init__(self, message: str, retry: bool = True):
        super().__init__(message)
        self.retry = retry


class Unreachable(DeliveryError):
    """The person or channel can't be reached (app removed, user gone):
    retrying won't help; an admin needs to act."""

    def __init__(self, message: str):
        super().__init__(message, retry=False)


@runtime_checkable
class PlatformChannel(Protocol):
    name: str
    # Whether the platform shows a whole form at once (modal, card).
    shows_forms: bool

    def reaches(self, channel_name: str) -> bool:
        """Whether this platform has the named channel bound (e.g. supervisors)."""

    async def post(self, address: Address, reply: Reply) -> str:
        """Send a new message; return the platform's reference to it."""

    async def update(self, address: Address, ref: str, reply: Reply) -> None:
        """Replace an earlier message in place."""

    async def find_posted(self, address: Address, key: str) -> str | None:
        """After a crash mid-send: the reference of a message already posted
        with this key, if the platform can tell; None otherwise."""

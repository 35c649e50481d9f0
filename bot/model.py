"""The platform-neutral message model.

Every channel (terminal, Slack, Teams) turns what its platform sends into an
``Inbound`` and turns each ``Reply`` back into whatever its platform shows.
Intents only ever see these types, so a capability written once works on
every platform.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Action(BaseModel):
    """A button press. ``id`` is ``"<intent>:<verb>"`` so the engine can route it."""

    id: str
    value: str = ""


class Submission(BaseModel):
    """A completed form. ``form`` is ``"<intent>:<name>"``; values are raw until
    the engine checks them against the form's fields."""

    form: str
    values: dict[str, Any] = Field(default_factory=dict)


class Inbound(BaseModel):
    """One thing a person did: typed a message, pressed a button or sent a form."""

    model_config = ConfigDict(frozen=True)

    channel: str
    user: str
    user_name: str | None = None
    team: str | None = None
    conversation: str
    text: str = ""
    action: Action | None = None
    submission: Submission | None = None
    direct: bool = True


class FieldKind(str, Enum):
    text = "text"
    long_text = "long_text"
    choice = "choice"
    scale = "scale"
    number = "number"


class Option(BaseModel):
    label: str
    value: str


class FormField(BaseModel):
    """One question in a form. Channels that can show a whole form at once
    (Slack modals, Teams cards) do; the terminal asks one field at a time."""

    name: str
    label: str
    kind: FieldKind = FieldKind.text
    required: bool = True
    options: list[Option] = Field(default_factory=list)
    min: int | None = None
    max: int | None = None
    max_length: int = 2000
    hint: str | None = None
    initial: str | None = None


class Form(BaseModel):
    id: str
    title: str
    intro: str | None = None
    fields: list[FormField]
    submit_label: str = "Send"
    # Sensitive forms (check-ins, concerns) are taken only where the platform
    # shows them privately (modals, cards), and a half-filled one is kept in
    # the flow state (memory, or sealed), never readable next to the person.
    sensitive: bool = False
    # Values that travel with the form and come back with the submission
    # (Slack private_metadata, Teams card data), such as a one-time token.
    hidden: dict[str, str] = Field(default_factory=dict)
    # Anonymous forms (check-ins, pulses, anonymous concerns): a channel
    # drops the submitting user on receipt, before anything is logged or
    # stored (the Inbound carries user "anonymous"), and shows the replies
    # in the form itself (a modal's closing view), never in a direct message.
    anonymous: bool = False


class Choice(BaseModel):
    """A button: pressing it sends ``Action(id=action, value=value)``."""

    label: str
    action: str
    value: str = ""


class Image(BaseModel):
    # Base64 in JSON, so a reply with a chart can wait in the outbox.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    png: bytes
    alt: str
    title: str = ""


class Destination(BaseModel):
    kind: Literal["here", "user", "channel"] = "here"
    target: str | None = None
    # For a person: the channel (platform) they are reached on. The engine
    # fills it from the message being answered when an intent leaves it out.
    via: str | None = None

    @classmethod
    def here(cls) -> "Destination":
        return cls()

    @classmethod
    def user(cls, user_id: str, via: str | None = None) -> "Destination":
        return cls(kind="user", target=user_id, via=via)

    @classmethod
    def channel(cls, name: str) -> "Destination":
        return cls(kind="channel", target=name)


class Reply(BaseModel):
    """Something the bot says: text, with optional buttons, a form or an image,
    sent to the conversation it came from, to a person, or to a named channel."""

    text: str = ""
    choices: list[Choice] = Field(default_factory=list)
    form: Form | None = None
    image: Image | None = None
    to: Destination = Field(default_factory=Destination.here)
    # Set when this reply asks for one field of a form in conversation, so the
    # channel can show the field's options (numbered in the terminal).
    asking: FormField | None = None
    # Only the person who asked sees it (Slack ephemeral messages).
    private: bool = True
    # Per-field problems with a submitted form, for channels that show them
    # next to the field (Slack modals).
    field_errors: dict[str, str] = Field(default_factory=dict)
    # A stable name for a post (e.g. "concern:K7Q2"): sending a reply with the
    # same key to the same place again updates that post in place.
    key: str | None = None
    # Carries something that must never be stored next to a person (a
    # check-in token): delivered directly, never written to the outbox.
    secret: bool = False
    # The outbox's idempotency key for this delivery: queueing the same
    # delivery twice (a retried event, a sweep after a crash) sends it once.
    dedupe: str | None = None
    # The moment the outbox records for this delivery instead of the exact
    # one: an anonymous reporter's coarse moment, so no time stored with
    # the delivery dates them (bot/store/outbox.py).
    recorded_at: dt.datetime | None = None

    def describe(self) -> dict[str, Any]:
        """A JSON-safe summary, used where replies are recorded (local feeds)."""
        data = self.model_dump(mode="json", exclude={"image", "recorded_at"}, exclude_none=True)
        if self.image is not None:
            data["image"] = {"alt": self.image.alt, "title": self.image.title}
        return data

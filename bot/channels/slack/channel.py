"""The Slack side of the courier: post, update and find messages in Slack.

The courier calls ``post``/``update``/``find_posted`` for every reply
addressed to a person or a named channel; the listeners use the same
helpers to answer in the conversation a message came from. Slack's rate
limits are met twice over: the Web API client retries a 429 after its
``Retry-After`` (slack_sdk's retry handler), and ``post`` paces itself per
Slack channel (``Pacer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from typing import Any, AsyncIterator, Generic, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import Address, DeliveryError, Unreachable
from bot.channels.slack import blocks
from bot.channels.slack.pacing import Pacer
from bot.model import Form, Image, Reply

log = logging.getLogger(__name__)
# Slack's libraries log request bodies at DEBUG; message text must never reach a log.
QUIET = logging.getLogger("bot.channels.slack.library")
QUIET.setLevel(logging.ERROR)

T = TypeVar("T")
NAME = "slack"
# A button value kept on the shelf: the prefix and its token travel instead.
SHELVED = "peerbot.shelved:"
METADATA_TYPE = "peerbot_post"
# Slack errors that no retry will fix: someone needs to act (invite the bot, ...).
FINAL_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "user_not_found", "user_not_visible",
        "account_inactive", "cannot_dm_bot", "user_disabled", "restricted_action", "missing_scope",
        "not_authed", "invalid_auth", "token_revoked", "token_expired", "no_permission",
        "team_access_not_granted", "message_not_found", "cant_update_message", "msg_too_long",
        "invalid_blocks", "no_text", "too_many_attachments",
    }
)


class Shelf(Generic[T]):
    """Things waiting behind a button, in memory only, under a random token.

    A modal can only be opened in answer to a click, so a form that arrives
    in a plain message waits here (it may carry a one-time token) until its
    button is pressed. A button value longer than Slack takes (2,000
    characters: a check-in preview's answers in a non-Latin script, say)
    waits here too, rather than being cut short."""

    def __init__(self, ttl: float = 24 * 3600, size: int = 5000):
        self.ttl = ttl
        self.size = size
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def put(self, item: T) -> str:
        token = secrets.token_urlsafe(12)
        self._items[token] = (time.monotonic() + self.ttl, item)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return token

    def get(self, token: str) -> T | None:
        found = self._items.get(token)
        if found is None or found[0] < time.monotonic():
            self._items.pop(token, None)
            return None
        return found[1]



@contextlib.asynccontextmanager
async def calling(what: str) -> AsyncIterator[None]:
    """Turn Slack client failures into the courier's delivery errors."""
    try:
        yield
    except SlackApiError as exc:
        data = exc.response.data if exc.response is not None else None
        error = str(data.get("error", "unknown_error")) if isinstance(data, dict) else f"http_{exc.response.status_code}"
        if error in FINAL_ERRORS:
            raise Unreachable(f"Slack refused {what}: {error}") from None
        raise DeliveryError(f"Slack {what} failed: {error}") from None
    except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise DeliveryError(f"Slack {what} failed: {exc.__class__.__name__}") from None


def split_ref(ref: str) -> tuple[str, str]:
    channel_id, _, ts = ref.partition("/")
    return channel_id, ts


class SlackChannel:
    name = NAME
    shows_forms = True

    def __init__(self, client: AsyncWebClient, channel_ids: dict[str, str], *, pace_seconds: float = 1.0):
        self.client = client
        # Logical channel names ("supervisors", ...) to Slack channel ids.
        self.channel_ids = dict(channel_ids)
        self.pacer = Pacer(pace_seconds)
        self.shelf: Shelf[Form] = Shelf()
        self.long_values: Shelf[str] = Shelf()
        self._dm_ids: dict[str, str] = {}

    def reaches(self, channel_name: str) -> bool:
        return channel_name in self.channel_ids

    # -- replies as Block Kit ----------------------------------------------------

    def fit(self, reply: Reply) -> Reply:
        """Button values too long for Slack go on the shelf; their token rides instead."""
        if all(len(c.value) <= blocks.BUTTON_VALUE for c in reply.choices):
            return reply
        choices = [
            c if len(c.value) <= blocks.BUTTON_VALUE else c.model_copy(update={"value": SHELVED + self.long_values.put(c.value)})
            for c in reply.choices
        ]
        return reply.model_copy(update={"choices": choices})

    def unfit(self, value: str) -> str | None:
        """A pressed button's value as the engine gave it; None if its shelf entry is gone."""
        return self.long_values.get(value[len(SHELVED):]) if value.startswith(SHELVED) else value

    def message(self, reply: Reply) -> dict[str, Any]:
        """A reply as a Slack message body; a form waits on the shelf behind an "Open" button."""
        token = self.shelf.put(reply.form) if reply.form else None
        return blocks.message(self.fit(reply), form_token=token)

    def closing_view(self, title: str, replies: list[Reply]) -> dict[str, Any]:
        return blocks.closing_view(title, [self.fit(r) for r in replies])

    def home_view(self, sections: list[Reply]) -> dict[str, Any]:
        tokens = {n: self.shelf.put(s.form) for n, s in enumerate(sections) if s.form is not None}
        return blocks.home_view([self.fit(s) for s in sections], form_tokens=tokens)

    # -- where things go -----------------------------------------------------

    async def dm_channel(self, user_id: str) -> str:
        """The direct-message conversation with a person (opened if need be)."""
        if user_id not in self._dm_ids:
            async with calling("conversations.open"):
                response = await self.client.conversations_open(users=user_id)
            self._dm_ids[user_id] = response["channel"]["id"]
        return self._dm_ids[user_id]

    async def resolve(self, address: Address) -> str:
        if address.kind == "user":
            return await self.dm_channel(address.id)
        channel_id = self.channel_ids.get(address.id)
        if channel_id is None:
            raise Unreachable(f"no Slack channel id is configured for the channel named {address.id!r}")
        return channel_id

    # -- the courier's interface ---------------------------------------------

    async def post(self, address: Address, reply: Reply) -> str:
        channel_id = await self.resolve(address)
        await self.pacer.wait(channel_id)
        ts = await self.send(channel_id, reply, key=reply.key)
        return f"{channel_id}/{ts}"

    async def update(self, address: Address, ref: str, reply: Reply) -> None:
        channel_id, ts = split_ref(ref)
        await self.pacer.wait(channel_id)
        async with calling("chat.update"):
            await self.client.chat_update(channel=channel_id, ts=ts, **self.message(reply))

    async def find_posted(self, address: Address, key: str) -> str | None:
        """Look for the keyed post among the channel's recent messages (the key
        travels in each post's message metadata)."""
        channel_id = await self.resolve(address)
        async with calling("conversations.history"):
            response = await self.client.conversations_history(channel=channel_id, limit=100, include_all_metadata=True)
        for item in response.get("messages", []):
            metadata = item.get("metadata") or {}
            if metadata.get("event_type") == METADATA_TYPE and (metadata.get("event_payload") or {}).get("key") == key:
                return f"{channel_id}/{item['ts']}"
        return None

    # -- shared helpers --------------------------------------------------------

    async def send(self, channel_id: str, reply: Reply, *, key: str | None = None, thread_ts: str | None = None) -> str:
        """Post a reply (and its image, if any) in a Slack conversation; return the message ts."""
        extra: dict[str, Any] = {}
        if key:
            extra["metadata"] = {"event_type": METADATA_TYPE, "event_payload": {"key": key}}
        if thread_ts:
            extra["thread_ts"] = thread_ts
        ts = ""
        if reply.text or reply.choices or reply.form:
            async with calling("chat.postMessage"):
                response = await self.client.chat_postMessage(channel=channel_id, **self.message(reply), **extra)
            ts = response["ts"]
        if reply.image is not None:
            file_ts = await self.upload(channel_id, reply.image, thread_ts=thread_ts)
            ts = ts or file_ts
        return ts

    async def upload(self, channel_id: str, image: Image, *, thread_ts: str | None = None) -> str:
        """Upload a chart with the files API (files_upload_v2)."""
        async with calling("files_upload_v2"):
            response = await self.client.files_upload_v2(
                channel=channel_id,
                content=image.png,
                filename="chart.png",
                title=blocks.trim(image.title or image.alt, 250),
                alt_txt=blocks.trim(image.alt, 1000),
                thread_ts=thread_ts,
            )
        shares = ((response.get("file") or {}).get("shares") or {})
        for place in shares.values():
            for posts in (place or {}).get(channel_id, []) or []:
                return str(posts.get("ts", ""))
        return ""

    async def send_ephemeral(self, channel_id: str, user_id: str, reply: Reply, *, thread_ts: str | None = None) -> None:
        """Only ``user_id`` sees it. Ephemeral messages can't hold files, so a
        chart goes to the person's direct messages instead."""
        reply = await self._image_to_dm(user_id, reply)
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        async with calling("chat.postEphemeral"):
            await self.client.chat_postEphemeral(channel=channel_id, user=user_id, **self.message(reply), **extra)

    async def _image_to_dm(self, user_id: str, reply: Reply) -> Reply:
        if reply.image is None:
            return reply
        await self.upload(await self.dm_channel(user_id), reply.image)
        note = "(I've sent you the chart in our direct messages, so only you see it.)"
        return reply.model_copy(update={"image": None, "text": f"{reply.text}\n\n{note}".strip()})

    async def ephemeral_payload(self, user_id: str, reply: Reply) -> dict[str, Any]:
        """A response_url body for a reply only the person sees."""
        reply = await self._image_to_dm(user_id, reply)
        return {"response_type": "ephemeral", "replace_original": False, **self.message(reply)}

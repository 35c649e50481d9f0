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
import datetime as dt
import logging
from typing import Any, AsyncIterator

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import Address, DeliveryError, Unreachable
from bot.channels.slack import blocks
from bot.channels.slack.pacing import Pacer
from bot.flow_state import FlowState, MemoryFlowState
from bot.model import Form, Image, Reply

log = logging.getLogger(__name__)
# Slack's libraries log request bodies at DEBUG; message text must never reach a log.
QUIET = logging.getLogger("bot.channels.slack.library")
QUIET.setLevel(logging.ERROR)

NAME = "slack"
# A button value too long for Slack waits in the flow state: the prefix and its token travel instead.
SHELVED = "peerbot.shelved:"
# Kinds of flow state this channel keeps: a form behind an "Open" button (a
# modal can only open in answer to a click, so a form that arrives in a plain
# message waits until its button is pressed), and a button value longer than
# Slack takes (2,000 characters: a check-in preview's answers in a non-Latin
# script, say), rather than cut short.
HELD_FORM = "slack-form"
LONG_VALUE = "slack-value"
HELD_FOR = dt.timedelta(hours=24)
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
        # A form waiting behind an "Open" button, and a button value longer
        # than Slack takes, wait in the flow state (bot/flow_state.py); the
        # platform gives this channel the engine's when it starts.
        self.flows: FlowState = MemoryFlowState()
        self._dm_ids: dict[str, str] = {}

    def reaches(self, channel_name: str) -> bool:
        return channel_name in self.channel_ids

    # -- replies as Block Kit ----------------------------------------------------

    async def fit(self, reply: Reply) -> Reply:
        """Button values too long for Slack wait in the flow state; their token rides instead."""
        if all(len(c.value) <= blocks.BUTTON_VALUE for c in reply.choices):
            return reply
        choices = []
        for c in reply.choices:
            if len(c.value) > blocks.BUTTON_VALUE:
                token = await self.flows.put(LONG_VALUE, {"value": c.value}, lifetime=HELD_FOR)
                c = c.model_copy(update={"value": SHELVED + token})
            choices.append(c)
        return reply.model_copy(update={"choices": choices})

    async def unfit(self, value: str) -> str | None:
        """A pressed button's value as the engine gave it; None if it waited and is gone."""
        if not value.startswith(SHELVED):
            return value
        held = await self.flows.get(LONG_VALUE, value[len(SHELVED):])
        return str(held["value"]) if held else None

    async def hold_form(self, form: Form) -> str:
        """Keep a form until its "Open" button is pressed; the token the button carries."""
        return await self.flows.put(HELD_FORM, form.model_dump(mode="json"), lifetime=HELD_FOR)

    async def held_form(self, token: str) -> Form | None:
        """The form behind an "Open" button; None when it is gone (expired, or a restart)."""
        held = await self.flows.get(HELD_FORM, token) if token else None
        return Form.model_validate(held) if held is not None else None

    async def message(self, reply: Reply) -> dict[str, Any]:
        """A reply as a Slack message body; a form waits behind an "Open" button."""
        token = await self.hold_form(reply.form) if reply.form else None
        return blocks.message(await self.fit(reply), form_token=token)

    async def closing_view(self, title: str, replies: list[Reply]) -> dict[str, Any]:
        return blocks.closing_view(title, [await self.fit(r) for r in replies])

    async def home_view(self, sections: list[Reply]) -> dict[str, Any]:
        tokens = {n: await self.hold_form(s.form) for n, s in enumerate(sections) if s.form is not None}
        return blocks.home_view([await self.fit(s) for s in sections], form_tokens=tokens)

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
            await self.client.chat_update(channel=channel_id, ts=ts, **(await self.message(reply)))

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
                response = await self.client.chat_postMessage(channel=channel_id, **(await self.message(reply)), **extra)
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
            await self.client.chat_postEphemeral(channel=channel_id, user=user_id, **(await self.message(reply)), **extra)

    async def _image_to_dm(self, user_id: str, reply: Reply) -> Reply:
        if reply.image is None:
            return reply
        await self.upload(await self.dm_channel(user_id), reply.image)
        note = "(I've sent you the chart in our direct messages, so only you see it.)"
        return reply.model_copy(update={"image": None, "text": f"{reply.text}\n\n{note}".strip()})

    async def ephemeral_payload(self, user_id: str, reply: Reply) -> dict[str, Any]:
        """A response_url body for a reply only the person sees."""
        reply = await self._image_to_dm(user_id, reply)
        return {"response_type": "ephemeral", "replace_original": False, **(await self.message(reply))}

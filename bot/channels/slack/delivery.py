"""Answering where a person is: the "surfaces" a reply to ``here`` lands on.

A Slack event comes from a direct message, a channel, a slash command, a
button on a message, the App Home tab or a modal, and each answers
differently (a message, an ephemeral message, the response_url, an update of
the modal). A surface hides that difference. Replies addressed elsewhere (a
person, the supervisors' channel) always go through the courier's persisted
outbox, and a reply with a form opens it as a modal when Slack gave us a
trigger to do so.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.channels.base import DeliveryError
from bot.channels.slack import blocks
from bot.channels.slack.channel import QUIET, SlackChannel, calling
from bot.courier import Courier
from bot.model import Form, Reply

log = logging.getLogger(__name__)


class Surface:
    """Base: shows replies in the conversation an event came from."""

    def __init__(self, slack: SlackChannel, user: str, *, trigger_id: str | None = None, conversation: str = ""):
        self.slack = slack
        self.user = user
        self.trigger_id = trigger_id
        self.conversation = conversation

    async def show(self, reply: Reply) -> None:
        raise NotImplementedError

    async def open_form(self, form: Form) -> bool:
        """Open a modal for ``form``; False if there is no trigger left to do it with."""
        if not self.trigger_id:
            return False
        trigger, self.trigger_id = self.trigger_id, None  # a trigger works once
        async with calling("views.open"):
            await self.slack.client.views_open(trigger_id=trigger, view=blocks.form_view(form, conversation=self.conversation))
        return True

    async def finish(self) -> None:
        """After the replies: anything the surface does last (refresh the home tab)."""


async def deliver(replies: list[Reply], surface: Surface, courier: Courier) -> None:
    """Replies to ``here`` on the surface; everything else through the courier."""
    for reply in replies:
        try:
            if reply.to.kind != "here":
                await courier.send(reply)
                continue
            if reply.form is not None and await surface.open_form(reply.form):
                reply = reply.model_copy(update={"form": None})
                if not (reply.text or reply.choices or reply.image):
                    continue
            await surface.show(reply)
        except DeliveryError as exc:
            log.warning("a Slack reply could not be shown: %s", exc)
    try:
        await surface.finish()
    except DeliveryError as exc:
        log.warning("a Slack surface could not be refreshed: %s", exc)


class Conversation(Surface):
    """A direct message or a channel (after a mention). In a channel, private
    replies are ephemeral and public ones go in the thread."""

    def __init__(self, slack: SlackChannel, user: str, channel_id: str, *, thread_ts: str | None = None, **kw: Any):
        kw.setdefault("conversation", channel_id)
        super().__init__(slack, user, **kw)
        self.channel_id = channel_id
        self.thread_ts = thread_ts

    async def show(self, reply: Reply) -> None:
        if self.channel_id.startswith("D"):
            await self.slack.send(self.channel_id, reply, thread_ts=self.thread_ts)
        elif reply.private:
            await self.slack.send_ephemeral(self.channel_id, self.user, reply, thread_ts=self.thread_ts)
        else:
            await self.slack.send(self.channel_id, reply, thread_ts=self.thread_ts)


class ResponseUrl(Surface):
    """Slash commands, shortcuts and ephemeral messages: answers through the
    response_url, always ephemeral, so nobody else in a channel sees them."""

    def __init__(self, slack: SlackChannel, user: str, response_url: str, *, replaces: bool = False, **kw: Any):
        super().__init__(slack, user, **kw)
        # The Web API client's session: its connections are kept and reused.
        self.webhook = AsyncWebhookClient(response_url, timeout=10, logger=QUIET, session=slack.client.session)
        self.replaces = replaces

    async def show(self, reply: Reply) -> None:
        payload = await self.slack.ephemeral_payload(self.user, reply)
        if self.replaces and reply.key:
            payload["replace_original"] = True
        try:
            response = await self.webhook.send_dict(payload)
        except Exception as exc:  # network trouble on the response_url
            raise DeliveryError(f"response_url failed: {exc.__class__.__name__}") from None
        if response.status_code != 200:
            raise DeliveryError(f"response_url answered {response.status_code}")


class MessageButton(Conversation):
    """A button on a (non-ephemeral) message: like the conversation, and a
    reply that carries a key replaces the message the button was on."""

    def __init__(
        self, slack: SlackChannel, user: str, channel_id: str, message_ts: str, response_url: str | None,
        *, dm_thread: str | None = None, **kw: Any,
    ):
        # In a DM, answers go where the button was: the thread it sits in, or the top level.
        super().__init__(slack, user, channel_id, thread_ts=dm_thread if channel_id.startswith("D") else message_ts, **kw)
        self.message_ts = message_ts
        self.private = ResponseUrl(slack, user, response_url) if response_url else None

    async def show(self, reply: Reply) -> None:
        if reply.key:
            async with calling("chat.update"):
                await self.slack.client.chat_update(channel=self.channel_id, ts=self.message_ts, **(await self.slack.message(reply)))
        elif reply.private and not self.channel_id.startswith("D") and self.private is not None:
            await self.private.show(reply)
        else:
            await super().show(reply)


class Modal(Surface):
    """A button inside a modal: the modal itself shows the answer."""

    def __init__(self, slack: SlackChannel, user: str, view_id: str, title: str, **kw: Any):
        super().__init__(slack, user, **kw)
        self.view_id = view_id
        self.title = title
        self.replies: list[Reply] = []

    async def open_form(self, form: Form) -> bool:
        async with calling("views.update"):
            await self.slack.client.views_update(view_id=self.view_id, view=blocks.form_view(form, conversation=self.conversation))
        self.view_id = ""  # the modal is the form now
        return True

    async def show(self, reply: Reply) -> None:
        self.replies.append(reply)

    async def finish(self) -> None:
        if self.replies and self.view_id:
            async with calling("views.update"):
                await self.slack.client.views_update(view_id=self.view_id, view=await self.slack.closing_view(self.title, self.replies))


class Home(Surface):
    """A button on the App Home tab: answers go to the person's direct
    messages with the bot, and the tab is drawn again afterwards."""

    def __init__(self, slack: SlackChannel, user: str, refresh: Any, **kw: Any):
        super().__init__(slack, user, **kw)
        self.refresh = refresh

    async def show(self, reply: Reply) -> None:
        await self.slack.send(await self.slack.dm_channel(self.user), reply)

    async def finish(self) -> None:
        await self.refresh()

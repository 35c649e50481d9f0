"""Bolt listeners: each Slack event, acknowledged at once, then translated
for the engine and its replies shown where the person is.

The app runs with ``process_before_response=True``; each listener only
acknowledges (well inside Slack's three seconds) and starts the work on a
task of its own, handed the request's body and context as they are (Bolt's
lazy listeners would deep-copy the whole request for every event). An
event's work first waits for its durable claim (repeats.py) and does
nothing if an earlier delivery already took it. The one exception
is a modal submission, whose answer (errors next to fields, or the closing
view) has to travel in the ack itself; the engine gets two seconds for it
and otherwise the modal says "one moment" and is updated when done.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from slack_bolt.async_app import AsyncApp, AsyncAck

from bot.channels.base import DeliveryError
from bot.channels.slack import blocks, inbound
from bot.channels.slack.channel import SlackChannel, calling
from bot.channels.slack.delivery import Conversation, Home, MessageButton, Modal, ResponseUrl, Surface, deliver
from bot.model import Inbound, Reply

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

# Where the event's durable claim (an asyncio future of bool) rides in Bolt's context.
CLAIM = "peerbot_claim"
FLAG_SHORTCUT = "flag_to_supervisor"
SUBMIT_WAIT = 2.0
NAME_TTL = 3600.0
# {lasting}: how long what waits behind a button lasts with this flow state.
BUTTON_GONE = "That button has expired ({lasting}). Could you start again from the beginning?"
FORM_GONE = "That form has closed ({lasting}). Ask me again and I'll open a fresh one."


Work = Callable[[dict[str, Any], dict[str, Any]], Awaitable[None]]


async def ack_now(ack: AsyncAck) -> None:
    await ack()


class Listeners:
    """The bot's side of every Slack listener; ``runtime`` arrives at start."""

    def __init__(self, slack: SlackChannel, max_chars: int):
        self.slack = slack
        self.max_chars = max_chars
        self.runtime: "Runtime | None" = None
        self._names: dict[str, tuple[float, str | None]] = {}
        self._tasks: set[asyncio.Task] = set()

    def register(self, app: AsyncApp) -> None:
        app.event("message")(self.after_ack(self.on_message))
        app.event("app_mention")(self.after_ack(self.on_mention))
        app.event("app_home_opened")(self.after_ack(self.on_home_opened))
        app.command(re.compile(r"^/.+"))(self.after_ack(self.on_command))
        app.shortcut(FLAG_SHORTCUT)(self.after_ack(self.on_flag))
        app.action(re.compile(r".+"))(self.after_ack(self.on_button))
        app.view_submission(blocks.FORM_CALLBACK)(self.on_submit)
        app.view_closed(re.compile(r".*"))(ack_now)
        # Last, so they only see what nothing above took: a modal or shortcut
        # from an older version of the app is acknowledged, not answered 404.
        app.view_submission(re.compile(r".*"))(ack_now)
        app.shortcut(re.compile(r".*"))(ack_now)

    def after_ack(self, work: Work) -> Callable[..., Awaitable[None]]:
        """A listener that acknowledges at once and leaves ``work`` to a task."""

        async def acknowledge(ack: AsyncAck, body: dict[str, Any], context: dict[str, Any]) -> None:
            await ack()
            self._keep(asyncio.ensure_future(self._work_after_ack(work, body, context)))

        acknowledge.__name__ = acknowledge.__qualname__ = f"ack_then_{work.__name__}"
        return acknowledge

    async def _work_after_ack(self, work: Work, body: dict[str, Any], context: dict[str, Any]) -> None:
        claim = context.get(CLAIM)
        if claim is not None and not await claim:
            return  # handled already: before a restart, or by another process on the same database
        try:
            await work(body, context)
        except Exception as exc:  # never the exception's text: it can quote what someone wrote
            log.error("Failed to run %s after its ack (%s)", work.__name__, exc.__class__.__name__)

    # -- helpers ---------------------------------------------------------------

    @property
    def rt(self) -> "Runtime":
        if self.runtime is None:
            raise RuntimeError("the Slack channel was used before the server started")
        return self.runtime

    async def name_of(self, user_id: str) -> str | None:
        """A person's display name, for replies that name them; cached for an hour."""
        cached = self._names.get(user_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        name = None
        try:
            async with calling("users.info"):
                response = await self.slack.client.users_info(user=user_id)
            user = response.get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or None
        except DeliveryError:
            pass
        self._names[user_id] = (time.monotonic() + NAME_TTL, name)
        return name

    async def answer(self, msg: Inbound, surface: Surface) -> None:
        replies = await self.rt.engine.handle(msg, shows_forms=True)
        await deliver(replies, surface, self.rt.courier)

    # -- events ----------------------------------------------------------------

    async def on_message(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        event = body.get("event") or {}
        # Direct messages with the bot only; edits, joins and bots are not people talking.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        msg = inbound.from_message(event, bot_user_id=context.get("bot_user_id"), user_name=await self.name_of(event["user"]))
        # Written inside a thread of the DM: answer in that thread.
        await self.answer(msg, Conversation(self.slack, msg.user, msg.conversation, thread_ts=event.get("thread_ts")))

    async def on_mention(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        event = body.get("event") or {}
        if not event.get("user") or inbound.is_dm(event.get("channel") or ""):
            return  # a mention inside a direct message also arrives as a message event
        msg = inbound.from_message(event, bot_user_id=context.get("bot_user_id"), user_name=await self.name_of(event["user"]))
        thread = event.get("thread_ts") or event.get("ts")
        await self.answer(msg, Conversation(self.slack, msg.user, msg.conversation, thread_ts=thread))

    async def on_home_opened(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        event = body.get("event") or {}
        if event.get("tab", "home") == "home" and event.get("user"):
            await self.publish_home(event["user"], event.get("channel"))

    async def publish_home(self, user_id: str, channel_id: str | None = None) -> None:
        msg = inbound.for_home(user_id, channel_id, user_name=await self.name_of(user_id))
        sections = await self.rt.engine.home(msg)
        try:
            async with calling("views.publish"):
                await self.slack.client.views_publish(user_id=user_id, view=await self.slack.home_view(sections))
        except DeliveryError as exc:
            log.warning("the App Home tab could not be drawn: %s", exc)

    # -- commands, shortcuts, buttons -----------------------------------------

    async def on_command(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        msg = inbound.from_command(body, user_name=await self.name_of(body["user_id"]))
        surface = ResponseUrl(
            self.slack, msg.user, body["response_url"], trigger_id=body.get("trigger_id"), conversation=msg.conversation
        )
        await self.answer(msg, surface)

    async def on_flag(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        if body.get("type") != "message_action":
            return
        msg = inbound.from_flag(body, user_name=await self.name_of(body["user"]["id"]), limit=self.max_chars)
        surface = ResponseUrl(
            self.slack, msg.user, body["response_url"], trigger_id=body.get("trigger_id"), conversation=msg.conversation
        )
        await self.answer(msg, surface)

    def _lasting(self) -> str:
        if self.slack.flows.lasts_through_restart:
            return "they last up to a day"
        return "they don't last through a restart or past a day"

    async def on_button(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        pressed = (body.get("actions") or [{}])[0]
        user_id = body["user"]["id"]
        surface = self._surface_for(body)
        if blocks.action_of(pressed.get("action_id") or "") == blocks.OPEN_FORM:
            form = await self.slack.held_form(str(pressed.get("value") or ""))
            replies = [Reply(form=form)] if form is not None else [Reply(text=FORM_GONE.format(lasting=self._lasting()))]
            await deliver(replies, surface, self.rt.courier)
            return
        value = await self.slack.unfit(str(pressed.get("value") or ""))
        if value is None:
            await deliver([Reply(text=BUTTON_GONE.format(lasting=self._lasting()))], surface, self.rt.courier)
            return
        msg = inbound.from_button(body, {**pressed, "value": value}, user_name=await self.name_of(user_id))
        await self.answer(msg, surface)

    def _surface_for(self, body: dict[str, Any]) -> Surface:
        user_id = body["user"]["id"]
        container = body.get("container") or {}
        trigger = body.get("trigger_id")
        conversation = inbound.conversation_of(body)
        if container.get("type") == "view":
            view = body.get("view") or {}
            if view.get("type") == "home":
                return Home(self.slack, user_id, lambda: self.publish_home(user_id), trigger_id=trigger, conversation=conversation)
            title = ((view.get("title") or {}).get("text")) or "peerbot"
            return Modal(self.slack, user_id, (view.get("id") or ""), title, trigger_id=trigger, conversation=conversation)
        response_url = body.get("response_url")
        if container.get("is_ephemeral") and response_url:
            return ResponseUrl(self.slack, user_id, response_url, replaces=True, trigger_id=trigger, conversation=conversation)
        return MessageButton(
            self.slack, user_id, conversation, (container.get("message_ts") or ""), response_url,
            dm_thread=container.get("thread_ts") or None, trigger_id=trigger, conversation=conversation,
        )

    # -- modal submissions -----------------------------------------------------

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        meta = blocks.form_metadata(view)
        if not meta:
            await ack()
            return
        # Anonymous: the submitter is not even looked up, let alone kept.
        name = None if meta.get("a") else await self.name_of(body["user"]["id"])
        msg = inbound.from_submission(body, user_name=name)
        assert msg is not None
        title = ((view.get("title") or {}).get("text")) or "peerbot"
        work = asyncio.ensure_future(self.rt.engine.handle(msg, shows_forms=True))
        done, _ = await asyncio.wait({work}, timeout=SUBMIT_WAIT)
        if not done:
            await ack(response_action="update", view=await self.slack.closing_view(title, [Reply(text="One moment…")]))
            self._keep(asyncio.ensure_future(self._finish_late(work, (view.get("id") or ""), title, msg.conversation)))
            return
        outcome = await self._outcome(work.result(), title, msg.conversation)
        if outcome is None:
            await ack()
        else:
            await ack(**outcome)

    async def _outcome(self, replies: list[Reply], title: str, conversation: str) -> dict[str, Any] | None:
        """What the modal does with the engine's replies: show field errors,
        turn into the next form, or turn into the answer; elsewhere-bound
        replies go to the courier."""
        errors: dict[str, str] = {}
        here: list[Reply] = []
        for reply in replies:
            if reply.to.kind != "here":
                await self.rt.courier.send(reply)
            elif reply.field_errors:
                errors.update(reply.field_errors)
            else:
                here.append(reply)
        if errors:
            return {"response_action": "errors", "errors": {k: blocks.trim(v, 300) for k, v in errors.items()}}
        form = next((r.form for r in here if r.form is not None), None)
        if form is not None:
            return {"response_action": "update", "view": blocks.form_view(form, conversation=conversation)}
        if not here:
            return None
        return {"response_action": "update", "view": await self.slack.closing_view(title, here)}

    async def _finish_late(self, work: asyncio.Future, view_id: str, title: str, conversation: str) -> None:
        outcome = await self._outcome(await work, title, conversation)
        if outcome is None:
            view = blocks.closing_view(title, [Reply(text="Sent. Thank you.")])
        elif outcome["response_action"] == "errors":
            lines = "\n".join(f"- {message}" for message in outcome["errors"].values())
            view = blocks.closing_view(title, [Reply(text=f"A couple of answers need another look:\n{lines}\nCould you open the form again?")])
        else:
            view = outcome["view"]
        try:
            async with calling("views.update"):
                await self.slack.client.views_update(view_id=view_id, view=view)
        except DeliveryError as exc:
            log.warning("a slow form's answer could not be shown: %s", exc)

    def _keep(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

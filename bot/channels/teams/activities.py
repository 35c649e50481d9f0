"""The bot: Bot Framework activities in, neutral messages to the engine,
replies back out as Teams messages and cards.

Only translation happens here. A typed message becomes ``Inbound`` text
(the engine reads a command word from Teams' command list the way it
reads one typed anywhere else); a button on a
card becomes ``Inbound.action``; a submitted card form becomes
``Inbound.submission``; the "Flag to peer supervisor" message action becomes
``Action("concern:flag", <the message text>)``. Replies for this
conversation go back in the turn, and everything addressed elsewhere goes
through the courier.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import logging
import re
from typing import TYPE_CHECKING, Any

from botbuilder.core import Bot, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ActivityTypes

from bot.channels.teams import cards
from bot.channels.teams.channel import NAME, to_activity
from bot.model import Action, Destination, Inbound, Reply

if TYPE_CHECKING:
    from bot.channels.teams.platform import TeamsPlatform

log = logging.getLogger(__name__)

FLAG_COMMAND = "flagToSupervisor"
BIND_WORD = "bind-supervisors"
ANONYMOUS = "anonymous"
TAGS = re.compile(r"<[^>]+>")
PRIVATE_ELSEWHERE = (
    "I'd rather answer that one just between us. Open a chat with me (find peerbot under Apps) "
    "and I'll reply there."
)


ERROR = "application/vnd.microsoft.error"
DONE = {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "Done"}
NOT_OURS = "That card isn't one of peerbot's, so I can't act on it. Anything I sent you still works."
NOT_A_COMMAND = "I don't have that one. You can type help in our chat to see what I can do."
WENT_WRONG = "Something went wrong on my side and I couldn't finish that. Trying again in a moment may work; nothing you did caused it."
# Where the running turn puts its invoke answer the moment it is decided, so
# the request can return it while the turn goes on sending (platform.py).
answer_slot: contextvars.ContextVar["asyncio.Future[tuple[int, Any]] | None"] = contextvars.ContextVar("teams_invoke_answer", default=None)


def universal_error(status: int, code: str, message: str) -> dict[str, Any]:
    """A Universal Action problem as Teams wants it: HTTP 200, the status in the body."""
    return {"statusCode": status, "type": ERROR, "value": {"code": code, "message": message}}


def task_card(text: str) -> dict[str, Any]:
    """A small dialog (task module) saying ``text``."""
    return dialog_response(cards.reply_card(Reply(text=text), "dialog"))


def failure_answer(name: str | None) -> dict[str, Any]:
    """The invoke answer for a turn that failed on our side."""
    if name == "adaptiveCard/action":
        return universal_error(500, "InternalError", WENT_WRONG)
    if name and name.startswith(("composeExtension/", "task/")):
        return {"task": {"type": "message", "value": WENT_WRONG}}
    return {"error": "peerbot couldn't finish this request"}


def strip_bot_mention(activity: Activity) -> None:
    """Remove "@peerbot" from the text, reading mention entities tolerantly:
    one without ``mentioned``, ``text`` or an id (or not an object at all) is
    skipped, so a malformed entity never costs the person their answer."""
    bot = activity.recipient.id if activity.recipient else None
    text = activity.text or ""
    for entity in activity.entities or []:
        data = {**(getattr(entity, "additional_properties", None) or {}), "type": getattr(entity, "type", None)}
        mentioned, said = data.get("mentioned"), data.get("text")
        if data["type"] != "mention" or not isinstance(mentioned, dict) or not isinstance(said, str) or not said:
            continue
        if bot and mentioned.get("id") == bot:
            text = text.replace(said, "")
    activity.text = text


def plain(content: str) -> str:
    """Teams message bodies are HTML; the engine reads plain text."""
    content = re.sub(r"<br\s*/?>|</p>|</div>", "\n", content or "", flags=re.IGNORECASE)
    return html.unescape(TAGS.sub("", content)).strip()


def _get(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


class TeamsBot(Bot):
    def __init__(self, platform: "TeamsPlatform"):
        self.platform = platform

    @property
    def runtime(self):
        return self.platform.runtime

    # -- who and where -------------------------------------------------------

    def inbound(self, activity: Activity, **fields: Any) -> Inbound:
        sender = activity.from_property
        kind = activity.conversation.conversation_type or "personal"
        return Inbound(
            channel=NAME,
            user=sender.aad_object_id or sender.id,
            user_name=sender.name,
            # Inbound.team is the person's peer team; a Microsoft Teams team
            # is something else, so it is left out (people join with /checkin join).
            team=None,
            conversation=activity.conversation.id,
            direct=kind == "personal",
            **fields,
        )

    @staticmethod
    def tenant(activity: Activity) -> str:
        return _get(activity.channel_data, "tenant", "id") or activity.conversation.tenant_id or ""

    async def remember(self, activity: Activity) -> None:
        """Keep how to reach this person (or this team channel) later."""
        reference = TurnContext.get_conversation_reference(activity).serialize()
        # The id of the activity heard is never used to reach them later, and
        # changes with every message: kept, it would rewrite the row every time.
        reference.pop("activityId", None)
        directory, now = self.runtime.store.teams, self.runtime.engine.now()
        if (activity.conversation.conversation_type or "personal") == "personal":
            sender = activity.from_property
            await directory.remember_person(sender.aad_object_id or sender.id, self.tenant(activity), reference, now)
            return
        if activity.conversation.conversation_type != "channel":
            return  # group chats are answered in place, never posted to later
        # A message in a channel arrives in its thread ("...;messageid=..."):
        # posts go to the channel itself.
        channel_id = _get(activity.channel_data, "channel", "id") or activity.conversation.id.split(";")[0]
        name = _get(activity.channel_data, "channel", "name") or ""
        reference["conversation"] = {**reference["conversation"], "id": channel_id}
        team = _get(activity.channel_data, "team", "name") or ""
        await directory.remember_channel(channel_id, team, name, self.tenant(activity), reference, now)
        await self._auto_bind(channel_id, name)

    async def _auto_bind(self, channel_id: str, name: str) -> None:
        """A team channel named like the supervisor channel is taken as it, if none is bound."""
        wanted = self.runtime.settings.supervisor_channel
        if name.lower().lstrip("#") == wanted.lower() and await self.runtime.store.teams.bound(wanted) is None:
            await self.runtime.store.teams.bind(channel_id, wanted)
            await self.platform.channel.refresh()

    # -- the turn ------------------------------------------------------------

    async def on_turn(self, context: TurnContext) -> None:
        kind = context.activity.type
        if not await self._first_delivery(context):
            return
        if kind == ActivityTypes.message:
            await self.on_message(context)
        elif kind == ActivityTypes.invoke:
            await self.on_invoke(context)
        elif kind in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
            await self.on_install(context)
        # Typing, reactions and the like need nothing from the bot.

    async def _first_delivery(self, context: TurnContext) -> bool:
        """Claim the activity's id (after its token was checked); a
        redelivery is answered as plainly as possible and goes no further."""
        activity = context.activity
        if not activity.id or activity.conversation is None:
            return True
        claims = self.runtime.store.teams_activities
        if await claims.claim(activity.conversation.id or "", activity.id, self.runtime.engine.now()):
            return True
        log.info("teams: a %s activity arrived again; answered once already", activity.type)
        if activity.type == ActivityTypes.invoke:
            if (activity.name or "").startswith("composeExtension/"):
                await self.answer(context, 200, {"task": {"type": "message", "value": "Done."}})
            else:
                await self.answer(context, 200, DONE)
        return False

    async def on_message(self, context: TurnContext) -> None:
        activity = context.activity
        try:
            data = cards.read(activity.value) if activity.value else None
        except cards.CardDataError as exc:
            await context.send_activity(str(exc))
            return
        if data is not None:  # an Action.Submit from a client without Universal Actions
            await self.on_card(context, data, invoke=False)
            return
        await self.remember(activity)
        strip_bot_mention(activity)
        text = (activity.text or "").strip()
        if text.lower() == BIND_WORD and activity.conversation.conversation_type == "channel":
            await self.bind_here(context)
            return
        msg = self.inbound(activity, text=text)
        replies = await self.runtime.engine.handle(msg, shows_forms=True)
        await self.deliver(context, msg, replies)

    async def on_install(self, context: TurnContext) -> None:
        activity = context.activity
        event = _get(activity.channel_data, "eventType")
        if event in ("channelCreated", "channelRenamed", "channelRestored"):
            channel = _get(activity.channel_data, "channel") or {}
            if channel.get("id"):
                await self.remember(activity)
            return
        added = [m.id for m in activity.members_added or []]
        removed = activity.type == ActivityTypes.installation_update and activity.action == "remove"
        if removed or (activity.type == ActivityTypes.conversation_update and activity.recipient.id not in added):
            return
        await self.remember(activity)
        if activity.type == ActivityTypes.conversation_update and (activity.conversation.conversation_type or "personal") == "personal":
            msg = self.inbound(activity, text="/help")
            await self.deliver(context, msg, await self.runtime.engine.handle(msg, shows_forms=True))

    async def bind_here(self, context: TurnContext) -> None:
        """An admin makes this team channel the supervisors' channel."""
        activity = context.activity
        msg = self.inbound(activity)
        name = self.runtime.settings.supervisor_channel
        if "admin" not in self.runtime.settings.roles_of(msg.user):
            await context.send_activity(f"Only an admin can choose the {name} channel. An admin can type {BIND_WORD} here, or run peerbot teams bind-supervisors.")
            return
        await self.runtime.store.teams.bind(_get(activity.channel_data, "channel", "id"), name)
        await self.platform.channel.refresh()
        await context.send_activity(f"Done: this is now the {name} channel. Posts for peer supervisors will arrive here.")

    # -- cards and the message extension -------------------------------------

    async def on_invoke(self, context: TurnContext) -> None:
        activity, name = context.activity, context.activity.name
        try:
            if name == "adaptiveCard/action":
                # Teams shows a generic error for anything but HTTP 200: problems go in the body.
                data = cards.read(_get(activity.value, "action", "data"))
                if data is None:
                    return await self.answer(context, 200, universal_error(400, "BadRequest", NOT_OURS))
                return await self.on_card(context, data, invoke=True)
            if name == "composeExtension/fetchTask" and _get(activity.value, "commandId") == FLAG_COMMAND:
                return await self.on_flag(context)
            if name in ("composeExtension/fetchTask", "task/fetch"):
                return await self.answer(context, 200, task_card(NOT_A_COMMAND))
            if name in ("composeExtension/submitAction", "task/submit"):
                data = cards.read(_get(activity.value, "data"))
                if data is None:
                    return await self.answer(context, 200, {"task": {"type": "message", "value": "That dialog isn't one of peerbot's, so I left it alone."}})
                return await self.on_card(context, data, invoke=True, surface="dialog")
        except cards.CardDataError as exc:
            return await self.answer_problem(context, str(exc))
        await self.answer(context, 400, {"error": "peerbot doesn't handle this kind of request."})

    async def answer(self, context: TurnContext, status: int, body: Any) -> None:
        """The invoke's answer: kept for botbuilder, and handed at once to the waiting request."""
        await context.send_activity(Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=body)))
        slot = answer_slot.get()
        if slot is not None and not slot.done():
            slot.set_result((status, body))

    async def tell_of_failure(self, context: TurnContext) -> None:
        """A turn failed on our side: an invoke still gets an answer Teams can show, a message a kind word."""
        activity = context.activity
        try:
            if activity.type == ActivityTypes.invoke:
                slot = answer_slot.get()
                if slot is None or not slot.done():
                    await self.answer(context, 200, failure_answer(activity.name))
            elif activity.type == ActivityTypes.message:
                await context.send_activity(WENT_WRONG)
        except Exception as exc:  # the connector may be what failed
            log.warning("teams: couldn't say a turn failed: %s", exc.__class__.__name__)

    async def answer_problem(self, context: TurnContext, text: str) -> None:
        if context.activity.name == "adaptiveCard/action":
            # Teams shows the message by the card, which stays as it was (a form keeps what was typed).
            await self.answer(context, 200, universal_error(400, "BadRequest", text))
        else:
            await self.answer(context, 200, dialog_response(cards.reply_card(Reply(text=text), "dialog")))

    async def on_flag(self, context: TurnContext) -> None:
        activity = context.activity
        quoted = plain(_get(activity.value, "messagePayload", "body", "content") or "")
        limit = self.runtime.settings.max_message_chars
        if len(quoted) > limit:
            quoted = quoted[: limit - 1] + "…"
        msg = self.inbound(activity, action=Action(id="concern:flag", value=quoted)).model_copy(update={"direct": True})
        replies = await self.runtime.engine.handle(msg, shows_forms=True)
        secrets: list[Reply] = []
        here = await self.send_elsewhere(msg, replies, secrets)
        await self.answer(context, 200, dialog_response(cards.replies_card(here, "dialog")))
        await self.send_secrets(secrets)

    async def on_card(self, context: TurnContext, data: cards.Pressed | cards.Submitted, *, invoke: bool, surface: cards.Surface = "message") -> None:
        activity = context.activity
        if isinstance(data, cards.Pressed):
            await self.remember(activity)
            msg = self.inbound(activity, action=data.action)
        elif data.anonymous:
            # Who sent an anonymous form is dropped here, before anything is
            # logged or stored; its replies are shown in the card itself.
            msg = Inbound(channel=NAME, user=ANONYMOUS, conversation=ANONYMOUS, submission=data.submission)
        else:
            await self.remember(activity)
            msg = self.inbound(activity, submission=data.submission)
        if surface == "dialog":
            msg = msg.model_copy(update={"direct": True})
        replies = await self.runtime.engine.handle(msg, shows_forms=True)

        if isinstance(data, cards.Pressed) and surface == "message" and not data.in_place:
            if invoke:  # answered before the replies go out, so Teams isn't kept waiting on them
                await self.answer(context, 200, DONE)
            await self.deliver(context, msg, replies)
            return

        # Queued replies are a quick local write, kept before the answer so
        # none is lost; private ones (sent at once) go out after it.
        secrets: list[Reply] = []
        here = await self.send_elsewhere(msg, replies, secrets if invoke else None)
        if not here and isinstance(data, cards.Pressed) and surface == "message":
            if invoke:  # nothing to show here: the card stays as it is
                await self.answer(context, 200, DONE)
            await self.send_secrets(secrets)
            return
        shown = self.surface_card(data, here, surface)
        if surface == "dialog":
            await self.answer(context, 200, dialog_response(shown) if here else {"task": {"type": "message", "value": "Done."}})
            await self.send_secrets(secrets)
        elif invoke:
            await self.answer(context, 200, card_response(shown))
            await self.send_secrets(secrets)
        elif activity.reply_to_id:
            await context.update_activity(Activity(id=activity.reply_to_id, type=ActivityTypes.message, attachments=[cards.attachment(shown)]))
        else:
            await context.send_activity(Activity(type=ActivityTypes.message, attachments=[cards.attachment(shown)]))

    @staticmethod
    def surface_card(data: cards.Pressed | cards.Submitted, here: list[Reply], surface: cards.Surface) -> dict[str, Any]:
        """What replaces a submitted card: the form again with its problems, or the replies."""
        errors = next((r.field_errors for r in here if r.field_errors), None)
        if errors and isinstance(data, cards.Submitted) and data.form is not None:
            body = cards.text_blocks(next(r.text for r in here if r.field_errors))
            body += cards.form_elements(data.form, values=data.submission.values, errors=errors, surface=surface)
            return cards.card(body)
        # Buttons on the card a form turned into answer in that card again.
        return cards.replies_card(here, surface, in_place=isinstance(data, cards.Submitted) or data.in_place)

    # -- delivery ------------------------------------------------------------

    def _is_here(self, reply: Reply, msg: Inbound) -> bool:
        to = reply.to
        return to.kind == "here" or (to.kind == "user" and to.target == msg.user and to.via == NAME and msg.direct)

    async def send_elsewhere(self, msg: Inbound, replies: list[Reply], secrets: list[Reply] | None = None) -> list[Reply]:
        """Queue replies meant for other people or channels; return the rest.
        Given a ``secrets`` list, private replies (which the courier sends at
        once, over the network) are put there to send after the invoke answer."""
        here = []
        for reply in replies:
            if self._is_here(reply, msg):
                here.append(reply)
            elif reply.secret and secrets is not None:
                secrets.append(reply)
            else:
                await self.runtime.courier.send(reply)
        return here

    async def send_secrets(self, secrets: list[Reply]) -> None:
        for reply in secrets:
            await self.runtime.courier.send(reply)

    async def deliver(self, context: TurnContext, msg: Inbound, replies: list[Reply]) -> None:
        here = await self.send_elsewhere(msg, replies)
        if not msg.direct and any(r.private for r in here):
            await self.deliver_privately(context, msg, [r for r in here if r.private])
            here = [r for r in here if not r.private]
        for reply in here:
            await self.send_here(context, reply)

    async def deliver_privately(self, context: TurnContext, msg: Inbound, replies: list[Reply]) -> None:
        """In a channel or group chat, private replies go to the person's own chat with the bot."""
        person = await self.runtime.store.teams.person(msg.user)
        if person is None or person.unreachable_since:
            await context.send_activity(Activity(type=ActivityTypes.message, text=PRIVATE_ELSEWHERE, reply_to_id=context.activity.id))
            return
        for reply in replies:
            await self.runtime.courier.send(reply.model_copy(update={"to": Destination.user(msg.user, via=NAME)}))

    async def send_here(self, context: TurnContext, reply: Reply) -> None:
        """Send in this conversation; a keyed reply replaces its earlier post."""
        activity = to_activity(reply)
        conversation = context.activity.conversation.id
        outbox = self.runtime.store.outbox
        earlier = await outbox.posted_ref(NAME, "conversation", conversation, reply.key) if reply.key else None
        if earlier:
            activity.id = earlier
            await context.update_activity(activity)
            return
        response = await context.send_activity(activity)
        if reply.key and response and response.id:
            await outbox.remember_posted(NAME, "conversation", conversation, reply.key, response.id)


def card_response(card: dict[str, Any]) -> dict[str, Any]:
    """The answer to an ``adaptiveCard/action`` invoke: this card replaces the one pressed."""
    return {"statusCode": 200, "type": cards.CARD, "value": card}


def dialog_response(card: dict[str, Any]) -> dict[str, Any]:
    return {"task": {"type": "continue", "value": {"title": "peerbot", "card": cards.attachment(card)}}}

"""The Teams channel as the courier sees it: proactive sends and updates.

Teams lets a bot start a message only through a conversation reference kept
from an earlier turn, so people are reached through the reference stored
when they installed the app or first wrote, and named channels through the
team channel an admin bound. Sends are paced under Teams' limits. A 403 or
404 means the app was removed or the person is gone: that raises
``Unreachable`` so the courier stops retrying and admins hear how to fix it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes, ConversationReference

from bot.channels.base import Address, DeliveryError, Unreachable
from bot.channels.teams.cards import attachment, reply_card
from bot.channels.teams.connector import ConnectorError, TokenUnavailable
from bot.channels.teams.pacing import Pacer
from bot.model import Reply
from bot.store import Store

log = logging.getLogger(__name__)

NAME = "teams"
GONE = (403, 404)


def to_activity(reply: Reply) -> Activity:
    """A reply as a Teams message: plain text, or a card when it has more than text."""
    if reply.choices or reply.form is not None or reply.image is not None:
        return Activity(type=ActivityTypes.message, attachments=[attachment(reply_card(reply))], text="")
    return Activity(type=ActivityTypes.message, text=reply.text or " ")


def describe_failure(exc: Exception) -> DeliveryError:
    """What a failed call to Teams means for the courier."""
    if isinstance(exc, TokenUnavailable):
        return DeliveryError(f"the bot's token for Teams can't be had right now ({exc}); trying again later")
    status = exc.status if isinstance(exc, ConnectorError) else None
    if status in GONE:
        return Unreachable(f"Teams answered {status}: the app isn't installed for them any more, or they have left")
    if status == 401:
        # Refused twice, a fresh token the second time: the identity platform
        # or the connector is having a moment; not the person's doing.
        return DeliveryError("Teams didn't take the bot's token (401); trying again later")
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        return DeliveryError(f"Teams refused the message ({status})", retry=False)
    if isinstance(exc, (ConnectorError, OSError)):
        return DeliveryError(f"Teams didn't take the message ({status or exc.__class__.__name__}); trying again later")
    raise exc


def _ref(conversation_id: str, activity_id: str) -> str:
    return f"{conversation_id}|{activity_id}"


class TeamsChannel:
    name = NAME
    shows_forms = True

    def __init__(self, adapter: Any, app_id: str, store: Store, pacer: Pacer, now: Callable[[], dt.datetime]):
        self.adapter = adapter
        self.app_id = app_id
        self.store = store
        self.pacer = pacer
        self.now = now
        # Named channels bound to a team channel; refreshed from the store.
        self.bound: set[str] = set()

    async def refresh(self) -> None:
        self.bound = {c.bound_as for c in await self.store.teams.channels() if c.bound_as}

    def reaches(self, channel_name: str) -> bool:
        return channel_name in self.bound

    async def _reference(self, address: Address) -> tuple[ConversationReference, str]:
        if address.kind == "user":
            person = await self.store.teams.person(address.id)
            if person is None:
                raise Unreachable("peerbot has no conversation with this person on Teams yet (the app isn't installed for them)")
            if person.unreachable_since:
                raise Unreachable(f"unreachable on Teams since {person.unreachable_since} (the app was removed or they left)")
            return ConversationReference().deserialize(person.reference), person.tenant
        channel = await self.store.teams.bound(address.id)
        if channel is None:
            raise Unreachable(f"no Teams channel is bound as {address.id!r} yet")
        return ConversationReference().deserialize(channel.reference), channel.tenant

    async def _call(self, address: Address, reference: ConversationReference, tenant: str, work: Callable[[TurnContext], Any]) -> None:
        await self.pacer.wait(tenant, reference.conversation.id)
        failed: list[Exception] = []

        async def guarded(context: TurnContext) -> None:
            # The adapter's turn-error handler would swallow this; the courier needs it.
            try:
                await work(context)
            except Exception as exc:
                failed.append(exc)

        try:
            await self.adapter.continue_conversation(reference, guarded, bot_app_id=self.app_id)
            if failed:
                raise failed[0]
        except Exception as exc:
            failure = describe_failure(exc)
            if isinstance(failure, Unreachable) and address.kind == "user":
                await self.store.teams.mark_unreachable(address.id, self.now())
            raise failure from None

    async def post(self, address: Address, reply: Reply) -> str:
        reference, tenant = await self._reference(address)
        sent: list[str] = []

        async def send(context: TurnContext) -> None:
            # A new message (a new thread in a channel), not a reply to the
            # placeholder activity botbuilder starts a proactive turn with.
            context.activity.id = None
            response = await context.send_activity(to_activity(reply))
            sent.append(response.id if response else "")

        await self._call(address, reference, tenant, send)
        return _ref(reference.conversation.id, sent[0] if sent else "")

    async def update(self, address: Address, ref: str, reply: Reply) -> None:
        reference, tenant = await self._reference(address)
        conversation_id, _, activity_id = ref.rpartition("|")
        if conversation_id:
            reference.conversation.id = conversation_id

        async def replace(context: TurnContext) -> None:
            activity = to_activity(reply)
            activity.id = activity_id
            await context.update_activity(activity)

        await self._call(address, reference, tenant, replace)

    async def find_posted(self, address: Address, key: str) -> str | None:
        # Teams can't be searched for a message by our key: after a crash
        # between Teams accepting a post and the outbox hearing back, that
        # one post may arrive twice.
        return None

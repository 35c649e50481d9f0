"""The courier: delivers replies addressed to a person or a named channel.

Every such reply is written to the persisted outbox first, under an
idempotency key, and only then sent; a failed send is retried with
exponential backoff until it goes through, so a concern is never lost to a
crash or an outage. Each delivery is claimed by one pass before it is sent,
so passes that overlap never both send it. If the process dies after the
platform accepted a message but before the outbox heard back, or a send
fails after the platform took it (a timeout), the next attempt first asks
the platform whether the keyed message is already there, so the channel
gets it exactly once (where the platform can be asked: Teams can't).

Of several processes on one database (replicas, or a command beside the
server), the one running the courier's loop holds the courier's lease
(bot/store/leases.py) and is the only one that delivers: the others queue,
and the holder sends within a second. Exactly-once doesn't need this (the
claims above decide it); pacing does, since each process only knows its
own pace toward a Slack channel or a Teams tenant.

The one exception is a reply marked ``secret`` (it carries a one-time
check-in token): that is sent directly and never written anywhere next to
the person it is for.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from typing import Callable

from bot.channels.base import Address, DeliveryError, PlatformChannel
from bot.channels.local import LocalPlatform
from bot.model import Reply
from bot.store import Store
from bot.store.outbox import Delivered, Queued
from intents.base import utc_now

log = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(minutes=10)
# How long a claimed delivery is left to the pass that claimed it: longer
# than any one send takes (the Slack client gives up after 15 s, a 429 is
# waited out up to three times), short enough that a send cut off by a
# crash is picked up again soon after a restart.
SEND_LEASE = dt.timedelta(minutes=2)
SECRET_TRIES = 3
# The courier's lease: held while a server's courier loop runs, renewed
# once less than RENEW_WITHIN is left (a write every ten seconds or so, not
# every pass), so a replica that dies hands delivery over within half a minute.
COURIER = "courier"
COURIER_LEASE = dt.timedelta(seconds=30)
RENEW_WITHIN = dt.timedelta(seconds=20)


class Courier:
    def __init__(self, store: Store, local: LocalPlatform, now: Callable[[], dt.datetime] = utc_now):
        self.store = store
        self.local = local
        self.now = now
        self.channels: dict[str, PlatformChannel] = {}
        self._wake = asyncio.Event()
        # Called with (address, via, error) when someone can't be reached at all.
        self.on_unreachable: list[Callable[[Address, str, str], object]] = []
        self.owner = uuid.uuid4().hex
        self._serving = False
        self._held_until: dt.datetime | None = None

    def register(self, channel: PlatformChannel) -> None:
        if channel.name in self.channels:
            raise ValueError(f"a channel named {channel.name!r} is already registered")
        self.channels[channel.name] = channel

    def route(self, reply: Reply) -> tuple[PlatformChannel, Address]:
        """Which platform and address a reply goes to."""
        if reply.to.kind == "user":
            channel = self.channels.get(reply.to.via or "", self.local)
            return channel, Address(kind="user", id=reply.to.target or "")
        if reply.to.kind == "channel":
            name = reply.to.target or ""
            for channel in self.channels.values():
                if channel.reaches(name):
                    return channel, Address(kind="channel", id=name)
            return self.local, Address(kind="channel", id=name)
        raise ValueError("a reply to 'here' is delivered by the channel that received the message")

    async def send(self, reply: Reply, key: str | None = None) -> bool:
        """Queue ``reply`` for delivery (or, if secret, deliver it now).
        Returns False when the key was already queued (nothing new to send)."""
        return (await self._send_all([reply], key))[0]

    async def send_all(self, replies: list[Reply]) -> list[bool]:
        """``send`` for each reply, in order; the ones queued between two
        secret ones are written to the outbox in one transaction (a job's
        summaries for a whole team are one commit, not one each)."""
        return await self._send_all(replies, None)

    async def _send_all(self, replies: list[Reply], key: str | None) -> list[bool]:
        fresh: list[bool] = []
        queued: list[Queued] = []
        for reply in replies:
            channel, address = self.route(reply)
            if reply.secret:
                fresh += await self._queue(queued)
                await self._send_secret(channel, address, reply)
                fresh.append(True)
                continue
            queued.append(Queued(
                key or reply.dedupe or uuid.uuid4().hex, channel.name, address.kind, address.id, reply.model_dump(mode="json"),
                self.now(), post_key=reply.key, coarse_at=reply.recorded_at,
            ))
        return fresh + await self._queue(queued)

    async def _queue(self, queued: list[Queued]) -> list[bool]:
        if not queued:
            return []
        fresh = await self.store.outbox.enqueue_many(list(queued))
        queued.clear()
        self._wake.set()
        return fresh

    async def _send_secret(self, channel: PlatformChannel, address: Address, reply: Reply) -> None:
        for attempt in range(1, SECRET_TRIES + 1):
            try:
                await channel.post(address, reply)
                return
            except DeliveryError as exc:
                log.warning("a private message on %s failed (try %d): %s", channel.name, attempt, exc)
                if not exc.retry:
                    self._unreachable(address, channel.name, str(exc))
                    raise
                await asyncio.sleep(0.2 * attempt)
        raise DeliveryError(f"could not deliver a private message on {channel.name}")

    def _unreachable(self, address: Address, via: str, error: str) -> None:
        for hook in self.on_unreachable:
            hook(address, via, error)

    async def deliver_due(self) -> int:
        """One pass over the outbox; returns how many messages went out.

        Passes may overlap (the courier's own loop, a scheduled job, a
        command, another process): each item is claimed by one guarded write
        before it is sent, so only one of them sends it. A delivery is marked
        delivered in the same write that claims the next one (or at the end
        of the pass), so each costs one commit.

        Only the process holding the courier's lease delivers while some
        server's courier loop holds it; a pass elsewhere returns 0 and
        leaves the queued messages to it."""
        sent = 0
        settle: list[Delivered] = []
        if not await self._may_deliver():
            return 0
        try:
            for item in await self.store.outbox.due(self.now()):
                if self._serving and not await self._may_deliver():
                    break  # the lease went to another replica mid-pass (this one stalled)
                channel = self.channels.get(item.via) or (self.local if item.via == self.local.name else None)
                if channel is None:
                    continue  # that platform isn't running in this process
                now = self.now()
                claimed = await self.store.outbox.claim(item.id, now, now + SEND_LEASE, settle=settle)
                settle = []
                if not claimed:
                    continue  # another pass has it
                address = Address(kind=item.address_kind, id=item.address_id)
                reply = Reply.model_validate(item.reply)
                try:
                    # A send that was tried before may have reached the platform
                    # even though it failed here (a timeout after the platform
                    # accepted it, a crash before the outbox heard back): ask
                    # before sending it again. A keyed post always asks (below).
                    if reply.key is None and (item.state == "sending" or item.attempts > 0):
                        ref = await channel.find_posted(address, item.key)
                        if ref is not None:
                            settle.append(Delivered(item.id, ref))
                            continue
                    done = await self._post_or_update(channel, address, reply, item.id, item.key)
                except DeliveryError as exc:
                    await self._failed(item.id, item.attempts + 1, exc, address, channel.name)
                    continue
                except Exception as exc:  # a platform bug must not stop the outbox
                    log.exception("delivery on %s raised", channel.name)
                    await self._failed(item.id, item.attempts + 1, DeliveryError(exc.__class__.__name__), address, channel.name)
                    continue
                settle.append(done)
                sent += 1
        finally:
            # What was sent is marked even if the pass stops here (a claim
            # that failed rolled its marks back with it).
            await self.store.outbox.settle(settle)
        return sent

    async def _post_or_update(self, channel: PlatformChannel, address: Address, reply: Reply, item_id: int, outbox_key: str) -> Delivered:
        if reply.key is None:
            # The outbox key rides along so find_posted can spot a repeat.
            return Delivered(item_id, await channel.post(address, reply.model_copy(update={"key": outbox_key})))
        ref = await self.store.outbox.posted_ref(channel.name, address.kind, address.id, reply.key)
        if ref is None:
            ref = await channel.find_posted(address, reply.key)
        if ref is None:
            ref = await channel.post(address, reply)
        else:
            await channel.update(address, ref, reply)
        return Delivered(item_id, ref, posted=(channel.name, address.kind, address.id, reply.key), apart=reply.recorded_at is not None)

    async def _failed(self, item_id: int, attempts: int, exc: DeliveryError, address: Address, via: str) -> None:
        if not exc.retry:
            await self.store.outbox.mark_failed(item_id, str(exc))
            self._unreachable(address, via, str(exc))
            return
        delay = min(dt.timedelta(seconds=2 ** min(attempts, 20)), MAX_BACKOFF)
        log.warning("delivery on %s failed (attempt %d), retrying in %ss: %s", via, attempts, int(delay.total_seconds()), exc)
        await self.store.outbox.retry_later(item_id, attempts, self.now() + delay, str(exc))

    async def _may_deliver(self) -> bool:
        """Whether this process may deliver now: the courier loop holds (or
        takes, or renews) the lease; anyone else may deliver only while no
        courier loop holds it (a command or a terminal with no server)."""
        now = self.now()
        if not self._serving:
            return await self.store.leases.holder(COURIER, now) in (None, self.owner)
        if self._held_until is not None and self._held_until - now > RENEW_WITHIN:
            return True
        until = now + COURIER_LEASE
        held = await self.store.leases.take(COURIER, self.owner, now, until)
        self._held_until = until if held else None
        return held

    async def run(self, poll_seconds: float = 1.0) -> None:
        """Deliver forever: wake on new messages, and poll for retries (and
        for the lease, when another replica holds it)."""
        self._serving = True
        try:
            while True:
                try:
                    await self.deliver_due()
                except Exception:
                    log.exception("the outbox pass failed; trying again shortly")
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._serving = False
            if self._held_until is not None:
                self._held_until = None
                with contextlib.suppress(Exception):  # a stop must not fail on the store; the lease runs out anyway
                    await self.store.leases.release(COURIER, self.owner)

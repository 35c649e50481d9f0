"""Exactly once: whatever a person (or a platform, or the bot itself) does
twice at the same moment has its effect once, and the second try gets the
same answer as the first, never an error and never a second post."""

from __future__ import annotations

import asyncio

from bot.channels.base import Address, DeliveryError
from bot.courier import SEND_LEASE, Courier
from bot.model import Destination, Reply
from bot.runtime import Runtime
from tests.conftest import Clock
from tests.test_courier import FlakyPlatform


# -- the courier: a post reaches its channel once, across crashes and overlaps --


class AcceptsThenTimesOut(FlakyPlatform):
    """The platform takes the message, but the answer never gets back to the
    bot (a timeout, a dropped connection): the send looks failed, yet the
    message is there. Optionally slow, so passes overlap."""

    def __init__(self, lost_answers: int = 0, delay: float = 0.0):
        super().__init__()
        self.lost_answers = lost_answers
        self.delay = delay
        self.asked: list[str] = []

    async def post(self, address: Address, reply: Reply) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        ref = await super().post(address, reply)
        if self.lost_answers:
            self.lost_answers -= 1
            raise DeliveryError("timed out waiting for the platform's answer")
        return ref

    async def find_posted(self, address: Address, key: str) -> str | None:
        self.asked.append(key)
        return await super().find_posted(address, key)


def courier_for(runtime: Runtime, platform: FlakyPlatform, clock: Clock) -> Courier:
    courier = Courier(runtime.store, runtime.courier.local, now=clock)
    courier.register(platform)
    return courier


async def outbox_rows(runtime: Runtime) -> list[dict]:
    return await runtime.store.run(lambda: list(runtime.store.db.query("select key, state, attempts from outbox order by id")))


async def test_a_message_the_platform_took_but_whose_answer_was_lost_is_not_sent_again(runtime: Runtime, clock: Clock):
    # A direct message (no post key): today's window. The first attempt
    # "fails" after the platform accepted it; the retry must ask first.
    platform = AcceptsThenTimesOut(lost_answers=1)
    courier = courier_for(runtime, platform, clock)
    await courier.send(Reply(text="Sam acknowledged your concern", to=Destination.user("U1", via="flaky")), key="tell:1")
    assert await courier.deliver_due() == 0
    assert await outbox_rows(runtime) == [{"key": "tell:1", "state": "pending", "attempts": 1}]
    clock.advance(minutes=5)
    await courier.deliver_due()
    clock.advance(minutes=15)
    await courier.deliver_due()
    assert [r.text for _, r in platform.posts] == ["Sam acknowledged your concern"]
    assert platform.asked == ["tell:1"]
    assert [r["state"] for r in await outbox_rows(runtime)] == ["delivered"]


async def test_a_keyed_post_whose_answer_was_lost_is_updated_not_posted_twice(runtime: Runtime, clock: Clock):
    platform = AcceptsThenTimesOut(lost_answers=1)
    courier = courier_for(runtime, platform, clock)
    await courier.send(Reply(text="Concern K7", key="concern:K7", to=Destination.channel("supervisors")), key="concern:K7:post")
    await courier.deliver_due()
    clock.advance(minutes=5)
    await courier.deliver_due()
    assert [r.text for _, r in platform.posts] == ["Concern K7"]
    assert [r["state"] for r in await outbox_rows(runtime)] == ["delivered"]


async def test_overlapping_passes_send_each_message_once(runtime: Runtime, clock: Clock):
    # The courier's loop, a scheduled job and a command can all run a pass
    # at once; so can two processes on one database.
    platform = AcceptsThenTimesOut(delay=0.05)
    one, other = courier_for(runtime, platform, clock), courier_for(runtime, platform, clock)
    for number in range(5):
        await one.send(Reply(text=f"message {number}", to=Destination.user(f"U{number}", via="flaky")), key=f"m{number}")
    await one.send(Reply(text="Concern K8", key="concern:K8", to=Destination.channel("supervisors")), key="concern:K8:post")
    sent = await asyncio.gather(one.deliver_due(), one.deliver_due(), other.deliver_due(), other.deliver_due())
    assert sum(sent) == 6
    assert sorted(r.text for _, r in platform.posts) == ["Concern K8", *[f"message {n}" for n in range(5)]]
    assert {r["state"] for r in await outbox_rows(runtime)} == {"delivered"}


async def test_a_send_cut_off_mid_way_is_picked_up_after_its_lease_and_asked_about_first(runtime: Runtime, clock: Clock):
    platform = AcceptsThenTimesOut()
    courier = courier_for(runtime, platform, clock)
    await courier.send(Reply(text="cut off", to=Destination.user("U1", via="flaky")), key="cut")
    [item] = await runtime.store.outbox.due(clock())
    # A pass claimed it and the platform took it; then the process died.
    assert await runtime.store.outbox.claim(item.id, clock(), clock() + SEND_LEASE)
    await platform.post(Address(kind="user", id="U1"), Reply(text="cut off", key="cut"))
    assert await courier.deliver_due() == 0  # still leased to the pass that died
    clock.advance(seconds=SEND_LEASE.total_seconds() + 1)
    await courier.deliver_due()
    assert len(platform.posts) == 1 and platform.asked == ["cut"]
    assert [r["state"] for r in await outbox_rows(runtime)] == ["delivered"]


async def test_a_newer_version_of_a_post_waits_for_the_older_one_still_on_its_way(runtime: Runtime, clock: Clock):
    platform = AcceptsThenTimesOut(delay=0.05)
    courier = courier_for(runtime, platform, clock)
    supervisors = Destination.channel("supervisors")
    await courier.send(Reply(text="Concern K9: open", key="concern:K9", to=supervisors), key="v1")
    first = asyncio.ensure_future(courier.deliver_due())
    await asyncio.sleep(0.01)  # v1 is being sent
    await courier.send(Reply(text="Concern K9: acknowledged", key="concern:K9", to=supervisors), key="v2")
    assert await courier.deliver_due() == 0  # v2 waits rather than racing v1
    assert await first == 1
    assert await courier.deliver_due() == 1
    assert [r.text for _, r in platform.posts] == ["Concern K9: open"]
    assert [r.text for _, r in platform.updates] == ["Concern K9: acknowledged"]

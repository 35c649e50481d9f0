"""The courier: replies addressed elsewhere are stored first, delivered
once, retried through outages, and secrets never touch the database."""

from __future__ import annotations

from pathlib import Path

from bot.channels.base import Address, DeliveryError, Unreachable
from bot.courier import SEND_LEASE, Courier
from bot.model import Destination, Reply
from bot.runtime import Runtime
from tests.conftest import Clock


class FlakyPlatform:
    """A platform that fails a given number of times, then works."""

    name = "flaky"
    shows_forms = True

    def __init__(self, failures: int = 0, unreachable: bool = False):
        self.failures = failures
        self.unreachable = unreachable
        self.posts: list[tuple[Address, Reply]] = []
        self.updates: list[tuple[str, Reply]] = []

    def reaches(self, channel_name: str) -> bool:
        return channel_name == "supervisors"

    async def post(self, address: Address, reply: Reply) -> str:
        if self.unreachable:
            raise Unreachable("app not installed for this user")
        if self.failures:
            self.failures -= 1
            raise DeliveryError("service unavailable")
        self.posts.append((address, reply))
        return f"ref-{len(self.posts)}"

    async def update(self, address: Address, ref: str, reply: Reply) -> None:
        self.updates.append((ref, reply))

    async def find_posted(self, address: Address, key: str) -> str | None:
        for number, (where, reply) in enumerate(self.posts, start=1):
            if where == address and reply.key == key:
                return f"ref-{number}"
        return None


def courier_with(runtime: Runtime, platform: FlakyPlatform, clock: Clock) -> Courier:
    courier = Courier(runtime.store, runtime.courier.local, now=clock)
    courier.register(platform)
    return courier


async def test_a_post_is_stored_before_it_is_sent_and_sent_once(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform()
    courier = courier_with(runtime, platform, clock)
    await courier.send(Reply(text="A concern was raised", to=Destination.channel("supervisors")), key="concern:1")
    assert await runtime.store.outbox.counts() == {"pending": 1}
    assert platform.posts == []
    assert await courier.deliver_due() == 1
    assert await courier.deliver_due() == 0
    assert [r.text for _, r in platform.posts] == ["A concern was raised"]
    assert await runtime.store.outbox.counts() == {"delivered": 1}


async def test_the_same_key_is_never_queued_twice(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform()
    courier = courier_with(runtime, platform, clock)
    reply = Reply(text="once", to=Destination.channel("supervisors"))
    assert await courier.send(reply, key="k") is True
    assert await courier.send(reply, key="k") is False
    await courier.deliver_due()
    assert len(platform.posts) == 1


async def test_an_outage_is_retried_with_growing_waits_until_it_recovers(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform(failures=3)
    courier = courier_with(runtime, platform, clock)
    await courier.send(Reply(text="still coming", to=Destination.channel("supervisors")))
    waits = []
    for _ in range(3):
        assert await courier.deliver_due() == 0
        due = (await runtime.store.run(lambda: runtime.store.db.execute("select next_attempt_at from outbox").fetchone()[0]))
        waits.append(due)
        assert await courier.deliver_due() == 0  # not due yet
        clock.advance(minutes=10)
    assert waits == sorted(waits) and len(set(waits)) == 3
    assert await courier.deliver_due() == 1
    assert [r.text for _, r in platform.posts] == ["still coming"]


async def test_a_crash_after_posting_does_not_post_again(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform()
    courier = courier_with(runtime, platform, clock)
    await courier.send(Reply(text="exactly once", to=Destination.channel("supervisors")), key="k1")
    item = (await runtime.store.outbox.due(clock()))[0]
    # The platform accepted it, but the process died before the outbox heard back.
    assert await runtime.store.outbox.claim(item.id, clock(), clock() + SEND_LEASE)
    await platform.post(Address(kind="channel", id="supervisors"), Reply(text="exactly once", key="k1"))
    await courier.deliver_due()
    assert platform.posts and await runtime.store.outbox.counts() == {"sending": 1}  # still the dead pass's
    clock.advance(seconds=SEND_LEASE.total_seconds() + 1)
    await courier.deliver_due()
    assert len(platform.posts) == 1
    assert await runtime.store.outbox.counts() == {"delivered": 1}


async def test_an_unreachable_person_is_not_retried_forever_and_admins_hear(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform(unreachable=True)
    courier = courier_with(runtime, platform, clock)
    heard = []
    courier.on_unreachable.append(lambda address, via, error: heard.append((address.id, via)))
    await courier.send(Reply(text="hello", to=Destination.user("U9", via="flaky")))
    await courier.deliver_due()
    clock.advance(hours=1)
    await courier.deliver_due()
    assert await runtime.store.outbox.counts() == {"failed": 1}
    assert heard == [("U9", "flaky")]


async def test_a_keyed_post_is_updated_in_place(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform()
    courier = courier_with(runtime, platform, clock)
    await courier.send(Reply(text="Concern K7: new", key="concern:K7", to=Destination.channel("supervisors")))
    await courier.deliver_due()
    await courier.send(Reply(text="Concern K7: acknowledged", key="concern:K7", to=Destination.channel("supervisors")))
    await courier.deliver_due()
    assert [r.text for _, r in platform.posts] == ["Concern K7: new"]
    assert platform.updates == [("ref-1", platform.updates[0][1])] and platform.updates[0][1].text.endswith("acknowledged")


async def test_a_secret_is_delivered_directly_and_never_stored(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform(failures=1)
    courier = courier_with(runtime, platform, clock)
    await courier.send(Reply(text="your check-in: tok-SECRET-123", secret=True, to=Destination.user("U1", via="flaky")))
    assert [r.text for _, r in platform.posts] == ["your check-in: tok-SECRET-123"]
    await runtime.store.close()
    data = b"".join(p.read_bytes() for p in Path(runtime.settings.db).parent.glob("peerbot.db*"))
    assert b"tok-SECRET-123" not in data
    from bot.store import Store

    runtime.store = await Store.open(runtime.settings.db)


async def test_without_a_platform_posts_go_to_the_local_feed(runtime: Runtime):
    await runtime.courier.send(Reply(text="for the supervisors", to=Destination.channel("supervisors")))
    await runtime.courier.deliver_due()
    assert [p["text"] for p in runtime.courier.local.feed(Address(kind="channel", id="supervisors"))] == ["for the supervisors"]


async def test_a_local_direct_message_is_shown_once(runtime: Runtime):
    await runtime.courier.send(Reply(text="Your check-in is open", to=Destination.user("u-ada", via="terminal")))
    await runtime.courier.deliver_due()
    assert [m["text"] for m in runtime.courier.local.take_unseen("u-ada")] == ["Your check-in is open"]
    assert runtime.courier.local.take_unseen("u-ada") == []


async def test_a_newer_version_of_a_waiting_post_replaces_the_older_one(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform(failures=1)
    courier = courier_with(runtime, platform, clock)
    await courier.send(Reply(text="Concern K7: new", key="concern:K7", to=Destination.channel("supervisors")))
    await courier.deliver_due()  # fails: the post waits to be retried
    await courier.send(Reply(text="Concern K7: acknowledged", key="concern:K7", to=Destination.channel("supervisors")))
    clock.advance(minutes=10)
    await courier.deliver_due()
    clock.advance(minutes=10)
    await courier.deliver_due()
    assert [r.text for _, r in platform.posts] == ["Concern K7: acknowledged"]
    assert platform.updates == []

"""Several replicas on one database: one courier sends at a time.

Exactly-once never depended on this (each delivery is claimed), but the
platforms' pace does: each process only knows what it sent itself, so if
every replica delivered, a Slack channel would get messages several times
faster than Slack allows. These tests run two couriers on two connections
to one file, as two replicas would."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import pytest

from bot.courier import COURIER, COURIER_LEASE, Courier
from bot.model import Destination, Reply
from bot.runtime import Runtime
from bot.store import Store
from tests.conftest import Clock
from tests.test_courier import FlakyPlatform


class Tagged(FlakyPlatform):
    """One platform shared by the replicas, noting which one posted."""

    name = "flaky"

    def __init__(self) -> None:
        super().__init__()
        self.by: list[str] = []


def courier_on(store: Store, runtime: Runtime, platform: Tagged, clock: Clock, tag: str) -> Courier:
    courier = Courier(store, runtime.courier.local, now=clock)
    original = platform.post

    class Posting:
        name = platform.name
        shows_forms = True
        reaches = platform.reaches
        update = platform.update
        find_posted = platform.find_posted

        @staticmethod
        async def post(address, reply):
            platform.by.append(tag)
            return await original(address, reply)

    courier.register(Posting())  # type: ignore[arg-type]
    return courier


@pytest.fixture
async def second_store(runtime: Runtime) -> AsyncIterator[Store]:
    store = await Store.open(runtime.settings.db)
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def serving(courier: Courier) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(courier.run(poll_seconds=0.02))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting")


def note(number: int) -> Reply:
    return Reply(text=f"message {number}", to=Destination.user(f"U{number}", via="flaky"))


async def test_a_replica_without_the_lease_queues_and_the_serving_one_sends(runtime: Runtime, second_store: Store, clock: Clock):
    platform = Tagged()
    serving_one = courier_on(runtime.store, runtime, platform, clock, "serving")
    other = courier_on(second_store, runtime, platform, clock, "other")
    async with serving(serving_one):
        await until(lambda: serving_one._held_until is not None)
        for number in range(5):
            await other.send(note(number), key=f"m{number}")
        assert await other.deliver_due() == 0  # queued, left to the lease holder
        await until(lambda: len(platform.posts) == 5)
    assert sorted(r.text for _, r in platform.posts) == [f"message {n}" for n in range(5)]
    assert set(platform.by) == {"serving"}
    assert await runtime.store.outbox.counts() == {"delivered": 5}


async def test_two_serving_replicas_deliver_everything_once_and_from_one_of_them(runtime: Runtime, second_store: Store, clock: Clock):
    platform = Tagged()
    one = courier_on(runtime.store, runtime, platform, clock, "one")
    two = courier_on(second_store, runtime, platform, clock, "two")
    async with serving(one), serving(two):
        for number in range(20):
            await (one if number % 2 else two).send(note(number), key=f"m{number}")
        await until(lambda: len(platform.posts) == 20)
        await asyncio.sleep(0.1)  # time for a doubled send to show
    assert sorted(r.text for _, r in platform.posts) == sorted(f"message {n}" for n in range(20))
    assert len(set(platform.by)) == 1, "both replicas sent: neither one's pacing would hold"


async def test_when_the_holder_dies_another_replica_takes_over_after_its_lease(runtime: Runtime, second_store: Store, clock: Clock):
    platform = Tagged()
    # A replica took the lease and then died without letting it go.
    assert await runtime.store.leases.take(COURIER, "dead-replica", clock(), clock() + COURIER_LEASE)
    survivor = courier_on(second_store, runtime, platform, clock, "survivor")
    await survivor.send(note(1), key="m1")
    async with serving(survivor):
        await asyncio.sleep(0.15)
        assert platform.posts == []  # the dead one's lease is still live
        clock.advance(seconds=COURIER_LEASE.total_seconds() + 1)
        await until(lambda: len(platform.posts) == 1)
    assert platform.by == ["survivor"]


async def test_a_clean_stop_hands_the_lease_over_at_once(runtime: Runtime, second_store: Store, clock: Clock):
    platform = Tagged()
    first = courier_on(runtime.store, runtime, platform, clock, "first")
    async with serving(first):
        await until(lambda: first._held_until is not None)
    assert await runtime.store.leases.holder(COURIER, clock()) is None
    # With no server's courier running, a command delivers by itself again.
    command = courier_on(second_store, runtime, platform, clock, "command")
    await command.send(note(2), key="m2")
    assert await command.deliver_due() == 1

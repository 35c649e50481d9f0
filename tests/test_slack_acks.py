"""Slack's acks: never held up by the disk, and still each event handled once,
across concurrent repeats and across a restart; every call to Slack on kept
connections (bot/channels/slack/repeats.py, app.py)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from bot.runtime import build_runtime
from tests.conftest import Clock
from tests.slack_fake import Bot, FakeSlack, bot, settings, slack_api, start_bot  # noqa: F401

RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


class BusyStore:
    """Holds the store's one thread until released, as a burst of earlier work would."""

    def __init__(self, runtime: Any):
        self.release = threading.Event()
        self.started = threading.Event()
        self.done = runtime.store.submit(self._hold)

    def _hold(self) -> None:
        self.started.set()
        self.release.wait(10)

    def __enter__(self) -> "BusyStore":
        assert self.started.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()


async def test_an_event_is_acknowledged_while_the_store_is_busy_and_answered_once_it_is_free(bot: Bot, slack_api: FakeSlack):
    with BusyStore(bot.runtime):
        first, repeat = await asyncio.wait_for(
            asyncio.gather(bot.dm("help", event_id="Ev-busy"), bot.dm("help", event_id="Ev-busy", extra=RETRY)), 5
        )
        assert first.status == repeat.status == 200
        await asyncio.sleep(0.2)
        # Acknowledged, but nothing done before the claim is stored.
        assert slack_api.of("chat.postMessage") == []
    [posted] = await slack_api.wait_for("chat.postMessage")
    assert posted["channel"] == "DU1"
    await asyncio.sleep(0.3)
    assert len(slack_api.of("chat.postMessage")) == 1


async def test_the_same_event_delivered_many_times_at_once_is_answered_once(bot: Bot, slack_api: FakeSlack):
    answers = await asyncio.gather(*(bot.dm("help", event_id="Ev-many") for _ in range(5)), bot.dm("help", event_id="Ev-other"))
    assert {a.status for a in answers} == {200}
    await slack_api.wait_for("chat.postMessage", 2)
    await asyncio.sleep(0.3)
    assert len(slack_api.of("chat.postMessage")) == 2


async def test_a_retry_that_reaches_the_restarted_server_is_acknowledged_and_not_answered_again(
    aiohttp_client, settings, slack_api: FakeSlack, clock: Clock
):
    before = await build_runtime(settings, now=clock)
    first = await start_bot(aiohttp_client, settings, before, slack_api)
    assert (await first.dm("help", event_id="Ev-restart")).status == 200
    await slack_api.wait_for("chat.postMessage")
    await first.client.close()
    await before.close()

    after = await build_runtime(settings, now=clock)
    try:
        second = await start_bot(aiohttp_client, settings, after, slack_api)
        assert (await second.dm("help", event_id="Ev-restart", extra=RETRY)).status == 200
        assert (await second.dm("help", event_id="Ev-new")).status == 200
        [posted] = await slack_api.wait_for("chat.postMessage")  # only the new event's answer
        await asyncio.sleep(0.3)
        assert len(slack_api.of("chat.postMessage")) == 1 and posted["channel"] == "DU1"
        await second.client.close()
    finally:
        await after.close()


async def test_calls_to_slack_reuse_one_connection_and_it_closes_at_shutdown(bot: Bot, slack_api: FakeSlack):
    for number in range(3):
        await bot.dm("help", user=f"U{number + 1}")
        await slack_api.wait_for("chat.postMessage", number + 1)
    await bot.command("/help")
    await slack_api.wait_for_response()
    methods = [c.method for c in slack_api.calls]
    assert methods.count("users.info") == 3 and methods.count("chat.postMessage") == 3
    assert len({c.peer for c in slack_api.calls}) == 1, [c.peer for c in slack_api.calls]
    session = bot.platform.client.session
    assert session is not None and not session.closed
    await bot.client.close()
    assert session.closed


async def test_event_claims_are_stored_in_one_batch_and_each_id_wins_once(bot: Bot, clock: Clock):
    claims = bot.runtime.store.slack_events
    assert await claims.claim_many(["Ev1", "Ev2", "Ev1"], clock()) == {"Ev1", "Ev2"}
    assert await claims.claim_many(["Ev2", "Ev3"], clock()) == {"Ev3"}
    clock.advance(hours=25)
    assert await claims.claim_many(["Ev4"], clock()) == {"Ev4"}  # and the day-old ids are let go
    assert await claims.claim("Ev1", clock())

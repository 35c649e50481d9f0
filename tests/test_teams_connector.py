"""Calls out to Teams: connector clients are made once per service URL and
reused, replies carry the bot's token when an app id is set (fetched once
and kept), a token fetch that hangs holds up nothing else, and hearing again
from someone whose details are unchanged doesn't rewrite what is kept of them.

A fake identity platform on loopback hands out the bot's token; the fake
connector records the Authorization header of every call."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import ClientTimeout, web

from bot.channels.teams.platform import TEAMS
from bot.channels.teams.tokens import SigningKeys
from bot.model import Destination, Reply
from tests.teams_support import FakeConnector, Teams, activity, connector, teams, teams_settings  # noqa: F401
from tests.test_teams_tokens import APP_ID, black_hole, microsoft, start, token  # noqa: F401


class FakeLogin:
    """The Microsoft identity platform's token endpoint: client credentials in, a token out."""

    def __init__(self, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.requests: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/botframework.com/oauth2/v2.0/token", self.token)
        return app

    async def token(self, request: web.Request) -> web.Response:
        self.requests.append(dict(await request.post()))
        return web.json_response({"token_type": "Bearer", "expires_in": self.expires_in,
                                  "access_token": f"bot-token-{len(self.requests)}"})


@pytest.fixture
async def login(aiohttp_server):
    fake = FakeLogin()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("/botframework.com/oauth2/v2.0/token"))
    return fake


async def signed(client, body: dict) -> int:
    response = await client.post("/api/messages", json=body, headers={"Authorization": token(body)})
    await response.read()
    return response.status


async def test_turns_and_sends_through_one_service_url_share_one_connector_client(teams: Teams, aiohttp_server, monkeypatch):
    from msrest.universal_http import requests as msrest_requests

    await teams.say("hi")
    built: list[object] = []
    retry_policy = msrest_requests.ClientRetryPolicy.__init__

    def counted(self, *args, **kwargs):
        built.append(self)
        retry_policy(self, *args, **kwargs)

    monkeypatch.setattr(msrest_requests.ClientRetryPolicy, "__init__", counted)
    assert len(await teams.say("help")) == 1
    assert len(await teams.say("hi", user="bob")) == 1
    await teams.runtime.courier.send(Reply(text="Your check-in is open.", to=Destination.user("aad-ada", via="teams")))
    assert await teams.runtime.courier.deliver_due() == 1
    assert teams.connector.to("a:chat-ada")[-1].text == "Your check-in is open."
    connectors = teams.platform.connectors
    assert connectors.made == 1
    assert built == []  # no msrest client (and its 999-code retry list) made per turn any more

    other = FakeConnector()
    server = await aiohttp_server(other.app())
    other.url = str(server.make_url("/"))
    assert (await teams.post(activity(other, text="help", user="cy"))).status == 201
    assert len(other.to("a:chat-cy")) == 1
    assert connectors.made == 2


async def test_with_an_app_id_replies_carry_the_bots_token_fetched_once_until_near_expiry(
        aiohttp_client, tmp_path, clock, microsoft, connector, login):
    client, runtime = await start(aiohttp_client, tmp_path, clock, SigningKeys(metadata_url=f"{microsoft.url}/openid"))
    try:
        platform = client.server.app[TEAMS]
        now = [1000.0]
        platform.connectors.token_url, platform.connectors.clock = login.url, lambda: now[0]
        for text, user in (("hi", "ada"), ("help", "ada"), ("help", "bob")):
            assert await signed(client, activity(connector, text=text, user=user)) == 201
            await platform.settle(5)
        assert [c.authorization for c in connector.calls] == ["Bearer bot-token-1"] * 3
        [asked] = login.requests
        assert asked == {"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": "not-a-real-secret",
                         "scope": "https://api.botframework.com/.default"}
        # Five minutes before the token expires, the next send fetches a new one.
        now[0] += 3600 - 299
        assert await signed(client, activity(connector, text="help")) == 201
        await platform.settle(5)
        assert connector.calls[-1].authorization == "Bearer bot-token-2" and len(login.requests) == 2
    finally:
        await runtime.close()


async def test_a_token_fetch_that_hangs_holds_up_nothing_else_and_gives_up(
        aiohttp_client, tmp_path, clock, microsoft, connector, black_hole, caplog):
    client, runtime = await start(aiohttp_client, tmp_path, clock, SigningKeys(metadata_url=f"{microsoft.url}/openid"))
    try:
        platform = client.server.app[TEAMS]
        platform.connectors.token_url, platform.connectors.token_timeout = f"{black_hole}/token", 1.0
        with caplog.at_level(logging.WARNING):
            assert await asyncio.wait_for(signed(client, activity(connector, text="help")), 1.0) == 201
            # While its reply waits on the token, everything else is answered.
            assert (await asyncio.wait_for(client.get("/healthz"), 0.5)).status == 200
            assert await asyncio.wait_for(signed(client, activity(connector, "typing", user="bob")), 0.5) in (200, 201)
            await platform.settle(5)
            assert not platform._turns  # the fetch gave up; the turn is over
            assert connector.calls == []  # nothing goes out without a token
            # A proactive send meanwhile is kept to try again later, not dropped.
            outbox = runtime.courier
            await outbox.send(Reply(text="Your check-in is open.", to=Destination.user("aad-ada", via="teams")))
            await outbox.deliver_due()
        counts = await runtime.store.outbox.counts()
        assert counts.get("failed") is None and sum(counts.values()) == 1
        assert "token couldn't be fetched" in caplog.text
        assert not any(r.exc_info for r in caplog.records)
    finally:
        await runtime.close()


async def test_hearing_again_from_someone_unchanged_leaves_their_row_alone(teams: Teams, clock):
    store = teams.runtime.store

    async def row() -> dict:
        [found] = await store.run(lambda: list(store.db.query("select * from teams_people where user = 'aad-ada'")))
        return found

    await teams.say("hi")
    first = await row()
    clock.advance(hours=2)
    await teams.say("help")
    await teams.say("what is peer support")
    assert await row() == first
    # A new display name is kept (and so would be a new service URL).
    clock.advance(hours=1)
    await teams.say("help", **{"from": {"id": "29:ada", "name": "Ada Lovelace", "aadObjectId": "aad-ada"}})
    changed = await row()
    assert changed["updated_at"] != first["updated_at"] and "Ada Lovelace" in changed["reference"]
    # Someone marked unreachable who writes again is reachable again, whatever else changed.
    await store.teams.mark_unreachable("aad-ada", clock())
    await teams.say("help", **{"from": {"id": "29:ada", "name": "Ada Lovelace", "aadObjectId": "aad-ada"}})
    assert (await row())["unreachable_since"] == ""


async def test_a_channel_seen_again_unchanged_is_not_rewritten(teams: Teams, clock):
    store = teams.runtime.store
    reference = {"conversation": {"id": "19:c1@thread.tacv2"}, "serviceUrl": teams.connector.url}
    assert await store.teams.remember_channel("19:c1@thread.tacv2", "Peer team", "General", "t", reference, clock())
    clock.advance(hours=1)
    assert not await store.teams.remember_channel("19:c1@thread.tacv2", "", "", "", reference, clock())
    assert await store.teams.remember_channel("19:c1@thread.tacv2", "Peer team", "Renamed", "t", reference, clock())
    [channel] = await store.teams.channels()
    assert (channel.team, channel.name) == ("Peer team", "Renamed")


class ScriptedConnector:
    """A connector that answers each call from a script: a status, or "slow" (answers after the client gave up)."""

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v3/conversations/{conversation}/activities{rest:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls.append((request.method, request.headers.get("Authorization", "")))
        step = self.script.pop(0) if self.script else 201
        if step == "slow":
            await asyncio.sleep(1.0)
            step = 201
        if step == 429:
            return web.json_response({}, status=429, headers={"Retry-After": "0"})
        return web.json_response({"id": f"act-{len(self.calls)}"}, status=step)


async def scripted(aiohttp_server, script: list, *, app_id: str = "", login_url: str | None = None, timeout: float = 5.0):
    from bot.channels.teams.connector import Connectors, DEFAULT_AUDIENCE

    fake = ScriptedConnector(script)
    server = await aiohttp_server(fake.app())
    connectors = Connectors(app_id, "secret" if app_id else "", token_url=login_url, send_timeout=ClientTimeout(total=timeout))
    await connectors.start()
    connector = connectors.connector(str(server.make_url("/")), app_id, DEFAULT_AUDIENCE)
    return fake, connectors, connector


@pytest.mark.parametrize("failure", [502, 500, "slow"])
async def test_a_message_that_may_have_landed_is_never_sent_twice_by_the_connector(aiohttp_server, monkeypatch, failure):
    """A POST that timed out or got a server error may already be in the person's chat: it goes back
    to the courier as a failure, and is not posted again and again here."""
    from botbuilder.schema import Activity

    from bot.channels.teams import connector as module

    monkeypatch.setattr(module, "BACKOFF", 0.01)
    fake, connectors, connector = await scripted(aiohttp_server, [failure, 201, 201], timeout=0.3)
    try:
        with pytest.raises(module.ConnectorError):
            await connector.conversations.send_to_conversation("a:chat-ada", Activity(type="message", text="hi"))
        assert [method for method, _ in fake.calls] == ["POST"]
    finally:
        await connectors.close()


async def test_a_throttled_message_is_sent_again_and_an_update_is_repeated_after_a_server_error(aiohttp_server, monkeypatch):
    from botbuilder.schema import Activity

    from bot.channels.teams import connector as module

    monkeypatch.setattr(module, "BACKOFF", 0.01)
    fake, connectors, connector = await scripted(aiohttp_server, [429, 201, 502, 200])
    try:
        sent = await connector.conversations.send_to_conversation("a:chat-ada", Activity(type="message", text="hi"))
        assert sent.id == "act-2"
        await connector.conversations.update_activity("a:chat-ada", "act-2", Activity(type="message", text="hi again"))
        assert [method for method, _ in fake.calls] == ["POST", "POST", "PUT", "PUT"]
    finally:
        await connectors.close()


async def test_a_token_the_connector_no_longer_takes_is_fetched_again_and_the_message_goes(aiohttp_server, login: FakeLogin):
    from botbuilder.schema import Activity

    fake, connectors, connector = await scripted(aiohttp_server, [401, 201], app_id=APP_ID, login_url=login.url)
    try:
        sent = await connector.conversations.send_to_conversation("a:chat-ada", Activity(type="message", text="hi"))
        assert sent.id == "act-2"
        assert [auth for _, auth in fake.calls] == ["Bearer bot-token-1", "Bearer bot-token-2"]
    finally:
        await connectors.close()


def test_a_second_refusal_of_the_token_is_tried_again_later_never_called_unreachable():
    from bot.channels.base import Unreachable
    from bot.channels.teams.channel import describe_failure
    from bot.channels.teams.connector import ConnectorError

    failure = describe_failure(ConnectorError("the connector answered 401", 401))
    assert failure.retry and not isinstance(failure, Unreachable)


async def test_a_failed_early_refresh_keeps_using_the_token_in_hand(aiohttp_server, login: FakeLogin):
    """Five minutes before a token expires it is fetched again; if that fails, the one in hand still works."""
    from botbuilder.schema import Activity

    fake, connectors, connector = await scripted(aiohttp_server, [201, 201], app_id=APP_ID, login_url=login.url)
    now = [1000.0]
    connectors.clock = lambda: now[0]
    try:
        await connector.conversations.send_to_conversation("a:chat-ada", Activity(type="message", text="hi"))
        now[0] += 3600 - 120  # inside the refresh margin, not yet expired
        connectors.token_url = "http://127.0.0.1:9/nobody-listens"
        await connector.conversations.send_to_conversation("a:chat-ada", Activity(type="message", text="again"))
        assert [auth for _, auth in fake.calls] == ["Bearer bot-token-1", "Bearer bot-token-1"]
    finally:
        await connectors.close()

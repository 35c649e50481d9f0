"""Thousands of generated hostile requests through Slack, Teams and the
terminal: no 5xx, no traceback in the log, the server still answers
/healthz, and what was stored before is still there, unchanged.

The bodies are built on the real payload shapes and then bent
(tests/hostile.py). Hypothesis runs derandomized with no example database,
so a run is the same on every machine; ``max_examples`` keeps it short.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, strategies as st

from bot.channels.slack.app import SLACK
from bot.channels.teams.platform import TEAMS
from bot.channels.teams.tokens import SigningKeys
from bot.engine import SORRY
from bot.runtime import build_runtime
from bot.server import create_app
from tests.conftest import Chat, Clock, make_settings
from tests.hostile import (
    FakeMicrosoft, Harness, authorization, fuzz_settings, json_poster, signed_slack_poster, slack_body, teams_activity, terminal_line, tracebacks,
)
from tests.slack_fake import SECRET, FakeSlack, slack_settings
from tests.teams_support import FakeConnector
from tests.test_concerns import raise_concern, ref_of

SLACK_BODIES = 1000
TEAMS_ACTIVITIES = 500
TEAMS_HEADERS = 300
TERMINAL_LINES = 400
APP_ID = "00000000-0000-0000-0000-0000000000aa"


async def serve(app: web.Application) -> TestServer:
    server = TestServer(app)
    await server.start_server()
    return server


async def start_client(app: web.Application) -> TestClient:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def stored(runtime, ref: str) -> dict[str, Any]:
    return {"concern": await runtime.store.concerns.get(ref), "trail": await runtime.store.concerns.events(ref)}


async def seed(runtime) -> tuple[str, dict[str, Any]]:
    """A concern raised the ordinary way before the fuzz starts."""
    ref = ref_of(await raise_concern(Chat(runtime, user="u-keep", name="Keep"), text="Asked to do intake paperwork again."))
    return ref, await stored(runtime, ref)


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def _check(h: Harness, client: TestClient, runtime, ref: str, before: dict[str, Any], statuses: Counter, caplog) -> None:
    h.settle()
    assert sum(statuses.values()) > 0
    assert not [s for s in statuses if s >= 500], statuses
    assert tracebacks(caplog.records) == []
    health = h.run(client.get("/healthz"))
    assert health.status == 200 and h.run(health.json())["store"]["reachable"]
    assert h.run(stored(runtime, ref)) == before


def test_slack_takes_hostile_bodies_without_a_5xx(harness: Harness, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    h = harness
    fake = FakeSlack()
    api = web.Application()
    api.router.add_route("*", "/api/{method}", fake.api)
    api.router.add_post("/respond/{id}", fake.respond)
    api_server = h.run(serve(api))
    h.on_close(api_server.close)
    fake.url = str(api_server.make_url("")).rstrip("/")
    settings = slack_settings(tmp_path, fake)
    runtime = h.run(build_runtime(settings, now=Clock()))
    h.on_close(runtime.close)
    app = create_app(settings, runtime=runtime, run_background=False)
    app[SLACK].slack.pacer.interval = 0
    client = h.run(start_client(app))
    h.on_close(client.close)
    ref, before = h.run(seed(runtime))
    post = signed_slack_poster(client, SECRET)
    statuses: Counter = Counter()

    @fuzz_settings(SLACK_BODIES)
    @given(st.data())
    def one_body(data):
        statuses[h.run(post(*slack_body(data, fake.url)))] += 1

    one_body()
    _check(h, client, runtime, ref, before, statuses, caplog)
    assert statuses[400] > 50 and statuses[200] > 50, statuses  # both kinds were really exercised


def _teams(h: Harness, tmp_path, **overrides):
    connector = FakeConnector()
    connector_server = h.run(serve(connector.app()))
    h.on_close(connector_server.close)
    connector.url = str(connector_server.make_url("/"))
    settings = make_settings(tmp_path, supervisors="aad-sam", admins="aad-root", **overrides)
    runtime = h.run(build_runtime(settings, now=Clock()))
    h.on_close(runtime.close)
    app = create_app(settings, runtime=runtime, run_background=False)
    return connector, runtime, app


def test_teams_takes_hostile_activities_without_a_5xx(harness: Harness, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    h = harness
    connector, runtime, app = _teams(h, tmp_path, teams_local_testing=True)
    client = h.run(start_client(app))
    h.on_close(client.close)
    ref, before = h.run(seed(runtime))
    post = json_poster(client)
    statuses: Counter = Counter()

    @fuzz_settings(TEAMS_ACTIVITIES)
    @given(st.data())
    def one_activity(data):
        statuses[h.run(post(teams_activity(data, connector.url)))] += 1

    one_activity()
    _check(h, client, runtime, ref, before, statuses, caplog)
    assert statuses[400] > 20 and (statuses[200] + statuses[201]) > 50, statuses


def test_teams_refuses_generated_tokens_with_401(harness: Harness, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    h = harness
    microsoft = FakeMicrosoft()
    microsoft_server = h.run(serve(microsoft.app()))
    h.on_close(microsoft_server.close)
    microsoft.url = str(microsoft_server.make_url("")).rstrip("/")
    connector, runtime, app = _teams(h, tmp_path, teams_app_id=APP_ID, teams_app_password="not-a-real-secret")
    app[TEAMS].keys = SigningKeys(metadata_url=f"{microsoft.url}/openid")
    client = h.run(start_client(app))
    h.on_close(client.close)
    ref, before = h.run(seed(runtime))
    body = {"type": "typing", "id": "t1", "channelId": "msteams", "serviceUrl": connector.url, "from": {"id": "29:ada"},
            "recipient": {"id": "28:peerbot-bot"}, "conversation": {"id": "a:chat-ada"}}
    statuses: Counter = Counter()
    passed: list[int] = []

    async def post(header: str) -> int:
        response = await client.post("/api/messages", json=body, headers={"Authorization": header})
        await response.read()
        return response.status

    @fuzz_settings(TEAMS_HEADERS)
    @given(st.data())
    def one_header(data):
        header, signed = authorization(data, connector.url, APP_ID)
        status = h.run(post(header))
        statuses[status] += 1
        if not signed:
            assert status == 401, (status, header[:80])
        elif status < 300:
            passed.append(status)

    one_header()
    _check(h, client, runtime, ref, before, statuses, caplog)
    assert passed, "no correctly signed token got through: the fuzz didn't reach real validation"
    assert microsoft.fetches.count("metadata") <= 3  # made-up key ids don't make the bot fetch each time


def test_the_terminal_takes_hostile_lines_without_an_apology(harness: Harness, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    h = harness
    settings = make_settings(tmp_path, supervisors="u-root", admins="u-root")
    runtime = h.run(build_runtime(settings, now=Clock()))
    h.on_close(runtime.close)
    ref, before = h.run(seed(runtime))
    people = [Chat(runtime, user="u-ada", name="Ada", team="north"), Chat(runtime, user="u-root", name="Root", team="north")]
    apologies: list[str] = []

    @fuzz_settings(TERMINAL_LINES)
    @given(st.data())
    def one_line(data):
        chat = people[data.draw(st.integers(0, 1))]
        line = terminal_line(data)
        if SORRY in h.run(chat.say(line)):
            apologies.append(line[:80])

    one_line()
    assert apologies == []
    assert tracebacks(caplog.records) == []
    assert h.run(stored(runtime, ref)) == before
    assert h.run(runtime.store.ping())

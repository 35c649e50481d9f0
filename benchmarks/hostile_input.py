"""Hostile input: how many generated bodies get a 5xx or leave a traceback,
and how fast forged Teams tokens are refused with the network down.

1. Fuzz counts. Generated bodies (tests/hostile.py: real payload shapes,
   bent) are sent to the real server: signed Slack bodies to /slack/events,
   Teams activities to /api/messages in local-testing mode, generated
   Authorization headers to /api/messages with an app id (keys from a fake
   Microsoft on loopback), and lines to the terminal channel. Per platform:
   bodies sent, 5xx answers, log records with a traceback (or Bolt's
   "Failed to run"), and for the terminal, apologies.
2. Forged tokens with the network down. The signing-key endpoint is a
   socket on loopback that accepts and never answers. ``--forged`` requests
   with a JWT-shaped RS256 token are sent one after another while /healthz
   is asked every 100 ms: the refusal time (median, max) and the /healthz
   time (median, max) meanwhile.

    python benchmarks/hostile_input.py [--slack 2000] [--teams 1000] [--tokens 300] [--terminal 500] [--forged 50]

Needs the test extra (hypothesis). Runs derandomized: the same bodies each run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.slack.app import SLACK  # noqa: E402
from bot.channels.teams.platform import TEAMS  # noqa: E402
from bot.channels.teams.tokens import SigningKeys  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.engine import SORRY  # noqa: E402
from bot.runtime import build_runtime  # noqa: E402
from bot.server import create_app  # noqa: E402
from tests.conftest import Chat  # noqa: E402
from tests.hostile import (  # noqa: E402
    BlackHole, FakeMicrosoft, Harness, authorization, fuzz_settings, mint, json_poster, signed_slack_poster, slack_body, teams_activity,
    terminal_line, tracebacks,
)
from tests.slack_fake import SECRET, FakeSlack  # noqa: E402
from tests.teams_support import FakeConnector  # noqa: E402

APP_ID = "00000000-0000-0000-0000-0000000000aa"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def settings_for(folder: Path, **values: Any):
    return load_settings(_env_file=None, db=folder / "peerbot.db", **values)


async def serve(app: web.Application) -> TestServer:
    server = TestServer(app)
    await server.start_server()
    return server


async def client_for(app: web.Application) -> TestClient:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def fuzz_slack(h: Harness, folder: Path, count: int) -> Counter:
    fake = FakeSlack()
    api = web.Application()
    api.router.add_route("*", "/api/{method}", fake.api)
    api.router.add_post("/respond/{id}", fake.respond)
    api_server = h.run(serve(api))
    h.on_close(api_server.close)
    fake.url = str(api_server.make_url("")).rstrip("/")
    settings = settings_for(folder, supervisors="U-SAM", admins="U-ROOT", slack_bot_token="xoxb-1-2-bench",
                            slack_signing_secret=SECRET, slack_supervisor_channel="CSUPERVIS1", slack_api_url=f"{fake.url}/api/")
    runtime = h.run(build_runtime(settings))
    h.on_close(runtime.close)
    app = create_app(settings, runtime=runtime, run_background=False)
    app[SLACK].slack.pacer.interval = 0
    client = h.run(client_for(app))
    h.on_close(client.close)
    post = signed_slack_poster(client, SECRET)
    statuses: Counter = Counter()

    @fuzz_settings(count)
    @given(st.data())
    def one(data):
        statuses[h.run(post(*slack_body(data, fake.url)))] += 1

    one()
    h.settle()
    return statuses


def teams_app(h: Harness, folder: Path, **values: Any):
    connector = FakeConnector()
    server = h.run(serve(connector.app()))
    h.on_close(server.close)
    connector.url = str(server.make_url("/"))
    settings = settings_for(folder, supervisors="aad-sam", admins="aad-root", **values)
    runtime = h.run(build_runtime(settings))
    h.on_close(runtime.close)
    return connector, create_app(settings, runtime=runtime, run_background=False)


def fuzz_teams(h: Harness, folder: Path, count: int) -> Counter:
    connector, app = teams_app(h, folder, teams_local_testing=True)
    client = h.run(client_for(app))
    h.on_close(client.close)
    post = json_poster(client)
    statuses: Counter = Counter()

    @fuzz_settings(count)
    @given(st.data())
    def one(data):
        statuses[h.run(post(teams_activity(data, connector.url)))] += 1

    one()
    h.settle()
    return statuses


def fuzz_tokens(h: Harness, folder: Path, count: int) -> Counter:
    microsoft = FakeMicrosoft()
    server = h.run(serve(microsoft.app()))
    h.on_close(server.close)
    microsoft.url = str(server.make_url("")).rstrip("/")
    connector, app = teams_app(h, folder, teams_app_id=APP_ID, teams_app_password="not-a-real-secret")
    app[TEAMS].keys = SigningKeys(metadata_url=f"{microsoft.url}/openid")
    client = h.run(client_for(app))
    h.on_close(client.close)
    body = {"type": "typing", "id": "t1", "channelId": "msteams", "serviceUrl": connector.url, "from": {"id": "29:ada"},
            "recipient": {"id": "28:peerbot-bot"}, "conversation": {"id": "a:chat-ada"}}
    statuses: Counter = Counter()

    async def post(header: str) -> int:
        response = await client.post("/api/messages", json=body, headers={"Authorization": header})
        await response.read()
        return response.status

    @fuzz_settings(count)
    @given(st.data())
    def one(data):
        header, signed = authorization(data, connector.url, APP_ID)
        status = h.run(post(header))
        statuses["forged refused (401)" if not signed and status == 401 else status] += 1

    one()
    return statuses


def fuzz_terminal(h: Harness, folder: Path, count: int) -> tuple[int, int]:
    settings = settings_for(folder, supervisors="u-root", admins="u-root")
    runtime = h.run(build_runtime(settings))
    h.on_close(runtime.close)
    people = [Chat(runtime, user="u-ada", name="Ada", team="north"), Chat(runtime, user="u-root", name="Root", team="north")]
    sent, apologies = [0], [0]

    @fuzz_settings(count)
    @given(st.data())
    def one(data):
        chat = people[data.draw(st.integers(0, 1))]
        sent[0] += 1
        if SORRY in h.run(chat.say(terminal_line(data))):
            apologies[0] += 1

    one()
    return sent[0], apologies[0]


async def forged_with_network_down(folder: Path, count: int) -> tuple[list[float], list[float], Counter]:
    hole = await BlackHole().start()
    connector = FakeConnector()
    connector.url = "https://smba.trafficmanager.net/amer/"
    settings = settings_for(folder, teams_app_id=APP_ID, teams_app_password="not-a-real-secret")
    runtime = await build_runtime(settings)
    app = create_app(settings, runtime=runtime, run_background=False)
    app[TEAMS].keys = SigningKeys(metadata_url=f"{hole.url}/openid")
    client = await client_for(app)
    body = {"type": "message", "id": "m1", "channelId": "msteams", "serviceUrl": connector.url, "text": "hi",
            "from": {"id": "29:x"}, "recipient": {"id": "28:peerbot-bot"}, "conversation": {"id": "a:x"}}
    refusals: list[float] = []
    health: list[float] = []
    statuses: Counter = Counter()
    done = asyncio.Event()

    async def keep_asking() -> None:
        while not done.is_set():
            started = time.perf_counter()
            response = await client.get("/healthz")
            await response.read()
            health.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.1)

    asker = asyncio.create_task(keep_asking())
    try:
        for i in range(count):
            forged = mint({"iss": "https://api.botframework.com", "aud": APP_ID, "serviceurl": connector.url, "exp": 2 ** 31},
                          kid=f"forged-{i}")
            started = time.perf_counter()
            response = await client.post("/api/messages", json=body, headers={"Authorization": forged})
            await response.read()
            refusals.append((time.perf_counter() - started) * 1000)
            statuses[response.status] += 1
        await asyncio.sleep(0.2)
    finally:
        done.set()
        await asker
        await client.close()
        await runtime.close()
        await hole.close()
    return refusals, health, statuses


def line(name: str, sent: int, statuses: Counter, records: list[logging.LogRecord], extra: str = "") -> None:
    errors = sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500)
    shown = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    print(f"  {name:<34} {sent:>6} sent  {errors:>4} 5xx  {len(tracebacks(records)):>4} tracebacks  ({shown}){extra}")
    for found in tracebacks(records)[:3]:
        print(f"      {found}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slack", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--terminal", type=int, default=500)
    parser.add_argument("--forged", type=int, default=50)
    args = parser.parse_args()
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    records = Records()
    logging.getLogger().addHandler(records)
    logging.getLogger().setLevel(logging.INFO)

    print("Fuzz (generated bodies on real payload shapes, bent; derandomized)")
    for name, run, count in (("Slack /slack/events (signed)", fuzz_slack, args.slack),
                             ("Teams /api/messages (local testing)", fuzz_teams, args.teams),
                             ("Teams Authorization headers", fuzz_tokens, args.tokens)):
        records.records.clear()
        h = Harness()
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            statuses = run(h, Path(folder), count)
            took = time.perf_counter() - started
            h.close()
        line(name, sum(statuses.values()), statuses, records.records, f"  {took:.1f} s")
    records.records.clear()
    h = Harness()
    with tempfile.TemporaryDirectory() as folder:
        sent, apologies = fuzz_terminal(h, Path(folder), args.terminal)
        h.close()
    print(f"  {'terminal lines':<34} {sent:>6} sent  {apologies:>4} apologies  {len(tracebacks(records.records)):>4} tracebacks")

    print(f"\nForged Teams tokens with the signing-key endpoint black-holed ({args.forged} requests, one after another)")
    with tempfile.TemporaryDirectory() as folder:
        refusals, health, statuses = asyncio.run(forged_with_network_down(Path(folder), args.forged))
    print(f"  answers: {dict(statuses)}")
    print(f"  refusal time: median {statistics.median(refusals):.1f} ms, max {max(refusals):.0f} ms "
          "(the first waits for the key fetch to give up; later ones are turned away at once)")
    print(f"  /healthz meanwhile: {len(health)} asked, median {statistics.median(health):.1f} ms, max {max(health):.1f} ms")


if __name__ == "__main__":
    main()

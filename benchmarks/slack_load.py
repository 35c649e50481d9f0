"""Load: 200 simulated people using peerbot through the Slack endpoint.

The fake Web API and peerbot's real server each run in a process of their
own (benchmarks/slack_servers.py); this process is the people. Everyone is
on one team's check-in roster. Each person starts at a random moment in
the first few seconds, does a check-in the way Slack delivers it (the
``/checkin`` command; the "Start check-in" button in the DM that follows;
the modal submitted, signed ``view_submission``; "Send" pressed in the
modal's preview), then asks scope questions (a DM, or ``/scope``) with a
pause between actions, until the time is up. Everything is signed as Slack
signs it (tests/slack_fake.py's ``Bot``).

Prints the ack latency (p50, p99, max) over every request, requests per
second, the error count (a non-200 answer, a failed request, or a step of
a check-in whose Web API call never came within 10 s) and how many
check-ins were stored. Goal (issue 14): p99 < 1 s and 0 errors.

    python benchmarks/slack_load.py [--quick] [--people 200] [--seconds 60] [--pause 1,3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.slack_servers import Server, spawn  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.slack_fake import Bot, FakeSlack  # noqa: E402
from tests.test_slack_capabilities import CHECKIN, button, press_in_modal  # noqa: E402

TEAM = "north"
STEP_TIMEOUT = 10.0
QUESTIONS = [
    "can I drive a client to court?", "can I lend a client money?", "what do I do if someone talks about self-harm?",
    "can I give a client my phone number?", "is it ok to post about a client on social media?",
]


class Load:
    def __init__(self, peerbot: str, api: str, seconds: float, pause: tuple[float, float]):
        self.peerbot, self.api = peerbot, api
        self.deadline = time.monotonic() + seconds
        self.pause = pause
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.checkins = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def timed(self, request: Any) -> Any:
        """One request to the Slack endpoint, its ack timed; None if it failed."""
        started = time.perf_counter()
        try:
            response = await request
            body = await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.error(f"request failed ({exc.__class__.__name__})")
            return None
        self.latencies.append(time.perf_counter() - started)
        if response.status != 200:
            self.error(f"HTTP {response.status}")
            return None
        return body

    async def recorded(self, api: aiohttp.ClientSession, method: str, since: int, contains: str) -> list[dict[str, Any]]:
        """Wait for a Web API call peerbot makes after an ack (the fake records it)."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            async with api.get(f"/recorded/{method}", params={"since": since, "contains": contains}) as response:
                found = (await response.json())["calls"]
            if found:
                return found
            await asyncio.sleep(0.2)
        self.error(f"no {method} within {STEP_TIMEOUT:.0f} s")
        return []

    async def mark(self, api: aiohttp.ClientSession, method: str) -> int:
        async with api.get(f"/count/{method}") as response:
            return int(await response.json())

    async def check_in(self, bot: Bot, api: aiohttp.ClientSession, user: str) -> None:
        since = await self.mark(api, "chat.postMessage")
        if await self.timed(bot.command("/checkin", user=user)) is None:
            return
        dms = await self.recorded(api, "chat.postMessage", since, f'"D{user}"')
        invitations = [m for m in dms if "Start check-in" in str(m.get("blocks"))]
        if not invitations:
            return
        start = button(invitations[0], "Start check-in")
        since = await self.mark(api, "views.open")
        if await self.timed(bot.press(start, user=user, channel=f"D{user}")) is None:
            return
        opened = await self.recorded(api, "views.open", since, start["value"])
        if not opened:
            return
        submitted = await self.timed(bot.submit(opened[0]["view"], CHECKIN, user=user))
        if submitted is None:
            return
        closing = json.loads(submitted)["view"]
        if await self.timed(press_in_modal(bot, closing, button(closing, "Send"), user=user)) is not None:
            self.checkins += 1

    async def person(self, number: int) -> None:
        user = f"UL{number:03d}"
        rng = random.Random(number)
        async with aiohttp.ClientSession(base_url=self.peerbot) as session, aiohttp.ClientSession(base_url=self.api) as api:
            bot = Bot(client=session, platform=None, runtime=None, fake=FakeSlack(url=self.api))  # type: ignore[arg-type]
            await asyncio.sleep(rng.uniform(0, self.pause[1]))
            await self.check_in(bot, api, user)
            while time.monotonic() < self.deadline:
                await asyncio.sleep(rng.uniform(*self.pause))
                question = rng.choice(QUESTIONS)
                if rng.random() < 0.5:
                    await self.timed(bot.dm(question, user=user))
                else:
                    await self.timed(bot.command("/scope", question, user=user))


async def stored_checkins(db: Path) -> int:
    store = await Store.open(db)
    try:
        rounds = await store.surveys.open_rounds(team=TEAM)
        return sum([await store.surveys.response_count(r.id) for r in rounds])
    finally:
        await store.close()


async def roster(db: Path, people: int) -> None:
    store = await Store.open(db)
    try:
        await store.surveys.set_team(TEAM, "wed", 10, "America/New_York")
        for number in range(people):
            await store.surveys.join(TEAM, "slack", f"UL{number:03d}")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--pause", default="1,3", help="seconds between one person's actions, min,max")
    parser.add_argument("--quick", action="store_true", help="15 s")
    args = parser.parse_args()
    seconds = 15 if args.quick else args.seconds
    pause = tuple(float(n) for n in args.pause.split(","))
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "load.db"
        asyncio.run(roster(db, args.people))
        started: list[Server] = []
        try:
            fake = spawn("fake", Path(folder))
            started.append(fake)
            peerbot = spawn("peerbot", Path(folder), "--api", fake.url, "--db", str(db))
            started.append(peerbot)
            load = Load(peerbot.url, fake.url, seconds, pause)  # type: ignore[arg-type]
            began = time.monotonic()

            async def everyone() -> None:
                await asyncio.gather(*(load.person(n) for n in range(args.people)))

            asyncio.run(everyone())
            elapsed = time.monotonic() - began
        finally:
            for server in reversed(started):
                server.stop()
        stored = asyncio.run(stored_checkins(db))
    lat = sorted(load.latencies)
    print(f"{args.people} people, {seconds:.0f} s, {pause[0]:g}-{pause[1]:g} s between actions; "
          "peerbot and the fake Web API in their own processes")
    print(f"requests {len(lat)} ({len(lat) / elapsed:.0f}/s); ack p50 {statistics.median(lat) * 1000:.0f} ms, "
          f"p99 {statistics.quantiles(lat, n=100, method='inclusive')[98] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    print(f"errors {sum(load.errors.values())} {load.errors or ''}".rstrip())
    print(f"check-ins sent {load.checkins}, stored {stored}; goal: p99 < 1,000 ms, 0 errors")


if __name__ == "__main__":
    main()

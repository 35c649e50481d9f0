"""How many Teams turns peerbot finishes a second, next to a bare botbuilder
bot doing the same work, each in its own process; and what pacing costs a
burst of proactive sends.

1. Turns. Processes: the fake connector, peerbot's real server, a bare
   botbuilder bot (``CloudAdapter`` + an ``ActivityHandler`` echo bot on
   aiohttp, benchmarks/teams_servers.py), optionally peerbot from another
   checkout (``--before DIR``), and this one, the load generator. Each
   measurement has ``--concurrency`` people, each in their own personal chat,
   each posting a ``help`` message activity and waiting for its reply to
   reach the connector before posting the next, until ``--requests``
   turns are done. A turn is done when its reply reaches the connector
   (peerbot answers Teams 201 first and replies afterwards; the bare bot
   replies before its response). Rounds interleave the servers (the order
   turns every round); medians over rounds are printed, with ratios to the
   bare bot:

   - turns/s: turns over the time until the last reply arrived;
   - p50 and p99 in ms, from the post to its reply arriving at the connector.

   Both run unauthenticated (no app id: no token checks, no bot token).
   Goal (issue 14): turns/s >= 1x the bare bot, aiming for 2x.
2. Runs a burst of proactive sends through the Pacer with a simulated
   clock: how long 500 check-in prompts across one tenant take to go out
   under Teams' limits (50 a second), and the pacer's own cost per send.

    python benchmarks/teams_turns.py [--quick] [--rounds 5] [--requests 1000] [--concurrency 10,50]
                                     [--before /path/to/another/checkout]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.slack_ack import p99  # noqa: E402
from benchmarks.slack_servers import Results, Server, interleaved, lifetimes, spawn  # noqa: E402
from benchmarks.slack_servers import medians as median_of  # noqa: E402
from bot.channels.teams.pacing import Pacer  # noqa: E402

SERVERS = Path(__file__).resolve().parent / "teams_servers.py"
REPLY_TIMEOUT = 60.0
BARE = "bare botbuilder"
_serial = itertools.count(1)


def message(activity_id: str, person: int, service_url: str) -> dict:
    return {
        "type": "message", "id": activity_id, "channelId": "msteams", "serviceUrl": service_url, "text": "help",
        "from": {"id": f"29:u{person}", "name": f"Person {person}", "aadObjectId": f"aad-{person}"},
        "recipient": {"id": "28:bot", "name": "peerbot"},
        "conversation": {"id": f"a:chat-{person}", "conversationType": "personal", "tenantId": "t1"},
        "channelData": {"tenant": {"id": "t1"}}, "locale": "en-GB",
    }


class Arrivals:
    """Follows the connector's ``/arrivals``: when each reply landed, by the activity it answers."""

    def __init__(self, connector: aiohttp.ClientSession):
        self.connector = connector
        self.seen = 0
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def expect(self, activity_id: str) -> "asyncio.Future[float]":
        future = self.waiting[activity_id] = asyncio.get_running_loop().create_future()
        return future

    async def _follow(self) -> None:
        while True:
            async with self.connector.get("/arrivals", params={"since": str(self.seen)}) as response:
                found = await response.json()
            self.seen = found["next"]
            for replied_to, at in found["arrivals"]:
                future = self.waiting.pop(replied_to, None)
                if future is not None and not future.done():
                    future.set_result(at)


async def measure(server: Server, arrivals: Arrivals, connector_url: str, total: int, concurrency: int) -> dict[str, float]:
    """One measurement: ``concurrency`` people until ``total`` turns are done."""
    latencies: list[float] = []
    failures = 0
    left = iter(range(total))
    before = arrivals.seen
    async with aiohttp.ClientSession(base_url=server.url, connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def person(number: int) -> None:
            nonlocal failures
            for _ in left:
                activity_id = f"in-{next(_serial)}"
                replied = arrivals.expect(activity_id)
                started = time.monotonic()
                async with session.post("/api/messages", json=message(activity_id, number, connector_url + "/")) as response:
                    await response.read()
                    failures += response.status not in (200, 201)
                try:
                    latencies.append(await asyncio.wait_for(replied, REPLY_TIMEOUT) - started)
                except asyncio.TimeoutError:
                    raise SystemExit(f"{server.role}: no reply to a message within {REPLY_TIMEOUT:.0f} s:\n{server.tail()}")

        started = time.monotonic()
        await asyncio.gather(*(person(n) for n in range(concurrency)))
        took = time.monotonic() - started
    return {"turns/s": total / took, "p50": statistics.median(latencies) * 1000, "p99": p99(latencies) * 1000,
            "replies/turn": (arrivals.seen - before) / total, "failures": failures}


async def run(servers: dict[str, Server], connector_url: str, rounds: int, total: int, levels: list[int]) -> None:
    async with aiohttp.ClientSession(base_url=connector_url) as connector:
        arrivals = Arrivals(connector)
        arrivals.start()
        try:
            for server in servers.values():  # warm up: first contact with every person, the knowledge base
                await measure(server, arrivals, connector_url, max(levels) * 2, max(levels))
            results = await interleaved(list(servers), rounds, levels,
                                        lambda name, level: measure(servers[name], arrivals, connector_url, total, level))
        finally:
            await arrivals.stop()
    report(results, rounds, total, levels)


def report(results: Results, rounds: int, total: int, levels: list[int]) -> None:
    print(f"Teams 'help' message turns, {total} per measurement, {rounds} interleaved rounds, medians; "
          "each server in its own process, fake connector in another; a turn ends when its reply reaches the connector")
    print(f"{'':18}{'people':>7}{'turns/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'replies':>9}{'non-2xx':>9}")
    medians: dict[tuple[str, int], dict[str, float]] = {}
    for (name, level), runs in sorted(results.items(), key=lambda item: (item[0][1], item[0][0] == BARE, item[0][0])):
        medians[name, level] = m = median_of(runs)
        print(f"{name:18}{level:>7}{m['turns/s']:>9.0f}{m['p50']:>9.1f}{m['p99']:>9.1f}{m['replies/turn']:>9.2f}"
              f"{sum(r['failures'] for r in runs):>9.0f}")
    for level in levels:
        bare = medians[BARE, level]
        for name in sorted({n for n, _ in medians} - {BARE}):
            ours = medians[name, level]
            print(f"at {level}: {name} / bare botbuilder = turns/s {ours['turns/s'] / bare['turns/s']:.2f}x, "
                  f"p50 {ours['p50'] / bare['p50']:.2f}x, p99 {ours['p99'] / bare['p99']:.2f}x (goal: turns/s >= 1x, aiming for 2x)")


async def pacing(sends: int) -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(clock=lambda: now[0], sleep=sleep)
    start = time.perf_counter()
    for n in range(sends):
        await pacer.wait("tenant", f"chat-{n}")
    cost = (time.perf_counter() - start) / sends
    print(f"pacing {sends} proactive sends in one tenant: {now[0]:.1f} s simulated "
          f"(unpaced: 0 s, and Teams answers 429 past 50 a second); pacer cost {cost * 1e6:.0f} us a send")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", default="10,50")
    parser.add_argument("--before", type=Path, help="also run peerbot's bot package from this checkout, as 'peerbot before'")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 300 turns (about a minute)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.requests = 2, 300
    levels = [int(n) for n in args.concurrency.split(",")]
    with lifetimes() as (folder, started):
        fake = spawn("connector", folder, script=SERVERS)
        started.append(fake)
        servers = {"peerbot": spawn("peerbot", folder, "--db", str(folder / "bench.db"), script=SERVERS)}
        if args.before:
            servers["peerbot before"] = spawn("peerbot", folder, "--db", str(folder / "before.db"),
                                              "--peerbot-from", str(args.before), script=SERVERS, name="peerbot before")
        servers[BARE] = spawn("bare", folder, script=SERVERS, name=BARE)
        started += servers.values()
        asyncio.run(run(servers, fake.url, args.rounds, args.requests, levels))
    asyncio.run(pacing(500))


if __name__ == "__main__":
    main()

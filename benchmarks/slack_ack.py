"""How fast peerbot acknowledges and handles signed Slack events, next to a
bare slack-bolt app doing the same work, each in its own process.

Four processes: the fake Web API, peerbot's real server, a bare Bolt
``AsyncApp`` on aiohttp (benchmarks/slack_servers.py), and this one, the
load generator. Each measurement sends ``--requests`` signed
``app_mention`` events (each its own event id, from one person, so both
servers end up making one ``chat.postEphemeral`` per event) at a given
concurrency, and waits until the fake has seen every ``chat.postEphemeral``
before the next. Rounds interleave the two servers (the order flips every
round) at every concurrency; medians over rounds are printed, with the
ratios peerbot / bare Bolt:

- acks/s: events over the time until the last ack;
- done/s: events over the time until the last ``chat.postEphemeral``
  reached the fake (a server that acks fast and falls behind shows here);
- ack p50 and p99 in ms.

Goals (issue 14): done/s and acks/s >= 0.6x, p99 <= 2x, at 50 and 100.

    python benchmarks/slack_ack.py [--quick] [--rounds 5] [--requests 1500] [--concurrency 50,100]
                                   [--peerbot-from /path/to/another/checkout]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.slack_servers import SECRET, Results, Server, interleaved, lifetimes, spawn  # noqa: E402
from benchmarks.slack_servers import medians as median_of  # noqa: E402
from tests.hostile import signed_slack_poster  # noqa: E402

DRAIN_TIMEOUT = 120.0
_serial = iter(range(10**9))


def mention() -> str:
    n = next(_serial)
    return json.dumps({
        "type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": f"EvBench{n:09d}", "event_time": 1,
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
        "event": {"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT> help", "ts": f"{n}.0"},
    })


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def ephemerals(api: aiohttp.ClientSession) -> int:
    async with api.get("/count/chat.postEphemeral") as response:
        return int(await response.json())


async def measure(server: Server, api: aiohttp.ClientSession, total: int, concurrency: int) -> dict[str, float]:
    """One measurement: ``total`` events, ``concurrency`` at a time, then the work drained."""
    before = await ephemerals(api)
    latencies: list[float] = []
    failures = 0
    left = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=server.url, connector=connector) as session:
        post = signed_slack_poster(session, SECRET)

        async def person() -> None:
            nonlocal failures
            for _ in left:
                started = time.perf_counter()
                status = await post(mention(), "application/json")
                latencies.append(time.perf_counter() - started)
                failures += status != 200

        started = time.perf_counter()
        await asyncio.gather(*(person() for _ in range(concurrency)))
        acked = time.perf_counter() - started
    while await ephemerals(api) < before + total:
        if time.perf_counter() - started > DRAIN_TIMEOUT:
            raise SystemExit(f"{server.role}: only {await ephemerals(api) - before} of {total} events were handled")
        await asyncio.sleep(0.02)
    done = time.perf_counter() - started
    return {"acks/s": total / acked, "done/s": total / done, "p50": statistics.median(latencies) * 1000,
            "p99": p99(latencies) * 1000, "failures": failures}


async def run(servers: dict[str, Server], api_url: str, rounds: int, total: int, levels: list[int]) -> None:
    async with aiohttp.ClientSession(base_url=api_url) as api:
        for server in servers.values():  # warm up: Bolt's auth.test, peerbot's name cache and knowledge
            await measure(server, api, 100, 10)
        results = await interleaved(list(servers), rounds, levels, lambda name, level: measure(servers[name], api, total, level))
    report(results, rounds, total, levels)


def report(results: Results, rounds: int, total: int, levels: list[int]) -> None:
    print(f"signed app_mention events, {total} per measurement, {rounds} interleaved rounds, medians; "
          "each server in its own process, fake Web API in another")
    print(f"{'':16}{'concurrent':>11}{'acks/s':>9}{'done/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-200':>9}")
    medians: dict[tuple[str, int], dict[str, float]] = {}
    for (name, level), runs in sorted(results.items(), key=lambda item: (item[0][1], item[0][0] != "peerbot")):
        m = medians[name, level] = median_of(runs)
        print(f"{name:16}{level:>11}{m['acks/s']:>9.0f}{m['done/s']:>9.0f}{m['p50']:>9.1f}{m['p99']:>9.1f}{sum(r['failures'] for r in runs):>9.0f}")
    for level in levels:
        ours, bare = medians["peerbot", level], medians["bare bolt", level]
        print(f"at {level}: peerbot / bare Bolt = acks/s {ours['acks/s'] / bare['acks/s']:.2f}x, "
              f"done/s {ours['done/s'] / bare['done/s']:.2f}x, p99 {ours['p99'] / bare['p99']:.2f}x "
              f"(goals: >= 0.6x, >= 0.6x, <= 2x); peerbot p99 {ours['p99']:.0f} ms, Slack's limit 3,000 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", default="50,100")
    parser.add_argument("--peerbot-from", type=Path, help="run peerbot's bot package from this checkout (a before)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 300 requests (under a minute)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.requests = 2, 300
    levels = [int(n) for n in args.concurrency.split(",")]
    with lifetimes() as (folder, started):
        fake = spawn("fake", folder)
        started.append(fake)
        extra = ["--peerbot-from", str(args.peerbot_from)] if args.peerbot_from else []
        servers = {
            "peerbot": spawn("peerbot", folder, "--api", fake.url, "--db", str(folder / "bench.db"), *extra),
            "bare bolt": spawn("bolt", folder, "--api", fake.url),
        }
        started += servers.values()
        asyncio.run(run(servers, fake.url, args.rounds, args.requests, levels))

if __name__ == "__main__":
    main()

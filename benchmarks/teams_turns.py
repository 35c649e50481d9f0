"""How long a Teams turn takes, next to a bare aiohttp handler, and what
pacing costs a burst of proactive sends.

1. Posts ``help`` message activities over loopback to the real server
   (request checks, botbuilder's CloudAdapter, the engine, the reply sent to
   a fake connector on loopback before the 201) and the same number of
   requests to a bare aiohttp handler, in the same run: median and p99
   latency for both, and the ratios.
2. Runs a burst of proactive sends through the Pacer with a simulated
   clock: how long 500 check-in prompts across one tenant take to go out
   under Teams' limits (50 a second), and the pacer's own cost per send.

    python benchmarks/teams_turns.py [--requests 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.teams.pacing import Pacer  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.server import create_app  # noqa: E402
from benchmarks.loopback import serve  # noqa: E402


async def connector(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"id": "act-1"})


async def bare(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=201)


def message(n: int, service_url: str) -> dict:
    return {
        "type": "message", "id": f"in-{n}", "channelId": "msteams", "serviceUrl": service_url, "text": "help",
        "from": {"id": f"29:u{n % 50}", "aadObjectId": f"aad-{n % 50}"}, "recipient": {"id": "28:bot"},
        "conversation": {"id": f"a:chat-{n % 50}", "conversationType": "personal"},
    }


async def timed(url: str, bodies: list[dict], concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue = list(bodies)
    async with ClientSession() as session:
        async def worker() -> None:
            while queue:
                body = queue.pop()
                start = time.perf_counter()
                async with session.post(url, json=body) as response:
                    await response.read()
                    assert response.status in (200, 201), response.status
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)]


async def turns(requests: int, concurrency: int) -> None:
    fake = web.Application()
    fake.router.add_route("*", "/v3/conversations/{c}/activities{rest:.*}", connector)
    fake_runner, fake_url = await serve(fake)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(_env_file=None, db=Path(folder) / "bench.db", teams_local_testing=True)
        bot_runner, bot_url = await serve(create_app(settings))
        bare_app = web.Application()
        bare_app.router.add_post("/api/messages", bare)
        bare_runner, bare_url = await serve(bare_app)
        bodies = [message(n, fake_url + "/") for n in range(requests)]
        await timed(bot_url + "/api/messages", bodies[:20], concurrency)  # warm up
        ours = await timed(bot_url + "/api/messages", bodies, concurrency)
        plain = await timed(bare_url + "/api/messages", bodies, concurrency)
        for runner in (bot_runner, bare_runner):
            await runner.cleanup()
    await fake_runner.cleanup()
    ms = 1000
    print(f"teams turn ('help', reply to a loopback connector), {requests} requests, {concurrency} at a time:")
    print(f"  peerbot  median {statistics.median(ours) * ms:.1f} ms, p99 {p99(ours) * ms:.1f} ms")
    print(f"  bare     median {statistics.median(plain) * ms:.1f} ms, p99 {p99(plain) * ms:.1f} ms")
    print(f"  ratio    median {statistics.median(ours) / statistics.median(plain):.0f}x, p99 {p99(ours) / p99(plain):.0f}x")


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(turns(args.requests, args.concurrency))
    asyncio.run(pacing(500))


if __name__ == "__main__":
    main()

"""How fast peerbot acknowledges Slack events, next to a bare aiohttp handler.

Sends signed ``app_mention`` events over loopback to the real server (Bolt
app, signature check, retry deduplication in SQLite), with the Web API
pointed at a small local fake so the work after each ack really runs, and
the same number of requests to a bare aiohttp handler that only answers
200, in the same run. Prints requests per second, median and p99 ack
latency for both, and the ratios.

    python benchmarks/slack_ack.py [--requests 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import ClientSession, web
from slack_sdk.signature import SignatureVerifier

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_settings  # noqa: E402
from bot.server import create_app  # noqa: E402
from benchmarks.loopback import serve  # noqa: E402

SECRET = "8f742231b10e8888abcd99aabbcc85a5"


async def fake_slack(request: web.Request) -> web.Response:
    method = request.match_info["method"]
    if method == "auth.test":
        return web.json_response({"ok": True, "user_id": "UBOT", "bot_id": "B1", "team_id": "T1", "user": "peerbot"})
    return web.json_response({"ok": True, "ts": "1.1", "channel": {"id": "C1", "is_member": True}, "user": {"profile": {}}})


async def bare(request: web.Request) -> web.Response:
    await request.text()
    return web.Response(status=200)


def mention(n: int) -> str:
    return json.dumps({
        "type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": f"Ev{n:08d}", "event_time": 1,
        "event": {"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT> help", "ts": f"{n}.0"},
    })


async def measure(session: ClientSession, url: str, total: int, concurrency: int) -> tuple[float, list[float]]:
    verifier = SignatureVerifier(SECRET)
    latencies: list[float] = []
    queue = iter(range(total))

    async def worker() -> None:
        for n in queue:
            body = mention(n)
            stamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                       "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=body)}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started), latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


async def main(total: int, concurrency: int) -> None:
    fake = web.Application()
    fake.router.add_route("*", "/api/{method}", fake_slack)
    fake_runner, fake_url = await serve(fake)
    plain = web.Application()
    plain.router.add_post("/slack/events", bare)
    plain_runner, plain_url = await serve(plain)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            _env_file=None, db=Path(folder) / "bench.db", slack_bot_token="xoxb-1111-2222-bench",
            slack_signing_secret=SECRET, slack_supervisor_channel="CSUPERVIS1", slack_api_url=f"{fake_url}/api/",
        )
        bot_runner, bot_url = await serve(create_app(settings))
        async with ClientSession() as session:
            await measure(session, bot_url + "/slack/events", 50, 4)  # warm up: knowledge, auth.test
            await measure(session, plain_url + "/slack/events", 50, 4)
            bot_rps, bot_lat = await measure(session, bot_url + "/slack/events", total, concurrency)
            await asyncio.sleep(1)  # let the work after the acks drain
            bare_rps, bare_lat = await measure(session, plain_url + "/slack/events", total, concurrency)
        await bot_runner.cleanup()
    await plain_runner.cleanup()
    await fake_runner.cleanup()

    print(f"signed app_mention events, {total} requests, {concurrency} at a time, loopback")
    print(f"{'':22}{'req/s':>10}{'median ms':>12}{'p99 ms':>10}")
    for label, rps, lat in (("peerbot (Bolt)", bot_rps, bot_lat), ("bare aiohttp handler", bare_rps, bare_lat)):
        print(f"{label:22}{rps:>10.0f}{statistics.median(lat) * 1000:>12.2f}{p99(lat) * 1000:>10.2f}")
    print(f"ratio: {bare_rps / bot_rps:.1f}x the bare handler's throughput, "
          f"p99 {p99(bot_lat) / p99(bare_lat):.1f}x; Slack's limit is 3,000 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency))

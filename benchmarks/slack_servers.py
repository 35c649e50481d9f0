"""The servers the Slack benchmarks start, each in a process of its own.

``python benchmarks/slack_servers.py ROLE ...`` serves one of:

- ``fake``: the fake Slack Web API of the tests (tests/slack_fake.py), plus
  ``GET /count/{method}`` (calls so far) and ``GET /recorded/{method}``
  (calls' arguments, from ``since``, optionally only those whose JSON
  contains ``contains``), so a load generator in another process can follow
  the work done after each ack;
- ``peerbot``: the real server (``create_app``), Slack mounted, Web API at
  the fake; ``--peerbot-from DIR`` imports ``bot`` from another checkout
  (to measure a before and an after in the same run);
- ``bolt``: a bare slack-bolt ``AsyncApp`` on aiohttp, as its docs write it,
  that answers an ``app_mention`` with one ``chat.postEphemeral`` after
  its ack: the baseline.

Each prints ``READY <url>`` once it listens. ``spawn`` starts one and waits
for that line; the benchmarks are the load generators.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Awaitable, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET = "8f742231b10e8888abcd99aabbcc85a5"  # tests/slack_fake.py's
TOKEN = "xoxb-1111-2222-bench"
SUPERVISORS = "CSUPERVIS1"


class Server:
    """A started server process: its URL, and its output kept for a failure report."""

    def __init__(self, role: str, process: subprocess.Popen, url: str, log: IO[str]):
        self.role, self.process, self.url, self.log = role, process, url, log

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-2000:]


def spawn(role: str, folder: Path, *args: str, timeout: float = 120, script: Path | None = None, name: str | None = None) -> Server:
    """Start ``role`` in its own process and wait until it listens.

    ``script`` is the file whose ``main`` serves the roles (this one unless
    told: benchmarks/teams_servers.py serves the Teams ones); ``name`` tells
    two servers of one role apart in their logs."""
    log = open(folder / f"{name or role}.log".replace(" ", "-"), "w+")
    process = subprocess.Popen(
        [sys.executable, str((script or Path(__file__)).resolve()), role, *args],
        stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("READY "):
            return Server(name or role, process, line.split()[1], log)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"the {role} server did not start:\n{Path(log.name).read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def lifetimes() -> Iterator[tuple[Path, list[Server]]]:
    """A scratch folder, and a list for the servers started in it: each is stopped (the last first) at the end."""
    with tempfile.TemporaryDirectory() as folder:
        started: list[Server] = []
        try:
            yield Path(folder), started
        finally:
            for server in reversed(started):
                server.stop()


Results = dict[tuple[str, int], list[dict[str, float]]]


async def interleaved(names: list[str], rounds: int, levels: list[int],
                      measure: Callable[[str, int], Awaitable[dict[str, float]]]) -> Results:
    """``measure(name, level)`` for every server at every level, round after
    round, the servers' order turning by one each round."""
    results: Results = {}
    for number in range(rounds):
        order = names[number % len(names):] + names[: number % len(names)]
        for level in levels:
            for name in order:
                results.setdefault((name, level), []).append(await measure(name, level))
        print(f"round {number + 1}/{rounds} done", file=sys.stderr, flush=True)
    return results


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


# -- the roles, each run in its own process ------------------------------------------


async def listen(app) -> None:
    from benchmarks.loopback import serve

    runner, url = await serve(app)
    print(f"READY {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def serve_fake() -> None:
    from aiohttp import web

    from tests.slack_fake import FakeSlack

    fake = FakeSlack()
    by_method: dict[str, list[dict]] = {}
    answer = fake.answer

    def recording(method: str, args: dict) -> dict:
        by_method.setdefault(method, []).append(args)
        return answer(method, args)

    fake.answer = recording  # type: ignore[method-assign]

    async def count(request: web.Request) -> web.Response:
        return web.json_response(len(by_method.get(request.match_info["method"], [])))

    async def recorded(request: web.Request) -> web.Response:
        calls = by_method.get(request.match_info["method"], [])
        since = int(request.query.get("since", 0))
        contains = request.query.get("contains")
        found = [c for c in calls[since:] if contains is None or contains in json.dumps(c)]
        return web.json_response({"next": len(calls), "calls": found})

    app = fake.app()
    app.router.add_get("/count/{method}", count)
    app.router.add_get("/recorded/{method}", recorded)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    print(f"READY {fake.url}", flush=True)
    await asyncio.Event().wait()


def peerbot_settings(api: str, db: Path):
    from bot.config import load_settings

    return load_settings(
        _env_file=None, db=db, slack_bot_token=TOKEN, slack_signing_secret=SECRET, supervisors="U-SAM", admins="U-ROOT",
        slack_supervisor_channel=SUPERVISORS, slack_api_url=f"{api}/api/",
    )


async def serve_peerbot(api: str, db: Path) -> None:
    from bot.server import create_app

    await listen(create_app(peerbot_settings(api, db)))


async def serve_bolt(api: str) -> None:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=f"{api}/api/"), signing_secret=SECRET)

    @app.event("app_mention")
    async def mention(event: dict, client: AsyncWebClient) -> None:
        await client.chat_postEphemeral(channel=event["channel"], user=event["user"], text="Hi, I'm here to help.")

    await listen(app.web_app(path="/slack/events"))


def main() -> None:
    parser = argparse.ArgumentParser(description="one benchmark server")
    parser.add_argument("role", choices=["fake", "peerbot", "bolt"])
    parser.add_argument("--api", help="the fake Web API's URL")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--peerbot-from", type=Path, help="a checkout whose bot package to run")
    args = parser.parse_args()
    if args.role == "fake":
        asyncio.run(serve_fake())
    elif args.role == "peerbot":
        if args.peerbot_from:
            sys.path.insert(0, str(args.peerbot_from.resolve()))
        asyncio.run(serve_peerbot(args.api, args.db))
    else:
        asyncio.run(serve_bolt(args.api))


if __name__ == "__main__":
    main()

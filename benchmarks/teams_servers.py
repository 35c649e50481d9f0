"""The servers the Teams benchmark starts, each in a process of its own.

``python benchmarks/teams_servers.py ROLE ...`` serves one of:

- ``connector``: the fake Bot Framework connector of the tests
  (tests/teams_support.py), noting when each call arrived (monotonic clock,
  the same in every process of this machine), plus
  ``GET /arrivals?since=N``: the calls from the N-th on, as
  ``[activity id replied to, arrival time]``, waiting up to a second for one
  if there is none yet, so a load generator in another process learns of a
  reply as it lands;
- ``peerbot``: the real server (``create_app``), Teams mounted, unauthenticated
  (local testing), replies to whatever ``serviceUrl`` the activity names;
  ``--peerbot-from DIR`` imports ``bot`` from another checkout (a before);
- ``bare``: a bare botbuilder bot as its samples write it: a ``CloudAdapter``
  and an ``ActivityHandler`` echo bot on aiohttp, answering each message with
  one reply through the connector (``send_activity``), as peerbot does.

Each prints ``READY <url>`` once it listens; ``slack_servers.spawn`` starts
one and waits for that line. benchmarks/teams_turns.py is the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.slack_servers import listen  # noqa: E402


async def serve_connector() -> None:
    from aiohttp import web

    from tests.teams_support import FakeConnector

    fake = FakeConnector()
    arrivals: list[tuple[str, float]] = []
    arrived = asyncio.Condition()
    record = fake._activity

    async def timed(request: web.Request) -> web.Response:
        at = time.monotonic()
        response = await record(request)
        replied_to = request.match_info.get("activity") or (fake.calls[-1].body.get("replyToId") if fake.calls else None)
        arrivals.append((replied_to or "", at))
        async with arrived:
            arrived.notify_all()
        return response

    fake._activity = timed  # type: ignore[method-assign]

    async def since(request: web.Request) -> web.Response:
        start = int(request.query.get("since", 0))
        with contextlib.suppress(asyncio.TimeoutError):
            async with arrived:
                await asyncio.wait_for(arrived.wait_for(lambda: len(arrivals) > start), 1.0)
        return web.json_response({"next": len(arrivals), "arrivals": arrivals[start:]})

    app = fake.app()
    app.router.add_get("/arrivals", since)
    await listen(app)


async def serve_peerbot(db: Path) -> None:
    from bot.config import load_settings
    from bot.server import create_app

    await listen(create_app(load_settings(_env_file=None, db=db, teams_local_testing=True)))


async def serve_bare() -> None:
    from types import SimpleNamespace

    from aiohttp import web
    from botbuilder.core import ActivityHandler, TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

    class EchoBot(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            await turn_context.send_activity(f"Echo: {turn_context.activity.text}")

    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(SimpleNamespace(APP_ID="", APP_PASSWORD="")))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    await listen(app)


def main() -> None:
    parser = argparse.ArgumentParser(description="one Teams benchmark server")
    parser.add_argument("role", choices=["connector", "peerbot", "bare"])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--peerbot-from", type=Path, help="a checkout whose bot package to run")
    args = parser.parse_args()
    if args.role == "connector":
        asyncio.run(serve_connector())
    elif args.role == "peerbot":
        if args.peerbot_from:
            sys.path.insert(0, str(args.peerbot_from.resolve()))
        asyncio.run(serve_peerbot(args.db))
    else:
        asyncio.run(serve_bare())


if __name__ == "__main__":
    main()

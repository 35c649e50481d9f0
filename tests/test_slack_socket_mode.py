"""Socket Mode (`peerbot serve --socket-mode`): the same listeners, reached
over a websocket instead of a public URL, and retries still handled once."""

from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType, web

from bot.server import create_app
from tests.slack_fake import FakeSlack, settings, slack_api, slack_settings  # noqa: F401


class FakeSocket:
    """Slack's Socket Mode end: says hello, sends envelopes, collects acks."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.acks: list[dict] = []
        self.ws: web.WebSocketResponse | None = None

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        await ws.send_json({"type": "hello", "num_connections": 1})
        self.connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return ws


async def test_socket_mode_answers_a_direct_message_once_even_when_redelivered(aiohttp_server, aiohttp_client, tmp_path, runtime):
    fake = FakeSlack()
    socket = FakeSocket()
    api = web.Application()
    api.router.add_route("*", "/api/{method}", fake.api)
    api.router.add_get("/socket", socket.handle)
    server = await aiohttp_server(api)
    fake.url = str(server.make_url("")).rstrip("/")
    original = fake.answer
    fake.answer = lambda method, args: (
        {"url": fake.url.replace("http", "ws") + "/socket"} if method == "apps.connections.open" else original(method, args)
    )
    settings = slack_settings(tmp_path, fake, slack_socket_mode=True, slack_signing_secret=None, slack_app_token="xapp-1-A1-socket-test")
    app = create_app(settings, runtime=runtime, run_background=False)
    client = await aiohttp_client(app)
    assert (await client.post("/slack/events", data="{}")).status == 404  # no public endpoint in Socket Mode
    await asyncio.wait_for(socket.connected.wait(), 10)

    event = {"type": "message", "channel": "DU1", "user": "U1", "text": "help", "ts": "1.1", "channel_type": "im"}
    payload = {"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": "EvSock1", "event": event}
    for attempt in range(2):
        await socket.ws.send_json({"envelope_id": f"env-{attempt}", "type": "events_api", "payload": payload,
                                   "accepts_response_payload": False, "retry_attempt": attempt})
    [posted] = await fake.wait_for("chat.postMessage")
    assert posted["channel"] == "DU1" and "peerbot" in posted["text"]
    for _ in range(200):
        if len(socket.acks) == 2:
            break
        await asyncio.sleep(0.02)
    assert {a["envelope_id"] for a in socket.acks} == {"env-0", "env-1"}
    await asyncio.sleep(0.2)
    assert len(fake.of("chat.postMessage")) == 1

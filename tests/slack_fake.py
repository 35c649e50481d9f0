"""A small fake of the Slack Web API on loopback, and signed requests to the bot.

The fake records every call (method and arguments) and answers the way
Slack documents it, so the real slack_sdk client and the real aiohttp app
are exercised end to end with no network. Fixtures here are imported by
the tests/test_slack_*.py modules.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.channels.slack.app import SLACK, SlackPlatform
from bot.config import Settings
from bot.server import create_app
from tests.conftest import make_settings

SECRET = "8f742231b10e8888abcd99aabbcc85a5"
TOKEN = "xoxb-1111-2222-testtoken"
SUPERVISORS = "CSUPERVIS1"
BOT = "UBOT"
JSON_FIELDS = ("blocks", "view", "metadata", "attachments", "files", "channels")


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    # The client's (host, port): calls on one kept-alive connection share it.
    peer: Any = None


@dataclass
class FakeSlack:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail: dict[str, str] = field(default_factory=dict)
    rate_limit: dict[str, int] = field(default_factory=dict)
    member: bool = True
    names: dict[str, str] = field(default_factory=lambda: {"U1": "Ada", "U2": "Bo"})
    _ts: Any = field(default_factory=lambda: itertools.count(1))

    def of(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 8.0) -> list[dict[str, Any]]:
        """Bolt answers Slack first and works afterwards: wait for the work."""
        deadline = time.monotonic() + timeout
        while len(self.of(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} was called {len(self.of(method))} times, expected {count}: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.01)
        return self.of(method)

    async def wait_for_response(self, count: int = 1, timeout: float = 8.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.responses) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.responses)} response_url posts, expected {count}")
            await asyncio.sleep(0.01)
        return self.responses

    def ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    # -- the fake API ----------------------------------------------------------

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        self.calls.append(Call(method, args, time.monotonic(), request.transport.get_extra_info("peername") if request.transport else None))
        if self.rate_limit.get(method):
            self.rate_limit[method] -= 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"})
        if method in self.fail:
            return web.json_response({"ok": False, "error": self.fail[method]})
        return web.json_response({"ok": True, **self.answer(method, args)})

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"user_id": BOT, "bot_id": "BBOT", "team_id": "T1", "team": "Acme Peer Network", "user": "peerbot"}
        if method == "users.info":
            return {"user": {"id": args["user"], "profile": {"display_name": self.names.get(args["user"], "")}}}
        if method == "conversations.open":
            return {"channel": {"id": "D" + args["users"]}}
        if method == "conversations.info":
            return {"channel": {"id": args["channel"], "name": "peer-supervisors", "is_member": self.member}}
        if method == "conversations.history":
            return {"messages": list(reversed(self.history.get(args["channel"], [])))}
        if method == "chat.postMessage":
            ts = self.ts()
            self.history.setdefault(args["channel"], []).append({"ts": ts, "text": args.get("text"), "metadata": args.get("metadata")})
            return {"channel": args["channel"], "ts": ts}
        if method == "chat.postEphemeral":
            return {"message_ts": self.ts()}
        if method == "chat.update":
            return {"channel": args["channel"], "ts": args["ts"]}
        if method.startswith("views."):
            return {"view": {"id": args.get("view_id") or "V1"}}
        if method == "files.getUploadURLExternal":
            return {"upload_url": f"{self.url}/upload/F1", "file_id": "F1"}
        if method == "files.completeUploadExternal":
            return {"files": [{"id": "F1", "title": "chart"}]}
        return {}

    async def upload(self, request: web.Request) -> web.Response:
        self.uploads.append(await request.read())
        return web.Response(text="OK")

    async def respond(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")

    def app(self) -> web.Application:
        """The fake as an aiohttp app: the Web API, file uploads, response_urls."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self.api)
        app.router.add_post("/upload/{file}", self.upload)
        app.router.add_post("/respond/{id}", self.respond)
        return app


async def _arguments(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        args = await request.json()
    else:
        args = dict(await request.post())
    args.update(request.query)
    for name in JSON_FIELDS:
        if isinstance(args.get(name), str):
            try:
                args[name] = json.loads(args[name])
            except ValueError:
                pass
    return args


@pytest.fixture
async def slack_api(aiohttp_server) -> FakeSlack:
    fake = FakeSlack()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


def slack_settings(tmp_path, fake: FakeSlack, **overrides: Any) -> Settings:
    values = dict(
        supervisors="U-SAM",
        admins="U-ROOT",
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_supervisor_channel=SUPERVISORS,
        slack_channels="wellbeing=CWELLBEING",
        slack_api_url=f"{fake.url}/api/",
    )
    values.update(overrides)
    return make_settings(tmp_path, **values)


@pytest.fixture
def settings(tmp_path, slack_api: FakeSlack) -> Settings:
    return slack_settings(tmp_path, slack_api)


@dataclass
class Bot:
    """The real peerbot server with Slack mounted, and ways to talk to it as Slack does."""

    client: Any
    platform: SlackPlatform
    runtime: Any
    fake: FakeSlack
    secret: str = SECRET

    def sign(self, body: str, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret or self.secret).generate_signature(timestamp=stamp, body=body)
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}

    async def post(self, body: str, content_type: str, **sign: Any) -> Any:
        extra = sign.pop("extra", {})
        headers = {"Content-Type": content_type, **self.sign(body, **sign), **extra}
        return await self.client.post("/slack/events", data=body.encode(), headers=headers)

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, **sign: Any) -> Any:
        body = {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event": event,
            "event_id": event_id or f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T1", "user_id": BOT, "is_bot": True}],
        }
        return await self.post(json.dumps(body), "application/json", **sign)

    async def dm(self, text: str, user: str = "U1", thread_ts: str | None = None, **kw: Any) -> Any:
        event = {"type": "message", "channel": f"D{user}", "user": user, "text": text, "ts": self.fake.ts(), "channel_type": "im"}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return await self.event(event, **kw)

    async def command(self, command: str, text: str = "", user: str = "U1", channel: str = "C1", **sign: Any) -> Any:
        form = {
            "token": "legacy", "team_id": "T1", "channel_id": channel, "channel_name": "general", "user_id": user,
            "user_name": "ada", "command": command, "text": text, "api_app_id": "A1",
            "response_url": f"{self.fake.url}/respond/{len(self.fake.responses)}", "trigger_id": "trigger-1",
        }
        return await self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded", **sign)

    async def interact(self, payload: dict[str, Any], **sign: Any) -> Any:
        payload = {"team": {"id": "T1"}, "api_app_id": "A1", "token": "legacy", **payload}
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **sign)

    async def press(self, button: dict[str, Any], *, user: str = "U1", channel: str = "DU1", message_ts: str = "1.1", **kw: Any) -> Any:
        return await self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "username": "ada", "team_id": "T1"},
                "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
                "channel": {"id": channel, "name": "directmessage"},
                "trigger_id": "trigger-2",
                "response_url": f"{self.fake.url}/respond/b",
                "message": {"ts": message_ts, "text": "..."},
                "actions": [{**button, "block_id": "b1", "action_ts": "1.2"}],
                **kw,
            }
        )

    async def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str = "U1") -> Any:
        state = {}
        for name, value in values.items():
            block = next(b for b in view["blocks"] if b.get("block_id") == name)
            kind = block["element"]["type"]
            if kind in ("radio_buttons", "static_select"):
                state[name] = {"value": {"type": kind, "selected_option": {"value": value} if value is not None else None}}
            else:
                state[name] = {"value": {"type": kind, "value": value}}
        submitted = {**view, "id": "V9", "state": {"values": state}, "hash": "h"}
        return await self.interact(
            {"type": "view_submission", "user": {"id": user, "username": "ada", "team_id": "T1"}, "trigger_id": "t3", "view": submitted}
        )


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for block in message.get("blocks", []) if block["type"] == "actions" for e in block["elements"]]


def shown_text(message: dict[str, Any]) -> str:
    sections = [b["text"]["text"] for b in message.get("blocks", []) if b["type"] == "section"]
    return "\n".join(sections) or message.get("text", "")


async def start_bot(aiohttp_client, settings: Settings, runtime: Any, fake: FakeSlack, pace: float = 0.0) -> Bot:
    app = create_app(settings, runtime=runtime, run_background=False)
    platform = app[SLACK]
    platform.slack.pacer.interval = pace
    client = await aiohttp_client(app)
    if platform.checks is not None:
        await platform.checks
    fake.calls.clear()
    return Bot(client=client, platform=platform, runtime=runtime, fake=fake)


@pytest.fixture
async def bot(aiohttp_client, settings, runtime, slack_api) -> Bot:
    return await start_bot(aiohttp_client, settings, runtime, slack_api)

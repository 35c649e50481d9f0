"""A fake Bot Framework connector on loopback and real activities to post.

The connector records every call the bot makes (replies, proactive sends,
updates) and answers like Teams does; ``refuse`` makes it answer a status
such as 403 for one conversation, to play an app that was removed.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT = {"id": "28:peerbot-bot", "name": "peerbot"}
TENANT = "11111111-2222-3333-4444-555555555555"


@dataclass
class Call:
    method: str
    conversation: str
    activity_id: str | None
    body: dict[str, Any]
    authorization: str | None = None  # the bot's token, when it has an app id

    @property
    def text(self) -> str:
        return self.body.get("text") or ""

    @property
    def card(self) -> dict[str, Any] | None:
        attachments = self.body.get("attachments") or []
        return attachments[0]["content"] if attachments else None


@dataclass
class FakeConnector:
    calls: list[Call] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    url: str = ""
    # To play a slow connector: each call waits this long, or until ``held`` is set.
    delay: float = 0.0
    held: asyncio.Event | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def refuse(self, conversation: str, status: int) -> None:
        self.refused[conversation] = status

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self._activity)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._activity)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._activity)
        return app

    async def _activity(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conversation"]
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.held is not None:
            await self.held.wait()
        if conversation in self.refused:
            status = self.refused[conversation]
            self.refusals.append(conversation)
            return web.json_response({"error": {"code": "Forbidden", "message": "The bot is not part of the conversation roster."}}, status=status)
        self.calls.append(Call(request.method, conversation, request.match_info.get("activity"), await request.json(),
                               request.headers.get("Authorization")))
        return web.json_response({"id": f"act-{next(self._ids)}"})

    def to(self, conversation: str) -> list[Call]:
        return [c for c in self.calls if c.conversation == conversation]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Call]:
        async def enough() -> None:
            while len(self.calls) < count:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(enough(), timeout)
        return self.calls


def person(user: str = "ada", name: str = "Ada") -> dict[str, Any]:
    return {"id": f"29:{user}", "name": name, "aadObjectId": f"aad-{user}"}


def activity(connector: FakeConnector, kind: str = "message", *, user: str = "ada", conversation: str | None = None,
             conversation_type: str = "personal", **extra: Any) -> dict[str, Any]:
    """A Bot Framework activity as Teams sends it."""
    conversation = conversation or f"a:chat-{user}"
    body = {
        "type": kind,
        "id": f"in-{next(_incoming)}",
        "channelId": "msteams",
        "serviceUrl": connector.url,
        "from": person(user, user.title()),
        "recipient": BOT,
        "conversation": {"id": conversation, "conversationType": conversation_type, "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
        "locale": "en-GB",
    }
    body.update(extra)
    return body


_incoming = itertools.count(1)


def pressed(card: dict[str, Any], label: str) -> dict[str, Any]:
    """The data Teams sends back when the button labelled ``label`` is pressed."""
    for element in walk(card):
        if element.get("type") in ("Action.Execute", "Action.Submit") and element.get("title") == label:
            return dict(element["data"])
    raise AssertionError(f"no button {label!r} on the card")


def walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def card_text(card: dict[str, Any]) -> str:
    return "\n".join(e["text"] for e in walk(card) if e.get("type") == "TextBlock")


# -- fixtures (imported by the test_teams_* modules) ---------------------------

import pytest  # noqa: E402

from bot.runtime import Runtime, build_runtime  # noqa: E402
from bot.server import create_app  # noqa: E402
from tests.conftest import make_settings  # noqa: E402


class Teams:
    """The running aiohttp app with Teams mounted, and a way to post activities to it."""

    def __init__(self, client: Any, runtime: Runtime, connector: FakeConnector):
        self.client = client
        self.runtime = runtime
        self.connector = connector

    @property
    def platform(self):
        from bot.channels.teams.platform import TEAMS

        return self.client.server.app[TEAMS]

    async def post(self, body: Any, **headers: str):
        """Post an activity and wait for its turn to finish, replies included
        (Teams is answered first; the replies go out afterwards)."""
        response = await self.client.post("/api/messages", json=body, headers=headers or None)
        await response.read()
        await self.platform.settle(10)
        return response

    async def say(self, text: str, **extra: Any) -> list[Call]:
        """Send a message; return the calls the bot made while answering it."""
        start = len(self.connector.calls)
        response = await self.post(activity(self.connector, text=text, **extra))
        assert response.status in (200, 201), await response.text()
        return self.connector.calls[start:]

    async def invoke(self, name: str, value: Any, **extra: Any) -> dict[str, Any]:
        response = await self.post(activity(self.connector, "invoke", name=name, value=value, **extra))
        assert response.status == 200, await response.text()
        return await response.json()

    async def press(self, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Press a card button (or submit a card form) the Universal Actions way."""
        return await self.invoke("adaptiveCard/action", {"action": {"type": "Action.Execute", "verb": "peerbot", "data": data}}, **extra)


@pytest.fixture
async def connector(aiohttp_server) -> FakeConnector:
    fake = FakeConnector()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("/"))
    return fake


@pytest.fixture
def teams_settings(tmp_path):
    return make_settings(tmp_path, supervisors="aad-sam", admins="aad-root", teams_local_testing=True)


@pytest.fixture
async def teams(aiohttp_client, teams_settings, connector, clock):
    runtime = await build_runtime(teams_settings, now=clock)
    client = await aiohttp_client(create_app(teams_settings, runtime=runtime, run_background=False))
    yield Teams(client, runtime, connector)
    await runtime.close()

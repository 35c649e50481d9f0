"""Teams' own conventions (issue 13): invoke problems answered the way Teams
shows them, malformed mentions never costing a person their answer, and
Teams acknowledged before any reply goes out, even when the connector
hangs."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.teams_support import BOT, Teams, activity, card_text, connector, teams, teams_settings  # noqa: F401

ERROR = "application/vnd.microsoft.error"


async def raw_invoke(teams: Teams, name: str, value, **extra):
    response = await teams.post(activity(teams.connector, "invoke", name=name, value=value, **extra))
    assert response.status == 200, await response.text()
    return await response.json()


def dialog_text(answer: dict) -> str:
    assert answer["task"]["type"] == "continue", answer
    return card_text(answer["task"]["value"]["card"]["content"])


# -- 1. invoke problems: HTTP 200, the problem in the body ---------------------


async def test_a_universal_action_that_isnt_ours_is_http_200_with_status_400_in_the_body(teams: Teams):
    for value in ({"action": {"type": "Action.Execute", "verb": "other", "data": {"something": "else"}}}, {}, None):
        answer = await raw_invoke(teams, "adaptiveCard/action", value)
        assert answer["statusCode"] == 400 and answer["type"] == ERROR
        assert "isn't one of peerbot's" in answer["value"]["message"]
    assert teams.connector.calls == []


async def test_broken_data_from_one_of_our_cards_is_a_status_400_with_a_kind_message(teams: Teams):
    answer = await raw_invoke(teams, "adaptiveCard/action", {"action": {"type": "Action.Execute", "data": {"peerbot": "nonsense"}}})
    assert answer["statusCode"] == 400 and answer["type"] == ERROR
    assert answer["value"]["message"] == "That card's data didn't come through properly."


async def test_an_unknown_message_extension_command_and_a_task_fetch_get_a_kind_card(teams: Teams):
    for name, value in (("composeExtension/fetchTask", {"commandId": "somethingElse"}), ("task/fetch", {"data": {"x": 1}}), ("task/fetch", None)):
        said = dialog_text(await raw_invoke(teams, name, value))
        assert "I don't have that one" in said and "help" in said


async def test_a_turn_that_fails_on_our_side_still_gets_an_answer_teams_can_show(teams: Teams, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(teams.runtime.engine, "handle", broken)
    answer = await raw_invoke(teams, "adaptiveCard/action", {"action": {"type": "Action.Execute", "data": {"peerbot": {"kind": "action", "id": "scope:more", "value": ""}}}})
    assert answer["statusCode"] == 500 and answer["type"] == ERROR and "went wrong on my side" in answer["value"]["message"]
    [said] = await teams.say("help")
    assert "went wrong on my side" in said.text
    assert "the engine fell over" not in caplog.text


# -- 2. malformed mention entities ---------------------------------------------

GOOD_MENTION = {"type": "mention", "mentioned": {"id": BOT["id"], "name": "peerbot"}, "text": "<at>peerbot</at>"}
MALFORMED = [
    {"type": "mention"},
    {"type": "mention", "mentioned": "28:peerbot-bot", "text": "<at>peerbot</at>"},
    {"type": "mention", "mentioned": {"id": BOT["id"]}},
    {"type": "mention", "mentioned": {"id": BOT["id"]}, "text": 5},
    {"type": "mention", "mentioned": {"name": "no id"}, "text": "<at>x</at>"},
    {"type": "mention", "mentioned": None, "text": None},
    {"type": "mention", "mentioned": [1, 2], "text": ["<at>"]},
    "mention",
    7,
    {"no": "type"},
    {"type": 5},
]


async def test_malformed_mentions_are_skipped_and_a_good_one_is_still_stripped(teams: Teams):
    [plain] = await teams.say("help")
    channel = {"conversation": "19:general@thread.tacv2;messageid=9", "conversation_type": "channel"}
    for bad in MALFORMED:
        # Alone, the words still reach the bot (any stray "@peerbot" is read around).
        [reply] = await teams.say("help", entities=[bad])
        assert reply.text == plain.text, bad
        # Next to a well-formed mention of the bot, that one is still taken out.
        [reply] = await teams.say("<at>peerbot</at> help", entities=[bad, GOOD_MENTION, bad], conversation="a:chat-ada")
        assert reply.text == plain.text, bad
    [reply] = await teams.say("<at>peerbot</at> help", entities=MALFORMED + [GOOD_MENTION], conversation="a:chat-ada")
    assert reply.text == plain.text
    assert (await teams.post(activity(teams.connector, text="help", entities="not a list"))).status == 201
    assert (await teams.post(activity(teams.connector, text="help", entities=MALFORMED, **channel))).status == 201


# -- 3. acknowledged first ------------------------------------------------------


class HangingConnector:
    """A loopback socket that accepts, reads the request and never answers."""

    def __init__(self):
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.AbstractServer | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.requests.append(await reader.read(65536))
        await asyncio.Event().wait()

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.server.close()


@pytest.fixture
async def hanging():
    fake = HangingConnector()
    await fake.start()
    yield fake
    await fake.close()


async def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_message_is_acknowledged_at_once_while_the_connector_hangs(teams: Teams, hanging: HangingConnector):
    platform = teams.platform
    platform.drain_seconds = 0.2
    body = activity(teams.connector, text="help", serviceUrl=hanging.url)
    started = time.monotonic()
    response = await teams.client.post("/api/messages", json=body)
    took = time.monotonic() - started
    assert response.status == 201 and took < 0.5, took
    await wait_until(lambda: any(b"/v3/conversations/" in r for r in hanging.requests))  # the reply was attempted
    assert len(platform._turns) == 1  # still waiting on the connector, apart from the request
    again = time.monotonic()
    assert (await teams.client.post("/api/messages", json=body)).status == 201  # Teams redelivers: taken, not answered again
    assert time.monotonic() - again < 0.5
    await platform.stop()
    assert not platform._turns  # cancelled and awaited at shutdown: nothing left running
    rows = await teams.runtime.store.run(lambda: list(teams.runtime.store.db.query("select * from teams_activities")))
    assert len(rows) == 1


async def test_a_slow_connector_gets_every_reply_once_after_the_acknowledgement(teams: Teams):
    calls = teams.connector.calls
    teams.connector.delay = 1.0
    body = activity(teams.connector, text="help")
    started = time.monotonic()
    first, again = await asyncio.gather(*(teams.client.post("/api/messages", json=body) for _ in range(2)))
    assert (first.status, again.status) == (201, 201) and time.monotonic() - started < 0.5
    assert calls == []
    await teams.platform.settle(5)
    assert len(teams.connector.to("a:chat-ada")) == 1


async def test_a_card_press_is_answered_without_waiting_for_the_replies_it_sends(teams: Teams):
    [start] = await teams.say("concern")
    release = teams.connector.held = asyncio.Event()
    from tests.teams_support import pressed

    press = activity(teams.connector, "invoke", name="adaptiveCard/action",
                     value={"action": {"type": "Action.Execute", "verb": "peerbot", "data": pressed(start.card, "With my name")}})
    started = time.monotonic()
    response = await teams.client.post("/api/messages", json=press)
    assert response.status == 200 and time.monotonic() - started < 0.5
    assert (await response.json())["statusCode"] == 200
    assert teams.connector.calls[-1] is not None and len(teams.connector.calls) == 1  # only the card it was pressed on
    release.set()
    await teams.platform.settle(5)
    [_, form] = teams.connector.calls
    assert form.card is not None and form.card != start.card  # the form, sent after the answer


async def test_a_turn_that_outlives_its_time_is_stopped_and_logged(teams: Teams, hanging: HangingConnector, caplog):
    platform = teams.platform
    platform.turn_seconds = 0.3
    with caplog.at_level(logging.WARNING):
        response = await teams.client.post("/api/messages", json=activity(teams.connector, text="help", serviceUrl=hanging.url))
        assert response.status == 201
        await platform.settle(3)
    assert not platform._turns
    assert "took longer than" in caplog.text


async def test_messages_in_one_conversation_are_still_answered_in_the_order_they_came(teams: Teams, monkeypatch):
    handle = teams.runtime.engine.handle
    first_in = asyncio.Event()

    async def slow_first(msg, **kwargs):
        if msg.text == "help":  # the first message takes its time
            first_in.set()
            await asyncio.sleep(0.3)
        return await handle(msg, **kwargs)

    monkeypatch.setattr(teams.runtime.engine, "handle", slow_first)
    await teams.client.post("/api/messages", json=activity(teams.connector, text="help"))
    await first_in.wait()
    await teams.client.post("/api/messages", json=activity(teams.connector, text="what is peer support"))
    await teams.platform.settle(5)
    [first, second] = teams.connector.to("a:chat-ada")
    [plain_help] = await teams.say("help")
    assert first.text == plain_help.text and second.text != plain_help.text

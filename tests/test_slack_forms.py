"""Forms on Slack: opened as modals, answers checked next to their fields,
anonymous forms stripped of the person on arrival and answered only in the
modal. The intents here stand in for check-ins and concerns, which land
separately: whatever they do, Slack shows it the same generic way."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bot.engine import Engine
from bot.model import Action, FieldKind, Form, FormField, Inbound, Option, Reply
from intents import build_intents
from intents.base import Command, Context, Intent
from tests.slack_fake import Bot, FakeSlack, settings, shown_text, slack_api, start_bot  # noqa: F401

SECRET_ANSWER = "my manager keeps asking me to chart clinical notes"


def checkin_form(token: str = "tok-1") -> Form:
    return Form(
        id="probe:checkin",
        title="A quick, anonymous check-in about your week",
        intro="Nobody sees who answered.",
        fields=[
            FormField(name="mood", label="How was your week?", kind=FieldKind.scale, min=1, max=5),
            FormField(name="role", label="Were you asked to do non-peer work?", kind=FieldKind.choice,
                      options=[Option(label="Yes", value="yes"), Option(label="No", value="no")]),
            FormField(name="note", label="Anything else?", kind=FieldKind.long_text, required=False, max_length=500),
        ],
        sensitive=True,
        anonymous=True,
        hidden={"token": token},
    )


class Probe(Intent):
    """Commands, a button, and an anonymous sensitive form, like the check-in intent will have."""

    name = "probe"
    commands = (Command("probe", "open the test check-in"),)

    def __init__(self) -> None:
        self.received: list[tuple[Inbound, dict[str, Any]]] = []

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        return [Reply(text="Here's this week's check-in.", form=checkin_form())]

    async def on_action(self, action: Action, msg: Inbound, ctx: Context) -> list[Reply]:
        return [Reply(form=checkin_form())]

    def form(self, name: str, ctx: Context) -> Form | None:
        return checkin_form() if name == "checkin" else None

    async def on_submission(self, name: str, values: dict[str, Any], msg: Inbound, ctx: Context) -> list[Reply]:
        self.received.append((msg, values))
        return [Reply(text="Thank you. Your answers are in, with no name attached.")]


class Concern(Intent):
    """Stands in for the concern intent: the flag shortcut opens its form."""

    name = "concern"

    async def on_action(self, action: Action, msg: Inbound, ctx: Context) -> list[Reply]:
        form = Form(id="concern:raise", title="Flag to a peer supervisor", fields=[
            FormField(name="what", label="What happened?", kind=FieldKind.long_text, initial=action.value)], sensitive=True)
        return [Reply(form=form)]


@pytest.fixture
async def probe_bot(aiohttp_client, settings, runtime, slack_api) -> tuple[Bot, Probe]:
    probe = Probe()
    intents = build_intents()
    # The stand-in concern replaces the real one, so the test shows Slack's
    # generic handling whatever the real intent does.
    others = [i for i in intents[:-1] if i.name != "concern"]
    runtime.engine = Engine(settings, runtime.store, [*others, probe, Concern(), intents[-1]], now=runtime.engine.now)
    return await start_bot(aiohttp_client, settings, runtime, slack_api), probe


async def open_checkin(bot: Bot, slack_api: FakeSlack) -> dict[str, Any]:
    await bot.command("/probe")
    [opened] = await slack_api.wait_for("views.open")
    assert opened["trigger_id"] == "trigger-1"
    return opened["view"]


async def test_a_form_opens_as_a_modal_with_one_input_per_field(probe_bot, slack_api: FakeSlack):
    bot, _ = probe_bot
    view = await open_checkin(bot, slack_api)
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24
    assert inputs["mood"]["element"]["type"] == "radio_buttons" and len(inputs["mood"]["element"]["options"]) == 5
    assert inputs["role"]["element"]["type"] == "radio_buttons"
    assert inputs["note"]["element"]["multiline"] is True and inputs["note"]["optional"] is True
    assert "tok-1" in view["private_metadata"]  # hidden values travel with the modal
    [lead] = await slack_api.wait_for_response()
    assert "this week's check-in" in shown_text(lead)


async def test_an_anonymous_answer_reaches_the_intent_without_the_person(probe_bot, slack_api: FakeSlack, caplog):
    caplog.set_level(logging.DEBUG)
    bot, probe = probe_bot
    view = await open_checkin(bot, slack_api)
    await slack_api.wait_for_response()
    looked_up, logged_before = len(slack_api.of("users.info")), len(caplog.records)
    response = await bot.submit(view, {"mood": "4", "role": "yes", "note": SECRET_ANSWER}, user="U1")
    assert response.status == 200
    closing = await response.json()
    assert closing["response_action"] == "update"
    assert "no name attached" in shown_text(closing["view"])
    [(msg, values)] = probe.received
    assert msg.user == "anonymous" and msg.conversation == "anonymous" and msg.user_name is None
    assert values == {"mood": 4, "role": "yes", "note": SECRET_ANSWER, "token": "tok-1"}
    await asyncio.sleep(0.2)
    # Never echoed into a direct message, never looked up, never logged.
    assert slack_api.of("chat.postMessage") == [] and len(slack_api.of("users.info")) == looked_up
    logged = "\n".join(r.getMessage() for r in caplog.records[logged_before:] if r.name != "aiohttp.access")
    assert SECRET_ANSWER not in logged and "U1" not in logged


async def test_answers_that_need_another_look_are_shown_next_to_their_field(probe_bot, slack_api: FakeSlack):
    bot, probe = probe_bot
    view = await open_checkin(bot, slack_api)
    response = await bot.submit(view, {"mood": "9", "role": "maybe", "note": None})
    body = await response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"mood", "role"}
    assert probe.received == []


async def test_a_form_in_a_direct_message_waits_behind_a_button(probe_bot, slack_api: FakeSlack):
    bot, _ = probe_bot
    await bot.dm("/probe")
    [posted] = await slack_api.wait_for("chat.postMessage")
    [opener] = [b for block in posted["blocks"] if block["type"] == "actions" for b in block["elements"]]
    assert opener["text"]["text"].startswith("Open: ")
    # The questions themselves are never asked as typed messages.
    assert "How was your week" not in str(posted)
    await bot.press(opener)
    [opened] = await slack_api.wait_for("views.open")
    assert opened["view"]["callback_id"] == "peerbot_form"


async def test_the_flag_shortcut_opens_the_concern_form_with_the_message_quoted(probe_bot, slack_api: FakeSlack):
    bot, _ = probe_bot
    await bot.interact({
        "type": "message_action", "callback_id": "flag_to_supervisor",
        "user": {"id": "U1", "username": "ada", "team_id": "T1"}, "channel": {"id": "C1", "name": "general"},
        "message": {"type": "message", "user": "U2", "text": "you &amp; I cover <https://x.org|intake> tonight", "ts": "7.7"},
        "trigger_id": "trigger-5", "response_url": f"{slack_api.url}/respond/flag",
    })
    [opened] = await slack_api.wait_for("views.open")
    [field] = [b for b in opened["view"]["blocks"] if b["type"] == "input"]
    assert field["element"]["initial_value"] == "you & I cover intake tonight"


async def test_a_button_inside_a_modal_answers_in_the_modal(probe_bot, slack_api: FakeSlack):
    bot, _ = probe_bot
    await bot.interact({
        "type": "block_actions", "user": {"id": "U1", "username": "ada", "team_id": "T1"},
        "container": {"type": "view", "view_id": "V5"}, "trigger_id": "trigger-6",
        "view": {"id": "V5", "type": "modal", "title": {"type": "plain_text", "text": "Done"}},
        "actions": [{"action_id": "probe:again#0", "value": "", "type": "button", "block_id": "b", "action_ts": "1"}],
    })
    [updated] = await slack_api.wait_for("views.update")
    assert updated["view_id"] == "V5" and updated["view"]["callback_id"] == "peerbot_form"

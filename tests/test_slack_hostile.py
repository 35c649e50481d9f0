"""Signed but malformed Slack bodies: a 400 and one log line, never a 500.

A valid signature only says who sent a body, not that it has Slack's shape;
these bodies are signed with the real secret so they get past the signature
check and reach the shape check (bot/channels/slack/shapes.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse

import pytest

from tests.slack_fake import Bot, FakeSlack, bot, settings, slack_api  # noqa: F401

SECRET_WORDS = "my manager keeps asking me to drug test people"
FORM = "application/x-www-form-urlencoded"


def event(inner) -> dict:
    return {"type": "event_callback", "team_id": "T1", "event_id": "EvX", "event": inner}


def user():
    return {"id": "U1", "username": "ada", "team_id": "T1"}


MALFORMED_JSON = {
    "event is a string": event(SECRET_WORDS),
    "a JSON array": [event({"type": "message", "text": SECRET_WORDS})],
    "team_id is a list": {**event({"type": "message", "user": "U1", "channel": "DU1", "channel_type": "im", "text": SECRET_WORDS}), "team_id": ["T1"]},
    "no type": {"event": {"type": "message", "text": SECRET_WORDS}},
    "event text is an object": event({"type": "message", "user": "U1", "channel": "DU1", "channel_type": "im", "text": {"t": SECRET_WORDS}}),
    "event user is a list": event({"type": "app_mention", "user": ["U1"], "channel": "C1", "text": SECRET_WORDS}),
    "mention channel is an object": event({"type": "app_mention", "user": "U1", "channel": {"id": "C1"}, "text": SECRET_WORDS}),
    "authorizations are strings": {**event({"type": "message"}), "authorizations": ["T1"]},
    "challenge is a number": {"type": "url_verification", "challenge": 12},
    "nested too deep": event({"type": "message", "message": {"message": {"message": {"message": {"message": {"message": {"message": {"message": {"message": {}}}}}}}}}}),
}

MALFORMED_PAYLOADS = {
    "actions is empty": {"type": "block_actions", "user": user(), "actions": []},
    "actions is a string": {"type": "block_actions", "user": user(), "actions": SECRET_WORDS},
    "an action without an id": {"type": "block_actions", "user": user(), "actions": [{"value": SECRET_WORDS}]},
    "user is a string": {"type": "block_actions", "user": "U1", "actions": [{"action_id": "x"}]},
    "channel is a string": {"type": "block_actions", "user": user(), "channel": "C1", "actions": [{"action_id": "x"}]},
    "view is a string": {"type": "view_submission", "user": user(), "view": SECRET_WORDS},
    "view has no type": {"type": "view_submission", "user": user(), "view": {"callback_id": "peerbot_form"}},
    "state values are strings": {"type": "view_submission", "user": user(), "view": {"type": "modal", "callback_id": "peerbot_form", "state": {"values": {"b": SECRET_WORDS}}}},
    "a submitted value is a number": {"type": "view_submission", "user": user(), "view": {"type": "modal", "callback_id": "peerbot_form", "state": {"values": {"b": {"value": {"value": 5}}}}}},
    "flag without a response_url": {"type": "message_action", "callback_id": "flag_to_supervisor", "user": user(), "message": {"text": SECRET_WORDS}},
    "a retired workflow step": {"type": "workflow_step_edit", "callback_id": "x", "user": user()},
}

MALFORMED_FORMS = {
    "payload is not JSON": "payload=" + urllib.parse.quote(SECRET_WORDS),
    "payload is a JSON array": "payload=" + urllib.parse.quote("[1, 2]"),
    "a command without a user": urllib.parse.urlencode({"command": "/checkin", "text": SECRET_WORDS, "response_url": "x"}),
    "a command that isn't one": urllib.parse.urlencode({"command": "checkin", "user_id": "U1", "response_url": "x"}),
    "neither a command nor a payload": "a=b",
}


def _bodies():
    for name, body in MALFORMED_JSON.items():
        yield pytest.param(json.dumps(body), "application/json", id=name)
    for name, body in MALFORMED_PAYLOADS.items():
        yield pytest.param(urllib.parse.urlencode({"payload": json.dumps(body)}), FORM, id=name)
    for name, body in MALFORMED_FORMS.items():
        yield pytest.param(body, FORM, id=name)


@pytest.mark.parametrize("body,content_type", list(_bodies()))
async def test_a_signed_but_malformed_body_gets_400_and_one_quiet_log_line(bot: Bot, slack_api: FakeSlack, caplog, body, content_type):
    caplog.set_level(logging.INFO)
    response = await bot.post(body, content_type)
    assert response.status == 400
    assert "not shaped like a Slack payload" in await response.text()
    await asyncio.sleep(0.05)
    mine = [r for r in caplog.records if r.name.startswith("bot.")]
    assert len(mine) == 1 and mine[0].levelno == logging.WARNING
    assert "malformed" in mine[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert SECRET_WORDS not in caplog.text
    assert slack_api.calls == []


async def test_a_forged_malformed_body_is_still_a_401_first(bot: Bot, slack_api: FakeSlack):
    response = await bot.post(json.dumps([1]), "application/json", secret="0" * 32)
    assert response.status == 401


async def test_unknown_modals_shortcuts_and_events_are_acknowledged_not_404(bot: Bot, slack_api: FakeSlack, caplog):
    old_modal = {"type": "view_submission", "user": user(), "view": {"id": "V1", "type": "modal", "callback_id": "from_an_old_version", "state": {"values": {}}}}
    old_shortcut = {"type": "shortcut", "callback_id": "from_an_old_version", "user": user(), "trigger_id": "t"}
    old_message_action = {"type": "message_action", "callback_id": "from_an_old_version", "user": user(), "response_url": "x", "message": {"text": "hi"}}
    unknown_type = {"type": "block_suggestion", "user": user(), "action_id": "x"}
    answers = [await bot.interact(payload) for payload in (old_modal, old_shortcut, old_message_action, unknown_type)]
    answers.append(await bot.event({"type": "reaction_added", "user": "U1", "reaction": "tada", "item": {"type": "message", "channel": "C1", "ts": "1.1"}}))
    assert [a.status for a in answers] == [200] * 5
    assert [await a.text() for a in answers] == [""] * 5
    assert not any(r.exc_info for r in caplog.records)
    await asyncio.sleep(0.1)
    assert [c.method for c in slack_api.calls if c.method != "auth.test"] == []


async def test_real_shapes_still_work_after_the_check(bot: Bot, slack_api: FakeSlack):
    """The check is strict about types, not about fields it doesn't know."""
    assert (await bot.dm("help")).status == 200
    assert (await bot.command("/checkin", "settings")).status == 200
    await slack_api.wait_for("chat.postMessage")
    await slack_api.wait_for_response()


async def test_null_where_an_id_belongs_is_taken_quietly(bot: Bot, slack_api: FakeSlack, caplog):
    """Found by the fuzz: a null channel reached ``str.startswith`` in a listener
    that runs after the acknowledgement ("Failed to run an internal function")."""
    caplog.set_level(logging.INFO)
    dm = await bot.event({"type": "message", "channel": None, "user": "U1", "text": "help", "ts": "1.1", "channel_type": "im"})
    mention = await bot.event({"type": "app_mention", "channel": None, "user": "U1", "text": "help", "ts": "1.2"})
    flag = await bot.interact({"type": "message_action", "callback_id": "flag_to_supervisor", "user": user(), "channel": {"id": None},
                               "response_url": f"{slack_api.url}/respond/f", "trigger_id": "t", "message": {"text": "hi", "ts": "1.1"}})
    assert [dm.status, mention.status, flag.status] == [200, 200, 200]
    await asyncio.sleep(0.5)
    assert not [r for r in caplog.records if r.exc_info or r.getMessage().startswith("Failed to run")]

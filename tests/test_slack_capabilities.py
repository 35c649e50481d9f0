"""Check-ins, pulse surveys and concerns, end to end on Slack: signed slash
commands, buttons, modals and shortcuts posted to the real aiohttp app, the
real intents deciding, and the fake Slack Web API recording what a person
would see (and proving what they never see, such as answers in a DM)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.channels.slack import blocks
from tests.conftest import Clock
from tests.slack_fake import SUPERVISORS, Bot, FakeSlack, buttons, shown_text, slack_api, slack_settings, start_bot  # noqa: F401

NOTE = "the intake desk keeps asking me to do the urine screens"
CHECKIN = {"energy": "4", "supported": "3", "peer-work": "2", "note": NOTE}


@pytest.fixture
def settings(tmp_path, slack_api: FakeSlack):
    # Three answers release a team's results, so a pulse needs only three people.
    return slack_settings(tmp_path, slack_api, min_group=3, concern_key=None)


@pytest.fixture
async def bot(aiohttp_client, settings, runtime, slack_api) -> Bot:
    return await start_bot(aiohttp_client, settings, runtime, slack_api)


# -- helpers -------------------------------------------------------------------


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for element in buttons(message):
        if element["text"]["text"] == label:
            return element
    raise AssertionError(f"no {label!r} button in {[e['text']['text'] for e in buttons(message)]}")


def dms(fake: FakeSlack, user: str) -> list[dict[str, Any]]:
    return [call for call in fake.of("chat.postMessage") if call["channel"] == f"D{user}"]


async def dm_count(fake: FakeSlack, user: str, count: int) -> list[dict[str, Any]]:
    await fake.wait_for("chat.postMessage", count=len(fake.of("chat.postMessage")) - len(dms(fake, user)) + count)
    return dms(fake, user)


async def press_in_modal(bot: Bot, view: dict[str, Any], element: dict[str, Any], *, user: str = "U1", view_id: str = "V9") -> Any:
    """A button inside a modal (its closing view), as Slack sends it."""
    return await bot.interact({
        "type": "block_actions", "user": {"id": user, "username": "ada", "team_id": "T1"},
        "container": {"type": "view", "view_id": view_id}, "trigger_id": "trigger-7",
        "view": {**view, "id": view_id},
        "actions": [{**element, "block_id": "b", "action_ts": "1"}],
    })


async def join(bot: Bot, fake: FakeSlack, user: str, team: str = "north") -> None:
    before = len(fake.responses)
    await bot.command("/checkin", f"join {team}", user=user)
    [*_, said] = await fake.wait_for_response(before + 1)
    assert f"You're in the {team} team" in shown_text(said)


async def answer_survey(bot: Bot, fake: FakeSlack, invitation: dict[str, Any], start_label: str, values: dict[str, Any], *, user: str) -> dict[str, Any]:
    """Start from the DM's button, fill the modal, press Send in the modal's
    closing view; return the view the person is left with."""
    opened = len(fake.of("views.open"))
    await bot.press(button(invitation, start_label), user=user, channel=f"D{user}")
    view = (await fake.wait_for("views.open", opened + 1))[-1]["view"]
    response = await bot.submit(view, values, user=user)
    closing = (await response.json())["view"]
    updates = len(fake.of("views.update"))
    await press_in_modal(bot, closing, button(closing, "Send"), user=user)
    return (await fake.wait_for("views.update", updates + 1))[-1]["view"]


# -- 1. a check-in -------------------------------------------------------------


async def test_a_check_in_goes_from_slash_command_to_one_stored_anonymous_answer(bot: Bot, slack_api: FakeSlack):
    await join(bot, slack_api, "U1")
    await bot.command("/checkin", user="U1")
    # The invitation comes as a direct message (sent directly: it carries the token).
    [invitation] = await dm_count(slack_api, "U1", 1)
    assert "check-in time for the north team" in shown_text(invitation)
    assert await bot.runtime.store.outbox.counts() == {}  # never queued next to the person
    start = button(invitation, "Start check-in")

    await bot.press(start, user="U1", channel="DU1")
    [opened] = await slack_api.wait_for("views.open")
    assert opened["trigger_id"] == "trigger-2"
    view = opened["view"]
    metadata = json.loads(view["private_metadata"])
    assert metadata["h"]["token"] == start["value"] and metadata["a"] is True
    assert {b["block_id"] for b in view["blocks"] if b["type"] == "input"} == set(CHECKIN)

    looked_up = len(slack_api.of("users.info"))
    response = await bot.submit(view, CHECKIN, user="U1")
    body = await response.json()
    assert body["response_action"] == "update"
    closing = body["view"]
    assert "Here is exactly what will be stored" in shown_text(closing) and NOTE in shown_text(closing)
    assert [e["text"]["text"] for e in buttons(closing)] == ["Send", "Change my answers", "Don't send"]
    assert len(slack_api.of("users.info")) == looked_up  # the anonymous submitter isn't even looked up

    await press_in_modal(bot, closing, button(closing, "Send"))
    [thanks] = await slack_api.wait_for("views.update")
    assert thanks["view_id"] == "V9" and "Your answers are in, stored without your name" in shown_text(thanks["view"])
    [rnd] = await bot.runtime.store.surveys.open_rounds(team="north")
    assert await bot.runtime.store.surveys.response_count(rnd.id) == 1

    # Nothing with the answers ever went to a direct message (or anywhere but the modal).
    for call in slack_api.calls:
        if call.method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            assert NOTE not in json.dumps(call.args)
    assert all(NOTE not in json.dumps(r) for r in slack_api.responses)

    # Pressing Send again stores nothing twice.
    await press_in_modal(bot, closing, button(closing, "Send"))
    [_, again] = await slack_api.wait_for("views.update", 2)
    assert "already been answered" in shown_text(again["view"])
    assert await bot.runtime.store.surveys.response_count(rnd.id) == 1


async def test_change_my_answers_turns_the_modal_back_into_the_filled_form(bot: Bot, slack_api: FakeSlack):
    await join(bot, slack_api, "U1")
    await bot.command("/checkin", user="U1")
    [invitation] = await dm_count(slack_api, "U1", 1)
    await bot.press(button(invitation, "Start check-in"), user="U1", channel="DU1")
    [opened] = await slack_api.wait_for("views.open")
    closing = (await (await bot.submit(opened["view"], CHECKIN)).json())["view"]
    await press_in_modal(bot, closing, button(closing, "Change my answers"))
    [again] = await slack_api.wait_for("views.update")
    form = again["view"]
    assert form["callback_id"] == blocks.FORM_CALLBACK and json.loads(form["private_metadata"])["a"] is True
    note = next(b for b in form["blocks"] if b.get("block_id") == "note")
    assert note["element"]["initial_value"] == NOTE


async def test_a_scheduled_check_in_prompt_reaches_slack_people_by_direct_message(bot: Bot, slack_api: FakeSlack):
    await join(bot, slack_api, "U1")
    await join(bot, slack_api, "U2")
    await bot.runtime.run_job("checkin:prompt", {"team": "north"})
    for user in ("U1", "U2"):
        [prompt] = dms(slack_api, user)
        assert button(prompt, "Start check-in")["value"]
    assert {c["users"] for c in slack_api.of("conversations.open")} == {"U1", "U2"}
    # Run again (a restart, a repeated job): nobody gets a second prompt.
    await bot.runtime.run_job("checkin:prompt", {"team": "north"})
    assert len(slack_api.of("chat.postMessage")) == 2


# -- 3. a pulse ------------------------------------------------------------------


PULSE_AGREE = None  # filled from the instrument in the test


async def run_pulse(bot: Bot, fake: FakeSlack, members: list[str], answers: dict[str, str]) -> None:
    before = {user: len(dms(fake, user)) for user in members}
    responses = len(fake.responses)
    await bot.command("/pulse", "start co-optation --team north --days 5", user="U-SAM")
    [*_, confirm] = await fake.wait_for_response(responses + 1)
    assert f"sent to {len(members)} people" in shown_text(confirm)
    for user in members:
        invitation = (await dm_count(fake, user, before[user] + 1))[-1]
        assert "co-optation" in shown_text(invitation).lower()
        done = await answer_survey(bot, fake, invitation, "Start the pulse", answers, user=user)
        assert "Your answers are in" in shown_text(done)


async def test_a_pulse_reaches_every_member_and_its_summary_and_chart_reach_the_supervisors(bot: Bot, slack_api: FakeSlack, clock: Clock):
    members = ["U1", "U2", "U3"]
    for user in members:
        await join(bot, slack_api, user)
    pulse = bot.runtime.engine.intent("pulse")
    instrument = pulse.instruments(bot.runtime.engine.system_context())["co-optation"]
    answers = {item.id: str(item.scale.min) for item in instrument.scale_items()}
    courier = bot.runtime.courier

    await run_pulse(bot, slack_api, members, answers)
    responses = len(slack_api.responses)
    await bot.command("/pulse", "close --team north", user="U-SAM")
    [*_, closed] = await slack_api.wait_for_response(responses + 1)
    assert "results went to the supervisors' channel" in shown_text(closed)
    await courier.deliver_due()
    [summary] = [c for c in slack_api.of("chat.postMessage") if c["channel"] == SUPERVISORS]
    assert "3 people answered" in shown_text(summary)
    assert slack_api.of("files.getUploadURLExternal") == []  # one pulse: no trend yet

    clock.advance(days=31)
    await run_pulse(bot, slack_api, members, {k: str(int(v) + 1) for k, v in answers.items()})
    await bot.command("/pulse", "close --team north", user="U-SAM")
    await slack_api.wait_for_response(len(slack_api.responses) + 1)
    await courier.deliver_due()
    summaries = [c for c in slack_api.of("chat.postMessage") if c["channel"] == SUPERVISORS]
    assert len(summaries) == 2 and "since last time" in shown_text(summaries[1])
    # The trend chart goes up with the files API, to the supervisors' channel (and to each member).
    shared = [c["channel_id"] for c in slack_api.of("files.completeUploadExternal")]
    assert SUPERVISORS in shared and {f"D{u}" for u in members} <= set(shared)
    assert slack_api.uploads and all(upload.count(b"\x89PNG") == 1 for upload in slack_api.uploads)
    assert await bot.runtime.store.outbox.counts() == {"delivered": len(members) * 2 + 2}


# -- 4. a concern ----------------------------------------------------------------


CONCERN = {"category": "scope", "what": "I was asked to supervise a urine screen on my own.", "about": "no", "follow_up": "yes", "timing": "now"}


async def raise_concern(bot: Bot, fake: FakeSlack, mode: str, *, user: str = "U1") -> dict[str, Any]:
    """/concern, a choice, the modal, the preview, Send: the receipt shown."""
    await bot.command("/concern", user=user)
    [*_, start] = await fake.wait_for_response(len(fake.responses) + 1 if not fake.responses else 1)
    return start


async def test_a_named_concern_is_posted_to_the_supervisors_and_acknowledged_in_place(bot: Bot, slack_api: FakeSlack):
    await bot.command("/concern", user="U1")
    [start] = await slack_api.wait_for_response()
    assert "who sees what" in shown_text(start)
    named = button(start, "With my name")
    # The choice arrives from an ephemeral message: answered through its response_url.
    await bot.interact({
        "type": "block_actions", "user": {"id": "U1", "username": "ada", "team_id": "T1"},
        "container": {"type": "message", "message_ts": "5.5", "channel_id": "C1", "is_ephemeral": True},
        "channel": {"id": "C1", "name": "general"}, "trigger_id": "trigger-8",
        "response_url": f"{slack_api.url}/respond/eph", "actions": [{**named, "block_id": "b", "action_ts": "1"}],
    })
    [opened] = await slack_api.wait_for("views.open")
    view = opened["view"]
    assert json.loads(view["private_metadata"])["a"] is False
    fields = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    response = await bot.submit(view, {k: v for k, v in CONCERN.items() if k in fields}, user="U1")
    closing = (await response.json())["view"]
    assert "Here is exactly what I'd send" in shown_text(closing) and "Your name (Ada)" in shown_text(closing)
    assert [e["text"]["text"] for e in buttons(closing)] == ["Send", "Edit", "Cancel"]

    await press_in_modal(bot, closing, button(closing, "Send"), user="U1")
    [receipt] = await slack_api.wait_for("views.update")
    assert "Your reference is" in shown_text(receipt["view"])
    ref = shown_text(receipt["view"]).split("Your reference is ")[1][:6]
    await bot.runtime.courier.deliver_due()
    [post] = [c for c in slack_api.of("chat.postMessage") if c["channel"] == SUPERVISORS]
    assert ref in shown_text(post) and "urine screen" in shown_text(post)
    assert [e["text"]["text"] for e in buttons(post)][:3] == ["Acknowledge", "I'll take this", "Resolve"]
    posted_ts = slack_api.history[SUPERVISORS][0]["ts"]

    # A supervisor presses Acknowledge on the post in the channel.
    await bot.press(button(post, "Acknowledge"), user="U-SAM", channel=SUPERVISORS, message_ts=posted_ts)
    [_, done] = await slack_api.wait_for_response(2)
    assert "is acknowledged" in shown_text(done)  # the supervisor sees that only themselves
    await bot.runtime.courier.deliver_due()  # what the server's courier does in the background
    [updated] = slack_api.of("chat.update")
    assert updated["channel"] == SUPERVISORS and updated["ts"] == posted_ts
    assert "acknowledged" in shown_text(updated).lower()
    assert "Acknowledge" not in [e["text"]["text"] for e in buttons(updated)]
    [told] = dms(slack_api, "U1")  # the reporter is told, in their direct messages
    assert f"Your concern {ref}" in shown_text(told) and "acknowledged" in shown_text(told)

"""Check-ins, pulse surveys and concerns, end to end on Slack: signed slash
commands, buttons, modals and shortcuts posted to the real aiohttp app, the
real intents deciding, and the fake Slack Web API recording what a person
would see (and proving what they never see, such as answers in a DM)."""

from __future__ import annotations

import asyncio
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
    return slack_settings(tmp_path, slack_api, min_group=3)


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


async def dm_count(fake: FakeSlack, user: str, count: int, timeout: float = 8.0) -> list[dict[str, Any]]:
    """Wait until ``user`` has had ``count`` direct messages (Bolt works after acknowledging)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(dms(fake, user)) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(dms(fake, user))} direct messages to {user}, expected {count}")
        await asyncio.sleep(0.01)
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
    """On the team's roster, as an admin put them there (the admin's own
    command is tested below, in test_an_admin_keeps_the_roster_in_slack)."""
    if await bot.runtime.store.surveys.team(team) is None:
        await bot.runtime.store.surveys.set_team(team, "wed", 10, "America/New_York")
    await bot.runtime.store.surveys.join(team, "slack", user)


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
    engine, seen = bot.runtime.engine, []
    handle = engine.handle

    async def spy(msg, **kw):
        seen.append(msg)
        return await handle(msg, **kw)

    engine.handle = spy
    response = await bot.submit(view, CHECKIN, user="U1")
    body = await response.json()
    [submitted] = seen
    assert (submitted.user, submitted.conversation, submitted.user_name) == ("anonymous", "anonymous", None)
    assert body["response_action"] == "update"
    closing = body["view"]
    assert "Here is exactly what will be stored" in shown_text(closing) and NOTE in shown_text(closing)
    assert [e["text"]["text"] for e in buttons(closing)] == ["Send", "Change my answers", "Don't send"]
    assert len(slack_api.of("users.info")) == looked_up  # the anonymous submitter isn't even looked up

    await press_in_modal(bot, closing, button(closing, "Send"))
    [thanks] = await slack_api.wait_for("views.update")
    assert thanks["view_id"] == "V9" and "Your answers are in, without your name" in shown_text(thanks["view"])
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
    assert "Already sent: your answers are in" in shown_text(again["view"])
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

    # Resolve asks for a short note in a modal, then updates the same post again.
    await bot.press(button(updated, "Resolve"), user="U-SAM", channel=SUPERVISORS, message_ts=posted_ts)
    [_, note_form] = await slack_api.wait_for("views.open", 2)
    closing = await (await bot.submit(note_form["view"], {"text": "Talked with the intake lead; screens are nursing work."}, user="U-SAM")).json()
    assert f"{ref} is resolved" in shown_text(closing["view"])
    await bot.runtime.courier.deliver_due()
    [_, resolved] = slack_api.of("chat.update")
    assert resolved["ts"] == posted_ts and buttons(resolved) == []
    assert "screens are nursing work" in shown_text(dms(slack_api, "U1")[-1])


async def press_ephemeral(bot: Bot, element: dict[str, Any], *, user: str = "U1", channel: str = "C1") -> Any:
    """A button on an ephemeral message (a slash command's or a shortcut's answer)."""
    return await bot.interact({
        "type": "block_actions", "user": {"id": user, "username": "ada", "team_id": "T1"},
        "container": {"type": "message", "message_ts": "5.5", "channel_id": channel, "is_ephemeral": True},
        "channel": {"id": channel, "name": "general"}, "trigger_id": "trigger-8",
        "response_url": f"{bot.fake.url}/respond/eph", "actions": [{**element, "block_id": "b", "action_ts": "1"}],
    })


@pytest.fixture
def relay_settings(tmp_path, slack_api: FakeSlack):
    from cryptography.fernet import Fernet

    return slack_settings(tmp_path, slack_api, concern_key=Fernet.generate_key().decode())


async def test_the_flag_shortcut_raises_an_anonymous_concern_with_the_message_quoted(
    aiohttp_client, relay_settings, clock, slack_api: FakeSlack
):
    from bot.runtime import build_runtime

    runtime = await build_runtime(relay_settings, now=clock)
    try:
        bot = await start_bot(aiohttp_client, relay_settings, runtime, slack_api)
        await bot.interact({
            "type": "message_action", "callback_id": "flag_to_supervisor",
            "user": {"id": "U1", "username": "ada", "team_id": "T1"}, "channel": {"id": "C1", "name": "general"},
            "message": {"type": "message", "user": "U2", "text": "can you cover the med count &amp; sign for it?", "ts": "7.7"},
            "trigger_id": "trigger-5", "response_url": f"{slack_api.url}/respond/flag",
        })
        [start] = await slack_api.wait_for_response()
        assert "flag a message to the peer supervisors" in shown_text(start)
        await press_ephemeral(bot, button(start, "Anonymously"))
        [opened] = await slack_api.wait_for("views.open")
        assert opened["trigger_id"] == "trigger-8"
        view = opened["view"]
        assert json.loads(view["private_metadata"])["a"] is True
        what = next(b for b in view["blocks"] if b.get("block_id") == "what")
        assert "can you cover the med count & sign for it?" in what["element"]["initial_value"]

        looked_up = len(slack_api.of("users.info"))
        values = {"category": "scope", "what": what["element"]["initial_value"] + " I said no.", "about": "no", "follow_up": "yes", "timing": "now"}
        closing = (await (await bot.submit(view, values, user="U1")).json())["view"]
        assert "No name" in shown_text(closing) and "med count" in shown_text(closing)
        await press_in_modal(bot, closing, button(closing, "Send"))
        [receipt] = await slack_api.wait_for("views.update")
        ref = shown_text(receipt["view"]).split("Your reference is ")[1][:6]
        assert len(slack_api.of("users.info")) == looked_up
        await bot.runtime.courier.deliver_due()
        [post] = [c for c in slack_api.of("chat.postMessage") if c["channel"] == SUPERVISORS]
        assert "med count" in shown_text(post) and "U1" not in json.dumps(post) and "Ada" not in shown_text(post)
        row = await bot.runtime.store.concerns.get(ref)
        assert row["reporter_id"] is None and not row["named"]

        # Acknowledged in place; the anonymous reporter hears through the locked link, by DM.
        ts = slack_api.history[SUPERVISORS][0]["ts"]
        await bot.press(button(post, "Acknowledge"), user="U-SAM", channel=SUPERVISORS, message_ts=ts)
        await slack_api.wait_for_response(2)
        await bot.runtime.courier.deliver_due()
        [updated] = slack_api.of("chat.update")
        assert updated["ts"] == ts and "acknowledged" in shown_text(updated).lower()
        [told] = dms(slack_api, "U1")
        assert f"Your concern {ref}" in shown_text(told)
        assert await bot.runtime.store.outbox.counts() == {"delivered": 2}  # the post and its update; the relay never queued
    finally:
        await runtime.close()


async def test_a_peer_sees_check_ins_and_help_on_the_home_tab_and_can_check_in_from_there(bot: Bot, slack_api: FakeSlack):
    await join(bot, slack_api, "U1")
    await bot.event({"type": "app_home_opened", "user": "U1", "channel": "DU1", "tab": "home"})
    [published] = await slack_api.wait_for("views.publish")
    home = published["view"]
    text = shown_text(home)
    assert "Check-ins" in text and "Team north: prompts on" in text
    assert "Things you can type" in text and "/checkin" in text and "/concern" in text
    assert "/pulse" in text  # on its own, a member's running pulse
    assert "/checkins" not in text and "/concerns" not in text  # for supervisors only
    labels = [e["text"]["text"] for e in buttons(home)]
    assert {"Check in now", "Not this week", "Raise a concern"} <= set(labels)

    await bot.interact({
        "type": "block_actions", "user": {"id": "U1", "username": "ada", "team_id": "T1"},
        "container": {"type": "view", "view_id": "VHOME"}, "trigger_id": "trigger-9",
        "view": {"id": "VHOME", "type": "home", **{k: v for k, v in home.items() if k != "type"}},
        "actions": [{**button(home, "Check in now"), "block_id": "b", "action_ts": "1"}],
    })
    [invitation] = await dm_count(slack_api, "U1", 1)
    assert button(invitation, "Start check-in")
    await slack_api.wait_for("views.publish", 2)  # the tab is drawn again


async def test_a_supervisor_sees_open_concerns_on_the_home_tab(bot: Bot, slack_api: FakeSlack):
    await bot.command("/concern", user="U1")
    [start] = await slack_api.wait_for_response()
    await press_ephemeral(bot, button(start, "Anonymously"))
    [opened] = await slack_api.wait_for("views.open")
    fields = {b["block_id"] for b in opened["view"]["blocks"] if b["type"] == "input"}
    closing = (await (await bot.submit(opened["view"], {k: v for k, v in CONCERN.items() if k in fields})).json())["view"]
    await press_in_modal(bot, closing, button(closing, "Send"))
    receipt = (await slack_api.wait_for("views.update"))[0]["view"]
    ref = shown_text(receipt).split("Your reference is ")[1][:6]
    await bot.event({"type": "app_home_opened", "user": "U-SAM", "channel": "DSAM", "tab": "home"})
    [published] = await slack_api.wait_for("views.publish")
    assert f"Open concerns: 1. {ref} (open)" in shown_text(published["view"])


async def test_a_long_note_in_any_script_survives_the_preview_buttons(bot: Bot, slack_api: FakeSlack):
    # 500 Cyrillic letters, the longest note: the preview's buttons carry
    # them and must still fit Slack's 2,000-character button value.
    note = "д" * 500
    await join(bot, slack_api, "U1")
    await bot.command("/checkin", user="U1")
    [invitation] = await dm_count(slack_api, "U1", 1)
    await bot.press(button(invitation, "Start check-in"), user="U1", channel="DU1")
    [opened] = await slack_api.wait_for("views.open")
    closing = (await (await bot.submit(opened["view"], {**CHECKIN, "note": note})).json())["view"]
    assert all(len(e.get("value", "")) <= blocks.BUTTON_VALUE for e in buttons(closing))
    await press_in_modal(bot, closing, button(closing, "Send"))
    [thanks] = await slack_api.wait_for("views.update")
    assert "Your answers are in" in shown_text(thanks["view"])
    [rnd] = await bot.runtime.store.surveys.open_rounds(team="north")
    assert await bot.runtime.store.surveys.response_count(rnd.id) == 1


async def test_an_admin_keeps_the_roster_in_slack_and_answers_a_request_to_join(bot: Bot, slack_api: FakeSlack):
    before = len(slack_api.responses)
    await bot.command("/checkins", "team north wed 10 America/Chicago", user="U-ROOT")
    await bot.command("/checkins", "members north add <@U1|ada>", user="U-ROOT")
    [*_, said] = await slack_api.wait_for_response(before + 2)
    assert "The north team (1): U1." in shown_text(said)
    await bot.runtime.courier.deliver_due()  # to other people, through the outbox
    [welcome] = await dm_count(slack_api, "U1", 1)
    assert "you've been added to the north team's check-ins" in shown_text(welcome)

    # Someone asks to join: the admin gets Approve and Decline, the person hears back.
    before = len(slack_api.responses)
    await bot.command("/checkin", "join north", user="U2")
    [*_, said] = await slack_api.wait_for_response(before + 1)
    assert "I've asked an admin to add you to the north team" in shown_text(said)
    assert [m.user_id for m in await bot.runtime.store.surveys.members("north")] == ["U1"]
    await bot.runtime.courier.deliver_due()
    [ask] = await dm_count(slack_api, "U-ROOT", 1)
    await bot.press(button(ask, "Approve"), user="U-ROOT", channel="DU-ROOT")
    for _ in range(400):  # Bolt acts after acknowledging
        if len(await bot.runtime.store.surveys.members("north")) == 2:
            break
        await asyncio.sleep(0.02)
    assert [m.user_id for m in await bot.runtime.store.surveys.members("north")] == ["U1", "U2"]
    for _ in range(400):  # and queues the answer to the person in the outbox
        await bot.runtime.courier.deliver_due()
        if dms(slack_api, "U2"):
            break
        await asyncio.sleep(0.02)
    [told] = dms(slack_api, "U2")
    assert "you're in the north team's check-ins now" in shown_text(told)

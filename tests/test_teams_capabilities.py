"""Check-ins and concerns, end to end on Microsoft Teams: real Bot Framework
activities (messages, card invokes, the message extension) posted to the
running app, the real intents deciding, and a fake connector recording
every reply, proactive send and update a person would see."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.teams_support import BOT, TENANT, Call, Teams, activity, card_text, connector, pressed, teams, walk  # noqa: F401
from tests.conftest import make_settings

SUPERVISORS = "19:supervisors@thread.tacv2"
NOTE = "the intake desk keeps asking me to do the urine screens"
CHECKIN = {"energy": "4", "supported": "3", "peer-work": "2", "note": NOTE}
CONCERN = {"category": "scope", "what": "I was asked to supervise a urine screen on my own.", "about": "no", "follow_up": "yes", "timing": "now"}
CHANNEL = {
    "conversation": SUPERVISORS + ";messageid=1", "conversation_type": "channel",
    "channelData": {"tenant": {"id": TENANT}, "channel": {"id": SUPERVISORS}, "team": {"id": "19:general@thread.tacv2"}},
}


@pytest.fixture
def teams_settings(tmp_path):
    from cryptography.fernet import Fernet

    return make_settings(tmp_path, supervisors="aad-sam", admins="aad-root", teams_local_testing=True,
                         min_group=3, concern_key=Fernet.generate_key().decode())


# -- helpers -------------------------------------------------------------------


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in walk(card) if str(e.get("type", "")).startswith("Input.")}


def labels(card: dict[str, Any]) -> list[str]:
    """The buttons a person sees (not the fallbacks for older clients)."""
    return [a["title"] for e in walk(card) if e.get("type") == "ActionSet" for a in e["actions"]]


def shown(response: dict[str, Any]) -> dict[str, Any]:
    """The card an ``adaptiveCard/action`` answer puts in place of the pressed one."""
    assert response["type"] == "application/vnd.microsoft.card.adaptive", response
    return response["value"]


async def install(teams: Teams, user: str) -> None:
    response = await teams.post(activity(teams.connector, "conversationUpdate", user=user, membersAdded=[BOT]))
    assert response.status in (200, 201)


async def bind_supervisors(teams: Teams) -> None:
    body = activity(teams.connector, "conversationUpdate", user="root", conversation="19:general@thread.tacv2", conversation_type="channel",
                    channelData={"eventType": "channelCreated", "tenant": {"id": TENANT}, "team": {"id": "19:general@thread.tacv2", "name": "Peer team"},
                                 "channel": {"id": SUPERVISORS, "name": "supervisors"}})
    assert (await teams.post(body)).status in (200, 201)


async def join(teams: Teams, user: str, team: str = "north") -> None:
    """An admin puts the person on the team's roster, in a chat with the bot."""
    calls = await teams.say(f"checkins members {team} add aad-{user}", user="root")
    assert any(f"The {team} team" in (c.text or "") and f"aad-{user}" in (c.text or "") for c in calls)
    await teams.runtime.courier.deliver_due()  # their welcome, through the outbox


def mentions_anywhere(calls: list[Call], text: str) -> bool:
    return any(text in json.dumps(c.body) for c in calls)


# -- 2. a check-in -------------------------------------------------------------


async def test_a_scheduled_check_in_reaches_a_teams_user_and_is_answered_in_the_card(teams: Teams):
    await install(teams, "ada")
    await join(teams, "ada")

    # The weekly prompt, proactively, through the conversation reference kept at install.
    before = len(teams.connector.calls)
    await teams.runtime.run_job("checkin:prompt", {"team": "north"})
    [prompt] = teams.connector.calls[before:]
    assert prompt.conversation == "a:chat-ada" and prompt.method == "POST" and prompt.activity_id is None
    assert "check-in time for the north team" in card_text(prompt.card)
    assert await teams.runtime.store.outbox.counts() == {"delivered": 1}  # only the roster welcome: the token is never queued

    # Start: the form arrives as a card.
    before = len(teams.connector.calls)
    started = await teams.press(pressed(prompt.card, "Start check-in"))
    assert started["statusCode"] == 200
    [form] = teams.connector.calls[before:]
    assert set(inputs(form.card)) == set(CHECKIN)
    submit = pressed(form.card, "Review")
    assert submit["peerbot"]["anonymous"] is True and submit["peerbot"]["hidden"]["token"]

    # The submission comes back as an invoke; the preview replaces the form card.
    before = len(teams.connector.calls)
    engine, seen = teams.runtime.engine, []
    handle = engine.handle

    async def spy(msg, **kw):
        seen.append(msg)
        return await handle(msg, **kw)

    engine.handle = spy
    preview = shown(await teams.press({**submit, **CHECKIN}))
    assert (seen[0].user, seen[0].conversation, seen[0].user_name) == ("anonymous", "anonymous", None)
    assert "Here is exactly what will be stored" in card_text(preview) and NOTE in card_text(preview)
    assert labels(preview) == ["Send", "Change my answers", "Don't send"]

    # Send: stored once, thanked in the same card.
    thanks = shown(await teams.press(pressed(preview, "Send")))
    assert "Your answers are in, without your name" in card_text(thanks)
    [rnd] = await teams.runtime.store.surveys.open_rounds(team="north")
    assert await teams.runtime.store.surveys.response_count(rnd.id) == 1
    # Nothing after the form went into the chat as a message: the answers stay in the card.
    assert teams.connector.calls[before:] == []
    assert not mentions_anywhere(teams.connector.calls, NOTE)

    again = shown(await teams.press(pressed(preview, "Send")))
    assert "Already sent: your answers are in" in card_text(again)
    assert await teams.runtime.store.surveys.response_count(rnd.id) == 1


async def test_checkin_typed_in_the_chat_answers_there_with_the_start_button(teams: Teams):
    await join(teams, "ada")
    [invitation] = await teams.say("checkin")
    assert invitation.conversation == "a:chat-ada"
    assert pressed(invitation.card, "Start check-in")["peerbot"]["value"]
    change = await teams.press(pressed(invitation.card, "Start check-in"))
    assert change["statusCode"] == 200
    form = teams.connector.calls[-1].card
    preview = shown(await teams.press({**pressed(form, "Review"), **CHECKIN}))
    refilled = shown(await teams.press(pressed(preview, "Change my answers")))
    assert inputs(refilled)["note"]["value"] == NOTE
    assert pressed(refilled, "Review")["peerbot"]["anonymous"] is True


# -- 4. a concern ----------------------------------------------------------------


async def test_a_named_concern_reaches_the_supervisors_channel_and_is_acknowledged_in_place(teams: Teams):
    await bind_supervisors(teams)
    await teams.say("hi", user="sam")  # the supervisor has a chat with the bot
    [start] = await teams.say("concern")
    assert "who sees what" in card_text(start.card)

    before = len(teams.connector.calls)
    await teams.press(pressed(start.card, "With my name"))
    [form] = teams.connector.calls[before:]
    submit = pressed(form.card, "Review") if "Review" in labels(form.card) else pressed(form.card, labels(form.card)[-1])
    assert submit["peerbot"]["anonymous"] is False
    fields = set(inputs(form.card))
    preview = shown(await teams.press({**submit, **{k: v for k, v in CONCERN.items() if k in fields}}))
    assert "Here is exactly what I'd send" in card_text(preview) and "Your name (Ada)" in card_text(preview)
    assert labels(preview) == ["Send", "Edit", "Cancel"]

    receipt = shown(await teams.press(pressed(preview, "Send")))
    text = card_text(receipt)
    assert "Your reference is" in text
    ref = text.split("Your reference is ")[1][:6]
    await teams.runtime.courier.deliver_due()
    [post] = teams.connector.to(SUPERVISORS)
    assert post.method == "POST" and ref in card_text(post.card) and "urine screen" in card_text(post.card)
    assert labels(post.card)[:3] == ["Acknowledge", "I'll take this", "Resolve"]

    # A supervisor presses Acknowledge on the post in the channel.
    response = await teams.press(pressed(post.card, "Acknowledge"), user="sam", **CHANNEL)
    assert response["statusCode"] == 200
    await teams.runtime.courier.deliver_due()
    [_, updated] = teams.connector.to(SUPERVISORS)
    posted = await teams.runtime.store.outbox.posted_ref("teams", "channel", "supervisors", f"concern:{ref}")
    assert updated.method == "PUT" and posted == f"{SUPERVISORS}|{updated.activity_id}"  # the same post, updated in place
    assert "acknowledged" in card_text(updated.card).lower() and "Acknowledge" not in labels(updated.card)
    told = teams.connector.to("a:chat-ada")[-1]
    assert f"Your concern {ref}" in card_text(told.card) and "acknowledged" in card_text(told.card)
    done = teams.connector.to("a:chat-sam")[-1]
    assert f"{ref} is acknowledged" in done.text  # the supervisor's own note, in their own chat


async def test_flag_to_peer_supervisor_raises_an_anonymous_concern_in_a_dialog(teams: Teams):
    await bind_supervisors(teams)
    await install(teams, "ada")
    value = {
        "commandId": "flagToSupervisor", "commandContext": "message",
        "messagePayload": {"body": {"contentType": "html", "content": "<p>Can you cover the <b>med count</b> &amp; sign for it?</p>"}},
    }
    where = {"conversation": "19:general@thread.tacv2", "conversation_type": "channel"}
    opened = await teams.invoke("composeExtension/fetchTask", value, **where)
    dialog = opened["task"]["value"]["card"]["content"]
    assert "flag a message to the peer supervisors" in card_text(dialog)

    async def submit(data: dict[str, Any]) -> dict[str, Any]:
        response = await teams.invoke("composeExtension/submitAction", {"commandId": "flagToSupervisor", "data": data}, **where)
        return response["task"]["value"]["card"]["content"]

    form = await submit(pressed(dialog, "Anonymously"))
    fields = inputs(form)
    assert "Can you cover the med count & sign for it?" in fields["what"]["value"]
    send_form = pressed(form, labels(form)[-1])
    assert send_form["peerbot"]["anonymous"] is True
    values = {k: v for k, v in CONCERN.items() if k in fields}
    values["what"] = fields["what"]["value"] + " I said no."
    preview = await submit({**send_form, **values})
    assert "No name" in card_text(preview)
    receipt = await submit(pressed(preview, "Send"))
    ref = card_text(receipt).split("Your reference is ")[1][:6]
    row = await teams.runtime.store.concerns.get(ref)
    assert not row["named"] and row["reporter_id"] is None
    await teams.runtime.courier.deliver_due()
    [post] = teams.connector.to(SUPERVISORS)
    assert "med count" in card_text(post.card) and "aad-ada" not in json.dumps(post.body)

    await teams.press(pressed(post.card, "Acknowledge"), user="sam", **CHANNEL)
    await teams.runtime.courier.deliver_due()
    assert teams.connector.to(SUPERVISORS)[-1].method == "PUT"
    # The anonymous reporter hears back through the locked link, in their own chat.
    told = teams.connector.to("a:chat-ada")[-1]
    assert f"Your concern {ref}" in card_text(told.card)


# -- a pulse -------------------------------------------------------------------


async def answer_by_card(teams: Teams, user: str, invitation: Call, start: str, values: dict[str, str]) -> str:
    before = len(teams.connector.calls)
    await teams.press(pressed(invitation.card, start), user=user)
    [form] = teams.connector.calls[before:]
    preview = shown(await teams.press({**pressed(form.card, "Review"), **values}, user=user))
    return card_text(shown(await teams.press(pressed(preview, "Send"), user=user)))


async def test_a_pulse_reaches_every_teams_member_and_the_results_reach_the_supervisors_channel(teams: Teams, clock):
    members = ["ada", "bo", "cy"]
    await bind_supervisors(teams)
    for user in [*members, "sam"]:
        await install(teams, user)
    for user in members:
        await join(teams, user)
    pulse = teams.runtime.engine.intent("pulse")
    instrument = pulse.instruments(teams.runtime.engine.system_context())["co-optation"]
    answers = {item.id: str(item.scale.min) for item in instrument.scale_items()}

    for round_number in (1, 2):
        before = len(teams.connector.calls)
        calls = await teams.say("pulse start co-optation --team north --days 5", user="sam")
        assert "sent to 3 people" in calls[-1].text
        invitations = {c.conversation: c for c in teams.connector.calls[before:] if c.conversation != "a:chat-sam"}
        assert set(invitations) == {f"a:chat-{u}" for u in members}  # proactive, one each
        for user in members:
            thanks = await answer_by_card(teams, user, invitations[f"a:chat-{user}"], "Start the pulse", answers)
            assert "Your answers are in" in thanks
        await teams.say("pulse close --team north", user="sam")
        await teams.runtime.courier.deliver_due()
        answers = {k: str(int(v) + 1) for k, v in answers.items()}
        clock.advance(days=31)

    first, second = teams.connector.to(SUPERVISORS)
    assert first.card is None and "3 people answered" in first.text  # no trend yet: plain text
    assert "since last time" in card_text(second.card)
    [chart] = [e for e in walk(second.card) if e.get("type") == "Image"]
    assert chart["url"].startswith("data:image/png;base64,") and chart["altText"].startswith("Trend over 2 rounds")


async def test_a_long_note_in_any_script_survives_the_preview_buttons(teams: Teams):
    await join(teams, "ada")
    [invitation] = await teams.say("checkin")
    await teams.press(pressed(invitation.card, "Start check-in"))
    form = teams.connector.calls[-1].card
    preview = shown(await teams.press({**pressed(form, "Review"), **CHECKIN, "note": "😀" * 400}))
    assert "Your answers are in" in card_text(shown(await teams.press(pressed(preview, "Send"))))
    [rnd] = await teams.runtime.store.surveys.open_rounds(team="north")
    assert await teams.runtime.store.surveys.response_count(rnd.id) == 1

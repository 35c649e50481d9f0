"""Talking to the bot in Teams: real Bot Framework activities posted to the
running app, replies arriving at a fake connector on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine import Engine
from bot.model import Choice, Destination, FieldKind, Form, FormField, Option, Reply
from intents.base import Command, Context, Intent
from tests.teams_support import Teams, card_text, connector, pressed, teams, teams_settings, walk  # noqa: F401

MOOD = Form(
    id="demo:mood",
    title="How's the week?",
    fields=[
        FormField(name="energy", label="Energy", kind=FieldKind.choice, options=[Option(label="Low", value="low"), Option(label="Good", value="good")]),
        FormField(name="steady", label="How steady do you feel?", kind=FieldKind.scale, min=1, max=5),
        FormField(name="note", label="Anything else?", required=False, max_length=50),
    ],
    hidden={"token": "tok-1"},
)


class Demo(Intent):
    """Opens forms, shows buttons and keyed posts, and records what it gets."""

    name = "demo"
    commands = (Command("mood", "the mood form"), Command("anonymous-form", "an anonymous form"), Command("status-card", "a keyed post"))

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def on_command(self, word, args, msg, ctx) -> list[Reply]:
        if word == "mood":
            return [Reply(text="Here's the form.", form=MOOD)]
        if word == "anonymous-form":
            return [Reply(form=MOOD.model_copy(update={"id": "demo:pulse", "anonymous": True}))]
        return [Reply(text=f"Concern K7: {args or 'new'}", key="concern:K7", choices=[Choice(label="Acknowledge", action="demo:ack", value="K7")])]

    def form(self, name: str, ctx: Context) -> Form | None:
        return MOOD if name in ("mood", "pulse") else None

    async def on_submission(self, name, values, msg, ctx) -> list[Reply]:
        self.seen.append((msg.user, msg.conversation, values))
        return [Reply(text="Thanks, that's in."), Reply(text="(a note for the supervisors)", to=Destination.channel("supervisors"))]

    async def on_action(self, action, msg, ctx) -> list[Reply]:
        self.seen.append((msg.user, action.id, action.value))
        return [Reply(text=f"Pressed {action.value}")]


class Concern(Intent):
    name = "concern"

    def __init__(self) -> None:
        self.flagged: list[str] = []

    async def on_action(self, action, msg, ctx) -> list[Reply]:
        self.flagged.append(action.value)
        return [Reply(text="Would you like to flag this to a peer supervisor?", choices=[Choice(label="Yes", action="concern:yes")])]


@pytest.fixture
def demo(teams: Teams) -> Demo:
    demo = Demo()
    rt = teams.runtime
    # The stand-in concern replaces the real one, so the test shows Teams'
    # generic handling whatever the real intent does.
    real = [i for i in rt.engine.intents if i.name != "concern"]
    rt.engine = Engine(rt.settings, rt.store, [demo, Concern(), *real], now=rt.engine.now)
    return demo


async def test_help_in_a_personal_chat_comes_back_as_a_reply(teams: Teams):
    [reply] = await teams.say("help")
    assert reply.conversation == "a:chat-ada"
    assert "Things you can type" in reply.text
    assert reply.body["recipient"]["id"] == "29:ada"


async def test_a_command_from_the_command_list_runs_with_its_words(teams: Teams):
    # Teams inserts the bare word and the person types the rest.
    [reply] = await teams.say("checkin settings")
    assert "check-in team" in reply.text  # the settings answer, not a scope answer
    # A sentence that merely starts with a command word is a question, as everywhere.
    [answer] = await teams.say("scope of practice: can I drive someone to the pharmacy?")
    assert "Things you can type" not in answer.text


async def test_a_scope_answer_has_buttons_that_work(teams: Teams):
    [answer] = await teams.say("they want me to watch people give urine samples, is that ok?")
    card = answer.card
    assert card is not None and card["type"] == "AdaptiveCard"
    assert "peer" in card_text(card).lower()
    response = await teams.press(pressed(card, "Helpful"))
    assert response["statusCode"] == 200
    assert teams.connector.calls[-1].text or teams.connector.calls[-1].card


async def test_a_form_is_a_card_and_its_submission_replaces_it(teams: Teams, demo: Demo):
    [reply] = await teams.say("/mood")
    card = reply.card
    inputs = {e["id"]: e for e in walk(card) if str(e.get("type", "")).startswith("Input.")}
    assert inputs["energy"]["type"] == "Input.ChoiceSet" and inputs["note"]["type"] == "Input.Text"
    assert [c["value"] for c in inputs["steady"]["choices"]] == ["1", "2", "3", "4", "5"]
    data = {**pressed(card, "Send"), "energy": "good", "steady": "4"}
    response = await teams.press(data)
    assert response["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Thanks, that's in." in card_text(response["value"])
    assert demo.seen == [("aad-ada", "a:chat-ada", {"energy": "good", "steady": 4, "note": None, "token": "tok-1"})]


async def test_a_wrong_answer_shows_the_form_again_with_the_problem_by_the_field(teams: Teams, demo: Demo):
    [reply] = await teams.say("/mood")
    response = await teams.press({**pressed(reply.card, "Send"), "energy": "good", "steady": "9", "note": "x" * 60})
    shown = response["value"]
    text = card_text(shown)
    assert "Please pick a number from 1 to 5." in text and "longer than this answer allows" in text
    energy = next(e for e in walk(shown) if e.get("id") == "energy")
    assert energy["value"] == "good"  # what was entered is kept
    assert demo.seen == []


async def test_an_anonymous_form_drops_who_sent_it_and_answers_in_the_card(teams: Teams, demo: Demo):
    [reply] = await teams.say("/anonymous-form")
    before = len(teams.connector.calls)
    response = await teams.press({**pressed(reply.card, "Send"), "energy": "low", "steady": "2"})
    assert "Thanks, that's in." in card_text(response["value"])
    assert demo.seen[0][:2] == ("anonymous", "anonymous")
    assert teams.connector.calls[before:] == []  # nothing in the chat itself


async def test_a_submission_with_broken_data_gets_a_plain_answer(teams: Teams, demo: Demo):
    # HTTP 200 with the problem in the body: Teams shows it by the card, which stays as it was.
    response = await teams.press({"peerbot": {"kind": "form", "form": "demo:mood", "hidden": "nope"}})
    assert response["statusCode"] == 400 and response["type"] == "application/vnd.microsoft.error"
    assert "didn't come through properly" in response["value"]["message"]
    response = await teams.press({"peerbot": {"kind": "action", "id": "demo:ack", "value": "x" * 50_000}})
    assert response["statusCode"] == 400 and "more than I can take in" in response["value"]["message"]


async def test_an_older_client_submits_with_a_message_and_the_card_is_updated(teams: Teams, demo: Demo):
    [reply] = await teams.say("/mood")
    data = {**pressed(reply.card, "Send"), "energy": "low", "steady": "3"}
    [update] = await teams.say("", value=data, replyToId="act-1")
    assert update.method == "PUT" and update.activity_id == "act-1"
    assert "Thanks, that's in." in card_text(update.card)


async def test_a_keyed_post_is_updated_in_place(teams: Teams, demo: Demo):
    [first] = await teams.say("/status-card new")
    [second] = await teams.say("/status-card acknowledged")
    assert first.method == "POST" and second.method == "PUT"
    assert "acknowledged" in card_text(second.card)


async def test_flag_to_peer_supervisor_starts_the_concern_flow_with_the_message_quoted(teams: Teams, demo: Demo):
    concern = next(i for i in teams.runtime.engine.intents if i.name == "concern")
    value = {
        "commandId": "flagToSupervisor",
        "commandContext": "message",
        "messagePayload": {"body": {"contentType": "html", "content": "<p>They asked me to <b>hold</b> meds &amp; keys</p>"}},
    }
    response = await teams.invoke("composeExtension/fetchTask", value, conversation="19:general@thread.tacv2", conversation_type="channel")
    assert concern.flagged == ["They asked me to hold meds & keys"]
    dialog = response["task"]["value"]["card"]["content"]
    assert "flag this to a peer supervisor" in card_text(dialog)
    assert pressed(dialog, "Yes")["peerbot"]["id"] == "concern:yes"


async def test_private_replies_in_a_channel_go_to_the_persons_own_chat(teams: Teams):
    channel = {"conversation": "19:team@thread.tacv2;messageid=1", "conversation_type": "channel",
               "channelData": {"tenant": {"id": "11111111-2222-3333-4444-555555555555"}, "channel": {"id": "19:team@thread.tacv2"}, "team": {"id": "19:team"}}}
    [note] = await teams.say("<at>peerbot</at> help", entities=[{"type": "mention", "mentioned": {"id": "28:peerbot-bot"}, "text": "<at>peerbot</at>"}], **channel)
    assert "just between us" in note.text and "Things you can type" not in note.text
    await teams.say("hi")  # a personal chat now exists
    await teams.say("<at>peerbot</at> help", entities=[{"type": "mention", "mentioned": {"id": "28:peerbot-bot"}, "text": "<at>peerbot</at>"}], **channel)
    await teams.runtime.courier.deliver_due()
    assert "Things you can type" in teams.connector.to("a:chat-ada")[-1].text

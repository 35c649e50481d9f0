"""Forms filled in conversation: one field at a time, kept across restarts."""

from __future__ import annotations

from typing import Any

import pytest

from bot.courier import Courier
from bot.engine import Engine
from bot.model import Action, FieldKind, Form, FormField, Inbound, Option, Reply, Submission
from bot.runtime import Runtime
from bot.store import Store
from intents.base import Command, Context, Intent
from tests.conftest import Chat, Clock

ENERGY = FormField(
    name="energy",
    label="How is your energy this week?",
    kind=FieldKind.choice,
    options=[Option(label="Low", value="low"), Option(label="Okay", value="ok"), Option(label="Good", value="good")],
)
STEADY = FormField(name="steady", label="How steady do you feel?", kind=FieldKind.scale, min=1, max=5)
NOTE = FormField(name="note", label="Anything else?", required=False, max_length=50)
MOOD = Form(id="demo:mood", title="the mood form", fields=[ENERGY, STEADY, NOTE])


class Demo(Intent):
    """A small intent that opens a form and echoes what it receives."""

    name = "demo"
    commands = (Command("mood", "fill in the mood form"),)
    received: list[dict[str, Any]]

    def __init__(self) -> None:
        self.received = []

    async def on_command(self, word, args, msg, ctx) -> list[Reply]:
        return [Reply(form=MOOD)]

    def form(self, name: str, ctx: Context) -> Form | None:
        return MOOD if name == "mood" else None

    async def on_submission(self, name, values, msg, ctx) -> list[Reply]:
        self.received.append(values)
        return [Reply(text=f"Thanks, got {values}")]


@pytest.fixture
def demo() -> Demo:
    return Demo()


@pytest.fixture
def demo_chat(runtime: Runtime, demo: Demo) -> Chat:
    runtime.engine = Engine(runtime.settings, runtime.store, [demo], now=runtime.engine.now)
    return Chat(runtime)


async def test_a_form_is_asked_one_field_at_a_time(demo_chat: Chat, demo: Demo):
    first = await demo_chat.say("/mood")
    assert "(1 of 3) How is your energy this week?" in first
    assert "1. Low" in first and "3. Good" in first
    assert "(2 of 3)" in await demo_chat.say("2")
    third = await demo_chat.say("4")
    assert "(3 of 3) Anything else?" in third and "optional" in third
    done = await demo_chat.say("")
    assert demo.received == [{"energy": "ok", "steady": 4, "note": None}]
    assert "Thanks" in done


async def test_a_choice_can_be_answered_by_its_label(demo_chat: Chat, demo: Demo):
    await demo_chat.say("/mood")
    await demo_chat.say("good")
    await demo_chat.say("3")
    await demo_chat.say("fine")
    assert demo.received == [{"energy": "good", "steady": 3, "note": "fine"}]


async def test_a_wrong_answer_is_explained_and_the_question_asked_again(demo_chat: Chat, demo: Demo):
    await demo_chat.say("/mood")
    reply = await demo_chat.say("purple")
    assert "didn't find" in reply and "(1 of 3)" in reply
    await demo_chat.say("1")
    reply = await demo_chat.say("9")
    assert "from 1 to 5" in reply and "(2 of 3)" in reply
    reply = await demo_chat.say("")
    assert "needed" in reply
    assert demo.received == []


async def test_an_answer_that_is_too_long_is_refused_kindly(demo_chat: Chat):
    await demo_chat.say("/mood")
    await demo_chat.say("1")
    await demo_chat.say("3")
    reply = await demo_chat.say("x" * 80)
    assert "longer than this answer allows" in reply


async def test_cancel_sets_the_form_aside_and_sends_nothing(demo_chat: Chat, demo: Demo):
    await demo_chat.say("/mood")
    await demo_chat.say("1")
    assert "set the mood form aside" in await demo_chat.say("cancel")
    assert demo.received == []
    assert "no half-filled form" in await demo_chat.say("/resume")


async def test_a_command_mid_form_keeps_the_draft(demo_chat: Chat, demo: Demo):
    await demo_chat.say("/mood")
    await demo_chat.say("1")
    reply = await demo_chat.say("/help")
    assert "The form you were filling in, the mood form, is saved" in reply
    assert "(2 of 3)" in await demo_chat.say("/resume")
    await demo_chat.say("5")
    await demo_chat.say("")
    assert demo.received == [{"energy": "low", "steady": 5, "note": None}]


async def test_a_restart_mid_form_loses_nothing(runtime: Runtime, clock: Clock, demo: Demo):
    engine = Engine(runtime.settings, runtime.store, [demo], now=clock)
    runtime.engine = engine
    before = Chat(runtime)
    await before.say("/mood")
    await before.say("3")
    await runtime.store.close()

    # A new process: a new store connection and engine on the same file.
    store = await Store.open(runtime.settings.db)
    try:
        courier = Courier(store, runtime.courier.local, now=clock)
        after = Chat(Runtime(runtime.settings, store, Engine(runtime.settings, store, [demo], now=clock), courier))
        assert "(3 of 3)" in await after.say("2")
        await after.say("all good")
        assert demo.received == [{"energy": "good", "steady": 2, "note": "all good"}]
    finally:
        await store.close()
        runtime.store = await Store.open(runtime.settings.db)  # for the fixture's own close


async def test_coming_back_later_asks_before_carrying_on(demo_chat: Chat, demo: Demo, clock: Clock):
    await demo_chat.say("/mood")
    await demo_chat.say("1")
    clock.advance(hours=5)
    reply = await demo_chat.say("is driving people part of my job?")
    assert "part-way through the mood form" in reply
    assert "[1] Carry on" in reply
    assert "(2 of 3)" in await demo_chat.say("Carry on")
    await demo_chat.say("2")
    await demo_chat.say("")
    assert demo.received == [{"energy": "low", "steady": 2, "note": None}]


async def test_start_over_clears_the_earlier_answers(demo_chat: Chat, demo: Demo, clock: Clock):
    await demo_chat.say("/mood")
    await demo_chat.say("1")
    clock.advance(days=1)
    await demo_chat.say("hello")
    assert "(1 of 3)" in await demo_chat.say("2")  # the "Start over" button


async def test_a_whole_form_submitted_at_once_is_checked_field_by_field(runtime: Runtime, demo: Demo):
    engine = Engine(runtime.settings, runtime.store, [demo])
    base = dict(channel="slack", user="U1", conversation="D1")
    replies = await engine.handle(Inbound(**base, submission=Submission(form="demo:mood", values={"energy": "meh", "steady": "7"})))
    assert set(replies[0].field_errors) == {"energy", "steady"}
    assert demo.received == []
    await engine.handle(Inbound(**base, submission=Submission(form="demo:mood", values={"energy": "low", "steady": "2"})))
    assert demo.received == [{"energy": "low", "steady": 2, "note": None}]


async def test_a_channel_that_shows_forms_gets_the_whole_form(runtime: Runtime, demo: Demo):
    engine = Engine(runtime.settings, runtime.store, [demo])
    replies = await engine.handle(Inbound(channel="slack", user="U1", conversation="D1", text="/mood"), shows_forms=True)
    assert replies[0].form == MOOD
    assert await runtime.store.forms.get("slack", "U1", "D1") is None


async def test_a_stale_button_or_unknown_form_gets_a_clear_reply(runtime: Runtime, demo: Demo):
    engine = Engine(runtime.settings, runtime.store, [demo])
    base = dict(channel="slack", user="U1", conversation="D1")
    stale = await engine.handle(Inbound(**base, action=Action(id="gone:press")))
    assert "doesn't do anything any more" in stale[0].text
    unknown = await engine.handle(Inbound(**base, submission=Submission(form="demo:nope", values={})))
    assert "isn't available any more" in unknown[0].text


async def test_a_sensitive_form_draft_never_touches_the_database(runtime: Runtime, demo: Demo):
    private = MOOD.model_copy(update={"id": "demo:mood", "sensitive": True, "hidden": {"token": "tok-1"}})

    class Private(Demo):
        async def on_command(self, word, args, msg, ctx):
            return [Reply(form=private)]

    intent = Private()
    runtime.engine = Engine(runtime.settings, runtime.store, [intent], now=runtime.engine.now)
    person = Chat(runtime)
    await person.say("/mood")
    await person.say("2")
    assert await runtime.store.forms.get("terminal", "u-ada", "terminal:u-ada") is None
    await person.say("4")
    await person.say("")
    assert intent.received == [{"energy": "ok", "steady": 4, "note": None, "token": "tok-1"}]

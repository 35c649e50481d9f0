"""What a person builds up over several steps is kept behind one interface
(bot/flow_state.py): kept and read back as a copy, replaced under the same
token, forgotten on request or when its lifetime ends, and never more than
a kind's limit at once. And the flows that use it keep working through it:
a concern draft survives being previewed and edited, is gone after a
restart, and a half-filled check-in is picked up with /resume."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.flow_state import MemoryFlowState
from bot.runtime import Runtime
from tests.conftest import Chat, Clock
from tests.test_concerns import raise_concern

HOUR = dt.timedelta(hours=1)


async def test_a_value_is_kept_and_read_back_as_a_copy(clock: Clock):
    flows = MemoryFlowState(clock)
    value = {"text": "the nurse asked me to hand out meds", "named": False, "tags": ["scope"]}
    token = await flows.put("draft", value, lifetime=HOUR)
    value["tags"].append("changed after")
    got = await flows.get("draft", token)
    assert got == {"text": "the nurse asked me to hand out meds", "named": False, "tags": ["scope"]}
    got["text"] = "changed by a reader"
    assert (await flows.get("draft", token))["text"] == "the nurse asked me to hand out meds"


async def test_tokens_are_new_and_kinds_are_apart(clock: Clock):
    flows = MemoryFlowState(clock)
    first = await flows.put("draft", {"n": 1}, lifetime=HOUR)
    second = await flows.put("draft", {"n": 2}, lifetime=HOUR)
    assert first != second and len(first) >= 16
    assert await flows.get("prefill", first) is None


async def test_putting_under_a_token_replaces_it(clock: Clock):
    flows = MemoryFlowState(clock)
    token = await flows.put("draft", {"text": "first"}, lifetime=HOUR)
    assert await flows.put("draft", {"text": "edited"}, lifetime=HOUR, token=token) == token
    assert await flows.get("draft", token) == {"text": "edited"}
    assert flows.count("draft") == 1


async def test_a_value_ends_with_its_lifetime(clock: Clock):
    flows = MemoryFlowState(clock)
    token = await flows.put("draft", {"text": "x"}, lifetime=HOUR)
    clock.advance(minutes=59)
    assert await flows.get("draft", token) is not None
    clock.advance(minutes=1)
    assert await flows.get("draft", token) is None
    assert flows.count("draft") == 0


async def test_what_outlived_its_lifetime_is_erased_not_only_hidden(clock: Clock):
    flows = MemoryFlowState(clock)
    await flows.put("private-form", {"answers": {"mood": "rough week"}}, lifetime=HOUR)
    clock.advance(days=60)
    await flows.put("private-form", {"answers": {}}, lifetime=HOUR)  # any later write of the kind
    assert flows.count("private-form") == 1


async def test_drop_forgets_and_returns_it(clock: Clock):
    flows = MemoryFlowState(clock)
    token = await flows.put("draft", {"text": "x"}, lifetime=HOUR)
    assert await flows.drop("draft", token) == {"text": "x"}
    assert await flows.get("draft", token) is None
    assert await flows.drop("draft", token) is None


async def test_a_flood_of_abandoned_values_keeps_only_the_newest(clock: Clock):
    flows = MemoryFlowState(clock)
    tokens = [await flows.put("draft", {"n": n}, lifetime=HOUR, keep=10) for n in range(50)]
    assert flows.count("draft") == 10
    assert await flows.get("draft", tokens[0]) is None
    assert await flows.get("draft", tokens[-1]) == {"n": 49}


async def test_only_what_a_shared_backend_could_hold_is_taken(clock: Clock):
    flows = MemoryFlowState(clock)
    with pytest.raises(TypeError):
        await flows.put("draft", {"when": dt.date(2026, 1, 1)}, lifetime=HOUR)
    with pytest.raises(ValueError):
        await flows.put("draft", {"score": float("nan")}, lifetime=HOUR)


async def test_a_concern_draft_lives_in_the_flow_state_and_a_restart_clears_it(chat: Chat, runtime: Runtime):
    preview = await raise_concern(chat, send=False)
    assert "[1] Send" in preview
    assert runtime.engine.flows.count("concern-draft") == 1
    again = await chat.say("/concern")
    assert "haven't sent yet" in again
    await chat.say("Look at it again")
    edit = await chat.say("Edit")
    assert "press Enter to keep" in edit
    runtime.engine.flows = MemoryFlowState(runtime.engine.now)  # what a restart leaves
    after = await chat.say("/concern")
    assert "haven't sent yet" not in after
    assert await runtime.store.concerns.listing() == []


async def test_a_half_filled_check_in_waits_in_the_flow_state_not_the_database(chat: Chat, runtime: Runtime):
    """Sensitive forms are held by the flow state; nothing of them is in the form table."""
    from bot.model import Form, FormField, Inbound

    form = Form(id="checkin:test", title="Check-in", sensitive=True,
                fields=[FormField(name="mood", label="How are you?"), FormField(name="more", label="Anything else?")])
    msg = Inbound(channel="terminal", user="u-ada", conversation="c1", text="")
    await runtime.engine.open_form(form, msg)
    assert runtime.engine.flows.count("private-form") == 1
    assert await runtime.store.forms.get("terminal", "u-ada", "c1") is None


async def test_slack_keeps_long_button_values_and_waiting_forms_in_the_engines_flow_state(clock: Clock):
    """What waits behind a Slack button is in the same place as everything
    else a person builds up, so a restart (or another replica's backend)
    treats it alike."""
    from bot.channels.slack import blocks
    from bot.channels.slack.channel import SlackChannel
    from bot.model import Choice, Form, FormField, Reply

    slack = SlackChannel(client=None, channel_ids={})  # type: ignore[arg-type]
    slack.flows = flows = MemoryFlowState(clock)
    long_value = "checkin:send|" + "д" * 2500
    fitted = await slack.fit(Reply(text="Here is your preview.", choices=[Choice(label="Send", action="checkin:send", value=long_value)]))
    [sent] = fitted.choices
    assert len(sent.value) <= blocks.BUTTON_VALUE and flows.count("slack-value") == 1
    assert await slack.unfit(sent.value) == long_value
    form = Form(id="concern:named", title="Raise a concern", fields=[FormField(name="what", label="What happened?")])
    token = await slack.hold_form(form)
    assert await slack.held_form(token) == form
    slack.flows = MemoryFlowState(clock)  # a restart
    assert await slack.unfit(sent.value) is None
    assert await slack.held_form(token) is None

"""k that can't be padded: who is on a team comes from the organisation (an
admin's roster), asking to join is a request an admin answers, and a round
asks only the people who were members when it opened."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.channels.base import Address
from bot.model import Action, Inbound
from bot.runtime import Runtime
from tests.conftest import Chat, feed, make_settings


def dms(runtime: Runtime, user: str) -> list[dict]:
    return runtime.courier.local.feed(Address(kind="user", id=user))


async def deliver(runtime: Runtime, replies) -> None:
    for reply in replies:
        if reply.to.kind != "here":
            await runtime.courier.send(reply)
    await runtime.courier.deliver_due()


async def press(runtime: Runtime, user: str, action: str, value: str) -> str:
    msg = Inbound(channel="terminal", user=user, conversation=f"terminal:{user}", action=Action(id=action, value=value))
    replies = await runtime.engine.handle(msg)
    await deliver(runtime, replies)
    return "\n".join(r.text for r in replies if r.to.kind == "here")


@pytest.fixture
async def north(runtime: Runtime) -> Chat:
    admin = Chat(runtime, user="u-root", name="Robin", team=None)
    await admin.say("/checkins team north wed 10 America/New_York")
    return admin


async def test_asking_to_join_is_a_request_an_admin_approves(runtime: Runtime, north: Chat):
    ada = Chat(runtime, user="u-ada", name="Ada", team=None)
    said = await ada.say("/checkin join north")
    assert "I've asked an admin to add you to the north team" in said
    assert await runtime.store.surveys.members("north") == []
    [ask] = dms(runtime, "u-root")
    assert "Ada (terminal u-ada) would like to join the north team" in ask["text"]
    assert [c["label"] for c in ask["choices"]] == ["Approve", "Decline"]
    assert "with the admins already" in await ada.say("/checkin join north")
    assert len(dms(runtime, "u-root")) == 1  # asking again doesn't ask the admins again

    approve = ask["choices"][0]
    # Two presses at once (a double click): one decision, one message to Ada.
    said = await asyncio.gather(*[press(runtime, "u-root", approve["action"], approve["value"]) for _ in range(2)])
    assert sorted(said) == ["Done: u-ada is on the north team now, and I've let them know.",
                            "That request was already approved, so nothing changed."]
    assert [m.user_id for m in await runtime.store.surveys.members("north")] == ["u-ada"]
    told = [m["text"] for m in dms(runtime, "u-ada")]
    assert len(told) == 1 and "you're in the north team's check-ins now" in told[0]


async def test_a_declined_request_is_answered_kindly_and_adds_nobody(runtime: Runtime, north: Chat):
    ada = Chat(runtime, user="u-ada", name="Ada", team=None)
    await ada.say("/checkin join north")
    [ask] = dms(runtime, "u-root")
    decline = ask["choices"][1]
    assert "I've let them know, kindly" in await press(runtime, "u-root", decline["action"], decline["value"])
    assert await runtime.store.surveys.members("north") == []
    [told] = dms(runtime, "u-ada")
    assert "didn't add you to the north team's check-ins this time" in told["text"] and "you should" not in told["text"].lower()


async def test_only_admins_approve_and_change_the_roster(runtime: Runtime, north: Chat):
    ada = Chat(runtime, user="u-ada", name="Ada", team=None)
    await ada.say("/checkin join north")
    [ask] = dms(runtime, "u-root")
    approve = ask["choices"][0]
    assert "for admins" in await press(runtime, "u-ada", approve["action"], approve["value"])
    assert "for admins" in await press(runtime, "u-sam", approve["action"], approve["value"])
    assert await runtime.store.surveys.members("north") == []
    sam = Chat(runtime, user="u-sam", name="Sam", team=None)
    assert "for admins" in await sam.say("/checkins members north add u-ben")
    assert "The north team (0): nobody yet" in await sam.say("/checkins members north")  # supervisors may look
    assert "only for peer supervisors" in await ada.say("/checkins members north")


async def test_self_join_can_be_turned_off(tmp_path: Path, clock):
    from bot.runtime import build_runtime

    runtime = await build_runtime(make_settings(tmp_path, admins="u-root", checkin_self_join="off"), now=clock)
    try:
        await Chat(runtime, user="u-root", team=None).say("/checkins team north wed 10 America/New_York")
        said = await Chat(runtime, user="u-ada", team=None).say("/checkin join north")
        assert "kept by your organization's admins" in said
        assert dms(runtime, "u-root") == [] and await runtime.store.surveys.members("north") == []
    finally:
        await runtime.close()


async def test_an_admin_adds_and_removes_members_in_a_chat_and_they_are_welcomed(runtime: Runtime, north: Chat):
    said = await north.say("/checkins members north add @u-ada u-ben, u-cy")
    assert "The north team (3): u-ada, u-ben, u-cy." in said
    await runtime.courier.deliver_due()
    [welcome] = dms(runtime, "u-ben")
    assert "you've been added to the north team's check-ins" in welcome["text"] and "up to you" in welcome["text"]
    said = await north.say("/checkins members north remove u-cy")
    assert "The north team (2): u-ada, u-ben." in said
    assert "There's no check-in team called south" in await north.say("/checkins members south remove u-ada")


async def test_people_added_after_a_round_opens_cannot_pad_it(runtime: Runtime, north: Chat):
    """The attack: one real member answers; four more are added (even by an
    admin) once the week is open, to make five and read her answers. They
    are not sent this week's form, and the week shows nothing."""
    await north.say("/checkins members north add u-victim")
    victim = Chat(runtime, user="u-victim", team=None)
    await victim.say("/checkin")
    await victim.say("Start check-in")
    for answer in ("1", "1", "1", "the one secret note"):
        await victim.say(answer)
    await victim.say("Send")
    await north.say("/checkins members north add u-p1 u-p2 u-p3 u-p4")
    for n in range(1, 5):
        said = await Chat(runtime, user=f"u-p{n}", team=None).say("/checkin")
        assert "after this week's check-in went out" in said and "next week" in said
    # Even a prompt to the whole team leaves them out this week.
    checkin = runtime.engine.intent("checkin")
    assert await checkin.prompt("north", runtime.engine.system_context()) == []
    [rnd] = await runtime.store.surveys.open_rounds(team="north")
    assert await runtime.store.surveys.issue(rnd.id, [("terminal", f"u-p{n}") for n in range(1, 5)]) == {}
    await north.say("/checkins close north")
    [post] = feed(runtime)
    assert "fewer than 5 people answered" in post["text"] and "secret" not in post["text"]


async def test_every_invitation_says_how_many_people_the_round_went_to(runtime: Runtime, north: Chat):
    """Padding a roster before a round opens (four accounts an admin
    controls, to subtract their answers from the group's) can't be stopped
    by storage; it can be seen. Each invitation, also one brought back with
    /checkin, says how many people the round went to, so a member who knows
    their team is two people reads five and can ask why."""
    await north.say("/checkins members north add u-victim u-p1 u-p2 u-p3 u-p4")
    await deliver(runtime, await runtime.engine.intent("checkin").prompt("north", runtime.engine.system_context()))
    invitation = [m for m in dms(runtime, "u-victim") if m.get("choices")][-1]
    assert "It went to the 5 people on the north team when it opened." in invitation["text"]
    again = await Chat(runtime, user="u-victim", team=None).say("/checkin")
    assert "It went to the 5 people on the north team when it opened." in again


def test_the_roster_from_the_shell(tmp_path: Path):
    from bot.cli import cli

    env = {"PEERBOT_DB": str(tmp_path / "p.db")}
    runner = CliRunner()
    assert runner.invoke(cli, ["checkins", "team", "east"], env=env).exit_code == 0
    added = runner.invoke(cli, ["checkins", "members", "east", "--add", "U1", "--add", "U2"], env=env)
    assert added.exit_code == 0 and "The east team (2): U1, U2." in added.output
    removed = runner.invoke(cli, ["checkins", "members", "east", "--remove", "U2"], env=env)
    assert "The east team (1): U1." in removed.output
    assert "The east team (1): U1." in runner.invoke(cli, ["checkins", "members", "east"], env=env).output
    # The terminal's --team still puts its user on the team: whoever runs a
    # local deployment is its admin.
    assert runner.invoke(cli, ["chat", "--user", "U3", "--team", "east"], input="/checkin settings\n", env=env).exit_code == 0
    assert "The east team (2): U1, U3." in runner.invoke(cli, ["checkins", "members", "east"], env=env).output

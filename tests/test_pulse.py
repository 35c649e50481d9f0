"""Co-optation pulse surveys: the index is right, results need enough
people, reminders go to everyone, and the loop gets closed."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from bot.channels.base import Address
from bot.runtime import Runtime
from intents.pulse_index import index_of, item_score
from intents.times import spoken_day, spoken_time
from knowledge.instruments import load_instruments
from tests.conftest import Chat, Clock, feed

COOPTATION = load_instruments()["co-optation"]
CLARITY = load_instruments()["role-clarity"]
ITEMS = [item.id for item in COOPTATION.items]


# -- the arithmetic, checked by hand ------------------------------------------

def test_items_where_agreement_is_bad_score_straight_and_good_ones_reversed():
    busy = next(i for i in COOPTATION.items if i.id == "busy-work")          # high is bad
    real = next(i for i in COOPTATION.items if i.id == "real-relationships")  # high is good
    assert item_score(busy, 5) == 1.0 and item_score(busy, 1) == 0.0 and item_score(busy, 4) == 0.75
    assert item_score(real, 5) == 0.0 and item_score(real, 1) == 1.0 and item_score(real, 2) == 0.75


def test_index_overall_and_per_sign_from_hand_computed_means():
    means = {i: 3.0 for i in ITEMS}  # everything "not sure": 50
    means["busy-work"] = 5.0          # bad, fully agreed: 1.0
    means["not-my-job"] = 1.0         # good, fully disagreed: 1.0
    means["peer-supervision"] = 5.0   # good, fully agreed: 0.0
    result = index_of(COOPTATION, means)
    assert result["signs"]["busy-work"] == 100.0
    assert result["signs"]["supervision"] == 0.0
    assert result["signs"]["relationships"] == 50.0
    # Ten items: seven at 0.5, two at 1.0, one at 0.0 -> 5.5 / 10 = 55.
    assert result["overall"] == 55.0


def test_an_index_where_higher_means_better_is_turned_around():
    means = {"know-role": 5.0, "unsure-tasks": 1.0, "team-gets-it": 4.0, "written-role": 2.0}
    result = index_of(CLARITY, means)
    # Drift scores: 0, 0, 0.25, 0.75 -> clarity = 100 - 25 = 75.
    assert result["overall"] == 75.0
    assert result["signs"] == {"clarity": 100.0, "team-understanding": 75.0, "job-description": 25.0}


def test_items_nobody_answered_are_left_out_not_counted_as_zero():
    means = {i: None for i in ITEMS} | {"busy-work": 5.0}
    result = index_of(COOPTATION, means)
    assert result["overall"] == 100.0 and result["signs"]["relationships"] is None


# -- running a pulse -------------------------------------------------------------

def team_of(runtime: Runtime, size: int, team: str = "north") -> list[Chat]:
    return [Chat(runtime, user=f"u-{team}-{n}", name=f"Person {n}", team=team) for n in range(size)]


async def join(people: list[Chat]) -> None:
    for chat in people:
        await chat.say("/checkin settings")


async def answer(runtime: Runtime, chat: Chat, values: list[str]) -> str:
    invitation = runtime.courier.local.feed(Address(kind="user", id=chat.channel.user))[-1]
    assert invitation["choices"][0]["label"] == "Start the pulse"
    chat.channel._buttons = [(c["label"], c["action"], c["value"]) for c in invitation["choices"]]
    await chat.say("1")
    for value in values:
        await chat.say(value)
    return await chat.say("Send")


async def start(runtime: Runtime, team: str = "north", days: int = 5) -> str:
    return await Chat(runtime, user="u-sam", team=None).say(f"/pulse start co-optation --team {team} --days {days}")


async def test_a_supervisor_starts_a_pulse_and_every_member_gets_it_privately(runtime: Runtime):
    people = team_of(runtime, 3)
    await join(people)
    reply = await start(runtime)
    assert "sent to 3 people" in reply
    for chat in people:
        assert runtime.courier.local.feed(Address(kind="user", id=chat.channel.user))[-1]["choices"][0]["label"] == "Start the pulse"
    assert "only for peer supervisors" in await people[0].say("/pulse start co-optation --team north")


async def test_status_shows_the_count_and_time_left_never_names(runtime: Runtime):
    people = team_of(runtime, 3)
    await join(people)
    await start(runtime)
    await answer(runtime, people[1], ["4"] * 10)
    status = await Chat(runtime, user="u-sam", team=None).say("/pulse status --team north")
    assert "1 answer so far" in status and "in about 5 days 0 hours" in status
    assert "u-north" not in status and "Person" not in status


async def test_fewer_than_the_minimum_group_releases_nothing_but_that(runtime: Runtime):
    people = team_of(runtime, 5)
    await join(people)
    await start(runtime)
    for chat in people[:4]:
        await answer(runtime, chat, ["2", "4", "4", "5", "1", "2", "2", "4", "4", "1"])
    await Chat(runtime, user="u-sam", team=None).say("/pulse close --team north")
    post = feed(runtime)[-1]["text"]
    assert "not enough answers to show" in post
    assert "index" not in post.lower() and "Strongly" not in post
    assert runtime.courier.local.take_unseen("u-north-0")[-1]["text"].startswith("Your team (north) is running")


async def test_at_the_minimum_group_supervisors_get_the_index_flags_and_next_steps(runtime: Runtime):
    people = team_of(runtime, 5)
    await join(people)
    await start(runtime)
    worrying = ["2", "4", "4", "5", "1", "2", "2", "4", "4", "1"]
    for chat in people:
        await answer(runtime, chat, worrying)
    await Chat(runtime, user="u-sam", team=None).say("/pulse close --team north")
    post = feed(runtime)[-1]["text"]
    assert "5 people answered" in post
    # Seven items at 0.75 and three at 1.0: 8.25 / 10 = 82.5.
    assert "Co-optation index: 82.5 of 100" in post
    assert "Busy work that isn't peer support: 100.0  (worth a look)" in post
    assert "stop asking them for tasks that aren't peer support" in post
    team_copy = runtime.courier.local.take_unseen("u-north-2")[-1]["text"]
    assert team_copy.startswith("Your team's co-optation pulse results are in")


async def test_one_reminder_goes_to_the_whole_team_and_reveals_nothing(runtime: Runtime):
    people = team_of(runtime, 3)
    await join(people)
    await start(runtime)
    await answer(runtime, people[0], ["4"] * 10)
    round_id = (await runtime.store.surveys.open_rounds(team="north"))[0].id
    reminders = await runtime.engine.intent("pulse").remind(round_id, runtime.engine.system_context())
    assert sorted(r.to.target for r in reminders) == ["u-north-0", "u-north-1", "u-north-2"]
    assert len({r.text for r in reminders}) == 1
    assert "If you've answered already, thank you" in reminders[0].text
    assert all(not r.choices for r in reminders)


async def test_a_restart_during_a_pulse_keeps_written_answers_and_the_close_time_and_a_waiting_one_can_be_sent_again(
        runtime: Runtime):
    """Answers go to disk five at a time (the minimum group). Five written,
    one waiting: a restart keeps the five, the close time, and the sixth
    person's Start button, which takes their answer again."""
    from bot.runtime import build_runtime

    people = team_of(runtime, 6)
    await join(people)
    await start(runtime)
    for chat in people:
        assert "Your answers are in" in await answer(runtime, chat, ["4"] * 10)
    round_id = (await runtime.store.surveys.open_rounds(team="north"))[0].id
    assert await runtime.store.surveys.response_count(round_id) == 6
    closes = runtime.schedule.next_run(f"pulse:close:{round_id}")
    await runtime.close()

    again = await build_runtime(runtime.settings, now=runtime.engine.now)
    try:
        assert await again.store.surveys.response_count(round_id) == 5
        invitation = again.courier.local.feed(Address(kind="user", id="u-north-5"))[-1]
        resent = Chat(again, user="u-north-5", name="Person 5", team="north")
        resent.channel._buttons = [(c["label"], c["action"], c["value"]) for c in invitation["choices"]]
        await resent.say("1")
        for value in ["4"] * 10:
            await resent.say(value)
        assert "Your answers are in" in await resent.say("Send")
        assert await again.store.surveys.response_count(round_id) == 6
        assert again.schedule.next_run(f"pulse:close:{round_id}") == closes
        await again.schedule.fire(f"pulse:close:{round_id}")
        assert (await again.store.surveys.round(round_id)).status == "closed"
    finally:
        await again.close()
    from bot.store import Store

    runtime.store = await Store.open(runtime.settings.db)
    runtime.schedule = None


async def test_the_loop_closes_an_agreed_action_is_told_and_its_sign_tracked(runtime: Runtime, clock: Clock):
    people = team_of(runtime, 5)
    await join(people)
    supervisor = Chat(runtime, user="u-sam", team=None)
    for busy in ("5", "2"):
        await start(runtime)
        for chat in people:
            await answer(runtime, chat, ["4", "2", "2", busy, "4", "4", "4", "2", "2", "4"])
        await supervisor.say("/pulse close --team north")
        if busy == "5":
            reply = await supervisor.say('/pulse action busy-work "No more transport-only shifts for peers" --team north')
            assert "has been told" in reply
            told = runtime.courier.local.take_unseen("u-north-1")[-1]["text"]
            assert "No more transport-only shifts for peers" in told
        clock.advance(days=30)
    post = feed(runtime)[-1]["text"]
    assert 'Agreed after the last pulse: "No more transport-only shifts for peers"' in post
    assert "Busy work that isn't peer support: now" in post and "down" in post
    report = await runtime.engine.intent("pulse").report("north", "co-optation", runtime.engine.system_context())
    assert report.image is not None and report.image.png.startswith(b"\x89PNG")


async def test_export_has_aggregates_only(runtime: Runtime):
    people = team_of(runtime, 5)
    await join(people)
    await start(runtime)
    for chat in people:
        await answer(runtime, chat, ["4"] * 10)
    await Chat(runtime, user="u-sam", team=None).say("/pulse close --team north")
    rows = await runtime.engine.intent("pulse").export_rows(runtime.engine.system_context())
    assert len(rows) == 1 and rows[0]["answers"] == 5 and rows[0]["team"] == "north"
    assert set(rows[0]) >= {"index", "sign:busy-work", "mean:busy-work"}
    assert not any(key.startswith("answer") and key != "answers" for key in rows[0])
    assert "u-north" not in json.dumps(rows)


def test_export_prints_csv_or_json(tmp_path):
    from bot.cli import cli

    env = {"PEERBOT_DB": str(tmp_path / "p.db")}
    assert json.loads(CliRunner().invoke(cli, ["pulse", "export", "--format", "json"], env=env).stdout) == []
    assert CliRunner().invoke(cli, ["pulse", "export", "--format", "xml"], env=env).exit_code == 2


@pytest.mark.parametrize("command, says", [
    ("/pulse start nonsense --team north", "I don't know a pulse called nonsense"),
    ("/pulse start co-optation --team north --days 90", "1 to 30 days"),
    ("/pulse start co-optation --team nowhere", "no team called nowhere"),
    ("/pulse close --team north", "no pulse running"),
])
async def test_bad_pulse_commands_get_clear_replies(runtime: Runtime, command: str, says: str):
    await join(team_of(runtime, 1))
    assert says in await Chat(runtime, user="u-sam", team=None).say(command)


def test_starting_a_pulse_that_does_not_exist_from_the_shell_fails_and_says_what_does(tmp_path):
    from bot.cli import cli

    env = {"PEERBOT_DB": str(tmp_path / "p.db")}
    assert CliRunner().invoke(cli, ["checkins", "team", "north"], env=env).exit_code == 0
    result = CliRunner().invoke(cli, ["pulse", "start", "nosuch", "--team", "north"], env=env)
    assert result.exit_code == 2
    assert "no pulse survey called nosuch" in result.output and "co-optation" in result.output


async def test_each_consent_says_exactly_what_happens_to_its_answers(runtime: Runtime):
    from intents.surveying import who_sees

    instruments = runtime.engine.intent("pulse").instruments(runtime.engine.system_context())
    pulse = who_sees(instruments["co-optation"], 5)
    assert "note" not in pulse.lower() and "at least 5 people" in pulse
    checkin = who_sees(runtime.engine.intent("checkin").instrument(runtime.engine.system_context()), 5)
    assert "A note goes to the peer supervisors only" in checkin and "the team doesn't see the notes" in checkin


# -- no dead ends: a peer's plain /pulse ---------------------------------------

async def test_a_peer_gets_the_running_pulse_back_with_plain_pulse(runtime: Runtime):
    people = team_of(runtime, 3)
    await join(people)
    await start(runtime)
    sent = runtime.courier.local.feed(Address(kind="user", id="u-north-0"))[-1]
    closes = spoken_time(runtime.engine.now().replace(second=0, microsecond=0) + dt.timedelta(days=5), runtime.settings.timezone)
    offer = await people[0].say("/pulse")  # the invitation was never pressed in this chat
    assert "Start the pulse" in offer and f"open until {closes}." in offer and "UTC" not in offer
    assert people[0].channel._buttons[0][2] == sent["choices"][0]["value"]  # the same one token, not a second
    await people[0].say("Start the pulse")
    for value in ["4"] * 10:
        await people[0].say(value)
    assert "Your answers are in, without your name" in await people[0].say("Send")
    answered = await people[0].say("/pulse")
    assert "are in already" in answered and "Start the pulse" not in answered
    assert await runtime.store.surveys.response_count(next(r.id for r in await runtime.store.surveys.open_rounds(team="north"))) == 1


async def test_a_peer_hears_when_the_pulse_closed_and_when_the_next_opens(runtime: Runtime, clock: Clock):
    people = team_of(runtime, 3)
    await join(people)
    await Chat(runtime, user="u-sam", team=None).say("/pulse start co-optation --team north --days 5 --every month")
    clock.advance(days=1)
    await Chat(runtime, user="u-sam", team=None).say("/pulse close --team north")
    closed = await people[1].say("/pulse")
    next_run = runtime.schedule.next_run("pulse:recurring:north:co-optation")
    assert next_run is not None and next_run > runtime.engine.now()
    assert "No pulse is running for the north team" in closed
    assert f"closed on {spoken_day(runtime.engine.now().astimezone(dt.timezone.utc).date())}" in closed
    assert f"The next one opens {spoken_time(next_run, runtime.settings.timezone)}." in closed
    assert "Start the pulse" not in closed and people[1].channel._buttons == []


async def test_without_a_schedule_the_next_pulse_is_the_supervisors_to_start(runtime: Runtime):
    people = team_of(runtime, 3)
    await join(people)
    assert "opens when a peer supervisor starts it" in await people[2].say("/pulse")
    assert "only for peer supervisors" in await people[2].say("/pulse close --team north")

"""Anonymous check-ins, as peer workers and supervisors experience them."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.runtime import Runtime
from tests.conftest import Chat, Clock, feed


def person(runtime: Runtime, user: str, team: str = "north", name: str | None = None) -> Chat:
    return Chat(runtime, user=user, name=name or user, team=team)


async def team(runtime: Runtime, size: int) -> list[Chat]:
    """People on the team before its week's check-in opens (only they are asked)."""
    people = [person(runtime, f"u-{n}") for n in range(size)]
    for chat in people:
        await chat.say("/checkin settings")
    return people


async def check_in(chat: Chat, energy: str = "4", supported: str = "3", peer_work: str = "4", note: str = "") -> str:
    """Answer this week's check-in from the start; return what the bot said at the end."""
    invitation = await chat.say("/checkin")
    assert "Start check-in" in invitation
    await chat.say("Start check-in")
    await chat.say(energy)
    await chat.say(supported)
    await chat.say(peer_work)
    return await chat.say(note)


def this_week(runtime: Runtime, team: str = "north") -> str:
    """The id of the team's check-in round for the week the clock is in."""
    from intents.checkin import period_of

    return f"checkin:{team}:{period_of(runtime.engine.now(), runtime.settings.timezone)[0]}"


async def test_a_check_in_shows_what_will_be_stored_and_who_sees_it_before_sending(runtime: Runtime):
    ada = person(runtime, "u-ada")
    review = await check_in(ada, note="more peer groups please")
    assert "Here is exactly what will be stored" in review
    assert "Pretty good" in review and "\"more peer groups please\"" in review
    assert "no name, no user id, no time" in review and "at least 5 people" in review
    assert "[1] Send" in review
    thanks = await ada.say("Send")
    assert "Your answers are in, without your name" in thanks
    assert await runtime.store.surveys.response_count(this_week(runtime)) == 1


async def test_nothing_is_stored_until_the_person_sends(runtime: Runtime):
    ada = person(runtime, "u-ada")
    await check_in(ada)
    assert "nothing was stored" in await ada.say("Don't send")
    assert await runtime.store.surveys.response_count(this_week(runtime)) == 0


async def test_a_second_answer_in_the_same_week_is_impossible(runtime: Runtime):
    from bot.model import Action, Inbound

    ada = person(runtime, "u-ada")
    await check_in(ada)
    send_button = ada.channel._buttons[0]
    await ada.say("Send")
    assert "are in already" in await ada.say("/checkin")
    # Even replaying the old Send button does not count twice.
    replay = Inbound(channel="terminal", user="u-ada", conversation="terminal:u-ada", action=Action(id=send_button[1], value=send_button[2]))
    reply = (await runtime.engine.handle(replay))[0].text
    assert "Already sent: your answers are in" in reply
    assert await runtime.store.surveys.response_count(this_week(runtime)) == 1


async def test_a_note_that_could_identify_someone_is_flagged_and_can_be_left_out(runtime: Runtime):
    ada = person(runtime, "u-ada")
    review = await check_in(ada, note="Maria and I had a rough shift on Tuesday")
    assert "could point to you or to someone else" in review
    assert "\"Maria\"" in review and "\"Tuesday\"" in review
    await ada.say("Send without the note")
    await runtime.store.close()
    data = runtime.settings.db.read_bytes() + (runtime.settings.db.with_name("peerbot.db-wal").read_bytes() if runtime.settings.db.with_name("peerbot.db-wal").exists() else b"")
    assert b"Maria" not in data
    from bot.store import Store

    runtime.store = await Store.open(runtime.settings.db)


async def test_a_low_answer_gets_a_kind_private_reply_and_sends_nothing_to_anyone(runtime: Runtime):
    ada = person(runtime, "u-ada")
    await check_in(ada, energy="1")
    reply = await ada.say("Send")
    assert "hard one" in reply and "warmline" in reply.lower()
    assert "Let a peer supervisor know" in reply
    assert feed(runtime) == []


async def test_results_are_withheld_below_the_minimum_group(runtime: Runtime):
    for n, chat in enumerate(await team(runtime, 4)):  # k - 1 people, with k = 5
        await check_in(chat, note=f"note number {n}")
        await chat.say("Send")
    admin = person(runtime, "u-root")
    await admin.say("/checkins close north")
    posts = feed(runtime)
    assert len(posts) == 1
    assert "fewer than 5 people answered" in posts[0]["text"]
    assert "note number" not in posts[0]["text"] and "average" not in posts[0]["text"]


async def test_results_are_shown_at_the_minimum_group_to_supervisors_and_the_team(runtime: Runtime):
    for n, chat in enumerate(await team(runtime, 5)):
        await check_in(chat, energy=str(1 + n), note=f"note number {n}")
        await chat.say("Send")
    supervisor = person(runtime, "u-sam", team=None)
    await supervisor.say("/checkins close north")
    post = feed(runtime)[0]["text"]
    assert "5 people answered" in post
    assert f"north team, week of {runtime.engine.now():%b} " in post and "-W" not in post.splitlines()[0]
    assert "average 3.0 of 5" in post  # energy 1..5
    assert all(f"note number {n}" in post for n in range(5))
    team_copy = [m["text"] for m in runtime.courier.local.take_unseen("u-3")]
    assert team_copy and "5 people answered" in team_copy[0] and "note number" not in team_copy[0]


async def test_check_in_results_are_for_supervisors_only(runtime: Runtime):
    assert "only for peer supervisors" in await person(runtime, "u-ada").say("/checkins report north")


async def two_closed_weeks(runtime: Runtime, clock: Clock) -> None:
    """Five people check in two weeks running (energy 2, then 4); each week is closed."""
    for week, energy in ((0, "2"), (1, "4")):
        for chat in await team(runtime, 5):
            await check_in(chat, energy=energy)
            await chat.say("Send")
        await person(runtime, "u-root").say("/checkins close north")
        clock.advance(days=7)


async def test_a_week_shows_its_change_from_the_last_and_a_trend_chart(runtime: Runtime, clock: Clock):
    await two_closed_weeks(runtime, clock)
    report = await runtime.engine.intent("checkin").report("north", runtime.engine.system_context())
    assert "average 4.0 of 5 (up 2.0 since last time)" in report.text
    assert report.image is not None and report.image.png.startswith(b"\x89PNG")


async def test_trend_charts_are_drawn_off_the_event_loop(runtime: Runtime, clock: Clock, monkeypatch):
    """A weekly close draws one chart per team, a tenth of a second each: drawn
    in a worker thread, Slack's three-second acks don't wait behind them."""
    import threading

    from intents import survey_charts

    drawn_on: list[str] = []
    real = survey_charts.trend_chart

    def recorded(*args, **kwargs):
        drawn_on.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(survey_charts, "trend_chart", recorded)
    await two_closed_weeks(runtime, clock)
    assert drawn_on and threading.main_thread().name not in drawn_on


async def test_prompts_go_to_everyone_due_once_and_never_to_those_who_stopped(runtime: Runtime):
    for user in ("u-ada", "u-ben", "u-cy"):
        await person(runtime, user).say("/checkin settings")
    await person(runtime, "u-cy").say("/checkin off")
    checkin = runtime.engine.intent("checkin")
    replies = await checkin.prompt("north", runtime.engine.system_context())
    assert sorted(r.to.target for r in replies) == ["u-ada", "u-ben"]
    assert all(r.secret and r.choices[0].label == "Start check-in" for r in replies)
    assert await checkin.prompt("north", runtime.engine.system_context()) == []


async def test_a_snoozed_person_is_skipped_until_the_snooze_ends(runtime: Runtime, clock: Clock):
    ada = person(runtime, "u-ada")
    back_on = (clock() + dt.timedelta(weeks=2)).date().isoformat()
    assert f"no check-in prompts until {back_on}" in await ada.say("/checkin snooze 2")
    checkin = runtime.engine.intent("checkin")
    assert await checkin.prompt("north", runtime.engine.system_context()) == []
    clock.advance(days=15)
    assert [r.to.target for r in await checkin.prompt("north", runtime.engine.system_context())] == ["u-ada"]


async def test_each_time_zone_in_a_team_gets_its_own_prompt_at_the_local_hour(runtime: Runtime):
    await person(runtime, "u-ada").say("/checkin tz Europe/London")
    await person(runtime, "u-ben").say("/checkin settings")
    jobs = runtime.schedule.job_ids("checkin:prompt:north:")
    assert jobs == ["checkin:prompt:north:America/New_York", "checkin:prompt:north:Europe/London"]
    london = runtime.schedule.next_run("checkin:prompt:north:Europe/London")
    assert (london.astimezone(dt.timezone.utc).hour, london.weekday()) == (10, 2)  # 10:00 London on a Wednesday


async def test_a_team_cadence_is_business_days_and_daytime_only(runtime: Runtime):
    admin = person(runtime, "u-root")
    assert "business days only" in await admin.say("/checkins team north sat 10 America/Chicago")
    assert "never at night" in await admin.say("/checkins team north wed 23 America/Chicago")
    assert "don't know that time zone" in await admin.say("/checkins team north wed 10 Mars/Base")
    assert "Thursdays at 09:00" in await admin.say("/checkins team north thu 9 America/Chicago")


async def test_a_restart_mid_check_in_keeps_the_start_button_working(runtime: Runtime):
    from bot.courier import Courier
    from bot.engine import Engine
    from bot.store import Store
    from intents import build_intents

    ada = person(runtime, "u-ada")
    await ada.say("/checkin")
    await ada.say("Start check-in")
    await ada.say("2")
    # The half-filled check-in was never in the database, by design.
    assert await runtime.store.forms.get("terminal", "u-ada", "terminal:u-ada") is None
    await runtime.store.close()
    runtime.store = await Store.open(runtime.settings.db)
    runtime.engine = Engine(runtime.settings, runtime.store, build_intents(), now=runtime.engine.now, schedule=runtime.schedule)
    runtime.courier = Courier(runtime.store, runtime.courier.local, now=runtime.engine.now)
    again = person(runtime, "u-ada")
    assert "before I last restarted" in await again.say("/checkin")
    # The invitation with its Start button is still in the person's direct
    # messages (the chat platform's side), and starts the form afresh.
    from bot.channels.base import Address
    from bot.model import Action, Inbound

    invitation = runtime.courier.local.feed(Address(kind="user", id="u-ada"))[-1]
    start = invitation["choices"][0]
    replies = await runtime.engine.handle(Inbound(channel="terminal", user="u-ada", conversation="terminal:u-ada",
                                                  action=Action(id=start["action"], value=start["value"])))
    assert "(1 of 4)" in replies[-1].text


@pytest.mark.parametrize("tampered", ['{"t": "x", "a": {"energy": 9}}', "not json"])
async def test_a_tampered_or_garbled_answer_is_refused_and_nothing_is_stored(runtime: Runtime, tampered: str):
    from bot.model import Action, Inbound

    replies = await runtime.engine.handle(Inbound(channel="slack", user="U1", conversation="D1", action=Action(id="checkin:send", value=tampered)))
    assert "didn't store anything" in replies[0].text or "can't find that form" in replies[0].text
    assert await runtime.store.surveys.response_count(this_week(runtime)) == 0


async def test_checkin_typed_in_a_shared_channel_goes_to_a_direct_message(runtime: Runtime):
    from bot.model import Inbound

    await person(runtime, "U1").say("/checkin settings")
    replies = await runtime.engine.handle(Inbound(channel="terminal", user="U1", conversation="C-general", text="/checkin", direct=False))
    assert replies[0].to.kind == "user" and replies[0].to.target == "U1" and replies[0].secret
    assert "sent this week's check-in to our direct messages" in replies[1].text


async def test_distress_written_in_a_check_in_note_gets_care_and_the_check_in_carries_on(runtime: Runtime):
    ada = person(runtime, "u-ada")
    review = await check_in(ada, energy="2", note="honestly i dont want to be here anymore")
    assert "988" in review and "can't contact anyone" in review
    assert "Here is exactly what will be stored" in review


def test_the_report_from_the_shell_saves_the_chart_or_says_why_there_is_none(tmp_path, monkeypatch):
    import asyncio

    from click.testing import CliRunner

    from bot.cli import cli
    from bot.runtime import build_runtime
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, supervisors="u-sam", admins="u-root")
    clock = Clock()

    async def weeks(count: int) -> None:
        runtime = await build_runtime(settings, now=clock)
        try:
            for _ in range(count):
                for chat in await team(runtime, 5):
                    await check_in(chat)
                    await chat.say("Send")
                await person(runtime, "u-root").say("/checkins close north")
                clock.advance(days=7)
        finally:
            await runtime.close()

    env = {"PEERBOT_DB": str(settings.db)}
    charts = tmp_path / "charts" / "north"
    monkeypatch.chdir(tmp_path)
    asyncio.run(weeks(1))
    first = CliRunner().invoke(cli, ["checkins", "report", "--team", "north", "--chart-dir", str(charts)], env=env)
    assert first.exit_code == 0 and "5 people answered" in first.output
    assert "no chart yet: a trend chart needs at least two closed rounds" in first.output
    asyncio.run(weeks(1))
    second = CliRunner().invoke(cli, ["checkins", "report", "--team", "north", "--chart-dir", str(charts)], env=env)
    [saved] = list(charts.glob("*.png"))
    assert f"saved to {saved}" in second.output and saved.read_bytes().startswith(b"\x89PNG")


def test_rounds_are_named_as_people_say_them():
    from intents.survey_charts import round_name

    assert round_name("2026-W48") == "week of Nov 23"
    assert round_name("2026-W53") == "week of Dec 28"
    assert round_name("2026-11-23T15:00+00:00") == "Nov 23"


async def test_the_trend_chart_keeps_each_question_on_its_own_scale_and_shows_who_answered(runtime: Runtime, clock: Clock):
    for week in range(2):
        for chat in await team(runtime, 5 + week):
            await check_in(chat, energy="3", supported="4")
            await chat.say("Send")
        await person(runtime, "u-root").say("/checkins close north")
        clock.advance(days=7)
    report = await runtime.engine.intent("checkin").report("north", runtime.engine.system_context())
    assert report.image is not None and report.image.png.startswith(b"\x89PNG")
    # Each question's average is read against its own scale: 4 of 4, 3 of 5.
    assert "supported by your supervis… 4.0 of 4" in report.image.alt and "energy been this week? 3.0 of 5" in report.image.alt


# -- no dead ends: the current round is always reachable with /checkin ------


def week_times(runtime: Runtime, tz: str | None = None) -> tuple[str, str]:
    """When this week's check-in closes and the next week's opens, as a person
    in ``tz`` (default: the team's) reads them."""
    from intents.checkin import CLOSE_HOUR, period_of
    from intents.times import spoken_day, spoken_time

    team_tz = runtime.settings.timezone
    _, closes = period_of(runtime.engine.now(), team_tz)
    return spoken_time(closes, tz or team_tz), spoken_day(closes - dt.timedelta(hours=CLOSE_HOUR), team_tz)


async def test_a_check_in_left_before_start_comes_back_with_checkin(runtime: Runtime):
    closes, next_opens = week_times(runtime)
    ada = person(runtime, "u-ada")
    assert "Start check-in" in await ada.say("/checkin")
    await ada.say("/checkin settings")  # the conversation moves on; the button is gone
    again = await ada.say("/checkin")
    assert "Start check-in" in again and "look for my message" not in again
    assert f"open until {closes}." in again and "UTC" not in again
    await ada.say("Start check-in")
    for answer in ("4", "3", "4", ""):
        await ada.say(answer)
    assert "Your answers are in, without your name" in await ada.say("Send")
    assert await runtime.store.surveys.response_count(this_week(runtime)) == 1
    answered = await ada.say("/checkin")
    assert "are in already" in answered and "Start check-in" not in answered
    assert f"The next one opens {next_opens}" in answered


async def test_a_scheduled_prompt_left_unanswered_is_offered_again(runtime: Runtime):
    ada = person(runtime, "u-ada")
    await ada.say("/checkin settings")
    checkin = runtime.engine.intent("checkin")
    (prompt,) = await checkin.prompt("north", runtime.engine.system_context())
    token = prompt.choices[0].value
    again = await ada.say("/checkin")
    assert "Start check-in" in again
    # The same invitation, not a second one: the store issued one token to Ada.
    assert ada.channel._buttons[0][2] == token
    assert await checkin.prompt("north", runtime.engine.system_context()) == []


async def test_a_closed_check_in_says_when_it_closed_and_when_the_next_opens(runtime: Runtime):
    from intents.times import spoken_day

    _, next_opens = week_times(runtime)
    ada = person(runtime, "u-ada")
    assert "Start check-in" in await ada.say("/checkin")
    await person(runtime, "u-sam").say("/checkins close north")
    closed = await ada.say("/checkin")
    assert f"closed on {spoken_day(runtime.engine.now().astimezone(dt.timezone.utc).date())}" in closed
    assert f"The next one opens {next_opens}" in closed and "Wednesday at 10:00" in closed
    assert "Start check-in" not in closed and ada.channel._buttons == []


async def test_after_a_restart_checkin_says_plainly_where_the_button_is(runtime: Runtime):
    from intents.invitations import RESOURCE

    closes, _ = week_times(runtime)
    ada = person(runtime, "u-ada")
    assert "Start check-in" in await ada.say("/checkin")
    runtime.engine.resources.pop(RESOURCE)  # what a restart forgets
    again = await ada.say("/checkin")
    assert "before I last restarted" in again and f"closes {closes}." in again
    # In the terminal, /messages is the scrolling up a platform would offer:
    # the invitation comes back with a Start button that works.
    shown = await ada.say("/messages")
    assert "it's check-in time for the north team" in shown and "[1] Start check-in" in shown
    assert "(1 of 4) How has your energy been this week?" in await ada.say("Start check-in")


async def test_a_check_in_closes_in_the_persons_own_time_zone(runtime: Runtime):
    ada = person(runtime, "u-ada")
    await ada.say("/checkin tz Asia/Tokyo")
    closes, _ = week_times(runtime, "Asia/Tokyo")
    assert closes.endswith("JST") and f"open until {closes}." in await ada.say("/checkin")

"""Scheduled work and lists at the size of a real organisation: many teams
closing their week at the same moment, thousands of messages queued by one
job, thousands of concerns listed. Each effect still happens exactly once,
and the list still shows every concern in order."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from bot.channels.base import Address
from bot.channels.local import LocalPlatform
from bot.cli import cli
from bot.model import Destination, Reply
from bot.runtime import Runtime, build_runtime
from bot.scheduler import Schedule
from intents.surveying import note_sizes
from tests.conftest import Clock, feed, make_settings
from tests.test_courier import FlakyPlatform, courier_with

TEAMS = 24
PEOPLE = 5


async def teams_with_answers(runtime: Runtime) -> None:
    """TEAMS teams of PEOPLE, each prompted this week, every member answering."""
    checkin, ctx = runtime.engine.intent("checkin"), runtime.engine.system_context()
    instrument = checkin.instrument(ctx)
    for t in range(TEAMS):
        team = f"team-{t:02d}"
        await checkin.set_cadence(team, "wed", "10", runtime.settings.timezone, ctx)
        for p in range(PEOPLE):
            await runtime.store.surveys.join(team, "terminal", f"{team}-p{p}")
    for t in range(TEAMS):
        replies = await checkin.prompt(f"team-{t:02d}", ctx)
        tokens = [c.value for r in replies for c in r.choices if c.action == "checkin:start"]
        assert len(tokens) == PEOPLE
        for n, token in enumerate(tokens):
            await runtime.store.surveys.redeem(token, {"energy": 4, "supported": 3, "peer-work": 4, "note": f"note {n}"},
                                               note_sizes(instrument), together=runtime.settings.min_group)


async def test_every_team_closing_at_once_is_closed_summarised_and_told_exactly_once(runtime: Runtime, clock: Clock):
    await teams_with_answers(runtime)
    clock.advance(days=7)  # the Monday after: every team's week has closed
    # Two runners on the same jobs at the same moment (a restart overlapping
    # the old process, say): each close job is claimed by one of them.
    other = Schedule(runtime.store, clock)
    other.fallback = runtime.run_job
    await other.load()
    ran = await asyncio.gather(runtime.schedule.run_due(), other.run_due())
    closes = await runtime.store.run(lambda: [j for j in runtime.store.jobs.all() if j.kind == "checkin:close"])
    assert len(closes) == TEAMS and all(j.next_run_at > clock() for j in closes)
    assert sum(ran) >= TEAMS
    while await runtime.courier.deliver_due():
        pass

    posts = feed(runtime)
    assert len(posts) == TEAMS
    for t in range(TEAMS):
        [post] = [p for p in posts if f"team-{t:02d} team" in p["text"]]
        assert f"{PEOPLE} people answered" in post["text"]
        for p in range(PEOPLE):
            pictures = [m for m in runtime.courier.local.take_unseen(f"team-{t:02d}-p{p}") if "check-in picture is in" in m["text"]]
            assert len(pictures) == 1
    counts = await runtime.store.outbox.counts()
    assert counts == {"delivered": TEAMS * (1 + PEOPLE)}
    assert len(await runtime.store.surveys.open_rounds(instrument="checkin")) == 0

    # Running the schedule again, or closing by hand, adds nothing.
    assert await runtime.schedule.run_due() == 0
    checkin, ctx = runtime.engine.intent("checkin"), runtime.engine.system_context()
    assert await checkin.close_due("team-00", ctx, everything=True) == []
    assert len(feed(runtime)) == TEAMS


async def test_a_jobs_replies_are_queued_together_and_each_is_delivered_once(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform()
    courier = courier_with(runtime, platform, clock)
    assert await courier.send(Reply(text="already queued", to=Destination.user("U0", via="flaky"), dedupe="k0"))
    replies = [Reply(text=f"to {n}", to=Destination.user(f"U{n}", via="flaky"), dedupe=f"k{n}") for n in range(200)]
    replies.insert(100, Reply(text="your own token", secret=True, to=Destination.user("U-secret", via="flaky")))
    fresh = await courier.send_all(replies)
    # k0 was queued before (nothing new), the secret went straight out, the rest are new.
    assert fresh == [False] + [True] * 200
    assert [r.text for _, r in platform.posts] == ["your own token"]
    assert "your own token" not in json.dumps(await runtime.store.run(
        lambda: [list(r) for r in runtime.store.db.execute("select reply from outbox").fetchall()]))
    while await courier.deliver_due():
        pass
    sent = [r.text for a, r in platform.posts if a.id != "U-secret"]
    assert sorted(sent) == sorted(["already queued"] + [f"to {n}" for n in range(1, 200)])
    assert await runtime.store.outbox.counts() == {"delivered": 200}
    # Sending the same replies again queues nothing and sends nothing.
    assert await courier.send_all([r for r in replies if not r.secret]) == [False] * 200
    assert await courier.deliver_due() == 0 and len(platform.posts) == 201


async def test_a_keyed_post_sent_in_a_long_pass_is_remembered_and_later_updated_in_place(runtime: Runtime, clock: Clock):
    platform = FlakyPlatform()
    courier = courier_with(runtime, platform, clock)
    await courier.send_all([Reply(text=f"Concern K{n}: new", key=f"concern:K{n}", to=Destination.channel("supervisors"))
                            for n in range(60)])
    while await courier.deliver_due():
        pass
    assert len(platform.posts) == 60
    await courier.send(Reply(text="Concern K59: acknowledged", key="concern:K59", to=Destination.channel("supervisors")))
    await courier.deliver_due()
    assert len(platform.posts) == 60
    assert [(ref, r.text) for ref, r in platform.updates] == [("ref-60", "Concern K59: acknowledged")]


async def test_the_terminal_platform_finds_a_keyed_post_made_by_another_process(tmp_path: Path):
    here, there = LocalPlatform(tmp_path / "p.local.jsonl"), LocalPlatform(tmp_path / "p.local.jsonl")
    supervisors = Address(kind="channel", id="supervisors")
    for n in range(500):
        await here.post(supervisors, Reply(text=f"post {n}", key=f"k{n}"))
    assert await here.find_posted(supervisors, "k-later") is None
    first = await there.post(supervisors, Reply(text="later", key="k-later"))
    await there.post(supervisors, Reply(text="again", key="k-later"))
    assert await here.find_posted(supervisors, "k-later") == first
    assert await here.find_posted(Address(kind="channel", id="elsewhere"), "k-later") is None
    assert await here.find_posted(supervisors, "k7") is not None


def test_concerns_list_at_many_concerns_is_complete_in_order_and_filters(tmp_path: Path, monkeypatch):
    settings = make_settings(tmp_path, supervisors="u-sam", timezone="UTC")
    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)
    count = 600

    async def raise_many() -> list[tuple[str, bool]]:
        runtime = await build_runtime(settings, now=Clock(start))
        raised = []
        try:
            for n in range(count):
                named = n % 3 != 0  # named and anonymous ones interleaved in time
                fields = {"category": "workload", "body": f"text {n}", "named": int(named), "reporter_id": "u-ada" if named else None,
                          "reporter_name": "Ada" if named else None, "reporter_via": "terminal" if named else None,
                          "follow_up": 0, "about_supervisor": 0, "destination": "supervisors", "hold": 0, "state": "open"}
                at = start + dt.timedelta(hours=n)
                ref = await runtime.store.concerns.create(fields, at)
                resolved = n % 2 == 0
                if resolved:
                    await runtime.store.concerns.step(ref, "resolve", "Sam", at, resolution="done", resolved_at=at.isoformat())
                raised.append((ref, resolved))
        finally:
            await runtime.close()
        return raised

    raised = asyncio.run(raise_many())
    monkeypatch.chdir(tmp_path)
    env = {"PEERBOT_DB": str(settings.db), "PEERBOT_TIMEZONE": "UTC"}
    runner = CliRunner()

    def listed(*args: str) -> list[str]:
        result = runner.invoke(cli, ["concerns", "list", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    every = listed()
    assert [line.split()[0] for line in every] == [ref for ref, _ in raised]  # oldest first, both kinds in time order
    assert "Mon Jan 5, 9:00 AM UTC" in every[0] and "(named)" in every[1] and "(anonymous)" in every[3]
    assert not any("text " in line or "Ada" in line for line in every)

    still_open = [ref for ref, resolved in raised if not resolved]
    assert [line.split()[0] for line in listed("--open")] == still_open

    assert [line.split()[0] for line in listed("--limit", "25")] == [ref for ref, _ in raised[-25:]]
    assert [line.split()[0] for line in listed("--open", "--limit", "3")] == still_open[-3:]
    objects = [json.loads(line) for line in listed("--json", "--limit", "4")]
    assert [o["ref"] for o in objects] == [ref for ref, _ in raised[-4:]]
    assert set(objects[0]) == {"ref", "category", "state", "named", "created_at", "escalated", "purged"}
    assert runner.invoke(cli, ["concerns", "list", "--limit", "0"], env=env).exit_code != 0


async def test_a_large_team_prompted_at_once_gets_one_working_token_each(runtime: Runtime):
    checkin, ctx = runtime.engine.intent("checkin"), runtime.engine.system_context()
    await checkin.set_cadence("big", "wed", "10", runtime.settings.timezone, ctx)
    for p in range(60):
        await runtime.store.surveys.join("big", "terminal", f"big-{p}")
    replies = await checkin.prompt("big", ctx)
    tokens = {r.to.target: c.value for r in replies for c in r.choices if c.action == "checkin:start"}
    assert len(tokens) == 60 and len(set(tokens.values())) == 60
    for token in tokens.values():
        assert (await runtime.store.surveys.check_token(token)).team == "big"
    assert await checkin.prompt("big", ctx) == []  # everyone has this week's already
    [rnd] = await runtime.store.surveys.open_rounds(team="big")
    states = await runtime.store.run(lambda: runtime.store.db.execute(
        "select state, count(*) from survey_tokens where round_id = ? group by state", [rnd.id]).fetchall())
    assert dict(states) == {"sent": 60}


async def test_the_team_gets_the_same_trend_chart_as_the_supervisors(runtime: Runtime, clock: Clock):
    from tests.test_checkins import check_in, person, team

    for energy in ("2", "4"):
        members = await team(runtime, 5)
        for chat in members:
            await check_in(chat, energy=energy)
            await chat.say("Send")
        await person(runtime, "u-root").say("/checkins close north")
        clock.advance(days=7)
    post = feed(runtime)[-1]
    assert post["image"]["alt"].startswith("Trend over 2 rounds")
    for n in range(5):
        pictures = [m for m in runtime.courier.local.take_unseen(f"u-{n}") if "check-in picture is in" in m["text"]]
        assert pictures[-1]["image"] == post["image"]

"""The persistent schedule: jobs survive a restart, keep local time, run
once when missed, and are kept through the store's own connection."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.scheduler import Schedule
from bot.store import Store
from tests.conftest import Clock


async def open_schedule(path: Path, clock: Clock) -> Schedule:
    schedule = Schedule(await Store.open(path), clock)
    await schedule.load()
    schedule.start(paused=True)
    return schedule


async def close(schedule: Schedule) -> None:
    await schedule.stop()
    await schedule.store.close()


def wednesday_10_chicago(monday: dt.datetime) -> dt.datetime:
    """10:00 in Chicago on the Wednesday after the tests' Monday start."""
    from zoneinfo import ZoneInfo

    day = monday.date() + dt.timedelta(days=2)
    return dt.datetime.combine(day, dt.time(10), tzinfo=ZoneInfo("America/Chicago")).astimezone(dt.timezone.utc)


async def test_jobs_survive_a_restart(tmp_path: Path, clock: Clock):
    first = await open_schedule(tmp_path / "p.db", clock)
    first.weekly("checkin:prompt:north:America/Chicago", "checkin:prompt", {"team": "north"}, day_of_week="wed", hour=10, timezone="America/Chicago")
    when = first.next_run("checkin:prompt:north:America/Chicago")
    await close(first)

    second = await open_schedule(tmp_path / "p.db", clock)
    try:
        assert second.job_ids() == ["checkin:prompt:north:America/Chicago"]
        assert second.next_run("checkin:prompt:north:America/Chicago") == when
        assert when == wednesday_10_chicago(clock())
    finally:
        await close(second)


async def test_a_weekly_prompt_keeps_its_local_hour_across_daylight_saving(tmp_path: Path):
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger(day_of_week="mon", hour=10, timezone="America/New_York")
    before = trigger.get_next_fire_time(None, dt.datetime(2026, 10, 20, tzinfo=dt.timezone.utc))
    after = trigger.get_next_fire_time(None, dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc))
    # Clocks go back on 1 November: 10:00 local is 14:00 UTC before and 15:00 after.
    assert (before.hour, before.utcoffset()) == (10, dt.timedelta(hours=-4))
    assert (after.hour, after.utcoffset()) == (10, dt.timedelta(hours=-5))


async def test_the_runner_keeps_the_local_hour_across_daylight_saving(tmp_path: Path):
    clock = Clock(dt.datetime(2026, 10, 26, 15, 0, tzinfo=dt.timezone.utc))  # a Monday, after 10:00 New York
    schedule = await open_schedule(tmp_path / "p.db", clock)
    seen = []

    async def record(payload):
        seen.append(clock())

    schedule.on("checkin:prompt", record)
    try:
        schedule.weekly("checkin:prompt:east", "checkin:prompt", {"team": "east"}, day_of_week="mon", hour=10, timezone="America/New_York")
        assert schedule.next_run("checkin:prompt:east") == dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.timezone.utc)
        clock.current = dt.datetime(2026, 11, 2, 15, 0, 5, tzinfo=dt.timezone.utc)
        assert await schedule.run_due() == 1
        # The week after, still 10:00 local: 15:00 UTC now that clocks went back.
        assert schedule.next_run("checkin:prompt:east") == dt.datetime(2026, 11, 9, 15, 0, tzinfo=dt.timezone.utc)
        assert await schedule.run_due() == 0
    finally:
        await close(schedule)


async def test_firing_a_one_off_job_runs_its_handler_once_and_removes_it(tmp_path: Path, clock: Clock):
    schedule = await open_schedule(tmp_path / "p.db", clock)
    seen = []

    async def record(payload):
        seen.append(payload)

    schedule.on("concern:escalate", record)
    schedule.at("concern:escalate:K7", "concern:escalate", {"ref": "K7"}, dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    try:
        await schedule.fire("concern:escalate:K7")
        assert seen == [{"ref": "K7"}]
        assert schedule.job_ids() == []
        await schedule.flush()
        assert await schedule.store.run(schedule.store.jobs.all) == []
    finally:
        await close(schedule)


async def test_runs_missed_while_down_fire_once_within_the_grace_and_not_after(tmp_path: Path, clock: Clock):
    schedule = await open_schedule(tmp_path / "p.db", clock)
    seen = []

    async def record(payload):
        seen.append(payload["n"])

    schedule.on("concern:sweep", record)
    schedule.cron("every-ten", "concern:sweep", {"n": "cron"}, timezone="UTC", minute="*/10")
    schedule.at("soon", "concern:sweep", {"n": "soon"}, clock() + dt.timedelta(minutes=5))
    schedule.at("long-ago", "concern:sweep", {"n": "long-ago"}, clock() + dt.timedelta(minutes=1))
    await close(schedule)

    # Down for an hour: six ten-minute runs missed, and both one-off jobs.
    clock.advance(hours=1)
    again = await open_schedule(tmp_path / "p.db", clock)
    again.on("concern:sweep", record)
    try:
        assert await again.run_due() == 3
        assert sorted(seen) == ["cron", "long-ago", "soon"]  # the cron job once, not six times
        assert again.job_ids() == ["every-ten"]
        assert again.next_run("every-ten") == clock() + dt.timedelta(minutes=10)
        # Down for a day: a one-off run missed by more than the six-hour grace is
        # skipped (and dropped); the ten-minute job's latest run is recent, so it runs once.
        seen.clear()
        again.at("stale", "concern:sweep", {"n": "stale"}, clock() + dt.timedelta(minutes=1))
        await again.stop()
        clock.advance(days=1)
        assert await again.run_due() == 1 and seen == ["cron"]
        assert again.job_ids() == ["every-ten"]
    finally:
        await close(again)


async def test_of_several_processes_due_to_run_a_job_exactly_one_runs_it(tmp_path: Path, clock: Clock):
    import asyncio

    schedules = [await open_schedule(tmp_path / "p.db", clock) for _ in range(4)]
    runs = []

    async def record(payload):
        runs.append(payload)
        await asyncio.sleep(0.01)

    for schedule in schedules:
        schedule.on("pulse:close", record)
    schedules[0].at("pulse:close:r1", "pulse:close", {"round": "r1"}, clock())
    await schedules[0].flush()
    try:
        counts = await asyncio.gather(*(s.run_due() for s in schedules))
        assert sum(counts) == 1 and runs == [{"round": "r1"}]
        for schedule in schedules:
            await schedule.refresh()
            assert schedule.job_ids() == []
    finally:
        for schedule in schedules:
            await close(schedule)


async def test_a_job_replaced_while_it_runs_keeps_its_new_definition(tmp_path: Path, clock: Clock):
    schedule = await open_schedule(tmp_path / "p.db", clock)

    async def replan(payload):
        # A handler that plans its own job again (a later close, say).
        schedule.at("pulse:close:r1", "pulse:close", {"round": "r1"}, clock() + dt.timedelta(days=1))

    schedule.on("pulse:close", replan)
    schedule.at("pulse:close:r1", "pulse:close", {"round": "r1"}, clock())
    try:
        assert await schedule.run_due() == 1
        await schedule.refresh()
        assert schedule.next_run("pulse:close:r1") == clock() + dt.timedelta(days=1)
    finally:
        await close(schedule)


async def test_the_schedule_writes_through_the_stores_connection_only(tmp_path: Path, clock: Clock):
    schedule = await open_schedule(tmp_path / "p.db", clock)
    try:
        schedule.at("concern:K7:escalate", "concern:escalate", {"ref": "K7"}, clock() + dt.timedelta(days=1))
        await schedule.flush()
        tables = await schedule.store.run(lambda: schedule.store.db.table_names())
        assert "scheduled_jobs" in tables and "apscheduler_jobs" not in tables
    finally:
        await close(schedule)


async def old_run_job(kind: str, payload: dict) -> None:
    """What an earlier peerbot's APScheduler jobs pointed at."""


async def test_an_upgrade_carries_over_the_jobs_of_the_old_job_store_and_refuses_a_tampered_one(tmp_path: Path, clock: Clock):
    import pickle
    import sqlite3

    from apscheduler.job import Job
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger

    # What an earlier peerbot left in the file: APScheduler's own table and pickles.
    path = tmp_path / "p.db"
    old_jobs = SQLAlchemyJobStore(url=f"sqlite:///{path}")
    old_jobs.start(BackgroundScheduler(timezone=dt.timezone.utc), "default")
    chicago = CronTrigger(day_of_week="wed", hour=10, timezone="America/Chicago")
    escalate = DateTrigger(run_date=dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.timezone.utc))
    for job_id, trigger, args in (
        ("checkin:prompt:north:America/Chicago", chicago, ["checkin:prompt", {"team": "north", "tz": "America/Chicago"}]),
        ("concern:K7Q2MX:escalate", escalate, ["concern:escalate", {"ref": "K7Q2MX"}]),
    ):
        old_jobs.add_job(Job(
            old_jobs._scheduler, id=job_id, func="tests.test_schedule:old_run_job", trigger=trigger, args=args, kwargs={},
            executor="default", name="run_job", misfire_grace_time=21600, coalesce=True, max_instances=1,
            next_run_time=trigger.get_next_fire_time(None, clock()),
        ))
    old_jobs.shutdown()

    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    with sqlite3.connect(path) as conn:
        conn.execute("insert into apscheduler_jobs values (?, ?, ?)", ["evil", 0.0, pickle.dumps({"args": ("x", {}), "trigger": Boom()})])

    schedule = await open_schedule(path, clock)
    try:
        assert schedule.job_ids() == ["checkin:prompt:north:America/Chicago", "concern:K7Q2MX:escalate"]
        assert schedule.next_run("checkin:prompt:north:America/Chicago") == wednesday_10_chicago(clock())
        assert schedule.next_run("concern:K7Q2MX:escalate") == dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.timezone.utc)
        assert not (tmp_path / "pwned").exists()
        tables = await schedule.store.run(lambda: schedule.store.db.table_names())
        assert "apscheduler_jobs" not in tables
    finally:
        await close(schedule)


async def test_the_runner_runs_due_jobs_itself_and_waits_quietly_on_one_another_process_holds(tmp_path: Path, clock: Clock):
    import asyncio

    from bot.scheduler import LEASE

    schedule = await open_schedule(tmp_path / "p.db", clock)
    ran = asyncio.Event()

    async def record(payload):
        ran.set()

    schedule.on("concern:sweep", record)
    try:
        # A job another process is running right now (its lease is live).
        schedule.at("pulse:close:r1", "pulse:close", {"round": "r1"}, clock())
        await schedule.flush()
        [job] = await schedule.store.run(schedule.store.jobs.all)
        assert await schedule.store.run(schedule.store.jobs.claim, job, "another-process", clock(), clock() + LEASE)
        looked = 0
        due = schedule.store.jobs.due

        def counting(*args):
            nonlocal looked
            looked += 1
            return due(*args)

        schedule.store.jobs.due = counting
        schedule.resume()
        schedule.at("concern:sweep:start", "concern:sweep", {}, clock())
        await asyncio.wait_for(ran.wait(), timeout=5)
        await asyncio.sleep(0.5)
        assert looked <= 3  # no busy loop on the job that is leased elsewhere
    finally:
        await close(schedule)

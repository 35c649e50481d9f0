"""The persistent schedule: jobs survive a restart and keep local time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.scheduler import Schedule


async def test_jobs_survive_a_restart(tmp_path: Path):
    first = Schedule(tmp_path / "p.db")
    first.start(paused=True)
    first.weekly("checkin:prompt:north:America/Chicago", "checkin:prompt", {"team": "north"}, day_of_week="wed", hour=10, timezone="America/Chicago")
    when = first.next_run("checkin:prompt:north:America/Chicago")
    first.shutdown()

    second = Schedule(tmp_path / "p.db")
    second.start(paused=True)
    try:
        assert second.job_ids() == ["checkin:prompt:north:America/Chicago"]
        assert second.next_run("checkin:prompt:north:America/Chicago") == when
    finally:
        second.shutdown()


async def test_a_weekly_prompt_keeps_its_local_hour_across_daylight_saving(tmp_path: Path):
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger(day_of_week="mon", hour=10, timezone="America/New_York")
    before = trigger.get_next_fire_time(None, dt.datetime(2026, 10, 20, tzinfo=dt.timezone.utc))
    after = trigger.get_next_fire_time(None, dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc))
    # Clocks go back on 1 November: 10:00 local is 14:00 UTC before and 15:00 after.
    assert (before.hour, before.utcoffset()) == (10, dt.timedelta(hours=-4))
    assert (after.hour, after.utcoffset()) == (10, dt.timedelta(hours=-5))


async def test_firing_a_one_off_job_runs_its_handler_once_and_removes_it(tmp_path: Path):
    schedule = Schedule(tmp_path / "p.db")
    schedule.start(paused=True)
    seen = []

    async def record(payload):
        seen.append(payload)

    schedule.on("concern:escalate", record)
    schedule.at("concern:escalate:K7", "concern:escalate", {"ref": "K7"}, dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    try:
        await schedule.fire("concern:escalate:K7")
        assert seen == [{"ref": "K7"}]
        assert schedule.job_ids() == []
    finally:
        schedule.shutdown()

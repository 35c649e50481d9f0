"""The persistent schedule: check-in prompts, period closes, pulse reminders,
concern escalations.

APScheduler (3.x) does the timing: cron and date triggers in each team's or
person's IANA time zone, so daylight-saving changes never shift a prompt. Its
jobs live in the same SQLite file (SQLAlchemy job store), so they survive a
restart; a run missed while the bot was down fires once when it comes back
(coalesced), within a grace period.

Jobs name a *kind* and carry a small payload (a team, a period, a concern
reference: never a person's answer). Each capability registers a handler
for its kinds. Handlers are written so that a repeated run does nothing new
(the store remembers what was sent or closed), so a restart at any moment
can neither miss nor double a prompt.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot import clock

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
MISFIRE_GRACE = dt.timedelta(hours=6)

# APScheduler stores a reference to a module-level function; it finds the
# live schedule through here.
_ACTIVE: "Schedule | None" = None


async def run_job(kind: str, payload: dict[str, Any]) -> None:
    if _ACTIVE is None:
        log.warning("a %s job fired with no schedule running", kind)
        return
    await _ACTIVE.dispatch(kind, payload)


class Schedule:
    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        self.handlers: dict[str, Handler] = {}
        # Jobs of kinds with no handler of their own: the runtime hands them
        # to the intent named in the kind ("checkin:prompt" -> checkin).
        self.fallback: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
        self._scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{self.db_path}", engine_options={"connect_args": {"timeout": 10}})},
            job_defaults={"coalesce": True, "misfire_grace_time": int(MISFIRE_GRACE.total_seconds()), "max_instances": 1},
            timezone=dt.timezone.utc,
        )

    def on(self, kind: str, handler: Handler) -> None:
        if kind in self.handlers:
            raise ValueError(f"a handler for {kind!r} jobs is already registered")
        self.handlers[kind] = handler

    async def dispatch(self, kind: str, payload: dict[str, Any]) -> None:
        handler = self.handlers.get(kind)
        try:
            if handler is not None:
                await handler(payload)
            elif self.fallback is not None:
                await self.fallback(kind, payload)
            else:
                log.warning("no handler for %s jobs", kind)
        except Exception:
            log.exception("a %s job failed", kind)

    def start(self, paused: bool = False) -> None:
        global _ACTIVE
        _ACTIVE = self
        if not self._scheduler.running:
            self._scheduler.start(paused=paused)
        elif not paused:
            self._scheduler.resume()

    def resume(self) -> None:
        """Start firing jobs (a paused schedule only keeps them)."""
        self._scheduler.resume()

    def shutdown(self) -> None:
        global _ACTIVE
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if _ACTIVE is self:
            _ACTIVE = None

    # -- jobs --------------------------------------------------------------

    def weekly(self, job_id: str, kind: str, payload: dict[str, Any], *, day_of_week: str, hour: int, minute: int = 0, timezone: str) -> None:
        """Every week on ``day_of_week`` at ``hour:minute`` local time in ``timezone``."""
        trigger = CronTrigger(day_of_week=day_of_week, hour=hour, minute=minute, timezone=timezone)
        self._add(job_id, kind, payload, trigger)

    def cron(self, job_id: str, kind: str, payload: dict[str, Any], *, timezone: str, **fields: Any) -> None:
        self._add(job_id, kind, payload, CronTrigger(timezone=timezone, **fields))

    def at(self, job_id: str, kind: str, payload: dict[str, Any], when: dt.datetime) -> None:
        self._add(job_id, kind, payload, DateTrigger(run_date=when))

    def _add(self, job_id: str, kind: str, payload: dict[str, Any], trigger: Any) -> None:
        # The first run is worked out from peerbot's one clock, not the
        # machine's (APScheduler would read datetime.now itself).
        first = trigger.get_next_fire_time(None, clock.now())
        self._scheduler.add_job(
            run_job, trigger=trigger, args=[kind, payload], id=job_id, replace_existing=True, next_run_time=first
        )

    def cancel(self, job_id: str) -> None:
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    def next_run(self, job_id: str) -> dt.datetime | None:
        job = self._scheduler.get_job(job_id)
        return job.next_run_time if job is not None else None

    def job_ids(self, prefix: str = "") -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs() if job.id.startswith(prefix))

    async def fire(self, job_id: str) -> None:
        """Run a job now, as its trigger would (operators and tests)."""
        job = self._scheduler.get_job(job_id)
        if job is None:
            raise KeyError(job_id)
        kind, payload = job.args
        if isinstance(job.trigger, DateTrigger):
            self.cancel(job_id)
        await self.dispatch(kind, payload)

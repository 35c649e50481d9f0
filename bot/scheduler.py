"""The persistent schedule: check-in prompts, period closes, pulse reminders,
concern escalations.

APScheduler's trigger classes do the timing: cron and date triggers in each
team's or person's IANA time zone, so daylight-saving changes never shift a
prompt. The jobs live in the store's ``scheduled_jobs`` table, written
through the store's one connection on its own thread (bot/store/schedule.py):
the schedule is no longer a second writer on the SQLite file (APScheduler's
SQLAlchemy job store was one, and made other writes fail with "database is
locked"), and the event loop never waits on the disk for it.

A small runner (only in a process that runs the schedule, ``peerbot
serve``) looks for due jobs every ``POLL`` seconds or sooner, claims each
with a lease (one guarded UPDATE, so of several processes exactly one runs
it), runs it, then plans its next run. A run missed while the bot was down
fires once when it comes back (coalesced), within a grace period; older
misses are skipped.

Jobs name a *kind* and carry a small payload (a team, a period, a concern
reference: never a person's answer). Each capability registers a handler
for its kinds. Handlers are written so that a repeated run does nothing new
(the store remembers what was sent or closed), so a restart at any moment
can neither miss nor double a prompt.

The API is synchronous for the intents that plan jobs: a change is applied
at once to this process's view of the jobs (which ``next_run`` and
``job_ids`` answer from) and queued on the store's thread, which runs work
in order, so anything the process reads or writes afterwards sees it, and
closing the store waits for it. The view is loaded at start and refreshed
on each of the runner's passes; jobs another process plans in between show
up at the next refresh.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.store.schedule import JobRow

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
MISFIRE_GRACE = dt.timedelta(hours=6)
# How often the runner looks for jobs other processes planned.
POLL = dt.timedelta(seconds=30)
# How long a claimed run may take before another runner may take it over
# (the one that claimed it crashed, say).
LEASE = dt.timedelta(minutes=10)


def build_trigger(spec: dict[str, Any]) -> CronTrigger | DateTrigger:
    """A trigger from its stored form: ``{"date": ISO}`` or ``{"cron": fields, "timezone": zone}``."""
    if "date" in spec:
        return DateTrigger(run_date=dt.datetime.fromisoformat(spec["date"]))
    return CronTrigger(timezone=spec["timezone"], **spec["cron"])


def _next_after(trigger: CronTrigger | DateTrigger, last: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The first fire time after ``last`` that is later than ``now`` (one-off jobs: none)."""
    if isinstance(trigger, DateTrigger):
        return None
    following = trigger.get_next_fire_time(last, now)
    while following is not None and following <= now:
        following = trigger.get_next_fire_time(following, now)
    return following


def _latest_due(trigger: CronTrigger | DateTrigger, first: dt.datetime, now: dt.datetime) -> dt.datetime:
    """Of the runs due from ``first`` up to ``now``, the latest (they coalesce into one)."""
    latest = first
    if isinstance(trigger, CronTrigger):
        following = trigger.get_next_fire_time(latest, now)
        while following is not None and following <= now:
            latest = following
            following = trigger.get_next_fire_time(latest, now)
    return latest


def _nothing() -> None:
    return None


def _report(future: Future) -> None:
    """Log a queued change that could not be written (runs on the store's thread)."""
    if not future.cancelled() and future.exception() is not None:
        log.error("a scheduled job could not be saved", exc_info=future.exception())


class Schedule:
    def __init__(self, store: "Store", now: Callable[[], dt.datetime]):
        self.store = store
        self.now = now
        self.handlers: dict[str, Handler] = {}
        # Jobs of kinds with no handler of their own: the runtime hands them
        # to the intent named in the kind ("checkin:prompt" -> checkin).
        self.fallback: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
        self._jobs: dict[str, JobRow] = {}
        self._changes = 0  # local changes made, so a refresh never undoes one it didn't see
        self._owner = secrets.token_hex(8)
        self._runner: asyncio.Task | None = None
        self._passed_at: dt.datetime | None = None  # when the runner last looked
        self._wake = asyncio.Event()

    async def load(self) -> None:
        """Read the planned jobs into this process's view (once at start)."""
        await self.refresh(force=True)

    async def refresh(self, force: bool = False) -> None:
        """See the jobs other processes planned (this one's own changes are
        already in the view; a refresh that raced one is dropped)."""
        seen = self._changes
        rows = await self.store.run(self.store.jobs.all)
        if force or seen == self._changes:
            self._jobs = {row.id: row for row in rows}

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

    # -- running -------------------------------------------------------------

    def start(self, paused: bool = False) -> None:
        if not paused:
            self.resume()

    def resume(self) -> None:
        """Start firing jobs (a paused schedule only keeps them)."""
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="schedule")

    def shutdown(self) -> None:
        """Stop firing jobs; a run in progress is cancelled (its job stays
        claimed until its lease ends, then runs again: handlers are idempotent)."""
        if self._runner is not None:
            self._runner.cancel()
            self._runner = None

    async def stop(self) -> None:
        """Stop firing jobs and wait until the planned changes are written."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            try:
                await runner
            except asyncio.CancelledError:
                pass
        try:
            await self.flush()
        except RuntimeError:
            pass  # the store is closed already, and closing it waited for every queued change

    async def flush(self) -> None:
        """Wait until every change queued so far is in the store: the store's
        thread works in order, so once a no-op queued now has run, they have."""
        await self.store.run(_nothing)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the schedule could not look for due jobs")
            await self._sleep()

    async def _sleep(self) -> None:
        """Until the next job in view is due, a job is planned here, or POLL.
        Jobs due at the last pass that are still here are another process's
        (leased) and are looked at again after POLL, not in a busy loop."""
        now = self.now()
        wait = POLL
        later = [job.next_run_at for job in self._jobs.values() if self._passed_at is None or job.next_run_at > self._passed_at]
        if later:
            wait = min(wait, max(dt.timedelta(0), min(later) - now))
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(wait.total_seconds(), 0.01))
        except asyncio.TimeoutError:
            pass

    async def run_due(self) -> int:
        """Run every job that is due now and that no other process is running; return how many ran."""
        await self.flush()
        ran = 0
        now = self._passed_at = self.now()
        batch = 100
        for _ in range(10):  # a bounded pass; anything left waits for the next one
            due = await self.store.run(self.store.jobs.due, now, batch)
            for job in due:
                ran += await self._run_one(job, now)
            if len(due) < batch:
                break
        return ran

    async def _run_one(self, job: JobRow, now: dt.datetime) -> int:
        """Claim, run (once, however many runs were missed) and plan the next run of one due job."""
        if not await self.store.run(self.store.jobs.claim, job, self._owner, now, now + LEASE):
            return 0  # another process has it
        ran = 0
        trigger = build_trigger(job.trigger)
        latest = _latest_due(trigger, job.next_run_at, now)
        if now - latest <= MISFIRE_GRACE:
            await self.dispatch(job.kind, job.payload)
            ran = 1
        else:
            log.warning("skipped a %s run missed by more than %s", job.kind, MISFIRE_GRACE)
        following = _next_after(trigger, latest, now)
        if await self.store.run(self.store.jobs.finish, job, self._owner, following):
            self._remember(job, following)
        return ran

    def _remember(self, job: JobRow, following: dt.datetime | None) -> None:
        current = self._jobs.get(job.id)
        if current is not None and current.version != job.version:
            return  # replaced here meanwhile
        self._changes += 1
        if following is None:
            self._jobs.pop(job.id, None)
        else:
            self._jobs[job.id] = JobRow(job.id, job.kind, job.payload, job.trigger, following, job.version)

    # -- jobs --------------------------------------------------------------

    def weekly(self, job_id: str, kind: str, payload: dict[str, Any], *, day_of_week: str, hour: int, minute: int = 0, timezone: str) -> None:
        """Every week on ``day_of_week`` at ``hour:minute`` local time in ``timezone``."""
        self._add(job_id, kind, payload, {"cron": {"day_of_week": day_of_week, "hour": hour, "minute": minute}, "timezone": timezone})

    def cron(self, job_id: str, kind: str, payload: dict[str, Any], *, timezone: str, **fields: Any) -> None:
        self._add(job_id, kind, payload, {"cron": fields, "timezone": timezone})

    def at(self, job_id: str, kind: str, payload: dict[str, Any], when: dt.datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("a job's time needs a time zone")
        self._add(job_id, kind, payload, {"date": when.isoformat()})

    def _add(self, job_id: str, kind: str, payload: dict[str, Any], spec: dict[str, Any]) -> None:
        trigger = build_trigger(spec)  # checks the fields before anything is kept
        first = trigger.get_next_fire_time(None, self.now())
        if first is None:
            self.cancel(job_id)
            return
        row = JobRow(job_id, kind, dict(payload), spec, first, secrets.token_hex(8))
        self._changes += 1
        self._jobs[job_id] = row
        self._queue(self.store.jobs.put, row)
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        self._changes += 1
        self._jobs.pop(job_id, None)
        self._queue(self.store.jobs.remove, job_id)

    def _queue(self, fn: Callable[..., None], *args: Any) -> None:
        self.store.submit(fn, *args).add_done_callback(_report)

    def next_run(self, job_id: str) -> dt.datetime | None:
        job = self._jobs.get(job_id)
        return job.next_run_at if job is not None else None

    def job_ids(self, prefix: str = "") -> list[str]:
        return sorted(job_id for job_id in self._jobs if job_id.startswith(prefix))

    async def fire(self, job_id: str) -> None:
        """Run a job now, as its trigger would (operators and tests)."""
        job = self._jobs.get(job_id) or await self.store.run(self.store.jobs.get, job_id)
        if job is None:
            raise KeyError(job_id)
        if "date" in job.trigger:
            self.cancel(job_id)
        await self.dispatch(job.kind, job.payload)

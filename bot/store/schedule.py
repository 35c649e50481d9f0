"""Scheduled jobs: what the schedule (bot/scheduler.py) has planned.

One row per job: its kind, a small payload (a team, a round, a concern's
reference: never a person or an answer), how it repeats (the trigger, as
JSON) and when it next runs. Kept here, through the store's one connection,
so the schedule is never a second writer on the file.

Running a job is claimed with a lease, one guarded UPDATE, so that of
several processes (or, later, replicas) due to run the same job exactly one
does: ``claim`` succeeds only while nobody else's lease is live and the job
is still the version the runner saw. Each write of a job's definition
draws a new ``version``, so a runner finishing a job that was replaced
while it ran leaves the new definition alone. Plain SQL that PostgreSQL
accepts as well.

An anonymous concern's escalation job is kept apart, in ``anonymous_jobs``
(WITHOUT ROWID, keyed by its id), so it takes no place in order among
named concerns' jobs, whose times are exact (bot/store/concerns.py). Reads
go through the view ``every_job``; each write runs on the table that holds
the job (the other matches no row).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.core import Store


def moment(when: dt.datetime) -> str:
    """A UTC instant as fixed-width text, so text order is time order."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def instant(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class JobRow:
    id: str
    kind: str
    payload: dict[str, Any]
    trigger: dict[str, Any]   # {"date": ISO} or {"cron": {field: expr}, "timezone": zone}
    next_run_at: dt.datetime
    version: str


EVERY_JOB = "every_job"
JOB_TABLES = ("scheduled_jobs", "anonymous_jobs")


def _row(r: dict[str, Any]) -> JobRow:
    return JobRow(
        id=r["id"], kind=r["kind"], payload=json.loads(r["payload"]), trigger=json.loads(r["trigger"]),
        next_run_at=instant(r["next_run_at"]), version=r["version"],
    )


class ScheduledJobs:
    def __init__(self, store: "Store"):
        self._store = store

    # These run on the store's thread: the schedule queues them with
    # Store.submit (its API is synchronous) or awaits them with Store.run.

    def _table_for(self, job: JobRow) -> str:
        """Where a job is kept: apart when it is about an anonymous concern."""
        ref = job.payload.get("ref") if job.kind.startswith("concern:") else None
        if ref and self._store.db.execute("SELECT 1 FROM anonymous_concerns WHERE ref = ?", [ref]).fetchone():
            return "anonymous_jobs"
        return "scheduled_jobs"

    def _write(self, sql: str, args: list[Any]) -> int:
        """Run one write (``{table}`` in ``sql``) on each job table; rows changed."""
        return sum(self._store.db.execute(sql.format(table=table), args).rowcount for table in JOB_TABLES)

    def put(self, job: JobRow) -> None:
        """Add a job, or replace the one with its id (a new version, no lease)."""
        self._store.db.execute(
            f"INSERT INTO {self._table_for(job)} (id, kind, payload, trigger, next_run_at, version, lease_until, lease_owner) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL) "
            "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, payload = excluded.payload, trigger = excluded.trigger, "
            "next_run_at = excluded.next_run_at, version = excluded.version, lease_until = NULL, lease_owner = NULL",
            [job.id, job.kind, json.dumps(job.payload, sort_keys=True), json.dumps(job.trigger, sort_keys=True),
             moment(job.next_run_at), job.version],
        )

    def remove(self, job_id: str) -> None:
        self._write("DELETE FROM {table} WHERE id = ?", [job_id])

    def all(self) -> list[JobRow]:
        return [_row(r) for r in self._store.db.query(f"SELECT * FROM {EVERY_JOB} ORDER BY id")]

    def get(self, job_id: str) -> JobRow | None:
        rows = list(self._store.db.query(f"SELECT * FROM {EVERY_JOB} WHERE id = ?", [job_id]))
        return _row(rows[0]) if rows else None

    def due(self, now: dt.datetime, limit: int = 100) -> list[JobRow]:
        """Jobs whose time has come and that nobody is running."""
        return [
            _row(r)
            for r in self._store.db.query(
                f"SELECT * FROM {EVERY_JOB} WHERE next_run_at <= ? AND (lease_until IS NULL OR lease_until < ?) "
                "ORDER BY next_run_at, id LIMIT ?",
                [moment(now), moment(now), limit],
            )
        ]

    def claim(self, job: JobRow, owner: str, now: dt.datetime, until: dt.datetime) -> bool:
        """Take the right to run this version of the job until ``until``; True for exactly one claimant."""
        return self._write(
            "UPDATE {table} SET lease_until = ?, lease_owner = ? "
            "WHERE id = ? AND version = ? AND next_run_at = ? AND (lease_until IS NULL OR lease_until < ?)",
            [moment(until), owner, job.id, job.version, moment(job.next_run_at), moment(now)],
        ) == 1

    def finish(self, job: JobRow, owner: str, next_run_at: dt.datetime | None) -> bool:
        """After a run: plan the next one (or drop a one-off job) and let the
        lease go, unless the job was replaced or cancelled meanwhile."""
        if next_run_at is None:
            changed = self._write("DELETE FROM {table} WHERE id = ? AND version = ? AND lease_owner = ?", [job.id, job.version, owner])
        else:
            changed = self._write(
                "UPDATE {table} SET next_run_at = ?, lease_until = NULL, lease_owner = NULL "
                "WHERE id = ? AND version = ? AND lease_owner = ?",
                [moment(next_run_at), job.id, job.version, owner],
            )
        return changed == 1

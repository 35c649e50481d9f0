"""Jobs planned by an earlier peerbot, carried over into ``scheduled_jobs``.

Earlier versions kept the schedule in APScheduler's SQLAlchemy job store
(table ``apscheduler_jobs``, each job pickled). A deployment upgrading must
keep its weekly prompts, closes and escalations, so the migration reads
them once and rewrites them as rows of the new table. The pickles are read
with an unpickler that builds only trigger and date/time classes, so a
tampered row can't run code; a row that can't be read is skipped and
logged (the concern sweep still escalates concerns whose job is gone, and
``/checkin`` schedules are planned again whenever a team changes).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import pickle
import secrets
import sqlite3
from typing import Any, Iterator

from sqlite_utils import Database

from bot.store.schedule import moment

log = logging.getLogger(__name__)

_ALLOWED_MODULE_PREFIXES = ("apscheduler.triggers.", "pytz")
_ALLOWED = {("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta"), ("zoneinfo", "ZoneInfo"),
            ("zoneinfo._zoneinfo", "ZoneInfo"), ("builtins", "object"), ("copyreg", "_reconstructor")}


def _zone_getattr(obj: Any, name: str) -> Any:
    """The one getattr these pickles need (ZoneInfo._unpickle); any other is refused."""
    from zoneinfo import ZoneInfo

    if obj is ZoneInfo and name == "_unpickle":
        return ZoneInfo._unpickle  # type: ignore[attr-defined]
    raise pickle.UnpicklingError(f"getattr {name!r} is not allowed in a job")


class _TriggerUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _zone_getattr
        if (module, name) in _ALLOWED or module.startswith(_ALLOWED_MODULE_PREFIXES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a job")


def _spec(trigger: Any) -> dict[str, Any]:
    """The trigger as the schedule stores it (bot/scheduler.py ``build_trigger``)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger

    if isinstance(trigger, DateTrigger):
        return {"date": trigger.run_date.isoformat()}
    if isinstance(trigger, CronTrigger):
        return {"cron": {field.name: str(field) for field in trigger.fields}, "timezone": str(trigger.timezone)}
    raise ValueError(f"a {type(trigger).__name__} trigger can't be carried over")


def carried_over(db: Database) -> Iterator[dict[str, Any]]:
    for job_id, blob in db.execute("SELECT id, job_state FROM apscheduler_jobs ORDER BY id").fetchall():
        try:
            state = _TriggerUnpickler(io.BytesIO(blob)).load()
            kind, payload = state["args"]
            when: dt.datetime | None = state["next_run_time"]
            if when is None:
                continue  # paused: peerbot never pauses a job
            yield {
                "id": str(job_id), "kind": str(kind), "payload": _json(payload), "trigger": _json(_spec(state["trigger"])),
                "next_run_at": moment(when), "version": secrets.token_hex(8), "lease_until": None, "lease_owner": None,
            }
        except (pickle.UnpicklingError, sqlite3.Error, KeyError, TypeError, ValueError, AttributeError, EOFError) as exc:
            log.warning("could not carry over the scheduled job %s from the old job store (%s)", job_id, type(exc).__name__)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)

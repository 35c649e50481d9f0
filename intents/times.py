"""Times as people read them: in a named time zone, 12-hour clock, the zone's
own abbreviation ("Tue Nov 24, 2:05 PM EST"), never bare UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def _moment(value: str | dt.datetime, tz: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)  # the store keeps UTC
    return moment.astimezone(ZoneInfo(tz))


# English names, as strftime's %a and %b give them (Python never changes
# the C locale on its own), without its cost: a list of thousands of
# concerns spells out a time on every line.
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def spoken_time(value: str | dt.datetime, tz: str) -> str:
    """A moment in ``tz``: "Tue Nov 24, 2:05 PM EST"."""
    local = _moment(value, tz)
    hour = local.hour % 12 or 12
    return (f"{DAYS[local.weekday()]} {MONTHS[local.month - 1]} {local.day}, {hour}:{local.minute:02d} "
            f"{'AM' if local.hour < 12 else 'PM'} {local.tzname() or ''}")


def spoken_day(value: str | dt.date | dt.datetime, tz: str | None = None) -> str:
    """A day: "Mon Nov 30" (a moment is first put in ``tz``)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = _moment(value, tz or "UTC").date()
    return f"{value:%a %b} {value.day}"

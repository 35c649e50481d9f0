"""Business hours: weekdays that aren't public holidays, in a time zone.

A concern nobody acknowledged is escalated after a number of business
hours. Counting the Friday after Thanksgiving's Thursday, or New Year's
Day, as a working day would call on the backup supervisors while everyone
is off, and make a reporter think nobody cared. The holiday calendar comes
from the ``holidays`` library (US federal by default, any country or
subdivision it knows, or none), not a hand-kept list that goes stale.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_data

NO_HOLIDAYS = "none"


class HolidayError(ValueError):
    """A holiday calendar name peerbot can't use; the message is for people."""


def check_calendar_name(name: str) -> None:
    """Raise ``HolidayError`` if ``name`` isn't a calendar peerbot can use.

    Checked at every start, so it is kept cheap: a country is looked up in
    the library's registry, without building its calendar (which imports
    all 250 countries' rules, a tenth of a second); only a subdivision
    ("US-CA"), which the country's own rules define, builds it now."""
    cleaned = name.strip()
    if cleaned.lower() == NO_HOLIDAYS or not cleaned:
        return
    _known_country(cleaned)
    if "-" in cleaned:
        holiday_calendar(cleaned)


def _known_country(cleaned: str) -> str:
    from holidays.registry import COUNTRIES

    country = cleaned.partition("-")[0].upper()
    # Each entry is (class name, alpha-2, alpha-3, other codes...).
    if country not in {code for names in COUNTRIES.values() for code in names[1:] if code.isupper()}:
        raise HolidayError(f"must be a country code the holidays library knows (US, CA, GB, ...) or 'none', not {cleaned[:20]!r}")
    return country


@lru_cache(maxsize=16)
def holiday_calendar(name: str) -> holiday_data.HolidayBase | None:
    """The calendar called ``name`` ("US", "US-CA", "GB-SCT", "none")."""
    cleaned = name.strip()
    if cleaned.lower() == NO_HOLIDAYS or not cleaned:
        return None
    country, _, subdivision = cleaned.partition("-")
    country = _known_country(cleaned)
    try:
        return holiday_data.country_holidays(country, subdiv=subdivision.upper() or None)
    except (NotImplementedError, KeyError, ValueError):
        raise HolidayError(f"{subdivision[:20]!r} isn't a subdivision of {country[:4]} the holidays library knows") from None


def is_business_day(day: dt.date, calendar: holiday_data.HolidayBase | None) -> bool:
    return day.weekday() < 5 and (calendar is None or day not in calendar)


def business_deadline(start: dt.datetime, hours: int, timezone: str = "UTC", holidays: str = "US") -> dt.datetime:
    """``hours`` of business time after ``start`` in ``timezone``: 24 hours
    from a Friday afternoon is the Monday afternoon after, or the Tuesday
    when that Monday is a public holiday."""
    zone = ZoneInfo(timezone)
    calendar = holiday_calendar(holidays)
    moment = start.astimezone(zone)
    left = dt.timedelta(hours=hours)
    while left > dt.timedelta(0):
        midnight = dt.datetime.combine(moment.date() + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        if not is_business_day(moment.date(), calendar):
            moment = midnight
            continue
        step = min(left, midnight - moment)
        moment += step
        left -= step
    return moment.astimezone(dt.timezone.utc)

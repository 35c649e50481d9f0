"""Reading what people type into values a library call can take.

Words from a chat or the command line reach ``int()`` and ``ZoneInfo()``;
those raise on input a person can easily type (``²`` passes ``str.isdigit``
but not ``int``; ``ZoneInfo`` raises ``ValueError`` or ``OSError`` on long or
odd names, depending on where the time zone data lives). These return None
for anything unusable, so the intent can answer kindly instead.
"""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# IANA names: Area/Location[/Sub], letters, digits, "_", "-", "+"; the longest real one is 32 characters.
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}")
MAX_ZONE_NAME = 64


def whole_number(text: str, low: int, high: int) -> int | None:
    """``text`` as a whole number from ``low`` to ``high``, or None."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    number = int(text)
    return number if low <= number <= high else None


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Every IANA zone name the machine knows, by its lower-case spelling."""
    return {name.lower(): name for name in available_timezones()}


def time_zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone called ``name`` in any case ("europe/london" is
    Europe/London), or None if there is no such zone. The zone's ``key`` is
    the proper spelling, which is what gets stored."""
    if not isinstance(name, str) or len(name) > MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(name.strip()):
        return None
    name = name.strip()
    # The exact spelling first; the zone list (slow to read) only for another.
    return _zone(name) or _zone(_zone_names().get(name.lower(), ""))


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        return None


def team_name(text: str) -> str | None:
    """A team name (one word of letters, digits and hyphens, up to 40), or None:
    the rule ``/checkin join`` has always used."""
    text = text.strip().lower()
    return text if text.replace("-", "").isalnum() and len(text) <= 40 else None

"""The one clock peerbot reads.

Everything that needs the wall-clock time (the engine, the courier, the
store's dates, the CLI commands) asks ``now()`` here, or takes a ``now``
callable that defaults to it. Nothing else calls ``datetime.now()`` or
``date.today()``: a test (or an operator replaying a day) swaps the source
once with ``use()``, and every path, one-shot commands included, sees the
same time. A fixed fake clock that some path ignores breaks the day real
time passes it; one source makes that impossible.

Monotonic time (timeouts, pacing, caches that expire) is a different thing
and stays on ``time.monotonic``.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Callable, Iterator

Source = Callable[[], dt.datetime]


def system_now() -> dt.datetime:
    """The machine's clock, in UTC (the default source)."""
    return dt.datetime.now(dt.timezone.utc)


_source: Source = system_now


def now() -> dt.datetime:
    """The current time, timezone-aware, from whichever source is in use."""
    moment = _source()
    if moment.tzinfo is None:
        raise ValueError("the clock source must return timezone-aware times")
    return moment


def today() -> dt.date:
    """Today's date in UTC."""
    return now().astimezone(dt.timezone.utc).date()


@contextmanager
def use(source: Source) -> Iterator[None]:
    """Read time from ``source`` inside the block (tests, replays)."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous

"""The suite passes whatever today's date is.

Every clock the code reads comes from bot/clock.py, which the tests set. To
prove no path reads the machine's clock instead, the date-sensitive tests
(check-ins, pulses, concerns and their escalation, the schedule, the CLI)
run again here in a fresh process, started on three far-apart Mondays, with
the machine's own clock moved years away from the tests' clock:

- 2027-03-08, the week the US clocks spring forward (Sunday 2027-03-14);
- 2026-12-28, a week that crosses the year end (and ISO week 2026-W53);
- 2028-02-28, a week with a leap day in it.

A path that read the real clock would see a different week, a different
business day and a different "today", and its test would fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATE_SENSITIVE = [
    "tests/test_checkins.py",
    "tests/test_pulse.py",
    "tests/test_concerns.py",
    "tests/test_schedule.py",
    "tests/test_concern_receipts.py",
]
STARTS = {
    "us-clock-change": "2027-03-08T15:00:00",
    "year-end": "2026-12-28T15:00:00",
    "leap-day": "2028-02-28T15:00:00",
}
# The machine's clock, this many days after the tests' start: a different
# weekday, month and year from anything the tests expect.
MACHINE_CLOCK_SHIFT_DAYS = "1237"


@pytest.fixture(scope="module")
def runs_at_each_start():
    """All three runs start at once, each in its own process, so the two
    cores share them; each test below waits for its own."""
    running = {}
    for name, start in STARTS.items():
        env = {
            **os.environ,
            "PEERBOT_TEST_START": start,
            "PEERBOT_TEST_SYSTEM_SHIFT_DAYS": MACHINE_CLOCK_SHIFT_DAYS,
            "PYTHONPATH": str(ROOT),
        }
        running[name] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-x", "-p", "no:cacheprovider", *DATE_SENSITIVE],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    yield running
    for process in running.values():
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("start", STARTS.keys())
def test_date_sensitive_tests_pass_on_far_apart_dates_with_the_machine_clock_elsewhere(start: str, runs_at_each_start):
    output, _ = runs_at_each_start[start].communicate(timeout=400)
    assert runs_at_each_start[start].returncode == 0, output[-4000:]
    assert " passed" in output


def test_the_machine_clock_really_is_moved_when_asked(tmp_path: Path):
    """The check above means something only if the shift takes effect."""
    code = (
        "import datetime as dt, os\n"
        "os.environ['PEERBOT_TEST_START'] = '2028-02-28T15:00:00'\n"
        "import time_machine\n"
        "from tests.conftest import start_of_tests\n"
        "with time_machine.travel(start_of_tests() + dt.timedelta(days=1237), tick=True):\n"
        "    print(dt.date.today().isoformat())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "2031-07-19", out.stderr

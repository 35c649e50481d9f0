"""Words that reach a library call (ZoneInfo, int) get a kind reply, never
the "something went wrong" apology and a traceback in the log."""

from __future__ import annotations

import logging

import pytest

from bot.engine import SORRY
from bot.runtime import build_runtime
from intents import inputs
from tests.conftest import Chat, make_settings
from tests.test_cli import run

LONG_WORD = "a" * 500


@pytest.fixture
async def admin(tmp_path, clock):
    settings = make_settings(tmp_path, supervisors="u-root", admins="u-root")
    runtime = await build_runtime(settings, now=clock)
    yield Chat(runtime, user="u-root", name="Root", team="north")
    await runtime.close()


KIND = {
    f"/checkin tz {LONG_WORD}": "don't know that time zone",
    "/checkin tz America/": "don't know that time zone",
    "/checkin tz ../../etc/passwd": "don't know that time zone",
    "/checkin tz Europe/London/Extra/More": "don't know that time zone",
    "/checkin tz " + "é" * 300: "don't know that time zone",
    "/checkin snooze 99999999999": "1 to 8 weeks",
    "/checkin snooze ²": "1 to 8 weeks",
    "/checkin snooze " + "9" * 3000: "1 to 8 weeks",
    "/checkin snooze 0": "1 to 8 weeks",
    "/checkins team north wed ² UTC": "never at night",
    "/checkins team north wed 99999999999999999999 UTC": "never at night",
    f"/checkins team north wed 10 {LONG_WORD}": "don't know that time zone",
    "/checkins team north wed 10 " + "a/" * 200: "don't know that time zone",
    "/checkins team " + "x" * 500 + " wed 10 UTC": "Team names are one word",
    "/checkins team no_pe! wed 10 UTC": "Team names are one word",
    "/pulse start co-optation --team north --days ²": "1 to 30 days",
    "/pulse start co-optation --team north --days 99999999999": "1 to 30 days",
}


@pytest.mark.parametrize("line,expected", list(KIND.items()), ids=[k[:40] for k in KIND])
async def test_odd_arguments_get_a_kind_reply(admin: Chat, caplog, line: str, expected: str):
    await admin.say("/checkin join north")
    caplog.clear()
    answer = await admin.say(line)
    assert expected in answer
    assert SORRY not in answer
    assert not any(r.exc_info for r in caplog.records)


async def test_a_zone_lookup_that_raises_oserror_is_an_unknown_zone(admin: Chat, monkeypatch, caplog):
    """Where the zone data comes from a package (tzdata), a long name is an
    OSError (file name too long), not ZoneInfoNotFoundError."""

    def too_long(name):
        raise OSError(36, "File name too long")

    await admin.say("/checkin join north")
    monkeypatch.setattr(inputs, "ZoneInfo", too_long)
    assert "don't know that time zone" in await admin.say("/checkin tz Europe/London")
    assert "don't know that time zone" in await admin.say("/checkins team north wed 10 Europe/London")
    assert not any(r.exc_info for r in caplog.records)


async def test_good_values_still_work(admin: Chat):
    await admin.say("/checkin join north")
    assert "follow Europe/London time" in await admin.say("/checkin tz Europe/London")
    assert "no check-in prompts until" in await admin.say("/checkin snooze 2")
    assert "Thursdays at 09:00" in await admin.say("/checkins team north thu 9 America/Chicago")


def test_the_shell_refuses_a_long_time_zone_kindly(tmp_path):
    result = run(["checkins", "team", "north", "--tz", LONG_WORD], tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert "don't know that time zone" in result.stdout.decode()
    assert b"Traceback" not in result.stderr
    result = run(["checkins", "team", "x" * 300], tmp_path)
    assert "Team names are one word" in result.stdout.decode()
    assert b"Traceback" not in result.stderr


async def test_time_zone_names_are_taken_in_any_case_and_kept_properly_spelled(runtime):
    from tests.conftest import Chat, make_settings

    ada = Chat(runtime, user="u-ada", team="north")
    assert "your prompts now follow Europe/London time" in await ada.say("/checkin tz europe/london")
    [member] = await runtime.store.surveys.memberships("terminal", "u-ada")
    assert member.tz == "Europe/London"
    admin = Chat(runtime, user="u-root", team=None)
    assert "(team zone America/Chicago)" in await admin.say("/checkins team north wed 10 AMERICA/CHICAGO")
    assert make_settings(runtime.settings.db.parent, timezone="america/denver").timezone == "America/Denver"

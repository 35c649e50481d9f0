"""Shared fixtures: a real SQLite file in a temp dir, the real engine, and a
``Chat`` that talks to it through the terminal channel like a person would."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bot import clock as bot_clock
from bot.channels.terminal import TerminalChannel
from bot.config import Settings, load_settings
from bot.runtime import Runtime, build_runtime


# One fitted verdict and distress model for the whole test session: every
# process the tests start (CLI commands, terminal chats, servers) loads it
# instead of fitting its own. Set at import, before any test builds a bot.
MODEL_CACHE = os.environ.setdefault("PEERBOT_CACHE_DIR", tempfile.mkdtemp(prefix="peerbot-test-cache-"))


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a peerbot subprocess: none of the developer's
    PEERBOT_* settings, but the session's model cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERBOT_")}
    env["PEERBOT_CACHE_DIR"] = MODEL_CACHE
    env.update(extra)
    return env


def start_of_tests() -> dt.datetime:
    """When every test's clock starts: a Monday at 15:00 UTC, 2026-11-23
    unless ``PEERBOT_TEST_START`` names another (tests/test_calendar.py runs
    the date-sensitive tests across a clock change, a year end and a leap
    day that way). Tests say dates relative to this, never literally."""
    named = os.environ.get("PEERBOT_TEST_START")
    if named:
        return dt.datetime.fromisoformat(named).replace(tzinfo=dt.timezone.utc)
    return dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.timezone.utc)


class Clock:
    """A clock tests can move forward."""

    def __init__(self, start: dt.datetime | None = None):
        self.current = start or start_of_tests()

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)


class Chat:
    """One person talking to the bot through the terminal channel."""

    def __init__(self, runtime: Runtime, user: str = "u-ada", name: str | None = "Ada", team: str | None = "north"):
        self.out = io.StringIO()
        self.runtime = runtime
        self.channel = TerminalChannel(runtime.engine, runtime.courier, user=user, name=name, team=team, out=self.out)

    async def say(self, line: str) -> str:
        """Send one line; return everything the bot printed in answer."""
        start = self.out.tell()
        await self.channel.send(line)
        self.out.seek(start)
        printed = self.out.read()
        self.out.seek(0, io.SEEK_END)
        return printed


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(_env_file=None, db=tmp_path / "peerbot.db", **overrides)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def one_clock(clock: Clock):
    """Every path of the code under test, CLI commands included, reads this
    test's clock (bot/clock.py), never the machine's."""
    with bot_clock.use(clock):
        yield


@pytest.fixture(autouse=True, scope="session")
def machine_clock_far_away():
    """With ``PEERBOT_TEST_SYSTEM_SHIFT_DAYS``, the machine's own clock is
    moved that far from the tests' clock for the whole run, so any code that
    reads it instead of bot/clock.py gives itself away."""
    shift = os.environ.get("PEERBOT_TEST_SYSTEM_SHIFT_DAYS")
    if not shift:
        yield
        return
    import time_machine

    with time_machine.travel(start_of_tests() + dt.timedelta(days=int(shift)), tick=True):
        yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, supervisors="u-sam", admins="u-root")


@pytest.fixture
async def runtime(settings: Settings, clock: Clock):
    rt = await build_runtime(settings, now=clock)
    yield rt
    await rt.close()


@pytest.fixture
def chat(runtime: Runtime) -> Chat:
    return Chat(runtime)


def feed(runtime: Runtime, channel: str = "supervisors") -> list[dict[str, Any]]:
    """What the bot posted to a named channel in local mode, oldest first."""
    from bot.channels.base import Address

    return runtime.courier.local.feed(Address(kind="channel", id=channel))

"""Shared fixtures: a real SQLite file in a temp dir, the real engine, and a
``Chat`` that talks to it through the terminal channel like a person would."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from bot.channels.terminal import TerminalChannel
from bot.config import Settings, load_settings
from bot.runtime import Runtime, build_runtime


class Clock:
    """A clock tests can move forward."""

    def __init__(self, start: dt.datetime | None = None):
        self.current = start or dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.timezone.utc)

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

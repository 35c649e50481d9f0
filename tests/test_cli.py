"""The peerbot command as someone at a shell uses it (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import click.testing
import pytest

from bot.cli import cli
from tests.conftest import subprocess_env


def run(args: list[str], tmp_path: Path, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess:
    environment = subprocess_env(**{"PEERBOT_DB": str(tmp_path / "peerbot.db"), **env})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        cwd=tmp_path,
        env=environment,
        timeout=60,
    )


def all_command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += all_command_paths(command, prefix + (name,))
        else:
            paths.append(prefix + (name,))
    return paths


@pytest.mark.parametrize("path", all_command_paths(cli), ids=lambda p: " ".join(p) or "peerbot")
def test_every_command_has_help(path: tuple[str, ...]):
    result = click.testing.CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_a_scripted_chat_reads_one_message_a_line(tmp_path: Path):
    result = run(["chat", "--user", "u1"], tmp_path, stdin=b"help\n/status\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "/help" in out
    assert "only for admins" in out
    assert not result.stderr


def test_invalid_utf8_on_stdin_gets_a_clear_reply(tmp_path: Path):
    result = run(["chat"], tmp_path, stdin=b"he\xff\xfelp\n\xc3\x28\nhelp\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "wasn't readable text" in out
    assert "/help" in out  # the conversation carries on
    assert b"Traceback" not in result.stderr


def test_a_bad_setting_stops_with_one_clear_line(tmp_path: Path):
    result = run(["chat"], tmp_path, PEERBOT_MIN_GROUP="2", PEERBOT_LOG_LEVEL="loud")
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert lines == [
        "peerbot: configuration problem: PEERBOT_MIN_GROUP: must be a whole number from 3 to 1000 (got '2')",
        "peerbot: configuration problem: PEERBOT_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR (got 'loud')",
    ]


def test_settings_can_come_from_a_dotenv_file(tmp_path: Path):
    (tmp_path / ".env").write_text("PEERBOT_ADMINS=u-boss\n")
    result = run(["chat", "--user", "u-boss"], tmp_path, stdin=b"/status\n")
    assert "Smallest group for team results: 5" in result.stdout.decode()


def test_a_database_path_that_cannot_exist_is_reported_plainly(tmp_path: Path):
    result = run(["chat"], tmp_path, PEERBOT_DB=str(tmp_path / "no" / "such" / "dir" / "x.db"))
    assert result.returncode == 2
    assert "PEERBOT_DB: must be in a directory that exists" in result.stderr.decode()


def test_feed_shows_what_was_posted_to_a_channel_oldest_first(tmp_path: Path):
    import asyncio

    from bot.channels.base import Address
    from bot.channels.local import LocalPlatform, platform_file
    from bot.model import Reply

    local = LocalPlatform(platform_file(tmp_path / "peerbot.db"))

    async def post() -> None:
        await local.post(Address(kind="channel", id="supervisors"), Reply(text="first post"))
        await local.post(Address(kind="channel", id="supervisors"), Reply(text="second post"))
        await local.post(Address(kind="channel", id="elsewhere"), Reply(text="not here"))

    asyncio.run(post())
    result = run(["feed", "supervisors"], tmp_path)
    out = result.stdout.decode()
    assert out.index("first post") < out.index("second post")
    assert "not here" not in out
    as_json = run(["feed", "supervisors", "--json"], tmp_path).stdout.decode().splitlines()
    assert [json.loads(line)["text"] for line in as_json] == ["first post", "second post"]


def test_feed_of_an_empty_channel_says_so(tmp_path: Path):
    assert "Nothing has been posted to supervisors yet" in run(["feed", "supervisors"], tmp_path).stdout.decode()


def test_the_terminal_never_loads_slack_or_teams_libraries(tmp_path: Path):
    code = (
        "import sys, io\n"
        "from click.testing import CliRunner\n"
        "from bot.cli import cli\n"
        "r = CliRunner().invoke(cli, ['chat'], input='help\\n')\n"
        "assert r.exit_code == 0, r.output\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('slack_bolt', 'slack_sdk', 'botbuilder', 'aiohttp')]\n"
        "print(loaded)\n"
    )
    env = subprocess_env(PEERBOT_DB=str(tmp_path / "x.db"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "[]"

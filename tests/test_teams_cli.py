"""Setting up Teams from the shell: the app package to upload, and choosing
the supervisors' channel among those the bot has seen."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import zipfile
from pathlib import Path

from click.testing import CliRunner

import bot.cli_teams  # noqa: F401  (registers the commands)
from bot.cli import cli
from bot.store import Store

APP_ID = "0F8FAD5B-D9CB-469F-A165-70867728950E"


def invoke(args: list[str], tmp_path: Path, **env: str):
    environment = {"PEERBOT_DB": str(tmp_path / "peerbot.db"), **env}
    return CliRunner().invoke(cli, args, env=environment)


def test_package_writes_a_manifest_with_the_bot_commands_and_message_action(tmp_path: Path):
    out = tmp_path / "app.zip"
    result = invoke(["teams", "package", "--out", str(out), "--website", "https://peer.example.org/"], tmp_path, PEERBOT_TEAMS_APP_ID=APP_ID, PEERBOT_TEAMS_APP_PASSWORD="x")
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        for icon, size in (("color.png", 192), ("outline.png", 32)):
            data = archive.read(icon)
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == size
    assert manifest["manifestVersion"] == "1.22" and manifest["$schema"].endswith("/v1.22/MicrosoftTeams.schema.json")
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID.lower()
    assert [c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]] == ["scope", "checkin", "pulse", "concern", "help"]
    [action] = manifest["composeExtensions"][0]["commands"]
    assert action["title"] == "Flag to peer supervisor" and action["context"] == ["message"] and action["id"] == "flagToSupervisor"
    assert manifest["developer"]["privacyUrl"] == "https://peer.example.org/privacy"
    assert "{{" not in json.dumps(manifest)


def test_package_without_an_app_id_says_what_is_needed(tmp_path: Path):
    result = invoke(["teams", "package", "--out", str(tmp_path / "app.zip")], tmp_path)
    assert result.exit_code == 2
    assert "app id" in result.output and not (tmp_path / "app.zip").exists()


def test_bind_supervisors_lists_the_channels_seen_and_binds_one(tmp_path: Path):
    async def the_bot_has_seen_two_channels() -> None:
        store = await Store.open(tmp_path / "peerbot.db")
        now = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
        for channel_id, name in (("19:a@thread.tacv2", "General"), ("19:b@thread.tacv2", "Peer leads")):
            await store.teams.remember_channel(channel_id, "Peer team", name, "t", {"conversation": {"id": channel_id}}, now)
        await store.close()

    asyncio.run(the_bot_has_seen_two_channels())
    listed = invoke(["teams", "bind-supervisors"], tmp_path)
    assert listed.exit_code == 0 and "2. Peer team / Peer leads" in listed.output
    bound = invoke(["teams", "bind-supervisors", "2"], tmp_path)
    assert bound.exit_code == 0 and "is the supervisors channel" in bound.output
    assert "(bound as supervisors)" in invoke(["teams", "bind-supervisors"], tmp_path).output
    assert invoke(["teams", "bind-supervisors", "9"], tmp_path).exit_code == 2


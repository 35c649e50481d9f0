"""The app manifest asks for what the code handles, at the path it serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.channels.slack.app import PATH
from bot.channels.slack.listeners import FLAG_SHORTCUT

MANIFEST = yaml.safe_load((Path(__file__).resolve().parent.parent / "deploy/slack/manifest.yaml").read_text())


def test_the_manifest_matches_the_listeners_and_the_route():
    commands = {c["command"] for c in MANIFEST["features"]["slash_commands"]}
    assert {"/scope", "/checkin", "/pulse", "/concern"} <= commands
    [shortcut] = MANIFEST["features"]["shortcuts"]
    assert shortcut["callback_id"] == FLAG_SHORTCUT and shortcut["type"] == "message"
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == {"app_home_opened", "app_mention", "message.im"}
    urls = [c["url"] for c in MANIFEST["features"]["slash_commands"]]
    urls += [MANIFEST["settings"]["event_subscriptions"]["request_url"], MANIFEST["settings"]["interactivity"]["request_url"]]
    assert all(url.endswith(PATH) for url in urls)
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True

"""The app manifest asks for exactly what the code handles, at the path it
serves: every command the engine serves is reachable in Slack and every
command the manifest lists is served; the same for shortcuts, events and
scopes. Slack never sends an app a command its manifest leaves out."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.channels.slack import inbound
from bot.channels.slack.app import PATH
from bot.channels.slack.listeners import FLAG_SHORTCUT
from bot.channels.slack.manifest import BOT_EVENTS, SCOPES_BY_METHOD, command_word, required_scopes, slash_name
from intents import build_intents

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "deploy/slack/manifest.yaml").read_text())
SLACK_CODE = "\n".join(p.read_text() for p in sorted((ROOT / "bot/channels/slack").glob("*.py")))


def served_words() -> set[str]:
    return {command.word for intent in build_intents() for command in intent.commands}


def listed_commands() -> dict[str, dict]:
    return {c["command"]: c for c in MANIFEST["features"]["slash_commands"]}


def test_every_command_the_engine_serves_is_in_the_manifest_and_nothing_else():
    assert set(listed_commands()) == {slash_name(word) for word in served_words()}
    assert {command_word(slash) for slash in listed_commands()} == served_words()


def test_a_word_slack_keeps_for_itself_is_registered_with_the_bot_s_prefix_and_read_back():
    assert slash_name("status") == "/peerbot-status" and "/status" not in listed_commands()
    assert command_word("/peerbot-status") == "status"
    assert command_word("/concerns") == "concerns" and command_word("/peerbot-concerns") == "peerbot-concerns"
    msg = inbound.from_command({"command": "/peerbot-status", "text": "", "user_id": "U1", "channel_id": "D1"}, user_name=None)
    assert msg.text.split()[0] == "/status"


def test_every_listed_command_has_a_description_and_points_at_the_served_path():
    for command in listed_commands().values():
        assert command["url"].endswith(PATH)
        assert 0 < len(command["description"]) <= 100
        assert command.get("should_escape") is False
    assert MANIFEST["settings"]["event_subscriptions"]["request_url"].endswith(PATH)
    assert MANIFEST["settings"]["interactivity"]["request_url"].endswith(PATH)


def test_shortcuts_and_events_match_the_listeners():
    [shortcut] = MANIFEST["features"]["shortcuts"]
    assert shortcut["callback_id"] == FLAG_SHORTCUT and shortcut["type"] == "message"
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == set(BOT_EVENTS)
    subscribed = set(re.findall(r'app\.event\("([a-z_]+)"\)', SLACK_CODE))
    assert {event.split(".")[0] for event in BOT_EVENTS} == subscribed
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_scopes_are_exactly_those_the_web_api_calls_need():
    called = set(re.findall(r'calling\("([A-Za-z_.]+)"\)', SLACK_CODE))
    called |= set(re.findall(r"client\.([a-z]+_[A-Za-z0-9_]+)\(", SLACK_CODE)) - {"retry_handlers"}
    methods = {name.replace("_", ".", 1) for name in called}
    assert methods == set(SCOPES_BY_METHOD)
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == required_scopes()

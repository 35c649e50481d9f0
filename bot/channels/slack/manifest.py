"""What the Slack app manifest (deploy/slack/manifest.yaml) has to ask for,
worked out from the code, so the two can be checked against each other.

Slack only sends an app the slash commands its manifest lists, only the
events it subscribes to, and refuses Web API calls outside its scopes: a
command the engine serves but the manifest forgets is unreachable, and a
scope the manifest asks for but nothing uses is a permission nobody needs.
tests/test_slack_manifest.py holds the manifest to this module both ways.
Needs no Slack library.
"""

from __future__ import annotations

# Built-in Slack commands win over an app's command of the same name, so
# these words are registered as /peerbot-WORD instead (and read back as WORD).
RESERVED_BY_SLACK = frozenset(
    {
        "active", "apps", "archive", "away", "call", "collapse", "dm", "dnd", "expand", "feed", "feedback",
        "invite", "join", "leave", "me", "msg", "mute", "open", "remind", "rename", "search", "shrug",
        "star", "status", "topic", "who",
    }
)
PREFIX = "peerbot-"

# Every Web API method the Slack channel calls, and the bot scope it needs
# (None: the method needs no scope of its own).
SCOPES_BY_METHOD: dict[str, str | None] = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "conversations.open": "im:write",
    "conversations.info": "channels:read",
    "conversations.history": "channels:history",
    "users.info": "users:read",
    "views.open": None,
    "views.publish": None,
    "views.update": None,
    "files.upload_v2": "files:write",
}
# Scopes that come with another: the private-channel and direct-message
# twins of the ones above, and those the events and commands need.
COMPANION_SCOPES = {
    "channels:read": ("groups:read",),
    "channels:history": ("groups:history", "im:history"),
}
SCOPES_FOR_FEATURES = ("app_mentions:read", "commands")

# The events the listeners subscribe to, as the manifest names them.
BOT_EVENTS = ("app_home_opened", "app_mention", "message.im")


def slash_name(word: str) -> str:
    """The slash command Slack shows for an engine command word."""
    return f"/{PREFIX}{word}" if word in RESERVED_BY_SLACK else f"/{word}"


def command_word(slash: str) -> str:
    """The engine's command word for a slash command Slack sent."""
    word = slash.strip().lstrip("/")
    if word.startswith(PREFIX) and word[len(PREFIX):] in RESERVED_BY_SLACK:
        return word[len(PREFIX):]
    return word


def required_scopes() -> set[str]:
    scopes = {scope for scope in SCOPES_BY_METHOD.values() if scope}
    for scope in list(scopes):
        scopes.update(COMPANION_SCOPES.get(scope, ()))
    return scopes | set(SCOPES_FOR_FEATURES)

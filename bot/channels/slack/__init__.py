"""Slack: the whole bot in a Slack workspace (slack-bolt's async app).

Modules, each small enough to read at once:
  app.py        the platform: Bolt app, the HTTP route or Socket Mode, retries deduplicated
  listeners.py  each Slack event acknowledged at once, then translated for the engine
  inbound.py    Slack payloads as neutral Inbound messages
  delivery.py   where a reply to "here" lands (message, ephemeral, modal, home tab)
  blocks.py     replies, forms and the home tab as Block Kit, within Slack's limits
  channel.py    the courier's PlatformChannel: paced posts, updates, uploads
  pacing.py     about one message a second per Slack channel
  checks.py     start-up checks of the token and the supervisor channel

Only this folder imports slack_bolt or slack_sdk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from bot.channels.slack.app import SlackPlatform
    from bot.config import Settings


def install(app: "web.Application", settings: "Settings") -> "SlackPlatform":
    """Mount Slack in the server (see bot/server.py)."""
    from bot.channels.slack.app import install as install_slack

    return install_slack(app, settings)

"""Microsoft Teams: the whole bot at ``/api/messages``, through botbuilder.

Every botbuilder import stays in this package (the Bot Framework SDK is
archived; its successor, the Microsoft 365 Agents SDK, should replace it in
one place only). Modules:

- ``platform``: the endpoint, request checks and the server lifecycle;
- ``activities``: activities in, ``Inbound`` to the engine, replies out;
- ``cards``: Adaptive Cards for replies, choices and forms, and reading them back;
- ``channel``: proactive sends and updates for the courier, 403/404 as unreachable;
- ``pacing``: staying under Teams' rate limits;
- ``connector``: calls out to the connector, clients reused, one pooled HTTP
  session, the bot's token fetched without blocking and cached;
- ``tokens``: incoming Bot Framework tokens checked without blocking;
- ``manifest``: the app package to upload (no botbuilder needed).

This file imports nothing from botbuilder itself, so ``peerbot teams
package`` works without the ``teams`` extra installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from bot.channels.teams.platform import TeamsPlatform
    from bot.config import Settings


def install(app: "web.Application", settings: "Settings") -> "TeamsPlatform":
    """Add the Teams route to the app; the returned platform starts with the server."""
    from bot.channels.teams.platform import mount

    return mount(app, settings)

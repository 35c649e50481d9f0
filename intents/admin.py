"""Admin: a quick look at how the bot is set up, without any person's data."""

from __future__ import annotations

from bot import __version__
from bot.model import Inbound, Reply
from intents.base import Command, Context, Intent


class Admin(Intent):
    name = "admin"
    commands = (Command("status", "how the bot is set up and whether its store is healthy", role="admin"),)

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        settings = ctx.settings
        healthy = await ctx.store.ping()
        lines = [
            f"peerbot {__version__}",
            f"Store: {settings.db} ({'reachable' if healthy else 'NOT reachable'})",
            f"Smallest group for team results: {settings.min_group}",
            f"Supervisor channel: {settings.supervisor_channel}",
            f"Supervisors configured: {len(settings.supervisors)}; admins configured: {len(settings.admins)}",
        ]
        return [Reply(text="\n".join(lines))]

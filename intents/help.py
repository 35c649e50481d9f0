"""Help: what the bot can do for this person, in plain words."""

from __future__ import annotations

from bot.model import Inbound, Reply
from intents.base import Command, Context, Intent

WELCOME = (
    "Hi, I'm peerbot. I'm here for peer support workers: I don't report on anyone, "
    "and everything here is voluntary."
)


class Help(Intent):
    name = "help"
    commands = (Command("help", "see what I can do for you"),)

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        return [Reply(text=render_help(ctx))]

    async def home(self, msg: Inbound, ctx: Context) -> list[Reply]:
        return [Reply(text=render_help(ctx))]


def render_help(ctx: Context) -> str:
    lines = [WELCOME, ""]
    for about in ctx.abouts:
        lines += [about, ""]
    lines.append("Things you can type:")
    by_role: dict[str, list[Command]] = {}
    for command in ctx.commands:
        by_role.setdefault(command.role, []).append(command)
    for role, heading in (("peer", None), ("supervisor", "For peer supervisors:"), ("admin", "For admins:")):
        if role not in by_role:
            continue
        if heading:
            lines += ["", heading]
        for command in by_role[role]:
            usage = f" {command.usage}" if command.usage else ""
            lines.append(f"  /{command.word}{usage}: {command.summary}")
    lines += ["", "If you're part-way through a form, /resume picks it up and /cancel sets it aside."]
    return "\n".join(lines)

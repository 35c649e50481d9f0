"""``peerbot teams package`` and ``peerbot teams bind-supervisors``: setting
up Microsoft Teams from the shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli import cli, load_settings_or_exit, with_runtime

if TYPE_CHECKING:
    from bot.runtime import Runtime


@cli.group()
def teams() -> None:
    """Set up Microsoft Teams: the app package and the supervisors' channel."""


@teams.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("peerbot-teams.zip"), show_default=True, help="Where to write the zip.")
@click.option("--app-id", default=None, help="The bot's Microsoft app id (default PEERBOT_TEAMS_APP_ID).")
@click.option("--version", "app_version", default="1.0.0", show_default=True, help="The app's version; raise it for every new upload.")
@click.option("--website", default=None, help="Your organization's page about peerbot (https); /privacy and /terms are added for those pages.")
def package(out: Path, app_id: str | None, app_version: str, website: str | None) -> None:
    """Write the Teams app package (manifest and icons) to upload in Teams."""
    from bot.channels.teams.manifest import PLACEHOLDER_WEBSITE, PackageError, write_package

    app_id = app_id or load_settings_or_exit().teams_app_id or ""
    try:
        write_package(out, app_id=app_id, version=app_version, website=website or PLACEHOLDER_WEBSITE)
    except PackageError as exc:
        click.echo(f"peerbot: {exc}", err=True)
        sys.exit(2)
    click.echo(f"Wrote {out}. Upload it in Teams (Apps > Manage your apps > Upload an app) or the Teams admin center.")
    if not website:
        click.echo(f"(The privacy and terms links point to {PLACEHOLDER_WEBSITE}; --website sets your own.)")


@teams.command(name="bind-supervisors")
@click.argument("channel", required=False)
@click.option("--name", default=None, help="Which named channel to bind (default PEERBOT_SUPERVISOR_CHANNEL).")
def bind_supervisors(channel: str | None, name: str | None) -> None:
    """Choose the Teams channel where posts for peer supervisors go.

    Without CHANNEL, lists the team channels the bot has seen (add peerbot to
    the team first). CHANNEL is a number from that list or a channel id.
    """

    async def work(runtime: "Runtime") -> int:
        wanted = name or runtime.settings.supervisor_channel
        seen = await runtime.store.teams.channels()
        if not seen:
            click.echo("I haven't seen any Teams channels yet. Add peerbot to the team, then try again.")
            return 1
        if channel is None:
            for number, item in enumerate(seen, start=1):
                bound = f"  (bound as {item.bound_as})" if item.bound_as else ""
                click.echo(f"{number}. {item.team or '?'} / {item.name or 'General'}  {item.channel_id}{bound}")
            click.echo(f"Run peerbot teams bind-supervisors NUMBER to choose the {wanted} channel.")
            return 0
        chosen = seen[int(channel) - 1] if channel.isascii() and channel.isdigit() and len(channel) <= 6 and 1 <= int(channel) <= len(seen) else next((c for c in seen if c.channel_id == channel), None)
        if chosen is None:
            click.echo(f"peerbot: there's no channel {channel!r} in the list; run without it to see the list.", err=True)
            return 2
        await runtime.store.teams.bind(chosen.channel_id, wanted)
        click.echo(f"Done: {chosen.team or '?'} / {chosen.name or 'General'} is the {wanted} channel. A running server picks this up within a minute.")
        return 0

    sys.exit(with_runtime(work))

"""``peerbot checkins ...``: operators' view of anonymous check-ins."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli import cli, with_runtime

if TYPE_CHECKING:
    from bot.model import Reply
    from bot.runtime import Runtime


def _checkin(runtime: "Runtime"):
    return runtime.engine.intent("checkin")


async def _deliver(runtime: "Runtime", replies: list["Reply"]) -> None:
    for reply in replies:
        if reply.to.kind == "here":
            click.echo(reply.text)
    await runtime.courier.send_all([r for r in replies if r.to.kind != "here"])
    await runtime.courier.deliver_due()


def _print(reply: "Reply", chart_dir: Path | None) -> None:
    """The summary's text, and its chart saved as a PNG. Asked for a chart
    folder, always say what happened to the chart, even when there is none."""
    click.echo(reply.text)
    if reply.image is None:
        if chart_dir is not None:
            click.echo("[no chart yet: a trend chart needs at least two closed rounds with enough answers to show]")
        return
    folder = chart_dir or Path.cwd()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{reply.image.title.replace(' ', '-').replace('/', '-') or 'chart'}.png"
        path.write_bytes(reply.image.png)
    except OSError as exc:
        click.echo(f"[chart not saved: can't write to {folder} ({exc.strerror or exc})]", err=True)
        sys.exit(1)
    click.echo(f"[chart: {reply.image.alt}; saved to {path}]")


@cli.group()
def checkins() -> None:
    """Anonymous check-ins: close a week, print a report, set a team's cadence and members."""


@checkins.command()
@click.option("--team", required=True, help="The team whose open check-in to close now.")
def close(team: str) -> None:
    """Close the team's open check-in now and post the summary to the supervisors' channel."""

    async def work(runtime: "Runtime") -> int:
        ctx = runtime.engine.system_context()
        if await runtime.store.surveys.team(team) is None:
            click.echo(f"There's no check-in team called {team}.", err=True)
            return 2
        if not await runtime.store.surveys.open_rounds(team=team, instrument="checkin"):
            click.echo(f"The {team} team has no open check-in to close.")
            return 0
        # Closing is one guarded write: if another process closed it at the
        # same moment, that one posts the summary and this one posts nothing.
        replies = await _checkin(runtime).close_due(team, ctx, everything=True)
        await _deliver(runtime, replies)
        click.echo(f"Closed. The summary is in the supervisors' channel (peerbot feed {runtime.settings.supervisor_channel}).")
        return 0

    sys.exit(with_runtime(work))


@checkins.command()
@click.option("--team", required=True)
@click.option("--chart-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Where to save the trend chart.")
def report(team: str, chart_dir: Path | None) -> None:
    """Print the latest closed check-in summary for a team (what supervisors see)."""

    async def work(runtime: "Runtime") -> "Reply":
        return await _checkin(runtime).report(team, runtime.engine.system_context())

    _print(with_runtime(work), chart_dir)


@checkins.command()
@click.option("--team", required=True)
def prompt(team: str) -> None:
    """Send this week's check-in prompt to the team now (people already sent it get nothing new)."""

    async def work(runtime: "Runtime") -> int:
        if await runtime.store.surveys.team(team) is None:
            click.echo(f"There's no check-in team called {team}.", err=True)
            return 2
        replies = await _checkin(runtime).prompt(team, runtime.engine.system_context())
        await _deliver(runtime, replies)
        click.echo(f"Sent {len(replies)} check-in prompt(s).")
        return 0

    sys.exit(with_runtime(work))


@checkins.command()
@click.argument("name")
@click.option("--day", default="wed", show_default=True, type=click.Choice(["mon", "tue", "wed", "thu", "fri"]))
@click.option("--hour", default=10, show_default=True, type=click.IntRange(8, 18), help="Local hour, 8 to 18: never at night.")
@click.option("--tz", default=None, help="The team's IANA time zone (default PEERBOT_TIMEZONE).")
def team(name: str, day: str, hour: int, tz: str | None) -> None:
    """Create a team or set its weekly cadence."""

    async def work(runtime: "Runtime") -> str:
        reply = await _checkin(runtime).set_cadence(name.lower(), day, str(hour), tz or runtime.settings.timezone, runtime.engine.system_context())
        return reply.text

    click.echo(with_runtime(work))


@checkins.command()
@click.argument("name")
@click.option("--add", "add", multiple=True, metavar="USER", help="Put a person on the team (repeatable).")
@click.option("--remove", "remove", multiple=True, metavar="USER", help="Take a person off the team (repeatable).")
@click.option("--via", default="terminal", show_default=True, help="The platform the user ids are from: terminal, slack or teams.")
def members(name: str, add: tuple[str, ...], remove: tuple[str, ...], via: str) -> None:
    """List or change who is on a team. Only members when a check-in or
    pulse opens are asked, so nobody can join to make up the numbers."""

    async def work(runtime: "Runtime") -> int:
        checkin, ctx = _checkin(runtime), runtime.engine.system_context()
        replies: list["Reply"] = []
        if add:
            replies += await checkin.members(name.lower(), ["add", *add], via, ctx)
        if remove:
            replies += await checkin.members(name.lower(), ["remove", *remove], via, ctx)
        if not (add or remove):
            replies = await checkin.members(name.lower(), [], via, ctx)
        here = [r for r in replies if r.to.kind == "here"]
        await _deliver(runtime, [r for r in replies if r.to.kind != "here"])
        click.echo(here[-1].text if here else "")
        return 0

    sys.exit(with_runtime(work))

"""``peerbot pulse ...``: run pulse surveys and read their results from the shell."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import TYPE_CHECKING

import click

from bot.cli import cli, with_runtime
from bot.cli_checkins import _deliver, _print

if TYPE_CHECKING:
    from bot.runtime import Runtime


def _pulse(runtime: "Runtime"):
    return runtime.engine.intent("pulse")


@cli.group()
def pulse() -> None:
    """Co-optation pulse surveys: start, status, close, report, export."""


async def _known_team(runtime: "Runtime", team: str) -> bool:
    if await runtime.store.surveys.team(team) is None:
        click.echo(f"There's no team called {team}.", err=True)
        return False
    return True


@pulse.command()
@click.argument("survey", default="co-optation")
@click.option("--team", required=True)
@click.option("--days", default=5, show_default=True, type=click.IntRange(1, 30))
@click.option("--every", type=click.Choice(["month", "quarter"]), default=None, help="Repeat on the team's day, first week of the month.")
def start(survey: str, team: str, days: int, every: str | None) -> None:
    """Start SURVEY (default co-optation) for a team: every member gets it by direct message."""

    async def work(runtime: "Runtime") -> int:
        if not await _known_team(runtime, team):
            return 2
        ctx = runtime.engine.system_context()
        known = _pulse(runtime).instruments(ctx)
        if survey not in known:
            click.echo(f"There's no pulse survey called {survey[:40]}. Available: {', '.join(sorted(known))}.", err=True)
            return 2
        await _deliver(runtime, await _pulse(runtime).start(team, survey, str(days), every, ctx))
        return 0

    sys.exit(with_runtime(work))


@pulse.command()
@click.option("--team", required=True)
def status(team: str) -> None:
    """How many have answered so far and the time left (never names)."""

    async def work(runtime: "Runtime") -> int:
        if not await _known_team(runtime, team):
            return 2
        click.echo((await _pulse(runtime).status(team, runtime.engine.system_context())).text)
        return 0

    sys.exit(with_runtime(work))


@pulse.command()
@click.option("--team", required=True)
def close(team: str) -> None:
    """Close the team's running pulse now and share the results."""

    async def work(runtime: "Runtime") -> int:
        if not await _known_team(runtime, team):
            return 2
        replies = await _pulse(runtime).close_team(team, runtime.engine.system_context())
        await _deliver(runtime, replies or [])
        if not replies:
            click.echo(f"The {team} team has no pulse running.")
        return 0

    sys.exit(with_runtime(work))


@pulse.command()
@click.argument("survey", default="co-optation")
@click.option("--team", required=True)
@click.option("--chart-dir", type=click.Path(file_okay=False), default=None)
def report(survey: str, team: str, chart_dir: str | None) -> None:
    """Print the latest results for a team, as supervisors see them."""
    from pathlib import Path

    async def work(runtime: "Runtime"):
        return await _pulse(runtime).report(team, survey, runtime.engine.system_context())

    _print(with_runtime(work), Path(chart_dir) if chart_dir else None)


@pulse.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--team", default=None, help="Only this team.")
def export(fmt: str, team: str | None) -> None:
    """Export released pulse results: aggregates only, never individual answers."""

    async def work(runtime: "Runtime") -> list[dict]:
        return await _pulse(runtime).export_rows(runtime.engine.system_context(), team)

    rows = with_runtime(work)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    click.echo(buffer.getvalue().rstrip("\n"))

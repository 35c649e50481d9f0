"""``peerbot concerns ...``: concerns from the shell, for peer supervisors
and the people who run the bot: the list, one concern with its audit trail,
counts, running the sweep now, and making the relay key."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING

import click

from bot.cli import cli, load_settings_or_exit, with_runtime, with_store

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.runtime import Runtime
    from bot.store import Store


@cli.group()
def concerns() -> None:
    """Concerns raised with the peer supervisors."""


@concerns.command(name="list")
@click.option("--open", "open_only", is_flag=True, help="Only concerns not yet resolved.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line (no text, no reporter).")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N", help="Only the N most recently raised.")
def list_concerns(open_only: bool, as_json: bool, limit: int | None) -> None:
    """Concerns, oldest first: reference, category, state, when raised."""
    from intents.concern_text import CATEGORIES, when

    async def work(store: "Store", settings: "Settings") -> None:
        rows = await store.concerns.briefs(open_only=open_only, limit=limit)
        if not rows:
            click.echo("No open concerns." if open_only else "No concerns yet.")
            return
        lines = []
        for row in rows:
            if as_json:
                lines.append(json.dumps({
                    "ref": row.ref, "category": row.category, "state": row.state, "named": bool(row.named),
                    "created_at": row.created_at, "escalated": bool(row.escalated_at), "purged": bool(row.purged_at),
                }))
                continue
            flags = ", ".join(f for f, on in (("named", row.named), ("anonymous", not row.named), ("escalated", row.escalated_at),
                                              ("text purged", row.purged_at)) if on)
            lines.append(f"{row.ref}  {CATEGORIES.get(row.category, row.category):<28} {row.state:<12} "
                         f"{when(row.created_at, settings.timezone)}  ({flags})")
        click.echo("\n".join(lines))  # one write, not one a line

    with_store(work)


@concerns.command()
@click.argument("ref")
@click.option("--by", default=None, help="Your name, for the audit trail (default: your login name).")
def show(ref: str, by: str | None) -> None:
    """One concern: its text and who has viewed and acted on it, when.
    Looking is recorded in the trail, as it is in the chat."""
    from intents.concern_text import status_text

    async def work(runtime: "Runtime") -> None:
        row = await runtime.store.concerns.get(ref)
        if row is None:
            raise click.ClickException(f"there is no concern with the reference {ref[:12]}")
        held = row["state"] == "held"
        if not held:
            from bot.store.concerns import reporter_moment

            now = runtime.engine.now()
            moment = now if row["named"] else reporter_moment(now, runtime.settings.timezone)  # see intents/concern.py _on_record
            await runtime.store.concerns.record(row["ref"], f"{by or getpass.getuser()} (terminal)", "viewed", moment)
        events = await runtime.store.concerns.events(row["ref"])
        click.echo(status_text(row, events, with_text=not held, tz=runtime.settings.timezone))
        if held:
            click.echo("\n(Its text stays hidden while it is held until others on the team raise the same.)")

    with_runtime(work)


@concerns.command()
def stats() -> None:
    """How many concerns per category and state (purged ones included)."""
    from intents.concern_text import CATEGORIES

    async def work(runtime: "Runtime") -> None:
        counts = await runtime.store.concerns.counts()
        if not counts:
            click.echo("No concerns yet.")
        for category, states in sorted(counts.items()):
            parts = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
            click.echo(f"{CATEGORIES.get(category, category):<28} {sum(states.values()):>4}  ({parts})")

    with_runtime(work)


@concerns.command()
def sweep() -> None:
    """Run the concern sweep now: re-send posts a crash kept back, escalate
    concerns nobody acknowledged in time, delete expired resolved text.

    With Slack or Teams configured, the running `peerbot serve` does it
    (it runs the sweep every ten minutes): this asks it to run it next.
    """
    from bot.server import configured_platforms

    settings = load_settings_or_exit()

    async def work(runtime: "Runtime") -> None:
        if configured_platforms(settings):
            assert runtime.schedule is not None
            runtime.schedule.at("concern:sweep:start", "concern:sweep", {}, runtime.engine.now())
            click.echo("Asked the running peerbot serve to sweep concerns on its next pass (within ten minutes).")
            return
        replies = await runtime.engine.on_schedule("concern:sweep", {})
        await runtime.courier.send_all(replies)
        sent = await runtime.courier.deliver_due()
        click.echo(f"Swept concerns: {len(replies)} message(s) queued, {sent} delivered.")

    with_runtime(work)


@concerns.command(name="new-key")
def new_key() -> None:
    """Print a fresh key for PEERBOT_CONCERN_KEY (it locks the links that let
    anonymous reporters hear back). Keep it secret; changing it later cuts
    existing anonymous concerns off from their reporters."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())

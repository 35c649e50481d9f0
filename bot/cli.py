"""The ``peerbot`` command (also ``python -m bot``).

Heavy modules are imported inside each command, so ``peerbot --help``
starts fast and the terminal never loads Slack or Teams libraries.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

import click

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.runtime import Runtime
    from bot.store import Store

T = TypeVar("T")


def load_settings_or_exit(**overrides: object) -> "Settings":
    from bot.config import ConfigError, configure_logging, load_settings

    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        for line in exc.lines:
            click.echo(f"peerbot: configuration problem: {line}", err=True)
        sys.exit(2)
    configure_logging(settings)
    return settings


def with_runtime(work: Callable[["Runtime"], Awaitable[T]]) -> T:
    """Open the store, build the engine, run ``work``, and always close up."""
    from bot.runtime import build_runtime

    return _run_with(build_runtime, lambda runtime: runtime.close(), lambda runtime, _: work(runtime))


def with_store(work: Callable[["Store", "Settings"], Awaitable[T]]) -> T:
    """Open only the store, run ``work`` with it and the settings, and always
    close it: for commands that only read the store (nothing to build: no
    engine, intents or platforms, so they start quickly)."""
    from bot.store import Store

    return _run_with(lambda settings: Store.open(settings.db), lambda store: store.close(), work)


def _run_with(opener: Callable[["Settings"], Awaitable[Any]], closer: Callable[[Any], Awaitable[None]],
              work: Callable[[Any, "Settings"], Awaitable[T]]) -> T:
    from bot.store import StoreError

    settings = load_settings_or_exit()

    async def main() -> T:
        opened = await opener(settings)
        try:
            return await work(opened, settings)
        finally:
            await closer(opened)

    try:
        return asyncio.run(main())
    except StoreError as exc:
        click.echo(f"peerbot: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="peerbot")
def cli() -> None:
    """peerbot: a chat companion for peer support workers.

    Settings come from PEERBOT_* environment variables or a .env file
    (PEERBOT_DB, PEERBOT_MIN_GROUP, PEERBOT_SUPERVISORS, PEERBOT_ADMINS, ...).
    """


@cli.command()
@click.option("--user", default="local-user", show_default=True, help="Who you are in this chat (a user id).")
@click.option("--name", default=None, help="Your display name.")
@click.option("--team", default=None, help="Your team, for check-ins and pulse surveys.")
def chat(user: str, name: str | None, team: str | None) -> None:
    """Talk to the bot in this terminal.

    At a terminal it is interactive. With input from a pipe or file it reads
    one message a line and prints the replies, so a conversation can be
    scripted: printf 'help\\n' | peerbot chat
    """
    from bot.channels.terminal import TerminalChannel

    interactive = sys.stdin.isatty()

    async def talk(runtime: "Runtime") -> None:
        # Load the knowledge base while the person reads the greeting.
        warming = asyncio.create_task(runtime.engine.warm_up())
        channel = TerminalChannel(
            runtime.engine, runtime.courier, user=user, name=name, team=team, interactive=interactive
        )
        await channel.run(sys.stdin.buffer)
        await warming

    try:
        with_runtime(talk)
    except KeyboardInterrupt:
        click.echo("\nTake care. Bye for now.")


@cli.command()
@click.argument("channel")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line instead of text.")
def feed(channel: str, as_json: bool) -> None:
    """Show what the bot posted to CHANNEL in local mode, oldest first.

    The supervisor channel is 'supervisors'. Use '@USER' for what was sent
    to one person by direct message.
    """
    from bot.channels.base import Address
    from bot.channels.local import LocalPlatform, platform_file

    settings = load_settings_or_exit()
    kind = "user" if channel.startswith("@") else "channel"
    address = Address(kind=kind, id=channel.lstrip("@#"))
    posts = LocalPlatform(platform_file(settings.db)).feed(address)
    if not posts:
        click.echo(f"Nothing has been posted to {channel} yet.")
        return
    for post in posts:
        if as_json:
            click.echo(json.dumps(post, ensure_ascii=False))
            continue
        edited = f", edited {post['edited_at']}" if "edited_at" in post else ""
        click.echo(f"--- {post['created_at']}{edited}")
        click.echo(post.get("text", ""))
        for choice in post.get("choices", []):
            click.echo(f"  [{choice['label']}]")
        if "image" in post:
            click.echo(f"  [chart: {post['image']['alt']}]")
        click.echo()


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default PEERBOT_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default PEERBOT_PORT, 8080).")
@click.option("--socket-mode", is_flag=True, help="Reach Slack over Socket Mode (needs PEERBOT_SLACK_APP_TOKEN), no public URL.")
def serve(host: str | None, port: int | None, socket_mode: bool) -> None:
    """Run the server: health check now; Slack and Teams endpoints as they are set up."""
    from aiohttp import web

    from bot.one_server import AlreadyServing, hold
    from bot.server import create_app

    settings = load_settings_or_exit(**({"slack_socket_mode": True} if socket_mode else {}))
    try:
        lock = hold(settings.db)  # noqa: F841  (held until the process ends)
    except AlreadyServing as exc:
        click.echo(f"peerbot: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"peerbot: can't take the server lock beside {settings.db} ({exc.strerror or exc})", err=True)
        sys.exit(2)
    web.run_app(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        print=lambda text: click.echo(text, err=True),
    )


def main() -> None:
    cli(prog_name="peerbot")


# Command groups in their own modules register themselves on `cli`.
import bot.cli_checkins  # noqa: E402,F401  (checkins close/report/prompt/team)
import bot.cli_concerns  # noqa: E402,F401  (concerns list/show/stats/sweep/new-key)
import bot.cli_knowledge  # noqa: E402,F401  (ask, eval, kb)
import bot.cli_pulse  # noqa: E402,F401  (pulse start/status/close/report/export)
import bot.cli_teams  # noqa: E402,F401  (teams package, teams bind-supervisors)

if __name__ == "__main__":
    main()

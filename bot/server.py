"""The one aiohttp server process (``peerbot serve``).

It serves ``GET /healthz``, runs the courier (the outbox) in the background,
and mounts each chat platform that is configured. A platform module is
imported only when it is configured, so its libraries never load otherwise.

A platform module exposes ``install(app, settings) -> Platform``: it adds its
routes to the app (routes must exist before the app starts) and returns an
object whose ``start(runtime)`` runs once the store and engine exist (to
register its channel with the courier) and whose ``stop()`` runs at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import Protocol

from aiohttp import web

from bot import __version__
from bot.config import Settings
from bot.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
# How long after the server starts the work it can do without (_after_ready) begins.
AFTER_READY_SECONDS = 2.0


class Platform(Protocol):
    async def start(self, runtime: Runtime) -> None: ...

    async def stop(self) -> None: ...


def configured_platforms(settings: Settings) -> list[str]:
    """The platform modules to mount, by what the configuration provides."""
    modules = []
    if getattr(settings, "slack_bot_token", None):
        modules.append("bot.channels.slack")
    if getattr(settings, "teams_enabled", False):
        modules.append("bot.channels.teams")
    return modules


def missing_backup_channel(settings: Settings) -> str | None:
    """One line for the admins at start when concerns about a peer supervisor
    have no backup channel: where they go instead (peer workers are never
    told about configuration; intents/concern_text.py supervisor_route)."""
    if settings.backup_channel:
        return None
    if settings.admins:
        instead = "each admin in PEERBOT_ADMINS gets them by direct message instead"
    elif settings.concern_escalation_channel:
        instead = f"they go to the escalation channel ({settings.concern_escalation_channel}) instead"
    else:
        instead = "with no PEERBOT_ADMINS or escalation channel either, they can't be sent at all"
    return f"PEERBOT_BACKUP_CHANNEL is not set: concerns about a peer supervisor have no backup channel; {instead}."


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    reachable = await runtime.store.ping()
    return web.json_response(
        {"status": "ok" if reachable else "degraded", "version": __version__, "store": {"reachable": reachable}}
    )


async def _after_ready(settings: Settings) -> None:
    """Work the first answers don't need, done once the server is up, off the
    event loop: the holiday calendar (a tenth of a second of imports), so the
    first concern's escalation deadline doesn't wait for it."""
    from bot.business_days import HolidayError, holiday_calendar

    await asyncio.sleep(AFTER_READY_SECONDS)
    with contextlib.suppress(HolidayError):
        await asyncio.to_thread(holiday_calendar, settings.holidays)


def create_app(settings: Settings, *, runtime: Runtime | None = None, run_background: bool = True) -> web.Application:
    """Build the application; the store opens when it starts and closes when it stops.

    Tests may pass a ``runtime`` they built (with a fake clock, say) and turn
    the background loops off to drive them by hand.
    """
    app = web.Application(client_max_size=1024 * 1024)
    platforms: list[Platform] = [
        importlib.import_module(name).install(app, settings) for name in configured_platforms(settings)
    ]

    async def lifecycle(app: web.Application):
        own = runtime is None
        rt = runtime or await build_runtime(settings)
        app[RUNTIME] = rt
        for platform in platforms:
            await platform.start(rt)
        await rt.engine.warm_up()
        if run_background and rt.schedule is not None:
            rt.schedule.resume()
        tasks = [
            asyncio.create_task(rt.courier.run(), name="courier"),
            asyncio.create_task(_after_ready(settings), name="after-ready"),
        ] if run_background else []
        log.info("peerbot %s serving; store at %s", __version__, settings.db)
        warning = missing_backup_channel(settings)
        if warning:
            log.warning(warning)
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for platform in platforms:
            await platform.stop()
        if own:
            await rt.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    return app

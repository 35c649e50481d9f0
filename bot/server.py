"""The one aiohttp server process (``peerbot serve``).

For now it serves ``GET /healthz``; the Slack and Teams channels add their
own routes to the same application.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot import __version__
from bot.config import Settings
from bot.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    reachable = await runtime.store.ping()
    return web.json_response(
        {"status": "ok" if reachable else "degraded", "version": __version__, "store": {"reachable": reachable}}
    )


def create_app(settings: Settings) -> web.Application:
    """Build the application; the store opens when it starts and closes when it stops."""
    app = web.Application(client_max_size=1024 * 1024)

    async def lifecycle(app: web.Application):
        runtime = await build_runtime(settings)
        app[RUNTIME] = runtime
        log.info("peerbot %s serving; store at %s", __version__, settings.db)
        yield
        await runtime.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    return app

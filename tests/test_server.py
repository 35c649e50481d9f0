"""The server process: a health check that says what it is and whether it can reach its store."""

from __future__ import annotations

from bot import __version__
from bot.server import create_app


async def test_healthz_names_the_version_and_the_store(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body == {"status": "ok", "version": __version__, "store": {"reachable": True}}


async def test_unknown_paths_are_404(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/nope")).status == 404

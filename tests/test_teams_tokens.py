"""Bot Framework tokens with an app id set: forged ones get 401, correctly
signed ones pass, and fetching Microsoft's signing keys never stalls the
server, even with outbound traffic black-holed.

A fake OpenID metadata + JWKS server on loopback plays Microsoft, with a key
the test holds; a socket that accepts and never answers plays a network that
drops everything."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time

import jwt
import pytest

from bot.channels.teams.platform import TEAMS
from bot.channels.teams.tokens import SigningKeys, precheck
from bot.runtime import build_runtime
from bot.server import create_app
from tests.conftest import make_settings
from tests.hostile import ISSUER, KEY, OTHER_KEY, BlackHole, FakeMicrosoft
from tests.teams_support import activity, connector  # noqa: F401

APP_ID = "00000000-0000-0000-0000-0000000000aa"


@pytest.fixture
async def microsoft(aiohttp_server) -> FakeMicrosoft:
    fake = FakeMicrosoft()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
async def black_hole():
    hole = await BlackHole().start()
    yield hole.url
    await hole.close()


def token(body: dict, *, key=KEY, kid: str = "k1", alg: str = "RS256", **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": APP_ID, "serviceurl": body["serviceUrl"], "nbf": now - 10, "exp": now + 600, **claims}
    return "Bearer " + jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


async def start(aiohttp_client, tmp_path, clock, keys: SigningKeys):
    settings = make_settings(tmp_path, teams_app_id=APP_ID, teams_app_password="not-a-real-secret", admins="aad-root")
    runtime = await build_runtime(settings, now=clock)
    app = create_app(settings, runtime=runtime, run_background=False)
    app[TEAMS].keys = keys
    client = await aiohttp_client(app)
    return client, runtime


def test_the_precheck_refuses_what_cant_be_a_bot_framework_token():
    def b64(data) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = b64({"iss": ISSUER})
    assert precheck("Basic dXNlcjpwYXNz")
    assert precheck("Bearer only.two")
    assert precheck("Bearer a.b.c.d")
    assert precheck("Bearer !!.??.**")
    assert precheck(f"Bearer {b64({'alg': 'none', 'kid': 'k1'})}.{claims}.")
    assert precheck(f"Bearer {b64({'alg': 'HS256', 'kid': 'k1'})}.{claims}.c2ln")
    assert precheck(f"Bearer {b64({'alg': 'RS256'})}.{claims}.c2ln")
    assert precheck(f"Bearer {b64(['alg'])}.{claims}.c2ln")
    assert precheck(f"Bearer {b64({'alg': 'RS256', 'kid': 'k1'})}.bm90IGpzb24.c2ln")
    assert precheck(f"Bearer {b64({'alg': 'RS256', 'kid': 'k1'})}.{claims}.c2ln") is None


async def test_a_correctly_signed_token_passes_and_every_forgery_gets_401(aiohttp_client, tmp_path, clock, microsoft, connector, caplog):
    client, runtime = await start(aiohttp_client, tmp_path, clock, SigningKeys(metadata_url=f"{microsoft.url}/openid"))
    try:
        body = activity(connector, "typing")
        good = await client.post("/api/messages", json=body, headers={"Authorization": token(body)})
        assert good.status in (200, 201), await good.text()

        signed = token(body)
        header, claims, signature = signed.removeprefix("Bearer ").split(".")
        forged_claims = base64.urlsafe_b64encode(json.dumps({"iss": ISSUER, "aud": APP_ID, "serviceurl": body["serviceUrl"], "exp": 2**40}).encode()).rstrip(b"=").decode()
        flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
        forgeries = {
            "tampered claims": f"Bearer {header}.{forged_claims}.{signature}",
            "tampered signature": f"Bearer {header}.{claims}.{flipped}",
            "another key": token(body, key=OTHER_KEY),
            "wrong audience": token(body, aud="someone-else"),
            "wrong issuer": token(body, iss="https://evil.example"),
            "expired": token(body, exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200),
            "another service url": token(body, serviceurl="https://evil.example/"),
            "unknown key id": token(body, kid="not-published"),
            "alg none": "Bearer " + jwt.encode({"iss": ISSUER, "aud": APP_ID}, None, algorithm="none", headers={"kid": "k1"}),
            "HS256 with the public key as secret": "Bearer " + jwt.encode({"iss": ISSUER, "aud": APP_ID}, "a-secret-long-enough-for-hmac-sha256-keys", algorithm="HS256", headers={"kid": "k1"}),
            "garbage": "Bearer eyJ.eyJ.eyJ",
        }
        for name, forged in forgeries.items():
            response = await client.post("/api/messages", json=body, headers={"Authorization": forged})
            assert response.status == 401, name
        assert connector.calls == []
        assert not any(r.exc_info for r in caplog.records)
        assert not any(signature in r.getMessage() for r in caplog.records)
    finally:
        await runtime.close()


async def test_made_up_key_ids_cause_at_most_one_fetch_a_minute(aiohttp_client, tmp_path, clock, microsoft, connector):
    client, runtime = await start(aiohttp_client, tmp_path, clock, SigningKeys(metadata_url=f"{microsoft.url}/openid"))
    try:
        body = activity(connector, "typing")
        responses = await asyncio.gather(*(
            client.post("/api/messages", json=body, headers={"Authorization": token(body, kid=f"made-up-{i}")}) for i in range(30)
        ))
        assert [r.status for r in responses] == [401] * 30
        # The startup fetch plus at most one for the unknown ids: two metadata fetches at most.
        assert microsoft.fetches.count("metadata") <= 2
    finally:
        await runtime.close()


async def _healthz_while_forged(client, body, forged: str) -> tuple[float, int, float, list[float]]:
    started = time.monotonic()
    refused = asyncio.ensure_future(client.post("/api/messages", json=body, headers={"Authorization": forged}))
    health_times = []
    for _ in range(3):
        await asyncio.sleep(0.3)
        t = time.monotonic()
        health = await asyncio.wait_for(client.get("/healthz"), 1.0)
        assert health.status == 200
        health_times.append(time.monotonic() - t)
    response = await asyncio.wait_for(refused, 10)
    return time.monotonic() - started, response.status, max(health_times), health_times


async def test_with_the_key_endpoint_black_holed_the_server_keeps_answering(aiohttp_client, tmp_path, clock, black_hole, connector, caplog):
    keys = SigningKeys(metadata_url=f"{black_hole}/openid", timeout=2.0, wait=2.0)
    client, runtime = await start(aiohttp_client, tmp_path, clock, keys)
    try:
        body = activity(connector, "typing")
        took, status, slowest_health, _ = await _healthz_while_forged(client, body, token(body, kid="k1"))
        assert status == 503 and 1.5 <= took < 4.0
        assert slowest_health < 1.0
        # While the keys can't be had, further requests are turned away at once.
        t = time.monotonic()
        again = await client.post("/api/messages", json=body, headers={"Authorization": token(body, kid="k2")})
        assert again.status == 503 and time.monotonic() - t < 0.5
        assert not any(r.exc_info for r in caplog.records)
    finally:
        await runtime.close()


async def test_with_https_proxy_black_holed_microsofts_real_url_times_out_quickly(aiohttp_client, tmp_path, clock, black_hole, connector, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", black_hole)
    monkeypatch.setenv("https_proxy", black_hole)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client, runtime = await start(aiohttp_client, tmp_path, clock, SigningKeys(timeout=2.0, wait=2.0))
    try:
        body = activity(connector, "typing")
        took, status, slowest_health, _ = await _healthz_while_forged(client, body, token(body))
        assert status == 503 and 1.5 <= took < 4.0
        assert slowest_health < 1.0
    finally:
        await runtime.close()

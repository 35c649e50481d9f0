"""The /api/messages endpoint: every request checked, bad input refused
with a plain 4xx, never a traceback."""

from __future__ import annotations

import logging

from bot.server import configured_platforms, create_app
from tests.conftest import make_settings
from tests.teams_support import TENANT, Teams, activity, connector, teams, teams_settings  # noqa: F401

APP_ID = "00000000-0000-0000-0000-0000000000aa"


async def test_with_an_app_id_a_request_without_a_token_is_401(aiohttp_client, tmp_path, connector):
    settings = make_settings(tmp_path, teams_app_id=APP_ID, teams_app_password="not-a-real-secret")
    client = await aiohttp_client(create_app(settings, run_background=False))
    response = await client.post("/api/messages", json=activity(connector, text="help"))
    assert response.status == 401
    response = await client.post("/api/messages", json=activity(connector, text="help"), headers={"Authorization": "Bearer not-a-token"})
    assert response.status == 401
    assert connector.calls == []


def test_teams_is_mounted_only_when_configured(tmp_path):
    assert "bot.channels.teams" not in configured_platforms(make_settings(tmp_path))
    assert "bot.channels.teams" in configured_platforms(make_settings(tmp_path, teams_local_testing=True))


async def test_running_without_credentials_says_so_loudly(caplog, teams_settings):
    with caplog.at_level(logging.WARNING):
        create_app(teams_settings)
    assert any("UNAUTHENTICATED" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_malformed_requests_get_a_plain_4xx(teams: Teams):
    client = teams.client
    assert (await client.post("/api/messages", data="{not json", headers={"Content-Type": "application/json"})).status == 400
    assert (await client.post("/api/messages", data="hello", headers={"Content-Type": "text/plain"})).status == 415
    assert (await client.post("/api/messages", json=[1, 2])).status == 400
    unknown = await teams.post(activity(teams.connector, "somethingNew"))
    assert unknown.status == 400 and "unknown activity type" in (await unknown.json())["error"]
    missing = activity(teams.connector, text="hi")
    del missing["conversation"]
    response = await teams.post(missing)
    assert response.status == 400 and "conversation.id" in (await response.json())["error"]
    assert (await teams.post(activity(teams.connector, "invoke", name="signin/verifyState", value={}))).status == 400
    assert (await client.post("/api/messages", data=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"})).status == 413
    assert teams.connector.calls == []


async def test_quiet_activities_are_taken_without_a_reply(teams: Teams):
    for kind in ("typing", "messageReaction", "endOfConversation"):
        assert (await teams.post(activity(teams.connector, kind))).status in (200, 201)
    assert teams.connector.calls == []


async def test_an_oversized_message_gets_a_kind_answer(teams: Teams):
    [reply] = await teams.say("word " * 2000)
    assert "longer than I can take in at once" in reply.text


async def test_a_single_tenant_bot_refuses_other_organisations(aiohttp_client, tmp_path, connector, clock):
    from bot.runtime import build_runtime

    settings = make_settings(tmp_path, teams_local_testing=True, teams_tenant_id=TENANT)
    runtime = await build_runtime(settings, now=clock)
    client = await aiohttp_client(create_app(settings, runtime=runtime, run_background=False))
    elsewhere = activity(connector, text="help", channelData={"tenant": {"id": "99999999-0000-0000-0000-000000000000"}})
    elsewhere["conversation"]["tenantId"] = "99999999-0000-0000-0000-000000000000"
    assert (await client.post("/api/messages", json=elsewhere)).status == 403
    assert (await client.post("/api/messages", json=activity(connector, text="help"))).status == 201
    from bot.channels.teams.platform import TEAMS

    await client.app[TEAMS].settle()  # the turn runs after the 201: let it finish before the store closes
    await runtime.close()


def test_settings_explain_what_is_wrong(tmp_path):
    import pytest

    from bot.config import ConfigError

    with pytest.raises(ConfigError) as problem:
        make_settings(tmp_path, teams_app_id="not-a-guid")
    assert problem.value.lines[0].startswith("PEERBOT_TEAMS_APP_ID: must be a GUID")
    with pytest.raises(ConfigError) as problem:
        make_settings(tmp_path, teams_app_password="s3cret-value")
    assert problem.value.lines == ["PEERBOT_TEAMS_APP_ID: is needed when PEERBOT_TEAMS_APP_PASSWORD is set"]
    assert "s3cret-value" not in str(problem.value)

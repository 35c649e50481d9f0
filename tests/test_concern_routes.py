"""A concern about a peer supervisor when no backup channel is set up: it
goes to the admins (or the escalation channel), the person is told kindly
where it went and never about configuration, and the admins hear at start."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.runtime import build_runtime
from bot.server import create_app, missing_backup_channel
from tests.conftest import Chat, Clock, feed, make_settings
from tests.test_concerns import KEY, messages_to, press, raise_concern, ref_of


async def test_with_no_backup_channel_it_goes_to_each_admin_directly(tmp_path: Path, clock: Clock):
    settings = make_settings(tmp_path, supervisors="u-sam", admins="u-root,u-rae", concern_key=KEY)
    runtime = await build_runtime(settings, now=clock)
    try:
        ada = Chat(runtime)
        preview = await raise_concern(ada, category="Supervision", about="Yes", send=False)
        assert "the bot's admins, each in a direct message" in preview and "[1] Send" in preview
        receipt = await ada.say("Send")
        assert "Sent. Your reference is" in receipt and "the bot's admins, each in a direct message" in receipt
        for words in (preview, receipt):
            assert "PEERBOT" not in words and "backup channel" not in words and "admin can set" not in words
        ref = ref_of(receipt)
        assert feed(runtime) == []  # never the supervisors' channel
        for admin in ("u-root", "u-rae"):
            [post] = messages_to(runtime, admin)
            assert ref in post["text"] and "came to the bot's admins directly" in post["text"]
            assert post["choices"][0]["label"] == "Acknowledge"
        assert messages_to(runtime, "u-sam") == []
        # An admin acts on it there (admins have the peer supervisors' commands), and the reporter hears.
        done = await press(runtime, "u-root", "concern:ack", ref, name="Root")
        assert f"Done: {ref} is acknowledged" in done
        assert "Status: acknowledged" in messages_to(runtime, "u-root")[-1]["text"]  # shown to the one who pressed
        [updated] = messages_to(runtime, "u-rae")  # the other admin's copy, updated in place
        assert "Status: acknowledged" in updated["text"] and "edited_at" in updated
        assert any("Root acknowledged it" in m["text"] for m in messages_to(runtime, "u-ada"))
    finally:
        await runtime.close()


async def test_an_anonymous_one_reaches_the_admins_without_the_name(tmp_path: Path, clock: Clock):
    settings = make_settings(tmp_path, supervisors="u-sam", admins="u-root", concern_key=KEY)
    runtime = await build_runtime(settings, now=clock)
    try:
        zelda = Chat(runtime, user="u-zelda-7731", name="Zelda Quist")
        receipt = await raise_concern(zelda, anonymous=True, category="Supervision", about="Yes")
        [post] = messages_to(runtime, "u-root")
        assert ref_of(receipt) in post["text"] and "Zelda" not in post["text"] and "u-zelda" not in post["text"]
    finally:
        await runtime.close()


async def test_without_admins_it_goes_to_the_escalation_channel(tmp_path: Path, clock: Clock):
    settings = make_settings(tmp_path, supervisors="u-sam", concern_key=KEY, concern_escalation_channel="leads")
    runtime = await build_runtime(settings, now=clock)
    try:
        receipt = await raise_concern(Chat(runtime), category="Supervision", about="Yes")
        assert "the escalation channel (leads)" in receipt
        [post] = feed(runtime, "leads")
        assert ref_of(receipt) in post["text"] and feed(runtime) == []
    finally:
        await runtime.close()


def test_the_start_warning_says_where_such_concerns_go(tmp_path: Path):
    assert missing_backup_channel(make_settings(tmp_path, backup_channel="peer-leads", admins="u-root")) is None
    assert "each admin in PEERBOT_ADMINS gets them by direct message" in missing_backup_channel(make_settings(tmp_path, admins="u-root"))
    assert "escalation channel (leads)" in missing_backup_channel(make_settings(tmp_path, concern_escalation_channel="leads"))
    assert "can't be sent at all" in missing_backup_channel(make_settings(tmp_path))


async def test_serve_warns_once_at_start_when_the_backup_channel_is_missing(aiohttp_client, tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.server"):
        await aiohttp_client(create_app(make_settings(tmp_path, admins="u-root"), run_background=False))
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.server" and r.levelno == logging.WARNING]
    expected = ("PEERBOT_BACKUP_CHANNEL is not set: concerns about a peer supervisor have no backup channel; "
                "each admin in PEERBOT_ADMINS gets them by direct message instead.")
    assert warnings == [expected]

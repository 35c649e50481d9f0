"""Posting to Slack through the courier: the supervisor channel by its
configured id, updates in place, charts as file uploads, Slack's rate limits
respected (429 retried, one message a second per channel), and start-up
checks that say plainly what to fix."""

from __future__ import annotations

import time

import pytest

from bot.channels.base import Address
from bot.config import ConfigError
from bot.model import Choice, Destination, Image, Reply
from tests.slack_fake import SUPERVISORS, Bot, FakeSlack, bot, settings, shown_text, slack_api, slack_settings, start_bot  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_a_supervisor_post_goes_to_the_configured_channel_and_updates_in_place(bot: Bot, slack_api: FakeSlack):
    courier = bot.runtime.courier
    post = Reply(text="Concern K7Q2: new", key="concern:K7Q2", to=Destination.channel("supervisors"), private=False,
                 choices=[Choice(label="I'll take it", action="concern:take", value="K7Q2")])
    await courier.send(post)
    assert await courier.deliver_due() == 1
    [posted] = slack_api.of("chat.postMessage")
    assert posted["channel"] == SUPERVISORS and "Concern K7Q2" in shown_text(posted)
    assert posted["metadata"]["event_payload"]["key"] == "concern:K7Q2"
    await courier.send(post.model_copy(update={"text": "Concern K7Q2: Sam is on it", "choices": []}))
    await courier.deliver_due()
    [updated] = slack_api.of("chat.update")
    assert updated["channel"] == SUPERVISORS and updated["ts"] == bot.fake.history[SUPERVISORS][0]["ts"]
    assert len(slack_api.of("chat.postMessage")) == 1


async def test_a_direct_message_to_a_person_opens_their_conversation(bot: Bot, slack_api: FakeSlack):
    await bot.runtime.courier.send(Reply(text="Your check-in is open", to=Destination.user("U2", via="slack")))
    await bot.runtime.courier.deliver_due()
    assert slack_api.of("conversations.open")[0]["users"] == "U2"
    assert slack_api.of("chat.postMessage")[0]["channel"] == "DU2"


async def test_a_chart_is_uploaded_with_the_files_api(bot: Bot, slack_api: FakeSlack):
    chart = Image(png=PNG, alt="Pulse results for north, 6 answers", title="Pulse, November")
    # Called as the courier calls it (the outbox can't hold raw PNG bytes yet: see the README's Slack section).
    await bot.platform.slack.post(Address(kind="channel", id="supervisors"), Reply(text="This month's pulse", image=chart))
    assert slack_api.of("files.getUploadURLExternal")[0]["filename"] == "chart.png"
    assert slack_api.uploads and PNG in slack_api.uploads[0]
    [done] = slack_api.of("files.completeUploadExternal")
    assert done["channel_id"] == SUPERVISORS


async def test_a_rate_limited_call_is_retried_after_the_wait_slack_asks_for(bot: Bot, slack_api: FakeSlack):
    slack_api.rate_limit["chat.postMessage"] = 1
    await bot.runtime.courier.send(Reply(text="hello", to=Destination.channel("supervisors")))
    assert await bot.runtime.courier.deliver_due() == 1
    assert len(slack_api.of("chat.postMessage")) == 2
    assert await bot.runtime.store.outbox.counts() == {"delivered": 1}


async def test_a_broadcast_is_paced_to_about_one_message_a_second_per_channel(bot: Bot, slack_api: FakeSlack):
    bot.platform.slack.pacer.interval = 0.25
    for n in range(3):
        await bot.runtime.courier.send(Reply(text=f"update {n}", to=Destination.channel("supervisors")))
    await bot.runtime.courier.send(Reply(text="elsewhere", to=Destination.channel("wellbeing")))
    assert await bot.runtime.courier.deliver_due() == 4
    times = {c.args["text"]: c.at for c in slack_api.calls if c.method == "chat.postMessage"}
    gaps = [times["update 1"] - times["update 0"], times["update 2"] - times["update 1"]]
    assert min(gaps) >= 0.24
    assert times["elsewhere"] - times["update 2"] < 0.2  # another channel has its own pace


async def test_a_channel_the_bot_cannot_post_in_is_not_retried_forever(bot: Bot, slack_api: FakeSlack):
    slack_api.fail["chat.postMessage"] = "not_in_channel"
    heard = []
    bot.runtime.courier.on_unreachable.append(lambda address, via, error: heard.append((address.id, via, error)))
    await bot.runtime.courier.send(Reply(text="hello", to=Destination.channel("supervisors")))
    await bot.runtime.courier.deliver_due()
    assert await bot.runtime.store.outbox.counts() == {"failed": 1}
    assert heard == [("supervisors", "slack", "Slack refused chat.postMessage: not_in_channel")]


async def test_after_a_crash_a_post_already_in_slack_is_found_by_its_key(bot: Bot, slack_api: FakeSlack):
    where = Address(kind="channel", id="supervisors")
    ref = await bot.platform.slack.post(where, Reply(text="exactly once", key="outbox-123"))
    assert await bot.platform.slack.find_posted(where, "outbox-123") == ref
    assert await bot.platform.slack.find_posted(where, "outbox-999") is None


async def test_only_configured_channels_are_reached_through_slack(bot: Bot):
    assert bot.platform.slack.reaches("supervisors") and bot.platform.slack.reaches("wellbeing")
    assert not bot.platform.slack.reaches("random")


async def test_start_up_says_whether_the_bot_can_post_to_the_supervisor_channel(aiohttp_client, settings, runtime, slack_api):
    slack_api.member = False
    started = await start_bot(aiohttp_client, settings, runtime, slack_api)
    assert started.platform.fine == ["connected to the workspace Acme Peer Network as @peerbot"]
    [problem] = started.platform.problems
    assert problem.startswith("PEERBOT_SLACK_SUPERVISOR_CHANNEL: the bot is not a member of #peer-supervisors")
    assert "/invite @peerbot" in problem


async def test_a_refused_token_is_one_clear_line(aiohttp_client, settings, runtime, slack_api):
    slack_api.fail["auth.test"] = "invalid_auth"
    started = await start_bot(aiohttp_client, settings, runtime, slack_api)
    assert started.platform.problems == [
        "PEERBOT_SLACK_BOT_TOKEN: Slack refused auth.test: invalid_auth; copy the Bot User OAuth Token again from OAuth & Permissions"
    ]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"slack_bot_token": "xoxp-user-token-123"}, "PEERBOT_SLACK_BOT_TOKEN: must be the app's Bot User OAuth Token"),
        ({"slack_signing_secret": None}, "PEERBOT_SLACK_SIGNING_SECRET: is needed to check that requests really come from Slack"),
        ({"slack_signing_secret": "not-a-secret"}, "PEERBOT_SLACK_SIGNING_SECRET: must be the app's Signing Secret"),
        ({"slack_supervisor_channel": "#supervisors"}, "PEERBOT_SLACK_SUPERVISOR_CHANNEL: must be a Slack channel id"),
        ({"slack_socket_mode": True}, "PEERBOT_SLACK_APP_TOKEN: is needed for Socket Mode"),
        ({"slack_channels": "wellbeing"}, "PEERBOT_SLACK_CHANNELS: must be name=CHANNEL_ID pairs"),
    ],
)
def test_a_bad_slack_setting_is_one_line_naming_it_and_never_echoes_a_secret(tmp_path, slack_api, overrides, line):
    with pytest.raises(ConfigError) as caught:
        slack_settings(tmp_path, slack_api, **overrides)
    [only] = caught.value.lines
    assert only.startswith(line)
    assert "xoxp-user-token-123" not in only and "not-a-secret" not in only


async def test_a_secret_reply_is_posted_directly(bot: Bot, slack_api: FakeSlack):
    started = time.monotonic()
    await bot.runtime.courier.send(Reply(text="Your link: tok-ABC", secret=True, to=Destination.user("U1", via="slack")))
    assert slack_api.of("chat.postMessage")[0]["channel"] == "DU1"
    assert "metadata" not in slack_api.of("chat.postMessage")[0] and time.monotonic() - started < 2
    assert await bot.runtime.store.outbox.counts() == {}


async def test_a_chart_in_a_private_answer_goes_to_the_persons_direct_messages(bot: Bot, slack_api: FakeSlack):
    chart = Image(png=PNG, alt="Your check-ins over 8 weeks")
    payload = await bot.platform.slack.ephemeral_payload("U1", Reply(text="Your trend", image=chart))
    assert payload["response_type"] == "ephemeral" and "only you see it" in shown_text(payload)
    assert slack_api.of("files.completeUploadExternal")[0]["channel_id"] == "DU1"

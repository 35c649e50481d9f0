"""Exactly once: whatever a person (or a platform, or the bot itself) does
twice at the same moment has its effect once, and the second try gets the
same answer as the first, never an error and never a second post."""

from __future__ import annotations

import asyncio

from bot.channels.base import Address, DeliveryError
from bot.courier import SEND_LEASE, Courier
from bot.flow_state import MemoryFlowState
from bot.model import Destination, Reply
from bot.runtime import Runtime
from tests.conftest import Clock, subprocess_env
from tests.test_courier import FlakyPlatform


# -- the courier: a post reaches its channel once, across crashes and overlaps --


class AcceptsThenTimesOut(FlakyPlatform):
    """The platform takes the message, but the answer never gets back to the
    bot (a timeout, a dropped connection): the send looks failed, yet the
    message is there. Optionally slow, so passes overlap."""

    def __init__(self, lost_answers: int = 0, delay: float = 0.0):
        super().__init__()
        self.lost_answers = lost_answers
        self.delay = delay
        self.asked: list[str] = []

    async def post(self, address: Address, reply: Reply) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        ref = await super().post(address, reply)
        if self.lost_answers:
            self.lost_answers -= 1
            raise DeliveryError("timed out waiting for the platform's answer")
        return ref

    async def find_posted(self, address: Address, key: str) -> str | None:
        self.asked.append(key)
        return await super().find_posted(address, key)


def courier_for(runtime: Runtime, platform: FlakyPlatform, clock: Clock) -> Courier:
    courier = Courier(runtime.store, runtime.courier.local, now=clock)
    courier.register(platform)
    return courier


async def outbox_rows(runtime: Runtime) -> list[dict]:
    return await runtime.store.run(lambda: list(runtime.store.db.query("select key, state, attempts from outbox order by id")))


async def test_a_message_the_platform_took_but_whose_answer_was_lost_is_not_sent_again(runtime: Runtime, clock: Clock):
    # A direct message (no post key): today's window. The first attempt
    # "fails" after the platform accepted it; the retry must ask first.
    platform = AcceptsThenTimesOut(lost_answers=1)
    courier = courier_for(runtime, platform, clock)
    await courier.send(Reply(text="Sam acknowledged your concern", to=Destination.user("U1", via="flaky")), key="tell:1")
    assert await courier.deliver_due() == 0
    assert await outbox_rows(runtime) == [{"key": "tell:1", "state": "pending", "attempts": 1}]
    clock.advance(minutes=5)
    await courier.deliver_due()
    clock.advance(minutes=15)
    await courier.deliver_due()
    assert [r.text for _, r in platform.posts] == ["Sam acknowledged your concern"]
    assert platform.asked == ["tell:1"]
    assert [r["state"] for r in await outbox_rows(runtime)] == ["delivered"]


async def test_a_keyed_post_whose_answer_was_lost_is_updated_not_posted_twice(runtime: Runtime, clock: Clock):
    platform = AcceptsThenTimesOut(lost_answers=1)
    courier = courier_for(runtime, platform, clock)
    await courier.send(Reply(text="Concern K7", key="concern:K7", to=Destination.channel("supervisors")), key="concern:K7:post")
    await courier.deliver_due()
    clock.advance(minutes=5)
    await courier.deliver_due()
    assert [r.text for _, r in platform.posts] == ["Concern K7"]
    assert [r["state"] for r in await outbox_rows(runtime)] == ["delivered"]


async def test_overlapping_passes_send_each_message_once(runtime: Runtime, clock: Clock):
    # The courier's loop, a scheduled job and a command can all run a pass
    # at once; so can two processes on one database.
    platform = AcceptsThenTimesOut(delay=0.05)
    one, other = courier_for(runtime, platform, clock), courier_for(runtime, platform, clock)
    for number in range(5):
        await one.send(Reply(text=f"message {number}", to=Destination.user(f"U{number}", via="flaky")), key=f"m{number}")
    await one.send(Reply(text="Concern K8", key="concern:K8", to=Destination.channel("supervisors")), key="concern:K8:post")
    sent = await asyncio.gather(one.deliver_due(), one.deliver_due(), other.deliver_due(), other.deliver_due())
    assert sum(sent) == 6
    assert sorted(r.text for _, r in platform.posts) == ["Concern K8", *[f"message {n}" for n in range(5)]]
    assert {r["state"] for r in await outbox_rows(runtime)} == {"delivered"}


async def test_two_processes_on_one_database_send_each_message_once(runtime: Runtime, clock: Clock):
    # Two replicas: two connections to the same file, each with its courier.
    from bot.store import Store

    other_store = await Store.open(runtime.settings.db)
    try:
        platform = AcceptsThenTimesOut(delay=0.02)
        one = courier_for(runtime, platform, clock)
        other = Courier(other_store, runtime.courier.local, now=clock)
        other.register(platform)
        for number in range(8):
            await one.send(Reply(text=f"message {number}", to=Destination.user(f"U{number}", via="flaky")), key=f"m{number}")
        sent = await asyncio.gather(one.deliver_due(), other.deliver_due(), one.deliver_due(), other.deliver_due())
        assert sum(sent) == 8
        assert sorted(r.text for _, r in platform.posts) == [f"message {n}" for n in range(8)]
    finally:
        await other_store.close()


async def test_a_send_cut_off_mid_way_is_picked_up_after_its_lease_and_asked_about_first(runtime: Runtime, clock: Clock):
    platform = AcceptsThenTimesOut()
    courier = courier_for(runtime, platform, clock)
    await courier.send(Reply(text="cut off", to=Destination.user("U1", via="flaky")), key="cut")
    [item] = await runtime.store.outbox.due(clock())
    # A pass claimed it and the platform took it; then the process died.
    assert await runtime.store.outbox.claim(item.id, clock(), clock() + SEND_LEASE)
    await platform.post(Address(kind="user", id="U1"), Reply(text="cut off", key="cut"))
    assert await courier.deliver_due() == 0  # still leased to the pass that died
    clock.advance(seconds=SEND_LEASE.total_seconds() + 1)
    await courier.deliver_due()
    assert len(platform.posts) == 1 and platform.asked == ["cut"]
    assert [r["state"] for r in await outbox_rows(runtime)] == ["delivered"]


async def test_a_newer_version_of_a_post_waits_for_the_older_one_still_on_its_way(runtime: Runtime, clock: Clock):
    platform = AcceptsThenTimesOut(delay=0.05)
    courier = courier_for(runtime, platform, clock)
    supervisors = Destination.channel("supervisors")
    await courier.send(Reply(text="Concern K9: open", key="concern:K9", to=supervisors), key="v1")
    first = asyncio.ensure_future(courier.deliver_due())
    await asyncio.sleep(0.01)  # v1 is being sent
    await courier.send(Reply(text="Concern K9: acknowledged", key="concern:K9", to=supervisors), key="v2")
    assert await courier.deliver_due() == 0  # v2 waits rather than racing v1
    assert await first == 1
    assert await courier.deliver_due() == 1
    assert [r.text for _, r in platform.posts] == ["Concern K9: open"]
    assert [r.text for _, r in platform.updates] == ["Concern K9: acknowledged"]


# -- double presses, through the Slack endpoint ------------------------------------

import json  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from bot.model import Action, Inbound  # noqa: E402
from bot.runtime import build_runtime  # noqa: E402
from tests.conftest import Chat, feed  # noqa: E402
from tests.slack_fake import SUPERVISORS, Bot, FakeSlack, shown_text, slack_api, slack_settings, start_bot  # noqa: E402,F401
from tests.teams_support import Teams, activity, card_text, connector, pressed, teams  # noqa: E402,F401
from tests.test_slack_capabilities import CHECKIN, CONCERN, button, dms, press_in_modal  # noqa: E402
from tests.test_teams_capabilities import SUPERVISORS as TEAMS_SUPERVISORS, bind_supervisors, inputs, labels, shown  # noqa: E402

KEY = Fernet.generate_key().decode()


async def events_of(runtime: Runtime, what: str) -> int:
    return await runtime.store.run(lambda: runtime.store.db.execute("select count(*) from concern_events where what = ?", [what]).fetchone()[0])


async def concern_count(runtime: Runtime) -> int:
    return await runtime.store.run(lambda: runtime.store.db.execute("select count(*) from concerns").fetchone()[0])


@pytest.fixture
async def slack(aiohttp_client, tmp_path, slack_api: FakeSlack, clock: Clock):
    settings = slack_settings(tmp_path, slack_api, min_group=3, concern_key=KEY)
    runtime = await build_runtime(settings, now=clock)
    bot = await start_bot(aiohttp_client, settings, runtime, slack_api)
    yield bot
    await runtime.close()


async def slack_preview(bot: Bot, fake: FakeSlack) -> dict[str, Any]:
    """Raise a named concern up to its preview (Send / Edit / Cancel) in a modal."""
    await bot.command("/concern", user="U1")
    [start] = await fake.wait_for_response()
    await bot.interact({
        "type": "block_actions", "user": {"id": "U1", "username": "ada", "team_id": "T1"},
        "container": {"type": "message", "message_ts": "5.5", "channel_id": "C1", "is_ephemeral": True},
        "channel": {"id": "C1", "name": "general"}, "trigger_id": "trigger-8",
        "response_url": f"{fake.url}/respond/eph", "actions": [{**button(start, "With my name"), "block_id": "b", "action_ts": "1"}],
    })
    [opened] = await fake.wait_for("views.open")
    view = opened["view"]
    fields = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    response = await bot.submit(view, {k: v for k, v in CONCERN.items() if k in fields}, user="U1")
    return (await response.json())["view"]


async def slack_sent_concern(bot: Bot, fake: FakeSlack) -> tuple[str, dict[str, Any], str]:
    closing = await slack_preview(bot, fake)
    await press_in_modal(bot, closing, button(closing, "Send"), user="U1")
    [receipt] = await fake.wait_for("views.update")
    ref = shown_text(receipt["view"]).split("Your reference is ")[1][:6]
    await bot.runtime.courier.deliver_due()
    [post] = [c for c in fake.of("chat.postMessage") if c["channel"] == SUPERVISORS]
    return ref, post, fake.history[SUPERVISORS][0]["ts"]


async def test_send_pressed_twice_at_once_on_slack_stores_and_posts_one_concern(slack: Bot, slack_api: FakeSlack):
    closing = await slack_preview(slack, slack_api)
    send = button(closing, "Send")
    await asyncio.gather(press_in_modal(slack, closing, send, user="U1"), press_in_modal(slack, closing, send, user="U1"))
    answers = [shown_text(u["view"]) for u in await slack_api.wait_for("views.update", 2)]
    await slack.runtime.courier.deliver_due()
    await slack.runtime.courier.deliver_due()

    assert await concern_count(slack.runtime) == 1
    [row] = await slack.runtime.store.concerns.listing()
    assert sorted(a.split(".")[0] for a in answers) == ["Already sent: your reference is " + row["ref"], "Sent"]
    assert all(f"reference is {row['ref']}" in a for a in answers)
    assert len([c for c in slack_api.of("chat.postMessage") if c["channel"] == SUPERVISORS]) == 1
    assert await events_of(slack.runtime, "raised") == 1


async def test_acknowledge_pressed_twice_at_once_on_slack_is_one_step_one_update_one_message(slack: Bot, slack_api: FakeSlack):
    ref, post, ts = await slack_sent_concern(slack, slack_api)
    before = len(slack_api.responses)
    ack = button(post, "Acknowledge")
    await asyncio.gather(*(slack.press(ack, user="U-SAM", channel=SUPERVISORS, message_ts=ts) for _ in range(2)))
    said = [shown_text(r) for r in (await slack_api.wait_for_response(before + 2))[before:]]
    await slack.runtime.courier.deliver_due()
    await slack.runtime.courier.deliver_due()

    assert sorted(said) == sorted([f"{ref} has already been acknowledged.", f"Done: {ref} is acknowledged. I've let the person who raised it know."])
    assert await events_of(slack.runtime, "acknowledged") == 1
    assert len(slack_api.of("chat.update")) == 1
    assert len(dms(slack_api, "U1")) == 1  # the reporter hears once

    # Taking it on twice at once: one step, one message.
    take = button(slack_api.of("chat.update")[0], "I'll take this")
    await asyncio.gather(*(slack.press(take, user="U-SAM", channel=SUPERVISORS, message_ts=ts) for _ in range(2)))
    said = [shown_text(r) for r in (await slack_api.wait_for_response(before + 4))[before + 2:]]
    await slack.runtime.courier.deliver_due()
    assert sorted(said) == [f"Done: {ref} is taken. I've let the person who raised it know.", f"You've already taken {ref} on."]
    assert await events_of(slack.runtime, "taken") == 1
    assert len(dms(slack_api, "U1")) == 2


async def test_a_supervisors_note_sent_twice_at_once_on_slack_reaches_the_reporter_once(slack: Bot, slack_api: FakeSlack):
    ref, post, ts = await slack_sent_concern(slack, slack_api)
    # Write to the reporter: the same modal submitted twice.
    await slack.press(button(post, "Write to the reporter"), user="U-SAM", channel=SUPERVISORS, message_ts=ts)
    [_, note] = await slack_api.wait_for("views.open", 2)
    answers = await asyncio.gather(*(slack.submit(note["view"], {"text": "Could we talk on Thursday?"}, user="U-SAM") for _ in range(2)))
    said = sorted([shown_text((await a.json())["view"]) for a in answers])
    await slack.runtime.courier.deliver_due()
    assert said == [f"Already sent to the person who raised {ref}; it went once.", f"Sent to the person who raised {ref}. I don't keep a copy."]
    assert await events_of(slack.runtime, "replied") == 1
    assert [m for m in dms(slack_api, "U1") if "Could we talk on Thursday?" in shown_text(m)].__len__() == 1

    # Resolve: the note modal submitted twice.
    await slack.press(button(post, "Resolve"), user="U-SAM", channel=SUPERVISORS, message_ts=ts)
    [*_, resolve] = await slack_api.wait_for("views.open", 3)
    answers = await asyncio.gather(*(slack.submit(resolve["view"], {"text": "Rota fixed two weeks ahead."}, user="U-SAM") for _ in range(2)))
    said = sorted([shown_text((await a.json())["view"]) for a in answers])
    await slack.runtime.courier.deliver_due()
    assert len(said) == 2 and f"{ref} is already resolved; nothing was sent twice." in said
    assert any(s.startswith(f"Done: {ref} is resolved.") for s in said)
    assert await events_of(slack.runtime, "resolved") == 1
    assert len([m for m in dms(slack_api, "U1") if "Rota fixed two weeks ahead." in shown_text(m)]) == 1


async def test_a_check_in_sent_twice_at_once_on_slack_is_stored_once_and_both_presses_hear_it_went(slack: Bot, slack_api: FakeSlack):
    # On the team's roster, as an admin put them there.
    await slack.runtime.store.surveys.set_team("north", "wed", 10, "America/New_York")
    await slack.runtime.store.surveys.join("north", "slack", "U1")
    await slack.runtime.run_job("checkin:prompt", {"team": "north"})
    [invitation] = dms(slack_api, "U1")
    await slack.press(button(invitation, "Start check-in"), user="U1", channel="DU1")
    [opened] = await slack_api.wait_for("views.open")
    closing = (await (await slack.submit(opened["view"], CHECKIN, user="U1")).json())["view"]
    send = button(closing, "Send")
    await asyncio.gather(press_in_modal(slack, closing, send), press_in_modal(slack, closing, send))
    said = sorted(shown_text(u["view"]) for u in await slack_api.wait_for("views.update", 2))
    [rnd] = await slack.runtime.store.surveys.open_rounds(team="north")
    assert await slack.runtime.store.surveys.response_count(rnd.id) == 1
    assert said[0].startswith("Already sent: your answers are in") and "Your answers are in, without your name" in said[1]


# -- double presses and redeliveries, through the Teams endpoint -------------------


@pytest.fixture
def teams_settings(tmp_path):
    from tests.conftest import make_settings

    return make_settings(tmp_path, supervisors="aad-sam", admins="aad-root", teams_local_testing=True, min_group=3, concern_key=KEY)


CHANNEL = {
    "conversation": TEAMS_SUPERVISORS + ";messageid=1", "conversation_type": "channel",
    "channelData": {"tenant": {"id": "11111111-2222-3333-4444-555555555555"}, "channel": {"id": TEAMS_SUPERVISORS}, "team": {"id": "19:general@thread.tacv2"}},
}


async def teams_preview(teams: Teams) -> dict[str, Any]:
    await bind_supervisors(teams)
    await teams.say("hi", user="sam")
    [start] = await teams.say("concern")
    before = len(teams.connector.calls)
    await teams.press(pressed(start.card, "With my name"))
    [form] = teams.connector.calls[before:]
    submit = pressed(form.card, "Review") if "Review" in labels(form.card) else pressed(form.card, labels(form.card)[-1])
    fields = set(inputs(form.card))
    return shown(await teams.press({**submit, **{k: v for k, v in CONCERN.items() if k in fields}}))


async def test_send_and_acknowledge_pressed_twice_at_once_on_teams_happen_once(teams: Teams):
    preview = await teams_preview(teams)
    answers = await asyncio.gather(*(teams.press(pressed(preview, "Send")) for _ in range(2)))
    texts = sorted(card_text(shown(a)) for a in answers)
    assert await concern_count(teams.runtime) == 1
    [row] = await teams.runtime.store.concerns.listing()
    ref = row["ref"]
    assert texts[0].startswith(f"Already sent: your reference is {ref}") and texts[1].startswith(f"Sent. Your reference is {ref}")
    await teams.runtime.courier.deliver_due()
    [post] = teams.connector.to(TEAMS_SUPERVISORS)

    await asyncio.gather(*(teams.press(pressed(post.card, "Acknowledge"), user="sam", **CHANNEL) for _ in range(2)))
    await teams.runtime.courier.deliver_due()
    await teams.runtime.courier.deliver_due()
    assert await events_of(teams.runtime, "acknowledged") == 1
    assert [c.method for c in teams.connector.to(TEAMS_SUPERVISORS)] == ["POST", "PUT"]
    told = [c for c in teams.connector.to("a:chat-ada") if c.card and f"Your concern {ref}" in card_text(c.card)]
    assert len(told) == 1
    said = sorted(c.text for c in teams.connector.to("a:chat-sam") if ref in c.text)
    assert said == sorted([f"{ref} has already been acknowledged.", f"Done: {ref} is acknowledged. I've let the person who raised it know."])


# -- double presses in the terminal ------------------------------------------------


@pytest.fixture
def settings(tmp_path):
    from tests.conftest import make_settings

    return make_settings(tmp_path, supervisors="u-sam", admins="u-root", concern_key=KEY)


async def test_send_pressed_twice_at_once_in_the_terminal_stores_and_posts_one_concern(runtime: Runtime):
    chat = Chat(runtime)
    await chat.say("/concern")
    await chat.say("With my name")
    for answer in ("Workload", "The rota changed again with no notice.", "", "", ""):
        await chat.say(answer)
    [send] = [b for b in chat.channel._buttons if b[1] == "concern:send"]
    press = Inbound(channel="terminal", user="u-ada", user_name="Ada", conversation="terminal:u-ada", action=Action(id=send[1], value=send[2]))
    answers = await asyncio.gather(*(runtime.engine.handle(press) for _ in range(3)))
    for replies in answers:
        await chat.channel.deliver(replies)
    await runtime.courier.deliver_due()
    assert await concern_count(runtime) == 1
    [row] = await runtime.store.concerns.listing()
    texts = sorted(r.text for replies in answers for r in replies)
    assert len([t for t in texts if t.startswith("Already sent: your reference is " + row["ref"])]) == 2
    assert len([t for t in texts if t.startswith("Sent. Your reference is " + row["ref"])]) == 1
    assert len(feed(runtime)) == 1

    # After a restart the draft is gone from memory; the store still knows it went.
    runtime.engine.flows = MemoryFlowState(runtime.engine.now)
    [again] = await runtime.engine.handle(press)
    assert again.text.startswith(f"Already sent: your reference is {row['ref']}")


async def test_a_teams_activity_delivered_twice_is_answered_once(teams: Teams):
    body = activity(teams.connector, text="help")
    answers = await asyncio.gather(teams.post(body), teams.post(body))
    assert sorted(a.status for a in answers) == [201, 201]
    assert len(teams.connector.to("a:chat-ada")) == 1
    # The same id in another conversation is another activity.
    other = {**body, "from": {"id": "29:bo", "name": "Bo", "aadObjectId": "aad-bo"},
             "conversation": {**body["conversation"], "id": "a:chat-bo"}}
    assert (await teams.post(other)).status == 201
    assert len(teams.connector.to("a:chat-bo")) == 1
    # Only an opaque key and the hour are kept.
    rows = await teams.runtime.store.run(lambda: list(teams.runtime.store.db.query("select * from teams_activities")))
    assert all(set(r) == {"activity_key", "seen_hour"} and "ada" not in r["activity_key"] for r in rows)


async def test_a_teams_card_press_redelivered_sends_once_and_gets_a_plain_answer(teams: Teams):
    preview = await teams_preview(teams)
    press = activity(teams.connector, "invoke", name="adaptiveCard/action",
                     value={"action": {"type": "Action.Execute", "verb": "peerbot", "data": pressed(preview, "Send")}})
    first, again = [await teams.post(press) for _ in range(2)]
    assert "Your reference is" in card_text((await first.json())["value"])
    assert (await again.json()) == {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "Done"}
    assert await concern_count(teams.runtime) == 1


async def test_old_teams_claims_are_let_go_after_a_day(teams: Teams, clock: Clock):
    claims = teams.runtime.store.teams_activities
    assert await claims.claim("a:chat-ada", "1", clock())
    assert not await claims.claim("a:chat-ada", "1", clock())
    clock.advance(hours=25)
    assert await claims.forget_before(clock()) == 1
    assert await claims.claim("a:chat-ada", "1", clock())


# -- curators and admins -----------------------------------------------------------

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from bot.store import Store  # noqa: E402
from tests.test_pulse import answer, join, start, team_of  # noqa: E402

GAPS = ["can i drive a client to court", "can i lend a client money", "can i be his recovery mentor outside work"]


def peerbot(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen:
    environment = subprocess_env(**{"PEERBOT_DB": str(tmp_path / "peerbot.db"), **env})
    return subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_accepting_a_knowledge_gap_twice_at_once_accepts_it_once_and_numbers_never_shift(tmp_path: Path):
    store = await Store.open(tmp_path / "peerbot.db")
    for question in GAPS:
        await store.knowledge.record_gap(question, "sponsor-role")
    await store.close()
    folder = tmp_path / "org"
    folder.mkdir()

    runs = [peerbot(tmp_path, "kb", "gaps", "--accept", "2", PEERBOT_KB_DIR=str(folder)) for _ in range(3)]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    said = sorted(out.decode() for out, _ in outputs)
    assert said[0].startswith("Added as a phrasing of sponsor-role")
    assert all(s.startswith("Already accepted: gap 2 is a phrasing of sponsor-role") for s in said[1:])
    written = yaml.safe_load((folder / "accepted-phrasings.yaml").read_text())
    assert [p for item in written for p in item["phrasings"]].count("can i lend a client money") == 1

    # Gap 3 is still gap 3: running "--accept 2" again can't take another one.
    listed, _ = peerbot(tmp_path, "kb", "gaps", PEERBOT_KB_DIR=str(folder)).communicate(timeout=60)
    assert "  1. (1x) can i drive a client to court" in listed.decode()
    assert "  3. (1x) can i be his recovery mentor outside work" in listed.decode()
    assert "lend a client money" not in listed.decode()
    again, _ = peerbot(tmp_path, "kb", "gaps", "--accept", "2", PEERBOT_KB_DIR=str(folder)).communicate(timeout=60)
    assert again.decode().startswith("Already accepted: gap 2 is a phrasing of sponsor-role")
    written = yaml.safe_load((folder / "accepted-phrasings.yaml").read_text())
    assert [p for item in written for p in item["phrasings"]].count("can i be his recovery mentor outside work") == 0


async def test_an_agreed_pulse_action_sent_twice_at_once_is_recorded_and_told_once(runtime: Runtime):
    people = team_of(runtime, 5)
    await join(people)
    await start(runtime)
    for chat in people:
        await answer(runtime, chat, ["4", "2", "2", "5", "4", "4", "4", "2", "2", "4"])
    supervisor = Chat(runtime, user="u-sam", team=None)
    await supervisor.say("/pulse close --team north")
    typed = Inbound(channel="terminal", user="u-sam", conversation="terminal:u-sam",
                    text='/pulse action busy-work "No more transport-only shifts for peers" --team north')
    answers = await asyncio.gather(*(runtime.engine.handle(typed) for _ in range(2)))
    for replies in answers:
        await supervisor.channel.deliver(replies)
    await runtime.courier.deliver_due()
    said = sorted(replies[-1].text for replies in answers)
    assert said[0] == 'Already recorded: "No more transport-only shifts for peers" for the north team. They were told once.'
    assert said[1].startswith("Recorded, and the north team has been told.")
    rows = await runtime.store.run(lambda: list(runtime.store.db.query("select * from pulse_actions")))
    assert len(rows) == 1
    told = [m for m in runtime.courier.local.feed(Address(kind="user", id="u-north-1")) if "transport-only" in m["text"]]
    assert len(told) == 1


async def test_an_admin_setting_a_cadence_twice_at_once_gets_the_same_answer_twice(slack: Bot, slack_api: FakeSlack):
    before = len(slack_api.responses)
    await asyncio.gather(*(slack.command("/checkins", "team north thu 9 America/Chicago", user="U-ROOT") for _ in range(2)))
    said = {shown_text(r) for r in (await slack_api.wait_for_response(before + 2))[before:]}
    assert said == {"The north team's check-ins now go out on Thursdays at 09:00, each person's own time (team zone America/Chicago)."}
    assert await slack.runtime.store.surveys.teams() == [{"name": "north", "weekday": "thu", "hour": 9, "tz": "America/Chicago"}]


# -- the reporter ------------------------------------------------------------------

from bot.model import Submission  # noqa: E402
from tests.test_concerns import raise_concern, ref_of  # noqa: E402


async def test_the_reporters_answer_sent_twice_at_once_reaches_the_supervisors_once(runtime: Runtime):
    ada = Chat(runtime, user="u-ada", name="Ada", team="north")
    ref = ref_of(await raise_concern(ada))
    sam = Inbound(channel="terminal", user="u-sam", user_name="Sam", conversation="terminal:u-sam", action=Action(id="concern:ack", value=ref))
    await Chat(runtime, user="u-sam", name="Sam", team=None).channel.deliver(await runtime.engine.handle(sam))
    await runtime.courier.deliver_due()
    [told] = [m for m in runtime.courier.local.feed(Address(kind="user", id="u-ada")) if "acknowledged" in m["text"]]
    answer_back = next(c for c in told["choices"] if c["label"] == "Answer back")
    pressed_ = Inbound(channel="terminal", user="u-ada", conversation="terminal:u-ada", action=Action(id=answer_back["action"], value=answer_back["value"]))
    [opened] = await runtime.engine.handle(pressed_, shows_forms=True)
    form = opened.form
    assert form is not None and form.hidden["once"]
    sent = Inbound(channel="terminal", user="u-ada", conversation="terminal:u-ada",
                   submission=Submission(form=form.id, values={"text": "Thursday works for me.", **form.hidden}))
    answers = await asyncio.gather(*(runtime.engine.handle(sent, shows_forms=True) for _ in range(2)))
    for replies in answers:
        await ada.channel.deliver(replies)
    await runtime.courier.deliver_due()
    said = sorted(replies[-1].text for replies in answers)
    assert said == ["Already sent: the peer supervisors have your answer. It went once.",
                    "Sent. The peer supervisors will see it with your concern. I don't keep a copy."]
    assert await events_of(runtime, "answered") == 1
    assert len([p for p in feed(runtime) if "Thursday works for me." in p["text"]]) == 1


async def test_send_it_on_now_pressed_twice_at_once_releases_a_held_concern_once(runtime: Runtime):
    ada = Chat(runtime, user="u-ada", name="Ada", team="north")
    receipt = await raise_concern(ada, category="Scope drift or co-optation", timing="2")
    [release] = [b for b in ada.channel._buttons if b[1] == "concern:release"]
    press = Inbound(channel="terminal", user="u-ada", conversation="terminal:u-ada", action=Action(id=release[1], value=release[2]))
    answers = await asyncio.gather(*(runtime.engine.handle(press) for _ in range(2)))
    for replies in answers:
        await ada.channel.deliver(replies)
    await runtime.courier.deliver_due()
    ref = ref_of(receipt)
    said = sorted(replies[-1].text for replies in answers)
    assert said == sorted([f"{ref} has already gone to the peer supervisors.", f"Sent on. {ref} is with the peer supervisors now."])
    assert await events_of(runtime, "released") == 1
    assert len(feed(runtime)) == 1

"""Proactive messages on Teams: people are reached through the conversation
reference kept from install or first contact, the supervisors' channel
through the team channel bound to it; a removed app (403/404) marks the
person unreachable, is never retried forever, and admins hear how to fix it."""

from __future__ import annotations

import pytest

from bot.channels.teams.pacing import Pacer
from bot.model import Choice, Destination, Reply
from tests.conftest import Clock
from tests.teams_support import BOT, TENANT, Teams, activity, card_text, connector, teams, teams_settings  # noqa: F401

SUPERVISORS = "19:supervisors@thread.tacv2"


def installed(teams: Teams, user: str = "ada") -> dict:
    return activity(teams.connector, "conversationUpdate", user=user, membersAdded=[BOT])


def channel_event(teams: Teams, event: str, channel_id: str, name: str, user: str = "root") -> dict:
    return activity(
        teams.connector, "conversationUpdate", user=user, conversation="19:general@thread.tacv2", conversation_type="channel",
        channelData={"eventType": event, "tenant": {"id": TENANT}, "team": {"id": "19:general@thread.tacv2", "name": "Peer team"},
                     "channel": {"id": channel_id, "name": name}},
    )


async def test_installing_the_app_says_hello_and_a_scheduled_prompt_reaches_them_later(teams: Teams):
    assert (await teams.post(installed(teams))).status in (200, 201)
    [welcome] = teams.connector.to("a:chat-ada")
    assert "Things you can type" in welcome.text
    # Later, with no message from them: a scheduled check-in prompt.
    prompt = Reply(text="Your weekly check-in is open.", choices=[Choice(label="Start", action="checkin:start")],
                   to=Destination.user("aad-ada", via="teams"))
    await teams.runtime.courier.send(prompt)
    assert await teams.runtime.courier.deliver_due() == 1
    sent = teams.connector.to("a:chat-ada")[-1]
    assert sent.method == "POST" and sent.activity_id is None  # a new message, not a reply
    assert "weekly check-in" in card_text(sent.card)


@pytest.mark.parametrize("status", [403, 404])
async def test_a_removed_app_marks_the_person_unreachable_and_admins_hear_how_to_fix_it(teams: Teams, clock: Clock, status: int):
    await teams.say("hi", user="root")  # the admin has a chat with the bot
    await teams.say("hi")
    teams.connector.refuse("a:chat-ada", status)
    courier = teams.runtime.courier
    await courier.send(Reply(text="Your check-in is open.", to=Destination.user("aad-ada", via="teams")))
    await courier.deliver_due()
    assert (await teams.runtime.store.outbox.counts()).get("failed") == 1
    await courier.deliver_due()  # the admin's notice goes out
    notice = teams.connector.to("a:chat-root")[-1].text
    assert "aad-ada" in notice and "app setup policy" in notice
    # Never retried: an hour later nothing new goes to that chat.
    clock.advance(hours=1)
    await courier.deliver_due()
    await courier.send(Reply(text="again", to=Destination.user("aad-ada", via="teams")))
    await courier.deliver_due()
    assert teams.connector.refusals == ["a:chat-ada"]  # tried once, then left for an admin
    assert (await teams.runtime.store.teams.person("aad-ada")).unreachable_since
    # Writing to the bot again (the app is back) makes them reachable again.
    teams.connector.refused.clear()
    await teams.say("hello again")
    await courier.send(Reply(text="welcome back", to=Destination.user("aad-ada", via="teams")))
    await courier.deliver_due()
    assert teams.connector.to("a:chat-ada")[-1].text == "welcome back"


async def test_someone_the_bot_has_never_met_is_unreachable_at_once(teams: Teams):
    heard = []
    teams.runtime.courier.on_unreachable.append(lambda address, via, error: heard.append((address.id, via)))
    await teams.runtime.courier.send(Reply(text="hi", to=Destination.user("aad-stranger", via="teams")))
    await teams.runtime.courier.deliver_due()
    assert heard == [("aad-stranger", "teams")]
    assert teams.connector.calls == []


async def test_a_channel_named_supervisors_becomes_the_supervisors_channel(teams: Teams):
    await teams.post(channel_event(teams, "channelCreated", SUPERVISORS, "supervisors"))
    courier = teams.runtime.courier
    await courier.send(Reply(text="Concern K7: new", key="concern:K7", to=Destination.channel("supervisors"), private=False))
    await courier.deliver_due()
    await courier.send(Reply(text="Concern K7: acknowledged", key="concern:K7", to=Destination.channel("supervisors"), private=False))
    await courier.deliver_due()
    first, second = teams.connector.to(SUPERVISORS)
    assert first.method == "POST" and first.text == "Concern K7: new"
    assert second.method == "PUT" and second.activity_id == "act-1" and second.text == "Concern K7: acknowledged"


async def test_an_admin_binds_the_supervisors_channel_by_typing_in_it(teams: Teams):
    await teams.post(channel_event(teams, "channelCreated", "19:quiet@thread.tacv2", "Peer leads"))
    where = {"conversation": "19:quiet@thread.tacv2;messageid=7", "conversation_type": "channel",
             "channelData": {"tenant": {"id": TENANT}, "channel": {"id": "19:quiet@thread.tacv2"}, "team": {"id": "19:general@thread.tacv2"}}}
    [refused] = await teams.say("bind-supervisors", user="ada", **where)
    assert "Only an admin" in refused.text
    [done] = await teams.say("bind-supervisors", user="root", **where)
    assert "this is now the supervisors channel" in done.text
    assert teams.runtime.courier.route(Reply(to=Destination.channel("supervisors")))[0].name == "teams"


async def test_sends_are_paced_under_the_tenant_limit():
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(clock=lambda: now[0], sleep=sleep)
    for n in range(120):
        await pacer.wait(TENANT, f"conversation-{n}")
    assert 2.0 <= now[0] < 2.1  # 50 a second across the tenant
    now[0] = 0.0
    pacer = Pacer(clock=lambda: now[0], sleep=sleep)
    for _ in range(16):
        await pacer.wait(TENANT, "one-chat")
    assert now[0] >= 2.0  # 8 in two seconds to one conversation

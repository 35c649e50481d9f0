"""Starting and closing a round happen once, however many ask at the same
moment: one guarded write decides, and only its winner summarises and posts."""

from __future__ import annotations

import asyncio
import threading

from bot.runtime import Runtime
from bot.store import Store
from bot.store.surveys import Ballot
from tests.test_checkins import this_week
from tests.conftest import Chat, feed


async def five_answers(runtime: Runtime) -> None:
    people = [Chat(runtime, user=f"u-{n}", name=f"Person {n}", team="north") for n in range(5)]
    for chat in people:
        await chat.say("/checkin settings")  # on the team before the week opens
    for n, chat in enumerate(people):
        await chat.say("/checkin")
        await chat.say("Start check-in")
        for answer in ("4", "3", "4", f"note {n}"):
            await chat.say(answer)
        await chat.say("Send")


async def test_two_supervisors_closing_at_once_post_one_summary(runtime: Runtime):
    await five_answers(runtime)
    sam, root = Chat(runtime, user="u-sam", team=None), Chat(runtime, user="u-root", team=None)
    said = await asyncio.gather(sam.say("/checkins close north"), root.say("/checkins close north"))
    # Both hear it closed: the second press gets the first one's result.
    assert all("Closed the north team's open check-in" in text for text in said)
    posts = feed(runtime)
    assert len(posts) == 1 and "5 people answered" in posts[0]["text"]
    for n in range(5):
        summaries = [m for m in runtime.courier.local.take_unseen(f"u-{n}") if "check-in picture is in" in m["text"]]
        assert len(summaries) == 1
    outbox = await runtime.store.run(
        lambda: runtime.store.db.execute("select count(*) from outbox where key like 'checkin:%summary%'").fetchone()[0]
    )
    assert outbox == 1 + 5  # one for the supervisors, one for each member: no second attempt queued


async def test_only_the_closer_that_wins_summarises(runtime: Runtime):
    await five_answers(runtime)
    checkin, ctx = runtime.engine.intent("checkin"), runtime.engine.system_context()
    first, second = await asyncio.gather(checkin.close_due("north", ctx, everything=True), checkin.close_due("north", ctx, everything=True))
    posts = [r for r in first + second if r.to.kind == "channel"]
    assert len(posts) == 1, "exactly one of the two closes summarises and posts"
    assert [bool(first), bool(second)].count(True) == 1


async def test_closing_a_round_from_two_connections_at_once_has_one_winner(runtime: Runtime):
    """Two processes on the same file (two connections), closing together."""
    await five_answers(runtime)
    [rnd] = await runtime.store.surveys.open_rounds(team="north")
    other = await Store.open(runtime.settings.db)
    calls: list[int] = []
    lock = threading.Lock()

    def summarise(tallies):
        with lock:
            calls.append(tallies.answers)
        return {"items": {}, "notes": []}

    try:
        results = await asyncio.gather(
            runtime.store.surveys.close(rnd.id, 5, summarise, runtime.engine.system_context().now()),
            other.surveys.close(rnd.id, 5, summarise, runtime.engine.system_context().now()),
        )
    finally:
        await other.close()
    assert sorted(r.first for r in results) == [False, True]
    assert results[0].row == results[1].row
    assert calls == [5]


async def test_a_round_opened_twice_at_once_is_one_round_with_its_storage_allocated_once(runtime: Runtime):
    for n in range(3):
        await Chat(runtime, user=f"u-{n}", team="north").say("/checkin settings")
    surveys = runtime.store.surveys
    ballot = Ballot(scales={"energy": [1, 2, 3, 4, 5]}, notes={"note": 500})
    opened = await asyncio.gather(*[
        surveys.open_round("checkin:north:2026-W48", "checkin", "north", "2026-W48", "2026-11-23T15:00:00+00:00",
                           "2026-11-30T13:00:00+00:00", ballot)
        for _ in range(4)
    ])
    assert len({(r.id, r.opens_at, r.status) for r in opened}) == 1

    def count(table: str) -> int:
        return runtime.store.db.execute(f"select count(*) from {table}").fetchone()[0]

    counts = await runtime.store.run(lambda: {t: count(t) for t in ("survey_rounds", "survey_eligible", "survey_tokens", "survey_tallies", "survey_notes")})
    assert counts == {"survey_rounds": 1, "survey_eligible": 3, "survey_tokens": 3, "survey_tallies": 5 + 1, "survey_notes": 3}


async def test_two_prompts_at_once_send_each_person_one_form(runtime: Runtime):
    for n in range(3):
        await Chat(runtime, user=f"u-{n}", team="north").say("/checkin settings")
    checkin, ctx = runtime.engine.intent("checkin"), runtime.engine.system_context()
    first, second = await asyncio.gather(checkin.prompt("north", ctx), checkin.prompt("north", ctx))
    invited = sorted(r.to.target for r in first + second)
    assert invited == ["u-0", "u-1", "u-2"]
    used = await runtime.store.run(
        lambda: runtime.store.db.execute("select state, count(*) from survey_tokens group by state order by state").fetchall()
    )
    assert used == [("sent", 3)]


async def test_an_answer_sent_twice_at_once_counts_once(runtime: Runtime):
    from bot.model import Action, Inbound

    ada = Chat(runtime, user="u-ada", team="north")
    await ada.say("/checkin")
    await ada.say("Start check-in")
    for answer in ("4", "3", "4", "only once"):
        await ada.say(answer)
    _, action, value = ada.channel._buttons[0]
    press = Inbound(channel="terminal", user="u-ada", conversation="terminal:u-ada", action=Action(id=action, value=value))
    first, second = await asyncio.gather(runtime.engine.handle(press), runtime.engine.handle(press))
    said = [r.text for r in first + second]
    assert len(said) == 2
    assert sum("Your answers are in" in t for t in said) == 1 and sum(t.startswith("Already sent") for t in said) == 1
    assert await runtime.store.surveys.response_count(this_week(runtime)) == 1
    assert runtime.store.surveys.waiting() == 1  # one answer, waiting for others before it is written

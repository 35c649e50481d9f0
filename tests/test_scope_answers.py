"""Scope answers, as a peer worker asking in their own words sees them."""

from __future__ import annotations

import sqlite3

from tests.conftest import Chat, feed


async def test_an_out_of_scope_answer_says_so_plainly_with_reason_alternatives_and_source(chat: Chat):
    reply = await chat.say("my manager has me driving clients around in the agency van all day, is that peer support?")
    assert "This isn't part of the peer role." in reply
    assert "What you could do instead:" in reply
    assert "peer supervisor" in reply
    assert "Source: Promise Resource Network, Peer Support Gone Wild: what the peer role is not" in reply
    assert "[1] Raise this with my peer supervisor" in reply
    assert "Helpful" in reply


async def test_a_depends_answer_names_what_it_depends_on(chat: Chat):
    reply = await chat.say("can i go with someone to their doctors appointment?")
    assert "It depends." in reply
    assert "What it depends on:" in reply


async def test_an_in_scope_answer(chat: Chat):
    reply = await chat.say("Can I help someone write a psychiatric advance directive?")
    assert "Yes, this is peer work." in reply


async def test_typos_and_casual_words_still_find_the_answer(chat: Chat):
    reply = await chat.say("am i suposed to chek if ppl r taking there pills every morning for the nurse")
    assert "This isn't part of the peer role." in reply
    assert "medication" in reply.lower()


async def test_related_questions_are_buttons_that_open_the_entry(chat: Chat):
    first = await chat.say("can i be the AA sponsor of a guy I support?")
    assert "[2]" in first
    second = await chat.say("2")
    assert "Source:" in second and second != first


async def test_workplace_questions_get_a_pointer_not_a_ruling(chat: Chat):
    reply = await chat.say("how do i fix my timesheet, forgot to clock out friday")
    assert "payroll" in reply.lower() or "timekeeping" in reply.lower()
    assert "This isn't part of the peer role" not in reply and "Yes, this is peer work" not in reply


async def test_clinical_questions_are_declined(chat: Chat):
    reply = await chat.say("what's the max daily dose of sertraline?")
    assert "don't answer clinical questions" in reply
    assert "mg" not in reply


async def test_when_unsure_the_bot_says_so_and_never_guesses(chat: Chat, runtime):
    reply = await chat.say("blorp the zibble wumpus")
    assert "not sure" in reply
    assert "peer supervisor" in reply
    for heading in ("Yes, this is peer work.", "This isn't part of the peer role.", "It depends."):
        assert heading not in reply
    gaps = await runtime.store.knowledge.gaps()
    assert [g["question"] for g in gaps] == ["blorp the zibble wumpus"]


async def test_unanswered_questions_are_kept_without_any_user(chat: Chat, runtime):
    await chat.say("blorp the zibble wumpus")
    await runtime.store.close()
    conn = sqlite3.connect(runtime.settings.db)
    columns = [row[1] for row in conn.execute("pragma table_info(kb_gaps)")]
    conn.close()
    assert not {"user", "user_id", "channel", "conversation"} & set(columns)
    from bot.store import Store

    runtime.store = await Store.open(runtime.settings.db)


async def test_helpful_feedback_is_counted_per_entry(chat: Chat, runtime):
    reply = await chat.say("can I run a peer support group at the drop-in center?")
    number = [line for line in reply.splitlines() if line.strip().endswith("] Helpful")][0].split("]")[0].strip(" [")
    assert "Thanks" in await chat.say(number)
    counts = await runtime.store.knowledge.helpful_counts()
    assert sum(c["yes"] for c in counts.values()) == 1


async def test_raise_with_supervisor_starts_the_concern_flow_with_the_question_and_sends_nothing(chat: Chat, runtime):
    await chat.say("the team wants me to do suicide risk screenings at intake")
    reply = await chat.say("Raise this with my peer supervisor")
    assert "who sees what" in reply and "[1] With my name" in reply and "[2] Anonymously" in reply
    first = await chat.say("With my name")
    assert "press Enter to keep: Scope drift or co-optation" in first
    what = await chat.say("")
    assert "press Enter to keep: the team wants me to do suicide risk screenings at intake" in what
    assert feed(runtime) == []


async def test_the_practice_quiz_explains_each_answer(chat: Chat):
    question = await chat.say("/quiz")
    assert "Scope or No Scope?" in question and "[3] It depends" in question
    feedback = await chat.say("1")
    assert "Source:" in feedback and "[1] Another one" in feedback
    assert "Scope or No Scope?" in await chat.say("Another one")


async def test_scope_command_without_a_question_asks_for_one(chat: Chat):
    assert "What would you like to check?" in await chat.say("/scope")


async def test_a_stray_number_or_symbol_is_not_read_as_a_question(chat: Chat):
    for stray in ("1", "??", "42!"):
        reply = await chat.say(stray)
        assert "not sure" in reply and "clinical" not in reply

"""The practice quiz: rounds of five with a running score, and typed answers
read as answers while a question is open."""

from __future__ import annotations

from tests.conftest import Chat

RIGHT = "That's how the material sees it too."


async def test_a_round_keeps_score_and_ends_with_n_of_5(chat: Chat):
    question = await chat.say("/quiz")
    assert "Question 1 of 5" in question
    correct = 0
    answers = ["no scope", "1", "it depends", "Scope", "3"]
    for number, answer in enumerate(answers, start=1):
        feedback = await chat.say(answer)
        correct += RIGHT in feedback
        if number < 5:
            assert f"So far: {correct} of {number}." in feedback
            nxt = await chat.say("Another one")
            assert f"Question {number + 1} of 5" in nxt
        else:
            assert f"That's the round: you got {correct} of 5." in feedback
            assert "Play another round" in feedback
    again = await chat.say("Play another round")
    assert "Question 1 of 5" in again


async def test_a_typed_answer_during_the_quiz_is_an_answer_not_a_question(chat: Chat):
    await chat.say("/quiz")
    reply = await chat.say("i think that's no scope")
    assert "So far:" in reply and "of 1." in reply
    assert "I'm not sure I understood" not in reply


async def test_typing_scope_alone_answers_the_quiz(chat: Chat):
    await chat.say("/quiz")
    reply = await chat.say("scope")
    assert "So far:" in reply
    assert "What would you like to check?" not in reply


async def test_a_real_question_mid_quiz_leaves_the_quiz_and_is_answered(chat: Chat):
    await chat.say("/quiz")
    reply = await chat.say("Can I help someone write a psychiatric advance directive?")
    assert "Yes, this is peer work." in reply and "So far:" not in reply
    # and the quiz is over: a later "yes" is not scored
    assert "So far:" not in await chat.say("no scope")


async def test_stop_ends_the_round_with_the_score(chat: Chat):
    await chat.say("/quiz")
    await chat.say("scope")
    await chat.say("Another one")
    assert "You got" in await chat.say("stop")

"""When the person writing is in distress, care comes before anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge.distress import DistressCheck
from tests.conftest import Chat, Clock, feed

CASES = yaml.safe_load((Path(__file__).parent / "data" / "crisis_cases.yaml").read_text())
CHECK = DistressCheck()


async def test_distress_gets_resources_in_the_same_message(chat: Chat):
    reply = await chat.say("honestly i dont want to be here anymore")
    assert "988" in reply and "741741" in reply and "warmline" in reply
    assert "can't contact anyone" in reply and "don't know where you are" in reply
    assert "you should" not in reply.lower()
    assert "[1] Let a peer supervisor know" in reply


async def test_one_im_fine_does_not_make_the_resources_disappear(chat: Chat):
    await chat.say("i keep thinking about ending it")
    reply = await chat.say("im fine, you misunderstood")
    assert "988" in reply
    later = await chat.say("can I run a WRAP group?")
    assert "Still here if you need it" in later


async def test_the_reminder_fades_after_some_hours(chat: Chat, clock: Clock):
    await chat.say("i keep thinking about ending it")
    clock.advance(hours=6)
    assert "Still here if you need it" not in await chat.say("can I run a WRAP group?")


async def test_the_handoff_to_a_supervisor_is_only_on_request_and_shares_no_words(chat: Chat, runtime):
    await chat.say("i want to cut so bad right now")
    assert feed(runtime) == []
    confirm = await chat.say("Let a peer supervisor know")
    assert "Send it?" in confirm
    assert feed(runtime) == []
    done = await chat.say("Yes, send it")
    assert "let the peer supervisors know" in done
    posts = feed(runtime)
    assert len(posts) == 1
    assert "Ada would like to talk with a peer supervisor" in posts[0]["text"]
    assert "cut" not in posts[0]["text"]


async def test_not_now_sends_nothing(chat: Chat, runtime):
    await chat.say("i want to cut so bad right now")
    assert "nothing has been sent" in (await chat.say("Not now")).lower()
    assert feed(runtime) == []


async def test_a_question_about_supporting_someone_else_gets_a_scope_answer(chat: Chat):
    reply = await chat.say("someone I support told me she used to burn herself. can I just listen and be curious about what it did for her?")
    assert "988" not in reply
    assert "Yes, this is peer work." in reply


@pytest.mark.parametrize("message", CASES["crisis"])
def test_every_distress_message_is_noticed(message: str):
    assert CHECK.find(message) is not None


@pytest.mark.parametrize("message", CASES["not_crisis"])
def test_everyday_words_are_not_mistaken_for_distress(message: str):
    assert CHECK.find(message) is None


@pytest.mark.parametrize("message", [
    "honestly i think the world would run just fine if i quietly stopped existing",
    "my brain keeps telling me i'd be doing everyone a favour by vanishing",
    "i feel like a ghost at work and i'm tired of pretending i want to be here at all",
])
def test_a_second_opinion_catches_distress_the_patterns_do_not_name(message: str):
    sign = CHECK.find(message)
    assert sign is not None and sign.kind == "second-opinion"


@pytest.mark.parametrize("message", [
    "can i ask for a day off next week?",
    "this spreadsheet is going to kill me, who do I ask about the template?",
    "a guy I support says he wants to vanish, what's my role as a peer?",
])
def test_the_second_opinion_leaves_calm_messages_alone(message: str):
    assert CHECK.find(message) is None
